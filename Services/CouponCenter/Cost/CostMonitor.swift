import Domain
import Redis
import ServiceKit
import Wire

/// One evaluation of the cost ratio, the code path of the timer (`CostJob`) and of
/// `cost_evaluate` alike:
/// 1. win the job's Redis lock (else another process is evaluating: answer `evaluated: false`);
/// 2. rebuild the minute buckets since the last evaluation (`CostStore.rebuildMinutes`);
/// 3. sum the three windows of every scope, read the firing alerts;
/// 4. decide each alert's step (`CostEvaluationPlan`, `AlertHysteresis`) and write it;
/// 5. refresh the stopped templates and the `coupon_alerts_firing` gauges (`refresh`).
struct CostMonitor: Sendable {
    let store: CostStore
    let stops: CostStops
    let locks: RedisLock
    let settings: CostSettings
    let logger: Logger
    let metrics: Metrics

    static let lockKey = "lock:job:cost"

    func evaluateOnce() async throws -> CostEvaluation {
        guard let lease = try await locks.tryAcquire(key: Self.lockKey, ttl: .seconds(120)) else {
            try await refresh()
            return CostEvaluation(evaluated: false, judgedScopes: 0, fired: 0, resolved: 0, firing: 0, stoppedTemplates: Int32(clamping: stops.count))
        }
        let outcome: (judged: Int, fired: Int, resolved: Int)
        do {
            outcome = try await evaluateHoldingLock()
        } catch {
            _ = try? await locks.release(lease)
            throw error
        }
        _ = try? await locks.release(lease)
        metrics.increment("coupon_cost_evaluations_total")
        let firing = try await refresh()
        return CostEvaluation(
            evaluated: true, judgedScopes: Int32(clamping: outcome.judged), fired: Int32(clamping: outcome.fired),
            resolved: Int32(clamping: outcome.resolved), firing: Int32(clamping: firing), stoppedTemplates: Int32(clamping: stops.count))
    }

    private func evaluateHoldingLock() async throws -> (judged: Int, fired: Int, resolved: Int) {
        try await store.rebuildMinutes()
        let scopes = try await store.windows(scope: nil, timeZone: settings.timeZoneName)
        let firing = try await store.firingAlerts()
        let plan = CostEvaluationPlan.changes(scopes: scopes, firing: firing, settings: settings)
        let scopeOfAlert = Dictionary(firing.map { ($0.alertId, ($0.kind, $0.scope)) }, uniquingKeysWith: { first, _ in first })
        var fired = 0
        var resolved = 0
        for change in plan.changes {
            guard try await store.apply(change) else { continue }
            switch change {
            case .fire(let kind, let scope, let window, let value, let threshold):
                fired += 1
                logger.error(
                    "cost ratio alert fired",
                    [
                        ("alert.kind", kind.rawValue), ("alert.scope", scope), ("alert.window", window.rawValue),
                        ("alert.value", CostPercent.text(value) + "%"), ("alert.threshold", CostPercent.text(Int64(threshold)) + "%"),
                    ])
            case .resolve(let alertId, let window, let value, _):
                resolved += 1
                let (kind, scope) = scopeOfAlert[alertId] ?? (.costRatioCeiling, "")
                logger.info(
                    "cost ratio alert resolved",
                    [
                        ("alert.id", String(alertId)), ("alert.kind", kind.rawValue), ("alert.scope", scope),
                        ("alert.window", window?.rawValue ?? "none"), ("alert.value", value.map { CostPercent.text($0) + "%" } ?? "not judged"),
                    ])
            case .keep:
                break
            }
        }
        return (plan.judged, fired, resolved)
    }

    /// Reads the stopped templates and the firing alerts per kind into this process; every process
    /// runs it, leader or not. Answers the number of alerts firing.
    @discardableResult
    func refresh() async throws -> Int {
        let (templates, firing) = try await store.stops()
        stops.replace(templates)
        for kind in AlertKind.allCases {
            metrics.set("coupon_alerts_firing", [("kind", kind.rawValue)], to: Int64(firing[kind] ?? 0))
        }
        return firing.values.reduce(0, +)
    }
}
