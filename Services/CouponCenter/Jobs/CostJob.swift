import ServiceKit

/// Evaluates the cost ratio every `COUPON_COST_EVALUATE_SECONDS` (`CostMonitor.evaluateOnce`).
/// Several coupon-center processes run it; the Redis lock makes one of them the leader for each
/// evaluation, and every process refreshes its stopped templates at start and on each tick, so a
/// firing alert reaches every process's claim path within one interval.
struct CostJob: LifecycleService {
    let name = "cost-job"
    let monitor: CostMonitor
    let logger: Logger
    private let stop = StopSignal()

    init(monitor: CostMonitor, logger: Logger) {
        self.monitor = monitor
        self.logger = logger
    }

    func run() async throws {
        do {
            try await monitor.refresh()
        } catch {
            logger.warning("could not read the stopped templates at start", [("error", "\(error)")])
        }
        while await stop.sleep(for: .seconds(monitor.settings.evaluateSeconds)) {
            do {
                _ = try await monitor.evaluateOnce()
            } catch {
                logger.warning("cost evaluation failed", [("error", "\(error)")])
            }
        }
    }

    func shutdown() async { stop.fire() }
}
