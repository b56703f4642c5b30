import Domain
import Wire

/// The cost settings of the platform, from configuration (README, "Configuration").
struct CostSettings: Sendable {
    /// `COUPON_COST_CEILING`: the default ceiling, basis points of the order amount.
    var ceilingBasisPoints: Int32
    /// `COUPON_COST_WARNING_PERCENT`: the warning level, a percent of the ceiling.
    var warningPercent: Int32
    /// `COUPON_COST_MIN_ORDERS`: a window with fewer orders is not judged.
    var minimumOrders: Int64
    /// `COUPON_COST_EVALUATE_SECONDS`.
    var evaluateSeconds: Int
    /// The business day's time zone, as PostgreSQL names it.
    var timeZoneName: String

    func ceiling(template: Int32?) -> Int32 { template ?? ceilingBasisPoints }
    func warning(ceiling: Int32) -> Int32 { CostJudgement.warningLevel(ceiling: ceiling, percent: warningPercent) }
}

/// One window of one scope: its orders and its ratio.
struct WindowCost: Sendable, Equatable {
    var orders: Int64
    var ratio: CostRatio
}

/// One scope (`platform` or `template:ID`) over the three windows.
struct ScopeCost: Sendable, Equatable {
    static let platform = "platform"
    static func template(_ id: String) -> String { "template:" + id }

    var scope: String
    var templateCeilingBasisPoints: Int32?
    var windows: [CostWindow: WindowCost]

    /// The judged window (enough orders) with the highest ratio; ties go to the shorter window.
    func worst(minimumOrders: Int64) -> (window: CostWindow, cost: WindowCost)? {
        var worst: (window: CostWindow, cost: WindowCost)?
        for window in CostWindow.allCases {
            guard let cost = windows[window], cost.orders >= minimumOrders, cost.ratio.orderAmountCents > 0 else { continue }
            if let current = worst, !cost.ratio.isLarger(than: current.cost.ratio) { continue }
            worst = (window, cost)
        }
        return worst
    }
}

struct FiringAlert: Sendable, Equatable {
    var alertId: Int64
    var kind: AlertKind
    var scope: String
    var calmEvaluations: Int32
}

/// What one evaluation writes to the `alert` table. A scope that was not judged this time (too few
/// orders) has no window or value: the alert keeps the ones it last saw.
enum AlertChange: Sendable, Equatable {
    case fire(AlertKind, scope: String, window: CostWindow, valueBasisPoints: Int64, thresholdBasisPoints: Int32)
    case keep(alertId: Int64, window: CostWindow?, valueBasisPoints: Int64?, thresholdBasisPoints: Int32, calmEvaluations: Int32)
    case resolve(alertId: Int64, window: CostWindow?, valueBasisPoints: Int64?, thresholdBasisPoints: Int32)
}

/// One evaluation, decided without I/O: for every scope with costs or a firing alert, and for each
/// alert kind (the warning level and the ceiling), the next step of `AlertHysteresis` on the worst
/// judged window.
enum CostEvaluationPlan {
    static func changes(scopes: [ScopeCost], firing: [FiringAlert], settings: CostSettings) -> (changes: [AlertChange], judged: Int) {
        let byScope = Dictionary(scopes.map { ($0.scope, $0) }, uniquingKeysWith: { first, _ in first })
        let firingByKey = Dictionary(firing.map { ("\($0.kind.rawValue) \($0.scope)", $0) }, uniquingKeysWith: { first, _ in first })
        let names = Set(scopes.map(\.scope)).union(firing.map(\.scope)).sorted()
        var changes: [AlertChange] = []
        var judged = 0
        for name in names {
            let cost = byScope[name]
            let ceiling = settings.ceiling(template: cost?.templateCeilingBasisPoints)
            let worst = cost?.worst(minimumOrders: settings.minimumOrders)
            if worst != nil { judged += 1 }
            let window = worst?.window
            let value = worst.map { $0.cost.ratio.basisPoints ?? 0 }
            for kind in AlertKind.costRatio {
                let threshold = kind == .costRatioCeiling ? ceiling : settings.warning(ceiling: ceiling)
                let alert = firingByKey["\(kind.rawValue) \(name)"]
                let state = alert.map { AlertHysteresis(firing: true, calmEvaluations: $0.calmEvaluations) } ?? AlertHysteresis()
                let (next, step) = state.next(worst?.cost.ratio, thresholdBasisPoints: threshold)
                switch (step, alert) {
                case (.fire, _):
                    // Only a judged window fires, so there is one.
                    guard let window, let value else { continue }
                    changes.append(.fire(kind, scope: name, window: window, valueBasisPoints: value, thresholdBasisPoints: threshold))
                case (.stayFiring, let alert?):
                    changes.append(
                        .keep(
                            alertId: alert.alertId, window: window, valueBasisPoints: value, thresholdBasisPoints: threshold,
                            calmEvaluations: next.calmEvaluations))
                case (.resolve, let alert?):
                    changes.append(.resolve(alertId: alert.alertId, window: window, valueBasisPoints: value, thresholdBasisPoints: threshold))
                case (.stayQuiet, _), (.stayFiring, nil), (.resolve, nil):
                    break
                }
            }
        }
        return (changes, judged)
    }
}
