import Testing

@testable import Redis

/// The pure parts of Sentinel and Cluster support: the URLs, CRC16 and hash tags, MOVED/ASK,
/// CLUSTER SLOTS, the Sentinel handshake replies and which argument a command is routed by.
/// No server needed.
@Suite struct RedisTopologyTests {
    // MARK: - URLs

    @Test func sentinelURLNamesTheSentinelsTheMasterAndTheDatabase() throws {
        let config = try RedisConfig(url: "redis-sentinel://app:s%40cret@10.0.0.1:26380,10.0.0.2,[::1]:26381/coupon-main/3")
        #expect(
            config.topology
                == .sentinel(
                    masterName: "coupon-main",
                    sentinels: [
                        RedisEndpoint(host: "10.0.0.1", port: 26380), RedisEndpoint(host: "10.0.0.2", port: 26379),
                        RedisEndpoint(host: "::1", port: 26381),
                    ]))
        #expect(config.username == "app")
        #expect(config.password == "s@cret")
        #expect(config.database == 3)
        #expect(!config.description.contains("s@cret"))
        #expect(config.description.hasPrefix("redis-sentinel://app:***@10.0.0.1:26380,10.0.0.2:26379,[::1]:26381/coupon-main/3"))
        let noDatabase = try RedisConfig(url: "redis-sentinel://127.0.0.1:1/m")
        #expect(noDatabase.database == 0)
    }

    @Test func clusterURLListsSeedsAndHasOnlyDatabaseZero() throws {
        let config = try RedisConfig(url: "redis-cluster://:pw@node-a:7000,node-b:7001,node-c")
        #expect(
            config.topology
                == .cluster(seeds: [
                    RedisEndpoint(host: "node-a", port: 7000), RedisEndpoint(host: "node-b", port: 7001), RedisEndpoint(host: "node-c", port: 6379),
                ]))
        #expect(config.password == "pw")
        #expect(config.host == "node-a" && config.port == 7000)
        #expect(try RedisConfig(url: "redis-cluster://a:1/0").database == 0)
        #expect(try RedisConfig(url: "redis://a:1/2").topology == .standalone)
    }

    @Test(arguments: [
        ("redis-sentinel://a:1,b:2", "names its master"),
        ("redis-sentinel://a:1,b:2/", "names its master"),
        ("redis-sentinel://a:1,,b:2/m", "empty sentinel address"),
        ("redis-sentinel://a:99999/m", "outside 1...65535"),
        ("redis-sentinel://a:1/m/x", "is a number"),
        ("redis-sentinel://a:1/ma ster", "printable ASCII"),
        ("redis-cluster://a:1/2", "database 0 only"),
        ("redis-cluster://a:1,", "empty cluster seed address"),
        ("redis-cluster://", "empty cluster seed address"),
        ("rediss://a:1", "starts with redis://"),
    ])
    func badURLsAreRefusedWithAMessageSayingWhy(url: String, expected: String) {
        do {
            _ = try RedisConfig(url: url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(expected), "\(url): \(error.message)")
        }
    }

    @Test func aURLWithTooManyAddressesIsRefused() {
        let url = "redis-cluster://" + (1...(RedisConfig.maxEndpoints + 1)).map { "h:\($0)" }.joined(separator: ",")
        #expect(throws: RedisError.self) { try RedisConfig(url: url) }
    }

    @Test func aServerOfADeploymentKeepsTheCredentialsAndASentinelGetsNone() throws {
        let config = try RedisConfig(url: "redis-sentinel://u:p@s1:1,s2:2/m/4", poolSize: 5)
        let master = config.server(RedisEndpoint(host: "m1", port: 6000))
        #expect(master.topology == .standalone && master.host == "m1" && master.port == 6000)
        #expect(master.username == "u" && master.password == "p" && master.database == 4 && master.poolSize == 5)
        let sentinel = config.sentinel(RedisEndpoint(host: "s2", port: 2))
        #expect(sentinel.username == nil && sentinel.password == nil && sentinel.database == 0 && sentinel.poolSize == 1)
    }

    // MARK: - Slots

    @Test func crc16MatchesRedisTestVector() {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterSlot.crc16([]) == 0)
    }

    @Test func hashTagsFollowTheClusterSpecification() {
        func slot(_ key: String) -> Int { RedisClusterSlot.of(key: key) }
        #expect(slot("cc:{T1}:issued") == slot("T1"))
        #expect(slot("cc:{T1}:meta") == slot("cc:{T1}:user:u-1"))
        // Only the first { and the first } after it; an empty tag hashes the whole key.
        #expect(slot("{user1000}.following") == slot("user1000"))
        #expect(slot("foo{}{bar}") == Int(RedisClusterSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF))
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        #expect(slot("no-close{tag") == Int(RedisClusterSlot.crc16(Array("no-close{tag".utf8)) & 0x3FFF))
        #expect((0..<RedisClusterSlot.count).contains(slot("anything")))
    }

    @Test func redirectsAreReadAndAnythingElseIsNot() {
        #expect(RedisRedirect.parse("MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: RedisEndpoint(host: "127.0.0.1", port: 6381)))
        #expect(RedisRedirect.parse("ASK 0 [::1]:7000") == .ask(slot: 0, to: RedisEndpoint(host: "::1", port: 7000)))
        #expect(RedisRedirect.parse("ASK 16383 ::1:7000") == .ask(slot: 16383, to: RedisEndpoint(host: "::1", port: 7000)))
        for text in [
            "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h:0", "MOVED 1 h:70000", "MOVED 1 :6379", "MOVED 1 h", "MOVED 1", "ERR x y",
            "MOVED  1 h:1", "MOVED 1 h:1 extra", "", "moved 1 h:1",
        ] {
            #expect(RedisRedirect.parse(text) == nil, "\(text)")
        }
    }

    @Test func clusterSlotsReplyIsReadStrictly() throws {
        let answeredBy = RedisEndpoint(host: "10.1.1.1", port: 7000)
        func node(_ host: String, _ port: Int64) -> RedisValue { .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array("id".utf8))]) }
        let reply = RedisValue.array([
            .array([.integer(5461), .integer(16383), node("10.1.1.2", 7001), node("10.1.1.4", 7003)]),
            .array([.integer(0), .integer(5460), node("", 7000)]),
        ])
        let map = try RedisClusterSlotMap.parse(reply, answeredBy: answeredBy)
        #expect(map.masters == [answeredBy, RedisEndpoint(host: "10.1.1.2", port: 7001)])
        let bySlot = map.masterBySlot()
        #expect(bySlot[0] == answeredBy && bySlot[5460] == answeredBy)
        #expect(bySlot[5461] == RedisEndpoint(host: "10.1.1.2", port: 7001) && bySlot[16383] == bySlot[5461])

        for bad: RedisValue in [
            .null, .integer(1), .array([.array([.integer(0), .integer(1)])]),
            .array([.array([.integer(2), .integer(1), node("h", 1)])]),
            .array([.array([.integer(0), .integer(16384), node("h", 1)])]),
            .array([.array([.integer(0), .integer(1), node("h", 0)])]),
            .array([.array([.integer(0), .integer(1), .array([.integer(1), .integer(1)])])]),
            .array([.array([.integer(0), .integer(10), node("h", 1)]), .array([.integer(10), .integer(20), node("g", 2)])]),
        ] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisClusterSlotMap.parse(bad, answeredBy: answeredBy) }
        }
    }

    @Test func sentinelRepliesAreReadStrictly() throws {
        #expect(
            try RedisSentinelReply.masterAddress(fromReply: .array([.bulk(Array("127.0.0.1".utf8)), .bulk(Array("6380".utf8))]))
                == RedisEndpoint(host: "127.0.0.1", port: 6380))
        #expect(try RedisSentinelReply.masterAddress(fromReply: .null) == nil)
        for bad: RedisValue in [
            .integer(1), .array([]), .array([.bulk([]), .bulk(Array("1".utf8))]), .array([.bulk(Array("h".utf8)), .bulk(Array("0".utf8))]),
        ] {
            #expect(throws: RedisError.self) { try RedisSentinelReply.masterAddress(fromReply: bad) }
        }
        #expect(try RedisSentinelReply.isMaster(roleReply: .array([.bulk(Array("master".utf8)), .integer(0), .array([])])))
        #expect(try !RedisSentinelReply.isMaster(roleReply: .array([.bulk(Array("slave".utf8))])))
        #expect(throws: RedisError.self) { try RedisSentinelReply.isMaster(roleReply: .status("OK")) }
    }

    @Test func commandsAreRoutedByTheirFirstKey() {
        func key(_ words: String...) -> String? {
            RedisClusterRouter.firstKey(of: words.map { Array($0.utf8) }).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(key("GET", "a") == "a")
        #expect(key("set", "b", "1") == "b")
        #expect(key("EVALSHA", "abc", "2", "k1", "k2", "arg") == "k1")
        #expect(key("EVAL", "return 1", "0", "x") == nil)
        #expect(key("EVALSHA", "abc", "many", "k1") == nil)
        #expect(key("PING") == nil && key("SCRIPT", "LOAD", "x") == nil && key("CLUSTER", "SLOTS") == nil)
        #expect(key("GET") == nil)
        #expect(RedisClusterRouter.firstKey(of: []) == nil)
    }

    @Test func failuresThatMeanTheMasterChangedAreTheOnesAfterAFailover() {
        #expect(RedisSentinelRouter.meansMasterChanged(RedisError(.connectionFailed, "refused")))
        #expect(RedisSentinelRouter.meansMasterChanged(RedisError(.timeout, "slow")))
        #expect(RedisSentinelRouter.meansMasterChanged(RedisError(.serverError, "READONLY You can't write against a read only replica.")))
        #expect(RedisSentinelRouter.meansMasterChanged(RedisError(.serverError, "LOADING Redis is loading the dataset in memory")))
        #expect(!RedisSentinelRouter.meansMasterChanged(RedisError(.serverError, "COUPON_SOLD_OUT no stock")))
        #expect(!RedisSentinelRouter.meansMasterChanged(RedisError(.noScript, "NOSCRIPT No matching script.")))
    }
}
