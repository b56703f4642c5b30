/// Coupon cost against order amount (0x0120–0x0123): the cost ratio per template and platform-wide,
/// the alerts it raises, the orders without coupons that count in its denominator, and an
/// evaluation on demand. Ratios travel as basis points of the order amount (8.18% = 818), money as
/// cents; nothing here is a binary float.

/// What a template does while its ceiling is crossed (its own ratio, or the platform's).
public enum CostAction: String, Codable, Sendable, CaseIterable { case alert = "ALERT", stopIssuance = "STOP_ISSUANCE" }

/// The windows the ratio is computed over: the last hour, the last 24 hours, and the business day
/// so far (midnight in the configured time zone until now). Buckets are whole minutes, the current
/// minute included.
public enum CostWindow: String, Codable, Sendable, CaseIterable { case lastHour = "1H", last24Hours = "24H", businessDay = "DAY" }

public enum AlertKind: String, Codable, Sendable, CaseIterable {
    /// The ratio is above the warning level (by default 90% of the ceiling).
    case costRatioWarning = "COST_RATIO_WARNING"
    /// The ratio is above the ceiling.
    case costRatioCeiling = "COST_RATIO_CEILING"
    /// Critical: the reconciler's self-check missed a fault it planted (migration 0010).
    case reconcilerBlind = "RECONCILER_BLIND"
    /// A business day's money differs from the order feed by more than 0.1% (migration 0010).
    case reconcileMoney = "RECONCILE_MONEY"

    /// The kinds the cost-ratio evaluation fires and resolves; the others are the reconciler's.
    public static let costRatio: [AlertKind] = [.costRatioWarning, .costRatioCeiling]
}

public enum AlertStatus: String, Codable, Sendable, CaseIterable { case firing = "FIRING", resolved = "RESOLVED" }

/// How a window stands now: too few orders to judge, at most the warning level, above the warning
/// level, or above the ceiling.
public enum CostState: String, Codable, Sendable, CaseIterable {
    case tooFewOrders = "TOO_FEW_ORDERS", ok = "OK", warning = "WARNING", aboveCeiling = "ABOVE_CEILING"
}

/// `stats_cost` (0x0120): `GET /api/coupon/stats/cost?templateId=&window=`; platform-wide without
/// a template. Read from the evaluation job's minute buckets, so it is as fresh as the last
/// evaluation.
public struct CostStatsRequest: WireRequest, Equatable {
    public typealias Response = CostStats
    public static let kind = MessageKind.statsCost
    public var templateId: String?
    public var window: CostWindow
    public init(templateId: String?, window: CostWindow) {
        self.templateId = templateId
        self.window = window
    }
}

public struct CostStats: Codable, Sendable, Equatable {
    public var templateId: String?
    public var window: CostWindow
    public var orders: Int64
    public var orderAmountCents: Int64
    public var discountCents: Int64
    /// discount ÷ order amount in basis points, rounded half up; absent when the amount is 0.
    public var ratioBasisPoints: Int64?
    public var ceilingBasisPoints: Int32
    public var warningBasisPoints: Int32
    public var minimumOrders: Int64
    public var state: CostState

    public init(
        templateId: String?, window: CostWindow, orders: Int64, orderAmountCents: Int64, discountCents: Int64, ratioBasisPoints: Int64?,
        ceilingBasisPoints: Int32, warningBasisPoints: Int32, minimumOrders: Int64, state: CostState
    ) {
        self.templateId = templateId
        self.window = window
        self.orders = orders
        self.orderAmountCents = orderAmountCents
        self.discountCents = discountCents
        self.ratioBasisPoints = ratioBasisPoints
        self.ceilingBasisPoints = ceilingBasisPoints
        self.warningBasisPoints = warningBasisPoints
        self.minimumOrders = minimumOrders
        self.state = state
    }
}

