import Foundation
import TestSupport
import Testing

@testable import Redis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Against a real redis-server that each test starts on a free port (see `RedisTestServer`).
/// Serialized: several tests measure time (expiry, timeouts, waiting order) and the machine is small.
@Suite(.serialized)
struct RedisTests {
    // MARK: - Configuration

    @Test func configParsesURLAndNeverShowsThePassword() throws {
        let config = try RedisConfig(url: "redis://:p%40ss%3Aw0rd@cache.internal:6380/2", poolSize: 3)
        #expect(config.host == "cache.internal")
        #expect(config.port == 6380)
        #expect(config.username == nil)
        #expect(config.password == "p@ss:w0rd")
        #expect(config.database == 2)
        #expect(config.poolSize == 3)
        #expect(config.timeoutMilliseconds == 2000)

        var dumped = ""
        dump(config, to: &dumped)
        for text in [config.description, String(reflecting: config), "\(config)", dumped] {
            #expect(!text.contains("p@ss"), "password leaked in \(text)")
            #expect(!text.contains("w0rd"), "password leaked in \(text)")
        }
        #expect(config.description.contains(":***@cache.internal:6380/2"))

        let defaults = try RedisConfig(url: "redis://localhost")
        #expect(defaults.port == 6379 && defaults.database == 0 && defaults.poolSize == 8)
        #expect(defaults.password == nil && !defaults.description.contains("@"))

        let withUser = try RedisConfig(url: "redis://coupons:secret@[::1]:7000")
        #expect(withUser.username == "coupons" && withUser.password == "secret")
        #expect(withUser.host == "::1" && withUser.port == 7000)

        for bad in ["http://localhost", "redis://", "redis://host:port", "redis://host/db", "redis://host:0"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfig(url: bad) }
        }
        #expect(throws: RedisError(.invalidConfiguration, "the Redis pool size must be at least 1")) {
            try RedisConfig(url: "redis://localhost", poolSize: 0)
        }
    }

    // MARK: - Commands and replies

    @Test func valuesRoundTripByteForByte() async throws {
        try await RedisTestServer.withPool { pool in
            let everyByte = (0...255).map(UInt8.init) + [0, 13, 10, 0xC3, 0x28, 0]
            #expect(try await pool.command([Array("SET".utf8), [0, 1, 0xFF], everyByte]) == .status("OK"))
            let reply = try await pool.command([Array("GET".utf8), [0, 1, 0xFF]])
            #expect(reply == .bulk(everyByte))
            #expect(reply.string == nil, "invalid UTF-8 is not a string")
            #expect(reply.bytes?.count == 262)

            let large = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            _ = try await pool.command([Array("SET".utf8), Array("large".utf8), large])
            #expect(try await pool.command(["GET", "large"]).bytes == large)

            let hostile = [
                "'; DROP TABLE coupons; --",
                "$(rm -rf /) `id` | cat /etc/passwd && echo \"x\"",
                "%s %n %d %% \\0 \\",
                "*3\r\n$3\r\nDEL\r\n$4\r\nkeys\r\n",
                "coupon 🎟️ Gutschein 优惠券",
                "",
            ]
            for (index, value) in hostile.enumerated() {
                let key = "coupon:{\(index)} %s '\(value)'"
                #expect(try await pool.command(["SET", key, value]) == .status("OK"))
                let stored = try await pool.command(["GET", key])
                #expect(stored == .bulk(Array(value.utf8)))
                #expect(stored.string == value)
                #expect(try await pool.command(["STRLEN", key]) == .integer(Int64(value.utf8.count)))
            }
            #expect(try await pool.command(["DBSIZE"]) == .integer(Int64(hostile.count + 2)))
        }
    }

    @Test func integerArrayNullAndStatusReplies() async throws {
        // `throws` spelled out: the only `try`s are inside #expect, which inference does not see.
        try await RedisTestServer.withPool { pool async throws in
            #expect(try await pool.command(["PING"]) == .status("PONG"))
            #expect(try await pool.command(["INCRBY", "issued", "41"]) == .integer(41))
            #expect(try await pool.command(["INCR", "issued"]) == .integer(42))
            #expect(try await pool.command(["GET", "issued"]).int == 42)
            #expect(try await pool.command(["INCRBY", "negative", "-7"]).int == -7)
            #expect(try await pool.command(["GET", "missing"]) == .null)
            #expect(try await pool.command(["GET", "missing"]).isNull)

            #expect(try await pool.command(["RPUSH", "list", "a", "", "c"]) == .integer(3))
            #expect(try await pool.command(["LRANGE", "list", "0", "-1"]) == .array([bulk("a"), bulk(""), bulk("c")]))
            #expect(try await pool.command(["LRANGE", "empty", "0", "-1"]) == .array([]))
            #expect(try await pool.command(["MGET", "list:none", "issued"]) == .array([.null, bulk("42")]))
            #expect(
                try await pool.command(["EVAL", "return {1, {2, 'two'}, 'three'}", "0"])
                    == .array([.integer(1), .array([.integer(2), bulk("two")]), bulk("three")]))

            await #expect(throws: RedisError(.invalidCommand, "a command needs at least its name")) {
                try await pool.command([String]())
            }
        }
    }

    @Test func serverErrorsAreThrownAndNestedOnesStayValues() async throws {
        try await RedisTestServer.withPool(poolSize: 1) { pool in
            _ = try await pool.command(["SET", "name", "spring-sale"])

            let notANumber = await #expect(throws: RedisError.self) { try await pool.command(["INCR", "name"]) }
            #expect(notANumber?.code == .serverError)
            #expect(notANumber?.serverErrorKind == "ERR")
            #expect(notANumber?.message.contains("not an integer") == true)

            let wrongType = await #expect(throws: RedisError.self) { try await pool.command(["LPUSH", "name", "x"]) }
            #expect(wrongType?.code == .serverError)
            #expect(wrongType?.serverErrorKind == "WRONGTYPE")

            let unknown = await #expect(throws: RedisError.self) { try await pool.command(["NOSUCHCOMMAND"]) }
            #expect(unknown?.code == .serverError)

            // An error reply leaves the connection usable.
            #expect(try await pool.command(["GET", "name"]).string == "spring-sale")

            // Inside EXEC one command failing is one element, not a thrown error.
            let results = try await pool.withConnection { connection in
                _ = try await connection.command(["MULTI"])
                _ = try await connection.command(["SET", "counter", "1"])
                _ = try await connection.command(["INCR", "name"])
                return try await connection.command(["EXEC"])
            }
            guard case .array(let elements) = results, elements.count == 2 else {
                Issue.record("EXEC answered \(results)")
                return
            }
            #expect(elements[0] == .status("OK"))
            guard case .error(let text) = elements[1] else {
                Issue.record("expected a nested error, got \(elements[1])")
                return
            }
            #expect(text.hasPrefix("ERR"))
        }
    }

    @Test func authenticatesAndSelectsTheDatabase() async throws {
        try await RedisTestServer.with(extraArguments: ["--requirepass", "s3cr:t@pw"]) { server in
            let inDatabase3 = RedisPool(
                config: try RedisConfig(url: "redis://:s3cr%3At%40pw@127.0.0.1:\(server.port)/3"))
            let inDatabase0 = RedisPool(config: try RedisConfig(url: "redis://:s3cr%3At%40pw@127.0.0.1:\(server.port)"))
            let wrongPassword = RedisPool(config: try RedisConfig(url: "redis://:guess@127.0.0.1:\(server.port)"))
            let noPassword = RedisPool(config: try server.config())

            _ = try await inDatabase3.command(["SET", "template:7", "stock"])
            #expect(try await inDatabase3.command(["GET", "template:7"]).string == "stock")
            #expect(try await inDatabase0.command(["GET", "template:7"]) == .null)

            let refused = await #expect(throws: RedisError.self) { try await wrongPassword.command(["PING"]) }
            #expect(refused?.serverErrorKind == "WRONGPASS")
            let anonymous = await #expect(throws: RedisError.self) { try await noPassword.command(["PING"]) }
            #expect(anonymous?.serverErrorKind == "NOAUTH")
            for pool in [inDatabase3, inDatabase0, wrongPassword, noPassword] { await pool.close() }
        }
    }

    // MARK: - Pipelines

    @Test func pipelineAnswersMixedCommandsInOrder() async throws {
        try await RedisTestServer.withPool(poolSize: 1) { pool in
            let results = try await pool.pipeline([
                ["SET", "stock", "41"], ["INCR", "stock"], ["GET", "stock"], ["RPUSH", "list", "a", "", "c"],
                ["LRANGE", "list", "0", "-1"], ["GET", "missing"], ["PING"], ["DEL", "stock", "list"],
            ])
            #expect(
                results == [
                    .success(.status("OK")), .success(.integer(42)), .success(bulk("42")), .success(.integer(3)),
                    .success(.array([bulk("a"), bulk(""), bulk("c")])), .success(.null), .success(.status("PONG")),
                    .success(.integer(2)),
                ])

            // A hundred commands in one call still answer in order, each its own reply.
            let counts = try await pool.pipeline((0..<100).map { _ in ["INCR", "counter"] })
            #expect(counts == (1...100).map { .success(.integer(Int64($0))) })
            let stats = try await pool.command(["INFO", "commandstats"]).string ?? ""
            #expect(stats.contains("cmdstat_incr:calls=101,"), "\(stats)")
        }
    }

    @Test func anErrorReplyFailsOnlyItsOwnCommand() async throws {
        try await RedisTestServer.withPool(poolSize: 1) { pool in
            let results = try await pool.pipeline([
                ["SET", "name", "spring-sale"], ["INCR", "name"], ["LPUSH", "name", "x"], ["NOSUCHCOMMAND"],
                ["EVALSHA", String(repeating: "0", count: 40), "0"], ["GET", "name"],
            ])
            try #require(results.count == 6)
            #expect(results[0] == .success(.status("OK")))
            #expect(results[5] == .success(bulk("spring-sale")), "commands after the errors still ran")
            let failures = results[1...4].map { result -> RedisError? in
                if case .failure(let error) = result { error } else { nil }
            }
            #expect(failures.map { $0?.code } == [.serverError, .serverError, .serverError, .noScript])
            #expect(failures.map { $0?.serverErrorKind } == ["ERR", "WRONGTYPE", "ERR", "NOSCRIPT"])
            #expect(failures[0]?.message.contains("not an integer") == true)

            // The connection stays usable: the next call on the only connection gets its own reply.
            #expect(try await pool.command(["GET", "name"]).string == "spring-sale")
            #expect(try await pool.pipeline([["PING"]]) == [.success(.status("PONG"))])
        }
    }

    @Test func pipelineArgumentsAreBinarySafe() async throws {
        try await RedisTestServer.with { server in
            let connection = RedisConnection(config: try server.config())
            let everyByte = (0...255).map(UInt8.init) + [0, 13, 10, 0xC3, 0x28, 0]
            let key: [UInt8] = [0, 1, 0xFF, 13, 10]
            let results = try await connection.pipeline([
                [Array("SET".utf8), key, everyByte], [Array("GET".utf8), key], [Array("SET".utf8), Array("empty".utf8), []],
                [Array("GET".utf8), Array("empty".utf8)], [Array("STRLEN".utf8), key],
                [Array("SET".utf8), Array("*3\r\n$3\r\nDEL\r\n".utf8), Array("%s %n".utf8)],
                [Array("KEYS".utf8), Array("\\*3*".utf8)],
            ])
            #expect(
                results == [
                    .success(.status("OK")), .success(.bulk(everyByte)), .success(.status("OK")), .success(.bulk([])),
                    .success(.integer(262)), .success(.status("OK")), .success(.array([bulk("*3\r\n$3\r\nDEL\r\n")])),
                ])
            #expect(try await connection.command(["DBSIZE"]) == .integer(3))
            await connection.close()
        }
    }

    @Test func emptyPipelinesAnswerNothingAndAnEmptyCommandRefusesTheCall() async throws {
        try await RedisTestServer.with { server in
            try await server.withPool(poolSize: 1) { pool in
                #expect(try await pool.pipeline([]).isEmpty)
                #expect(try await pool.evaluateMany(RedisScript("return 1"), []).isEmpty)
                let connection = RedisConnection(config: try server.config())
                #expect(try await connection.pipeline([]).isEmpty)

                // Nothing of a refused call is sent, not even the commands before the empty one.
                await #expect(throws: RedisError(.invalidCommand, "a command needs at least its name")) {
                    try await connection.pipeline([[Array("SET".utf8), Array("sent".utf8), Array("yes".utf8)], []])
                }
                await #expect(throws: RedisError.self) { try await pool.pipeline([["SET", "sent", "yes"], []]) }
                #expect(try await pool.command(["EXISTS", "sent"]) == .integer(0))
                await connection.close()
            }
        }
    }

    @Test func aPipelineTimeoutFailsTheWholeCallAndTheNextCallReconnects() async throws {
        try await RedisTestServer.with { server in
            // Short only next to BLPOP's block (an hour): the CLIENT IDs run under it too.
            let connection = RedisConnection(config: try server.config(timeoutMilliseconds: Patience.milliseconds(1_000)))
            let before = try #require(try await connection.command(["CLIENT", "ID"]).int)
            let timedOut = await #expect(throws: RedisError.self) {
                try await connection.pipeline([["PING"], ["BLPOP", "no-such-list", "3600"], ["PING"]].map { $0.map { Array($0.utf8) } })
            }
            #expect(timedOut?.code == .timeout)
            let after = try await connection.pipeline([[Array("CLIENT".utf8), Array("ID".utf8)], [Array("PING".utf8)]])
            #expect(after.count == 2 && after[1] == .success(.status("PONG")))
            #expect((try? after[0].get().int) != before, "a new connection, so the late replies cannot be misread")
            await connection.close()
        }
    }

    @Test func evaluateManyRunsEveryCallInOrderAndSurvivesScriptFlush() async throws {
        try await RedisTestServer.withPool(poolSize: 1) { pool in
            let append = RedisScript(
                """
                if ARGV[1] == 'fail' then return redis.error_reply('COUPON_REFUSED ' .. KEYS[1]) end
                return {redis.call('RPUSH', KEYS[1], ARGV[1]), ARGV[1]}
                """)
            let calls = (0..<50).map { (keys: ["log"], args: ["entry-\($0)"]) }
            let expected = (0..<50).map { Result<RedisValue, RedisError>.success(.array([.integer(Int64($0 + 1)), bulk("entry-\($0)")])) }
            #expect(try await pool.evaluateMany(append, calls) == expected)

            let hash = try #require(try await pool.command(["SCRIPT", "LOAD", append.source]).string)
            #expect(try await pool.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(try await pool.command(["DEL", "log"]) == .integer(1))
            #expect(try await pool.evaluateMany(append, calls) == expected, "every call answered after the reload")
            #expect(try await pool.command(["SCRIPT", "EXISTS", hash]) == .array([.integer(1)]), "reloaded")
            #expect(try await pool.command(["LLEN", "log"]) == .integer(50), "no call ran twice")

            // The script's own error fails its call only.
            let mixed = try await pool.evaluateMany(
                append, [(keys: ["other"], args: ["a"]), (keys: ["other"], args: ["fail"]), (keys: ["other"], args: ["b"])])
            #expect(mixed[0] == .success(.array([.integer(1), bulk("a")])))
            #expect(mixed[1] == .failure(RedisError(.serverError, "COUPON_REFUSED other")))
            #expect(mixed[2] == .success(.array([.integer(2), bulk("b")])))

            let stats = try await pool.command(["INFO", "commandstats"]).string ?? ""
            #expect(stats.contains("cmdstat_evalsha:calls=153,"), "50 + 50 NOSCRIPT + 50 rerun + 3: \(stats)")
            #expect(!stats.contains("cmdstat_eval:"), "never with EVAL")
        }
    }

    // MARK: - Pool

    @Test func fiftyTasksShareFourConnections() async throws {
        try await RedisTestServer.withPool(poolSize: 4) { pool in
            let clientIDs = try await withThrowingTaskGroup(of: Int64.self) { group in
                for task in 0..<50 {
                    group.addTask {
                        _ = try await pool.command(["INCR", "claims"])
                        _ = try await pool.command(["SET", "claim:\(task)", "user-\(task)"])
                        let stored = try await pool.command(["GET", "claim:\(task)"])
                        #expect(stored.string == "user-\(task)")
                        return try #require(try await pool.command(["CLIENT", "ID"]).int)
                    }
                }
                var ids: Set<Int64> = []
                for try await id in group { ids.insert(id) }
                return ids
            }
            #expect(try await pool.command(["GET", "claims"]).int == 50)
            #expect((1...4).contains(clientIDs.count), "50 tasks used \(clientIDs.count) connections")
            let clients = try await pool.command(["CLIENT", "LIST"]).string ?? ""
            // The test server's start-up probe (its last command a PING) may not be gone yet.
            let poolClients = clients.split(separator: "\n").filter { !$0.contains("cmd=ping") }
            #expect(poolClients.count <= 4, "\(clients)")
        }
    }

    @Test func waitersAreServedInArrivalOrder() async throws {
        try await RedisTestServer.withPool(poolSize: 1) { pool in
            let served = ServedOrder()
            let holding = SharedCounter()
            let released = SharedCounter()

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await pool.withConnection { _ in
                        _ = holding.next()
                        try await Patience.waitUntil("the test releasing the only connection") { released.current > 0 }
                    }
                }
                try await Patience.waitUntil("the holder leasing the only connection") { holding.current > 0 }
                for waiter in 1...5 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            _ = try await connection.command(["PING"])
                            await served.append(waiter)
                        }
                    }
                    // The next waiter starts only once this one is queued: arrival order is known.
                    try await Patience.waitUntil("waiter \(waiter) queued") { pool.waitingCount == waiter }
                }
                _ = released.next()
                try await group.waitForAll()
            }
            #expect(await served.order == [1, 2, 3, 4, 5])
        }
    }

    @Test func cancelledWaiterLeavesAndClosedPoolRefuses() async throws {
        try await RedisTestServer.with { server in
            let pool = RedisPool(config: try server.config(poolSize: 1))
            // Each holder keeps the only connection until the test has done what it checks.
            let holding = SharedCounter()
            let cancelDone = SharedCounter()
            let closeDone = SharedCounter()

            let holder = Task {
                try await pool.withConnection { _ in
                    _ = holding.next()
                    try await Patience.waitUntil("the waiter being cancelled") { cancelDone.current > 0 }
                }
            }
            try await Patience.waitUntil("the holder leasing the only connection") { holding.current == 1 }
            let cancelled = Task { try await pool.command(["PING"]) }
            try await Patience.waitUntil("the waiter queued") { pool.waitingCount == 1 }
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            #expect(pool.waitingCount == 0, "the cancelled waiter left the queue")
            _ = cancelDone.next()
            try await holder.value
            #expect(try await pool.command(["PING"]) == .status("PONG"), "the connection is still in the pool")

            let holdsUntilClose = Task {
                try await pool.withConnection { connection in
                    _ = holding.next()
                    try await Patience.waitUntil("the pool being closed") { closeDone.current > 0 }
                    return try await connection.command(["PING"])
                }
            }
            try await Patience.waitUntil("the second holder leasing the connection") { holding.current == 2 }
            let waiting = Task { try await pool.command(["PING"]) }
            try await Patience.waitUntil("the second waiter queued") { pool.waitingCount == 1 }
            await pool.close()
            _ = closeDone.next()
            let waiterError = await #expect(throws: RedisError.self) { try await waiting.value }
            #expect(waiterError?.code == .poolClosed)
            #expect(try await holdsUntilClose.value == .status("PONG"), "a leased connection finishes its work")
            let afterClose = await #expect(throws: RedisError.self) { try await pool.command(["PING"]) }
            #expect(afterClose?.code == .poolClosed)
        }
    }

    @Test func commandTimeoutDropsTheConnectionAndTheNextCallReconnects() async throws {
        try await RedisTestServer.with { server in
            // The timeout covers every command, the CLIENT IDs too, so it is only short next to
            // BLPOP's block (an hour), which no machine's slowness reaches.
            let connection = RedisConnection(config: try server.config(timeoutMilliseconds: Patience.milliseconds(1_000)))
            let before = try #require(try await connection.command(["CLIENT", "ID"]).int)

            let timedOut = await #expect(throws: RedisError.self) {
                try await connection.command(["BLPOP", "no-such-list", "3600"])
            }
            // `.timeout` is the proof it gave up at its own deadline: BLPOP's reply (nil, after
            // its block) would have been a success. How soon it gave up is the machine's business.
            #expect(timedOut?.code == .timeout)

            let after = try #require(try await connection.command(["CLIENT", "ID"]).int)
            #expect(after != before, "a new connection, so the late BLPOP reply cannot be misread")
            await connection.close()
            let closed = await #expect(throws: RedisError.self) { try await connection.command(["PING"]) }
            #expect(closed?.code == .connectionClosed)
        }
    }

    @Test func unreachableServerIsConnectionFailed() async throws {
        let port = try freeLocalPort()
        let connection = RedisConnection(config: try RedisConfig(port: port, timeoutMilliseconds: 500))
        let failure = await #expect(throws: RedisError.self) { try await connection.command(["PING"]) }
        #expect(failure?.code == .connectionFailed)
        #expect(failure?.message.contains("127.0.0.1:\(port)") == true)
    }

    // MARK: - Scripts

    @Test func scriptsRunByHashAndSurviveScriptFlush() async throws {
        try await RedisTestServer.withPool(poolSize: 2) { pool in
            let script = RedisScript("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
            let expected = RedisValue.array([bulk("stock:9"), bulk("'; --"), .integer(100)])

            #expect(try await pool.evaluate(script, keys: ["stock:9"], args: ["'; --", "99"]) == expected)
            let hash = try #require(try await pool.command(["SCRIPT", "LOAD", script.source]).string)
            #expect(try await pool.command(["SCRIPT", "EXISTS", hash]) == .array([.integer(1)]))

            #expect(try await pool.command(["SCRIPT", "FLUSH"]) == .status("OK"))
            #expect(try await pool.command(["SCRIPT", "EXISTS", hash]) == .array([.integer(0)]))
            #expect(try await pool.evaluate(script, keys: ["stock:9"], args: ["'; --", "99"]) == expected)
            #expect(try await pool.command(["SCRIPT", "EXISTS", hash]) == .array([.integer(1)]), "reloaded")

            let stats = try await pool.command(["INFO", "commandstats"]).string ?? ""
            #expect(stats.contains("cmdstat_evalsha:"), "scripts run with EVALSHA")
            #expect(!stats.contains("cmdstat_eval:"), "never with EVAL")
        }
    }

    @Test func scriptErrorRepliesAreDistinguishable() async throws {
        try await RedisTestServer.withPool { pool in
            let soldOut = RedisScript("return redis.error_reply('COUPON_SOLD_OUT template ' .. ARGV[1])")
            let ownError = await #expect(throws: RedisError.self) {
                try await pool.evaluate(soldOut, keys: [], args: ["42"])
            }
            #expect(ownError?.code == .serverError)
            #expect(ownError?.serverErrorKind == "COUPON_SOLD_OUT")
            #expect(ownError?.message == "COUPON_SOLD_OUT template 42")

            let failingCall = RedisScript("redis.call('SET', KEYS[1], 'x'); return redis.call('INCR', KEYS[1])")
            let redisError = await #expect(throws: RedisError.self) {
                try await pool.evaluate(failingCall, keys: ["k"], args: [])
            }
            #expect(redisError?.code == .serverError)
            #expect(redisError?.serverErrorKind == "ERR")
        }
    }

    // MARK: - Lock

    @Test(arguments: [2, 8])
    func exactlyOneContenderGetsTheLock(contenders: Int) async throws {
        try await RedisTestServer.withPool(poolSize: 4) { pool in
            let lock = RedisLock(pool: pool)

            let leases = try await withThrowingTaskGroup(of: RedisLockLease?.self) { group in
                for _ in 0..<contenders {
                    group.addTask { try await lock.tryAcquire(key: "lock:template:1", ttl: .seconds(10)) }
                }
                var won: [RedisLockLease] = []
                for try await lease in group { if let lease { won.append(lease) } }
                return won
            }
            try #require(leases.count == 1, "\(leases.count) of \(contenders) contenders got the lock")
            let lease = leases[0]
            #expect(lease.fence == 1)
            #expect(lease.token.count == 32 && lease.token.allSatisfy(\.isHexDigit))
            #expect(lease.ttlMilliseconds == 10_000)
            #expect(try await pool.command(["GET", "lock:template:1"]).string == lease.token)
            let remaining = try #require(try await pool.command(["PTTL", "lock:template:1"]).int)
            #expect((9_000...10_000).contains(remaining))
        }
    }

    @Test func expiredLockGoesToTheNextHolderWithALargerFence() async throws {
        try await RedisTestServer.withPool { pool in
            let lock = RedisLock(pool: pool)

            // Long enough to still be held at the next call however slow the machine; then the
            // test waits for Redis to expire it rather than guessing when it has.
            let first = try #require(try await lock.tryAcquire(key: "lock:batch", ttl: Patience.scaled(.seconds(1))))
            #expect(try await lock.tryAcquire(key: "lock:batch", ttl: .seconds(5)) == nil)
            try await Patience.waitUntil("the first lease expiring") { try await pool.command(["EXISTS", "lock:batch"]) == .integer(0) }

            let second = try #require(try await lock.tryAcquire(key: "lock:batch", ttl: .seconds(5)))
            #expect(second.fence > first.fence)
            #expect(second.token != first.token)
            #expect(try await lock.release(first) == false, "the stale holder cannot release the new lock")
            #expect(try await pool.command(["GET", "lock:batch"]).string == second.token)
            #expect(try await lock.release(second))
            #expect(try await pool.command(["GET", RedisLock.fenceKey("lock:batch")]).int == second.fence, "fence kept")
        }
    }

    @Test func onlyTheOwnerCanReleaseOrExtend() async throws {
        try await RedisTestServer.withPool { pool in
            let lock = RedisLock(pool: pool)

            let ttl = Patience.milliseconds(10_000)
            let lease = try #require(try await lock.tryAcquire(key: "lock:wallet:5", ttl: .milliseconds(ttl)))
            let forged = RedisLockLease(
                key: lease.key, token: "00000000000000000000000000000000", fence: lease.fence + 1,
                ttlMilliseconds: Int64(ttl) * 6)
            #expect(try await lock.release(forged) == false)
            #expect(try await lock.extend(forged, ttl: .milliseconds(ttl * 6)) == false)
            #expect(try await pool.command(["GET", "lock:wallet:5"]).string == lease.token)
            let remaining = try #require(try await pool.command(["PTTL", "lock:wallet:5"]).int)
            #expect(remaining <= ttl, "a wrong token did not extend the lock")

            #expect(try await lock.release(lease))
            #expect(try await pool.command(["EXISTS", "lock:wallet:5"]) == .integer(0))
        }
    }

    @Test func ownerCanExtend() async throws {
        try await RedisTestServer.withPool { pool in
            let lock = RedisLock(pool: pool)

            // The first ttl only has to outlast the extend call that follows it.
            let firstTTL = Patience.milliseconds(1_000)
            let lease = try #require(try await lock.tryAcquire(key: "lock:report", ttl: .milliseconds(firstTTL)))
            #expect(try await lock.extend(lease, ttl: Patience.scaled(.seconds(60))))
            let remaining = try #require(try await pool.command(["PTTL", "lock:report"]).int)
            #expect(remaining > firstTTL)
            try await Task.sleep(for: .milliseconds(firstTTL + 150))
            #expect(try await pool.command(["GET", "lock:report"]).string == lease.token, "outlived the first ttl")
            #expect(try await lock.release(lease))
            #expect(try await lock.extend(lease, ttl: .seconds(10)) == false, "nothing to extend after release")
        }
    }

    @Test func withLockReleasesWhenTheBodyThrows() async throws {
        struct ClaimFailed: Error {}
        try await RedisTestServer.withPool { pool in
            let lock = RedisLock(pool: pool)

            let fence = try await lock.withLock(key: "lock:claim", ttl: .seconds(30), wait: .seconds(1)) {
                lease async throws in
                #expect(try await pool.command(["GET", "lock:claim"]).string == lease.token)
                return lease.fence
            }
            #expect(fence == 1)
            #expect(try await pool.command(["EXISTS", "lock:claim"]) == .integer(0), "released after success")

            await #expect(throws: ClaimFailed.self) {
                try await lock.withLock(key: "lock:claim", ttl: .seconds(30), wait: .seconds(1)) { _ in
                    throw ClaimFailed()
                }
            }
            #expect(try await pool.command(["EXISTS", "lock:claim"]) == .integer(0), "released after a throw")
            // Held for the rest of the test: the busy case below must find it taken.
            let next = try #require(try await lock.tryAcquire(key: "lock:claim", ttl: .seconds(600)))
            #expect(next.fence == 3)

            var ran = false
            let busy = await #expect(throws: RedisError.self) {
                try await lock.withLock(key: "lock:claim", ttl: .seconds(1), wait: .milliseconds(100)) { _ in
                    ran = true
                }
            }
            #expect(busy?.code == .lockUnavailable)
            #expect(!ran)
        }
    }

    @Test func acquireWaitsForTheHolderAndGivesUpAtTheDeadline() async throws {
        try await RedisTestServer.withPool { pool in
            let lock = RedisLock(pool: pool)
            let clock = ContinuousClock()

            let holder = try #require(try await lock.tryAcquire(key: "lock:export", ttl: .seconds(30)))
            var started = clock.now
            #expect(try await lock.acquire(key: "lock:export", ttl: .seconds(5), waitUpTo: .milliseconds(150)) == nil)
            let gaveUpAfter = clock.now - started
            // It waited its full allowance (how much longer depends on the machine's load).
            #expect(gaveUpAfter >= .milliseconds(150), "gave up after \(gaveUpAfter)")

            let releaser = Task {
                try await Task.sleep(for: .milliseconds(200))
                return try await lock.release(holder)
            }
            started = clock.now
            let waited = try #require(
                try await lock.acquire(key: "lock:export", ttl: .seconds(5), waitUpTo: Patience.limit))
            #expect(clock.now - started >= .milliseconds(150))
            #expect(try await releaser.value)
            #expect(waited.fence > holder.fence)
        }
    }

    // MARK: - Restart

    /// What the first call after a restart does: when the server dies the kernel closes its
    /// sockets, so each pooled connection finds its socket readable (EOF) before it sends,
    /// reconnects, and the call succeeds. While the server is down a call fails with
    /// `connectionFailed`; the first call once it is back succeeds.
    @Test func poolHealsAfterTheServerRestarts() async throws {
        try await RedisTestServer.with { server in
            try await server.withPool(poolSize: 2, timeoutMilliseconds: Patience.milliseconds(1_000)) { pool in
                let script = RedisScript("return 'issued:' .. ARGV[1]")

                // Open both connections, so both hold a socket the restart breaks.
                try await pool.withConnection { first in
                    try await pool.withConnection { second in
                        _ = try await first.command(["SET", "before", "restart"])
                        #expect(try await second.command(["GET", "before"]).string == "restart")
                    }
                }
                #expect(try await pool.evaluate(script, keys: [], args: ["1"]).string == "issued:1")

                try await server.restart()
                let (reply, attempts) = try await retryingTransportFailures {
                    try await pool.command(["GET", "before"])
                }
                #expect(reply == .null, "a new server without persistence has no data")
                #expect(attempts == 1, "the first call after the restart succeeds")
                let (sideBySide, _) = try await retryingTransportFailures {
                    try await pool.withConnection { first in
                        try await pool.withConnection { second in
                            [try await first.command(["PING"]), try await second.command(["PING"])]
                        }
                    }
                }
                #expect(sideBySide == [.status("PONG"), .status("PONG")])
                #expect(try await pool.evaluate(script, keys: [], args: ["2"]).string == "issued:2", "NOSCRIPT reload")

                await server.stop()
                let whileDown = await #expect(throws: RedisError.self) { try await pool.command(["PING"]) }
                #expect(whileDown?.code == .connectionFailed)
                try await server.launch()
                let (afterSecondRestart, _) = try await retryingTransportFailures { try await pool.command(["PING"]) }
                #expect(afterSecondRestart == .status("PONG"))
            }
        }
    }
}

// MARK: - Helpers

private func bulk(_ text: String) -> RedisValue { .bulk(Array(text.utf8)) }

/// Runs `call` up to three times while it fails with a transport error; returns the value and the
/// number of attempts.
private func retryingTransportFailures<Value>(
    _ call: () async throws -> Value
) async throws -> (Value, Int) {
    var attempt = 1
    while true {
        do {
            return (try await call(), attempt)
        } catch let error as RedisError where attempt < 3 && [.connectionFailed, .timeout].contains(error.code) {
            attempt += 1
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

private actor ServedOrder {
    private(set) var order: [Int] = []
    func append(_ waiter: Int) { order.append(waiter) }
}
