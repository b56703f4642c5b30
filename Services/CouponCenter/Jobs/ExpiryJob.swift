import Foundation
import Postgres
import Redis
import ServiceKit
import Wire

/// Marks coupons past their expiry EXPIRED, with ledger rows, in batches. Several coupon-center
/// processes run it; the Redis lock makes one of them the leader for each sweep. (Redemption does
/// not wait for it: it refuses an expired coupon by time.)
struct ExpiryJob: LifecycleService {
    let name = "expiry-job"
    let database: PostgresPool
    let locks: RedisLock
    let intervalSeconds: Int
    let logger: Logger
    let metrics: Metrics
    private let stop = StopSignal()

    init(database: PostgresPool, locks: RedisLock, intervalSeconds: Int, logger: Logger, metrics: Metrics) {
        self.database = database
        self.locks = locks
        self.intervalSeconds = intervalSeconds
        self.logger = logger
        self.metrics = metrics
    }

    func run() async throws {
        while await stop.sleep(for: .seconds(intervalSeconds)) {
            do {
                let expired = try await sweepOnce()
                if expired > 0 { logger.info("expired coupons", [("coupons.expired", String(expired))]) }
            } catch {
                logger.warning("expiry sweep failed", [("error", "\(error)")])
            }
        }
    }

    func shutdown() async { stop.fire() }

    /// One sweep if this process wins the leader lock; the number of coupons it expired.
    func sweepOnce(batch: Int = 1000) async throws -> Int {
        guard let lease = try await locks.tryAcquire(key: "lock:job:expiry", ttl: .seconds(60)) else { return 0 }
        var total = 0
        do {
            while true {
                let count = try await database.execute(
                    """
                    WITH expired AS (
                        UPDATE user_coupon SET status = 'EXPIRED'
                         WHERE id IN (SELECT id FROM user_coupon WHERE status = 'UNUSED' AND expires_at <= now()
                                       ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)
                        RETURNING id, template_id, user_id)
                    INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status)
                    SELECT id, template_id, user_id, 'EXPIRED', 'UNUSED', 'EXPIRED' FROM expired
                    """, [batch])
                total += count
                guard count == batch else { break }
            }
        } catch {
            _ = try? await locks.release(lease)
            throw error
        }
        _ = try? await locks.release(lease)
        metrics.increment("coupons_expired_total", by: Int64(total))
        return total
    }
}
