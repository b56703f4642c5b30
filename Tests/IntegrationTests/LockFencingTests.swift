import Postgres
import Redis
import TestSupport
import Testing

/// The Redis lock and PostgreSQL together: a holder whose lease expired while it was paused must
/// not be able to write after a newer holder did, because its fencing token is older.
@Suite struct LockFencingTests {
    /// Writes `value` only if `fence` is newer than every fence that wrote before.
    func fencedWrite(_ database: PostgresPool, value: String, fence: Int64) async throws -> Bool {
        try await database.execute(
            "UPDATE guarded SET value = $1, fence = $2 WHERE id = 1 AND fence < $2", [value, fence]) == 1
    }

    @Test func staleHolderIsRejectedByItsFence() async throws {
        let testDatabase = try await TestDatabase.create(prefix: "fence")
        let database = try testDatabase.pool()
        try await database.execute("CREATE TABLE guarded (id int PRIMARY KEY, value text NOT NULL, fence bigint NOT NULL)")
        try await database.execute("INSERT INTO guarded VALUES (1, 'initial', 0)")

        try await RedisTestServer.withPool { redis in
            let lock = RedisLock(pool: redis)
            let first = try #require(try await lock.tryAcquire(key: "lock:template:T1", ttl: .milliseconds(150)))
            // The first holder pauses (a GC, a slow disk) past its lease…
            try await Task.sleep(for: .milliseconds(300))
            // …so a second holder gets the lock, with a larger fence, and writes.
            let second = try #require(try await lock.tryAcquire(key: "lock:template:T1", ttl: .seconds(5)))
            #expect(second.fence > first.fence)
            #expect(try await fencedWrite(database, value: "second", fence: second.fence))

            // The first holder wakes up and tries to write: refused by PostgreSQL, and it cannot
            // release a lock it no longer owns.
            #expect(try await !fencedWrite(database, value: "stale", fence: first.fence))
            #expect(try await !lock.release(first))
            #expect(try await lock.release(second))
        }
        let row = try await database.query("SELECT value, fence FROM guarded WHERE id = 1")
        #expect(try row[0].decode(0, as: String.self) == "second")
        await database.close()
        await testDatabase.drop()
    }
}