/// `alerts_list` (0x0121): `GET /api/admin/alerts?status=&limit=&before=`, newest first; the next
/// page starts before the last id of this one.
public struct AlertsListRequest: WireRequest, Equatable {
    public typealias Response = AlertList
    public static let kind = MessageKind.alertsList
    public var status: AlertStatus?
    public var limit: Int32
    public var beforeId: Int64?
    public init(status: AlertStatus? = nil, limit: Int32 = 100, beforeId: Int64? = nil) {
        self.status = status
        self.limit = limit
        self.beforeId = beforeId
    }
}

public struct AlertView: Codable, Sendable, Equatable {
    public var alertId: Int64
    public var kind: AlertKind
    /// `platform`, or `template:` and the template id.
    public var scope: String
    /// The window whose ratio was highest when last seen.
    public var window: CostWindow
    public var valueBasisPoints: Int64
    public var thresholdBasisPoints: Int32
    public var status: AlertStatus
    public var firstSeenMilliseconds: Int64
    public var lastSeenMilliseconds: Int64
    public var resolvedMilliseconds: Int64?

    public init(
        alertId: Int64, kind: AlertKind, scope: String, window: CostWindow, valueBasisPoints: Int64, thresholdBasisPoints: Int32,
        status: AlertStatus, firstSeenMilliseconds: Int64, lastSeenMilliseconds: Int64, resolvedMilliseconds: Int64?
    ) {
        self.alertId = alertId
        self.kind = kind
        self.scope = scope
        self.window = window
        self.valueBasisPoints = valueBasisPoints
        self.thresholdBasisPoints = thresholdBasisPoints
        self.status = status
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.lastSeenMilliseconds = lastSeenMilliseconds
        self.resolvedMilliseconds = resolvedMilliseconds
    }
}

public struct AlertList: Codable, Sendable, Equatable {
    public var alerts: [AlertView]
    /// Set when there may be more: pass it as `beforeId` for the next page.
    public var nextBeforeId: Int64?
    public init(alerts: [AlertView], nextBeforeId: Int64?) {
        self.alerts = alerts
        self.nextBeforeId = nextBeforeId
    }
}

/// `order_report` (0x0122): `POST /api/coupon/order`, an order that used no coupon. Orders that
/// redeem a coupon are recorded by the redemption; both count in the platform's cost ratio (and in
/// the user's order history). Recording the same (userId, orderId) again changes nothing.
public struct OrderReportRequest: WireRequest, Equatable {
    public typealias Response = OrderReportAck
    public static let kind = MessageKind.orderReport
    public var orderId: String
    public var userId: String
    public var amountCents: Int64
    public init(orderId: String, userId: String, amountCents: Int64) {
        self.orderId = orderId
        self.userId = userId
        self.amountCents = amountCents
    }
}

public struct OrderReportAck: Codable, Sendable, Equatable {
    /// False when the order was known already.
    public var recorded: Bool
    public init(recorded: Bool) { self.recorded = recorded }
}

/// `cost_evaluate` (0x0123): `POST /api/admin/alerts/evaluate`, one evaluation now, through the
/// job's own code path (the process must win the job's lock, as the timer's evaluation does).
public struct CostEvaluateRequest: WireRequest, Equatable {
    public typealias Response = CostEvaluation
    public static let kind = MessageKind.costEvaluate
    public init() {}
}

public struct CostEvaluation: Codable, Sendable, Equatable {
    /// False when another process held the job's lock, so nothing was evaluated here.
    public var evaluated: Bool
    /// Scopes judged (with enough orders in at least one window).
    public var judgedScopes: Int32
    public var fired: Int32
    public var resolved: Int32
    /// Alerts firing after the evaluation.
    public var firing: Int32
    /// Templates refusing claims after the evaluation.
    public var stoppedTemplates: Int32

    public init(evaluated: Bool, judgedScopes: Int32, fired: Int32, resolved: Int32, firing: Int32, stoppedTemplates: Int32) {
        self.evaluated = evaluated
        self.judgedScopes = judgedScopes
        self.fired = fired
        self.resolved = resolved
        self.firing = firing
        self.stoppedTemplates = stoppedTemplates
    }
}
