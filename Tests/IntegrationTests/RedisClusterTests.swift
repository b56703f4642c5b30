import Risk
import ServiceKit
import Synchronization
import TestSupport
import Testing
import Wire

@testable import Redis

/// `redis-cluster://` against a real cluster of three masters and three replicas
/// (`RedisClusterTestSet`). One cluster serves the phases in order (forming one costs more than
/// all of them on a loaded machine); the failover comes last because it changes the cluster.
@Suite(.serialized)
struct RedisClusterTests {
    @Test func routesKeysFollowsAMigrationAndAFailover() async throws {
        try await RedisClusterTestSet.with { cluster in
            let pool = RedisPool(config: try RedisConfig(url: cluster.url, poolSize: 2, timeoutMilliseconds: Patience.milliseconds(5_000)))
            let probe = RedisConnection(config: try cluster.nodes[0].config(poolSize: 1))

            try await slotsAgreeWithTheServer(probe)
            try await keysOnEveryNodeRoundTrip(pool, cluster)
            try await scriptsRunOnEveryNodeAndReloadPerNode(pool, cluster)
            try await riskDecisionsRunInOneSlot(pool, cluster)
            try await aSlotMigratedUnderTrafficLosesNothing(pool, cluster)
            try await aKilledMasterIsReplacedByItsReplica(pool, cluster)
            await pool.close()
        }
    }

    /// CRC16 and hash tags as the server computes them (`CLUSTER KEYSLOT`).
    func slotsAgreeWithTheServer(_ probe: RedisConnection) async throws {
        var keys = ["123456789", "cc:{T1}:issued", "cc:{T1}:user:u-9", "foo{}{bar}", "foo{{bar}}zap", "{", "}", "{}", "ünïcødé", ""]
        keys += (0..<200).map { "key:\($0 * 7919)" }
        for key in keys {
            let slot = try await probe.command(["CLUSTER", "KEYSLOT", key]).int
            #expect(slot == Int64(RedisClusterSlot.of(key: key)), "CLUSTER KEYSLOT \(key)")
        }
    }

    /// Keys on every master: single commands and one pipeline over all of them, answered in order.
    func keysOnEveryNodeRoundTrip(_ pool: RedisPool, _ cluster: RedisClusterTestSet) async throws {
        let keys = (0..<2000).map { "k:\($0)" }
        let sets = try await pool.pipeline(keys.map { ["SET", $0, "v-\($0)"] })
        #expect(sets.allSatisfy { (try? $0.get()) == .status("OK") })
        let gets = try await pool.pipeline(keys.reversed().map { ["GET", $0] })
        #expect(gets.map { try? $0.get().string } == keys.reversed().map { "v-\($0)" })
        for key in keys.prefix(50) {
            #expect(try await pool.command(["GET", key]).string == "v-\(key)")
        }
        // Every master holds some of them, and together exactly them.
        var total: Int64 = 0
        for master in try await cluster.masters() {
            let count = try #require(try await RedisConnection(config: try master.config(poolSize: 1)).command(["DBSIZE"]).int)
            #expect(count > 0, "master \(master.port) holds none of the keys")
            total += count
        }
        #expect(total == Int64(keys.count))
        // A command the node refuses (wrong type) fails alone inside a pipeline across nodes.
        _ = try await pool.command(["LPUSH", "a-list", "x"])
        let mixed = try await pool.pipeline([["GET", "k:1"], ["GET", "a-list"], ["GET", "k:2"]])
        #expect(try mixed[0].get().string == "v-k:1")
        #expect(throws: RedisError.self) { try mixed[1].get() }
        #expect(try mixed[2].get().string == "v-k:2")
        _ = try await pool.command(["DEL", "a-list"])
    }

