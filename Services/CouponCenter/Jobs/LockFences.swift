import Postgres
import Redis

/// Fencing tokens made durable in PostgreSQL (`lock_fence`, migration 0014), so a lock's fence
/// never goes back when Redis loses its counter (see `LockFenceStore`). One row per lock name;
/// one statement per acquisition, which the leader locks of the background jobs can afford.
struct PostgresLockFences: LockFenceStore {
    let database: PostgresPool

    func issue(lock: String, redisFence: Int64) async throws -> Int64 {
        // The row lock of the upsert orders concurrent issuers of one name (a holder that lost its
        // Redis lock in a failover and the new holder): each gets a fence larger than the last.
        let rows = try await database.query(
            """
            INSERT INTO lock_fence (name, fence) VALUES ($1, $2)
            ON CONFLICT (name) DO UPDATE SET fence = greatest(lock_fence.fence + 1, EXCLUDED.fence), issued_at = now()
            RETURNING fence
            """, [lock, redisFence])
        guard let row = rows.first else { throw RedisError(.unexpectedReply, "the lock_fence upsert for \(lock) returned no row") }
        return try row.decode("fence", as: Int64.self)
    }
}
