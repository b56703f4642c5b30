import Redis
import ServiceKit
import Wire

extension RedisLock {
    /// Runs `body` if this process wins the job's lock now (it then leads this round); nil when
    /// another process holds it. The lock is released afterwards, also when `body` throws; a lost
    /// release only means the ttl frees it. The election of the expiry and cost jobs, as a call.
    func leading<Result: Sendable>(
        _ key: String, ttl: Duration, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
    ) async throws -> Result? {
        guard let lease = try await tryAcquire(key: key, ttl: ttl) else { return nil }
        let result: Result
        do {
            result = try await body()
        } catch {
            _ = try? await release(lease)
            throw error
        }
        _ = try? await release(lease)
        return result
    }
}

/// The daily reconciliation: at `COUPON_RECONCILE_AT` local time, the day before is reconciled for
/// every template with the self-check. Several coupon-center processes run this; the Redis lock
/// makes one of them lead, and a day that has a run already is not run again. After a restart or
/// a failed run it looks again within the hour, so a missed day is caught up.
struct ReconcileJob: LifecycleService {
    let name = "reconcile-job"
    let service: ReconcileService
    let locks: RedisLock
    let logger: Logger
    private let stop = StopSignal()

    static let lockKey = "lock:job:reconcile"

    init(service: ReconcileService, locks: RedisLock, logger: Logger) {
        self.service = service
        self.locks = locks
        self.logger = logger
    }

    func run() async throws {
        repeat {
            do {
                _ = try await runDue()
            } catch {
                logger.warning("daily reconciliation failed", [("error", "\(error)")])
            }
        } while await stop.sleep(for: service.settings.untilNextLook(unixMilliseconds()))
    }

    func shutdown() async { stop.fire() }

    /// The day that is due, if it has no run yet and this process leads; nil otherwise.
    func runDue(now: Int64 = unixMilliseconds()) async throws -> ReconcileRunSummary? {
        guard let day = service.settings.dueDay(now) else { return nil }
        guard try await service.store.latestRun(businessDate: day, scope: ReconcileStore.scope(nil)) == nil else { return nil }
        return try await locks.leading(Self.lockKey, ttl: .seconds(900)) {
            try await service.start(ReconcileStartRequest(businessDate: day, selfCheck: true), trigger: "DAILY")
        }
    }
}