    /// `EVALSHA` by its first key on every node; a node whose scripts were flushed gets the script
    /// again (NOSCRIPT per node) and the calls still answer.
    func scriptsRunOnEveryNodeAndReloadPerNode(_ pool: RedisPool, _ cluster: RedisClusterTestSet) async throws {
        let script = RedisScript("return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}")
        let calls = (0..<300).map { (keys: ["k:\($0)"], args: ["a\($0)"]) }
        func check(_ results: [Result<RedisValue, RedisError>]) throws {
            #expect(results.count == calls.count)
            for (index, result) in results.enumerated() {
                #expect(
                    try result.get() == .array([.bulk(Array("k:\(index)".utf8)), .bulk(Array("a\(index)".utf8)), .bulk(Array("v-k:\(index)".utf8))]))
            }
        }
        try check(try await pool.evaluateMany(script, calls))
        for master in try await cluster.masters().prefix(2) {
            _ = try await RedisConnection(config: try master.config(poolSize: 1)).command(["SCRIPT", "FLUSH"])
        }
        try check(try await pool.evaluateMany(script, calls))
        #expect(try await pool.evaluate(script, keys: ["k:7"], args: ["x"]).array?.last?.string == "v-k:7")
    }

    /// risk-control's decision script reads keys of the user, the device and the IP together; in a
    /// cluster they share the `{risk}` tag, so decisions are answered (not CROSSSLOT) and every risk
    /// key carries the tag.
    func riskDecisionsRunInOneSlot(_ pool: RedisPool, _ cluster: RedisClusterTestSet) async throws {
        let engine = RiskEngine(redis: pool, rules: RiskRules(), metrics: Metrics())
        let now: Int64 = 1_790_000_000_000
        func request(_ user: String, device: String) -> RiskDecisionRequest {
            RiskDecisionRequest(
                action: .claim, userId: user, deviceId: device, ip: "192.0.2.7", templateId: "T1", couponType: .cash, amountCents: 500)
        }
        _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .device, value: "stolen"), nowMilliseconds: now)
        #expect(try await engine.decide(request("r1", device: "phone-1"), nowMilliseconds: now).verdict == .allow)
        #expect(try await engine.decide(request("r2", device: "stolen"), nowMilliseconds: now).reasons == ["BLOCKED_DEVICE"])
        let batch = try await engine.decide(
            RiskDecisionBatchRequest(decisions: (0..<20).map { request("batch-\($0)", device: "phone-\($0)") }), nowMilliseconds: now)
        #expect(batch.results.allSatisfy { $0.error == nil && $0.decision != nil }, "\(batch.results.compactMap(\.error))")
        #expect(try await engine.entries(list: .block, subject: .device, nowMilliseconds: now).map(\.value) == ["stolen"])

        var riskKeys: [String] = []
        for master in try await cluster.masters() {
            let keys = try await RedisConnection(config: try master.config(poolSize: 1)).command(["KEYS", "risk:*"])
            riskKeys += (keys.array ?? []).compactMap(\.string)
        }
        #expect(!riskKeys.isEmpty)
        #expect(riskKeys.allSatisfy { $0.hasPrefix("risk:{risk}:") }, "\(riskKeys.filter { !$0.hasPrefix("risk:{risk}:") })")
    }

    /// One slot moved from its master to another while a client reads and counts in it: the
    /// client is answered `ASK` while the slot migrates and `MOVED` after, follows both, and no
    /// call fails, no value is wrong, no increment is lost.
    func aSlotMigratedUnderTrafficLosesNothing(_ pool: RedisPool, _ cluster: RedisClusterTestSet) async throws {
        let slot = RedisClusterSlot.of(key: "mig")
        let keys = (0..<40).map { "{mig}:\($0)" }
        for key in keys { _ = try await pool.command(["SET", key, "value of \(key)"]) }

        let probe = RedisConnection(config: try cluster.nodes[0].config(poolSize: 1))
        let map = try RedisClusterSlotMap.parse(
            try await probe.command(["CLUSTER", "SLOTS"]), answeredBy: RedisEndpoint(host: "127.0.0.1", port: cluster.nodes[0].port))
        let sourceEndpoint = try #require(map.masterBySlot()[slot])
        let targetEndpoint = try #require(map.masters.first { $0 != sourceEndpoint })
        let source = RedisConnection(config: try cluster.nodes[0].config(poolSize: 1).server(sourceEndpoint))
        let target = RedisConnection(config: try cluster.nodes[0].config(poolSize: 1).server(targetEndpoint))
        let sourceID = try #require(try await source.command(["CLUSTER", "MYID"]).string)
        let targetID = try #require(try await target.command(["CLUSTER", "MYID"]).string)

        let passes = SharedCounter()
        let increments = SharedCounter()
        let stop = SharedCounter()
        let failures = FailureLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while stop.current == 0 {
                    for key in keys {
                        do {
                            let value = try await pool.command(["GET", key]).string
                            if value != "value of \(key)" { failures.record("GET \(key) answered \(value ?? "nil")") }
                            _ = try await pool.command(["INCR", "{mig}:counter"])
                            _ = increments.next()
                        } catch {
                            failures.record("\(key): \(error)")
                        }
                    }
                    _ = passes.next()
                }
            }
            func trafficPasses(_ count: Int, _ what: String) async throws {
                let start = passes.current
                try await Patience.waitUntil("\(count) passes of traffic \(what)") { passes.current >= start + count }
            }
            try await trafficPasses(1, "before the migration")
            _ = try await target.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
            _ = try await source.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
            // Half the keys first, so the client meets a slot split between two nodes (ASK).
            _ = try await source.command(
                ["MIGRATE", targetEndpoint.host, String(targetEndpoint.port), "", "0", String(Patience.milliseconds(5_000)), "KEYS"]
                    + keys.prefix(20))
            try await trafficPasses(2, "while the slot is split")
            while true {
                let rest = try #require(try await source.command(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]).array)
                if rest.isEmpty { break }
                _ = try await source.command(
                    ["MIGRATE", targetEndpoint.host, String(targetEndpoint.port), "", "0", String(Patience.milliseconds(5_000)), "KEYS"]
                        + rest.compactMap(\.string))
            }
            for master in try await cluster.masters() {
                _ = try await RedisConnection(config: try master.config(poolSize: 1)).command(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
            }
            try await trafficPasses(2, "after the slot moved")
            _ = stop.next()
            try await group.waitForAll()
        }
        #expect(failures.entries == [])
        #expect(try await pool.command(["GET", "{mig}:counter"]).int == Int64(increments.current))
        let followed = try #require(pool.clusterRedirectsFollowed)
        #expect(followed.ask > 0, "no ASK was followed during the migration")
        #expect(followed.moved > 0, "no MOVED was followed after the migration")
        #expect(try await target.command(["GET", keys[0]]).string == "value of \(keys[0])")
        try await cluster.waitUntilHealthy()
    }

    /// `kill -9` of a master under writes: its replica takes over its slots, and the same pool
    /// writes to every slot again.
    func aKilledMasterIsReplacedByItsReplica(_ pool: RedisPool, _ cluster: RedisClusterTestSet) async throws {
        let keys = (0..<300).map { "after:\($0)" }
        let victimEndpointSlot = RedisClusterSlot.of(key: keys[0])
        let probe = RedisConnection(config: try cluster.nodes[0].config(poolSize: 1))
        let before = try RedisClusterSlotMap.parse(
            try await probe.command(["CLUSTER", "SLOTS"]), answeredBy: RedisEndpoint(host: "127.0.0.1", port: cluster.nodes[0].port))
        let victimEndpoint = try #require(before.masterBySlot()[victimEndpointSlot])
        let victim = try #require(cluster.node(port: victimEndpoint.port))
        let survivor = try #require(cluster.nodes.first { $0.port != victim.port && $0.isRunning })

        let acknowledged = SharedCounter()
        let attempted = SharedCounter()
        let stop = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while stop.current == 0 {
                    _ = attempted.next()
                    let results = (try? await pool.pipeline(keys.map { ["INCR", $0] })) ?? []
                    if !results.isEmpty && results.allSatisfy({ (try? $0.get()) != nil }) {
                        _ = acknowledged.next()
                    } else {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            try await Patience.waitUntil("writes before the kill") { acknowledged.current >= 3 }
            await cluster.kill(port: victim.port)
            let survivorProbe = RedisConnection(config: try survivor.config(poolSize: 1))
            try await Patience.waitUntil("a replica serving the killed master's slots", within: Patience.clusterLimit, every: .milliseconds(200)) {
                guard let reply = try? await survivorProbe.command(["CLUSTER", "SLOTS"]),
                    let map = try? RedisClusterSlotMap.parse(reply, answeredBy: RedisEndpoint(host: "127.0.0.1", port: survivor.port))
                else { return false }
                let bySlot = map.masterBySlot()
                return bySlot[victimEndpointSlot] != nil && bySlot[victimEndpointSlot] != victimEndpoint && !bySlot.contains(nil)
            }
            let atFailover = acknowledged.current
            try await Patience.waitUntil("pipelines over every slot succeeding again", within: Patience.clusterLimit) {
                acknowledged.current >= atFailover + 3
            }
            _ = stop.next()
            try await group.waitForAll()
        }
        // What reached the promoted replica is there; nothing counts more than was sent.
        let counted = try #require(try await pool.command(["GET", keys[0]]).int)
        #expect(counted >= 1)
        #expect(counted <= Int64(attempted.current))
    }
}

/// What the traffic of a test saw go wrong, shared by its tasks.
final class FailureLog: Sendable {
    private let lines = Mutex<[String]>([])
    func record(_ line: String) { lines.withLock { $0.append(line) } }
    var entries: [String] { lines.withLock { $0 } }
}
