import TestSupport
import Testing

@testable import Redis

/// `redis-sentinel://` against a real master, replica and three sentinels (`RedisSentinelTestSet`).
@Suite(.serialized)
struct RedisSentinelTests {
    /// A client writing all along; the master is killed with `kill -9`; the sentinels promote the
    /// replica; the same pool writes to it without being rebuilt.
    @Test func clientFollowsTheMasterThroughAFailover() async throws {
        try await RedisSentinelTestSet.with { deployment in
            let pool = RedisPool(config: try RedisConfig(url: deployment.url, poolSize: 2, timeoutMilliseconds: Patience.milliseconds(5_000)))
            #expect(try await pool.command(["CONFIG", "GET", "port"]).array?.last?.string == String(deployment.master.port))

            let acknowledged = SharedCounter()
            let failed = SharedCounter()
            let stop = SharedCounter()
            let replicaPort = deployment.replica.port
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while stop.current == 0 {
                        do {
                            _ = try await pool.command(["INCR", "writes"])
                            _ = acknowledged.next()
                        } catch {
                            // The master is gone or not yet replaced: the call failed, and is not
                            // retried by the pool; the writer tries the next one a moment later.
                            _ = failed.next()
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
                try await Patience.waitUntil("writes before the failover") { acknowledged.current >= 20 }
                await deployment.killMaster()
                try await Patience.waitUntil("the sentinels naming the replica", within: Patience.clusterLimit, every: .milliseconds(100)) {
                    await deployment.namedMasterPort() == replicaPort
                }
                let atFailover = acknowledged.current
                try await Patience.waitUntil("writes succeeding on the new master", within: Patience.clusterLimit) {
                    acknowledged.current >= atFailover + 20
                }
                _ = stop.next()
                try await group.waitForAll()
            }

            #expect(try await pool.command(["CONFIG", "GET", "port"]).array?.last?.string == String(replicaPort))
            #expect(try RedisSentinelReply.isMaster(roleReply: try await pool.command(["ROLE"])))
            // The new master counts what reached the replica plus what came after: never more than
            // was sent (writes the replica had not received yet may be missing: an undercount).
            let counted = try #require(try await pool.command(["GET", "writes"]).int)
            #expect(counted >= 20)
            #expect(counted <= Int64(acknowledged.current + failed.current))
            await pool.close()
        }
    }

    /// No sentinel reachable: a clear error naming the master, not a hang or a crash.
    @Test func noReachableSentinelIsAClearError() async throws {
        let url = "redis-sentinel://127.0.0.1:\(try freeLocalPort()),127.0.0.1:\(try freeLocalPort())/absent"
        let pool = RedisPool(config: try RedisConfig(url: url, poolSize: 1, timeoutMilliseconds: Patience.milliseconds(2_000)))
        do {
            _ = try await pool.command(["PING"])
            Issue.record("PING succeeded without a sentinel")
        } catch let error as RedisError {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("absent"))
        }
        await pool.close()
    }
}
