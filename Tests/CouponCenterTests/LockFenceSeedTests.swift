import Postgres
import TestSupport
import Testing

@testable import CouponCenter
@testable import Redis

/// The fences of coupon-center's locks are seeded from PostgreSQL (`lock_fence`): a Redis that lost
/// its counter cannot hand a new holder a fence at or below one it already handed out.
@Suite struct LockFenceSeedTests {
    @Test func aNewHolderAfterRedisLostItsDataStillGetsALargerFence() async throws {
        try await SourceMigrations.withCouponCenterDatabase(prefix: "fence_seed") { database in
            try await RedisTestServer.withPool { redis in
                let locks = RedisLock(pool: redis, fences: PostgresLockFences(database: database))
                var fences: [Int64] = []
                for _ in 0..<3 {
                    let lease = try #require(try await locks.tryAcquire(key: "lock:job:expiry", ttl: .seconds(30)))
                    fences.append(lease.fence)
                    #expect(try await locks.release(lease))
                }
                // Redis forgets everything: the counter, and with it the fences handed out.
                _ = try await redis.command(["FLUSHALL"])
                let afterFlush = try #require(try await locks.tryAcquire(key: "lock:job:expiry", ttl: .seconds(30)))
                #expect(afterFlush.fence > fences.max() ?? 0, "after FLUSHALL: \(afterFlush.fence), before: \(fences)")
                // Redis's counter was raised too, so a holder that reaches only Redis keeps the order.
                let counter = try #require(try await redis.command(["GET", RedisLock.fenceKey("lock:job:expiry")]).int)
                #expect(counter == afterFlush.fence)
                #expect(try await locks.release(afterFlush))

                // A fence is recorded before the holder gets it: the row holds the latest one.
                let rows = try await database.query("SELECT fence FROM lock_fence WHERE name = $1", ["lock:job:expiry"])
                #expect(try rows.first?.decode(0, as: Int64.self) == afterFlush.fence)

                // Another lock's fences are its own.
                let other = try #require(try await locks.tryAcquire(key: "lock:job:cost", ttl: .seconds(30)))
                #expect(other.fence == 1)
            }
        }
    }

    /// The fence key shares the lock key's cluster slot, so the acquire script runs on one node.
    @Test func theFenceKeySharesTheLockKeysSlot() {
        for key in ["lock:job:expiry", "cc:{T1}:lock:u1", "lock{x}", "plain"] {
            #expect(RedisClusterSlot.of(key: RedisLock.fenceKey(key)) == RedisClusterSlot.of(key: key), "\(key)")
        }
    }
}
