/// risk-control messages (0x03xx).

public enum RiskAction: String, Codable, Sendable, CaseIterable { case claim = "CLAIM", redeem = "REDEEM", exchange = "EXCHANGE" }
public enum RiskVerdict: String, Codable, Sendable, CaseIterable { case allow = "ALLOW", review = "REVIEW", deny = "DENY" }

/// `risk_decide` (0x0301). `deviceId` and `ip` are the end user's as the caller passed them; an
/// absent key means the rules keyed on it do not apply.
public struct RiskDecisionRequest: WireRequest, Equatable {
    public typealias Response = RiskDecision
    public static let kind = MessageKind.riskDecide
    public var action: RiskAction
    public var userId: String
    public var deviceId: String?
    public var ip: String?
    public var templateId: String
    public var couponType: CouponType
    public var amountCents: Int64

    public init(action: RiskAction, userId: String, deviceId: String?, ip: String?, templateId: String, couponType: CouponType, amountCents: Int64) {
        self.action = action
        self.userId = userId
        self.deviceId = deviceId
        self.ip = ip
        self.templateId = templateId
        self.couponType = couponType
        self.amountCents = amountCents
    }
}

public struct RiskDecision: Codable, Sendable, Equatable {
    public var verdict: RiskVerdict
    public var score: Int32
    /// The reason code of every rule that fired, e.g. `DEVICE_ACCOUNTS`, `IP_VELOCITY`.
    public var reasons: [String]

    public init(verdict: RiskVerdict, score: Int32, reasons: [String]) {
        self.verdict = verdict
        self.score = score
        self.reasons = reasons
    }
}

/// `risk_decide_batch` (0x0309): many `risk_decide`s in one frame, decided in one Redis round
/// trip. coupon-center gathers the decisions asked while one is in flight. Each answer is a
/// decision or the error that one request alone would have got, in the order of the requests.
public struct RiskDecisionBatchRequest: WireRequest, Equatable {
    public typealias Response = RiskDecisionBatch
    public static let kind = MessageKind.riskDecideBatch
    /// At most this many decisions per frame.
    public static let maxDecisions = 1024
    public var decisions: [RiskDecisionRequest]

    public init(decisions: [RiskDecisionRequest]) { self.decisions = decisions }
}

/// One answer of a batch: exactly one of `decision` and `error` is set.
public struct RiskDecisionOutcome: Codable, Sendable, Equatable {
    public var decision: RiskDecision?
    public var error: ServiceError?

    public init(decision: RiskDecision?, error: ServiceError?) {
        self.decision = decision
        self.error = error
    }

    public static func decided(_ decision: RiskDecision) -> Self { Self(decision: decision, error: nil) }
    public static func failed(_ error: ServiceError) -> Self { Self(decision: nil, error: error) }
}

public struct RiskDecisionBatch: Codable, Sendable, Equatable {
    public var results: [RiskDecisionOutcome]

    public init(results: [RiskDecisionOutcome]) { self.results = results }
}

/// The thresholds of every rule, changeable at run time (rules file, `risk_rules_set`). A limit of
/// 0 switches its rule off.
public struct RiskRules: Codable, Sendable, Equatable {
    /// Sliding window of the velocity rules, per action.
    public var velocityWindowSeconds: Int32
    public var userLimitPerWindow: Int32
    public var deviceLimitPerWindow: Int32
    public var ipLimitPerWindow: Int32
    /// Per IPv4 /24 (the first three octets).
    public var subnetLimitPerWindow: Int32
    /// Distinct accounts seen per device, IP and /24 in one day (UTC); accounts beyond are denied.
    public var accountsPerDevicePerDay: Int32
    public var accountsPerIPPerDay: Int32
    public var accountsPerSubnetPerDay: Int32
    /// An account first seen less than this many hours ago is new.
    public var newAccountHours: Int32
    /// A new account claiming a FREE coupon or one worth at least this much goes to REVIEW.
    public var highValueCents: Int64
    /// Failed redemptions (probing coupon ids) per user and per IP in the window, then DENY.
    public var failedRedemptionsPerWindow: Int32
    public var failedRedemptionWindowSeconds: Int32

    public init(
        velocityWindowSeconds: Int32 = 60, userLimitPerWindow: Int32 = 20, deviceLimitPerWindow: Int32 = 30, ipLimitPerWindow: Int32 = 60,
        subnetLimitPerWindow: Int32 = 600, accountsPerDevicePerDay: Int32 = 3, accountsPerIPPerDay: Int32 = 20,
        accountsPerSubnetPerDay: Int32 = 200, newAccountHours: Int32 = 24, highValueCents: Int64 = 10_000,
        failedRedemptionsPerWindow: Int32 = 5, failedRedemptionWindowSeconds: Int32 = 600
    ) {
        self.velocityWindowSeconds = velocityWindowSeconds
        self.userLimitPerWindow = userLimitPerWindow
        self.deviceLimitPerWindow = deviceLimitPerWindow
        self.ipLimitPerWindow = ipLimitPerWindow
        self.subnetLimitPerWindow = subnetLimitPerWindow
        self.accountsPerDevicePerDay = accountsPerDevicePerDay
        self.accountsPerIPPerDay = accountsPerIPPerDay
        self.accountsPerSubnetPerDay = accountsPerSubnetPerDay
        self.newAccountHours = newAccountHours
        self.highValueCents = highValueCents
        self.failedRedemptionsPerWindow = failedRedemptionsPerWindow
        self.failedRedemptionWindowSeconds = failedRedemptionWindowSeconds
    }
}

/// `risk_rules_get` (0x0302).
public struct GetRiskRulesRequest: WireRequest, Equatable {
    public typealias Response = RiskRules
    public static let kind = MessageKind.riskRulesGet
    public init() {}
}

/// `risk_rules_set` (0x0303): replaces every threshold at once, without a restart.
public struct SetRiskRulesRequest: WireRequest, Equatable {
    public typealias Response = RiskRules
    public static let kind = MessageKind.riskRulesSet
    public var rules: RiskRules
    public init(rules: RiskRules) { self.rules = rules }
}

/// `risk_rules_reload` (0x0304): reads the rules file again.
public struct ReloadRiskRulesRequest: WireRequest, Equatable {
    public typealias Response = RiskRules
    public static let kind = MessageKind.riskRulesReload
    public init() {}
}

public enum RiskListName: String, Codable, Sendable, CaseIterable { case block = "BLOCK", allow = "ALLOW" }
public enum RiskSubject: String, Codable, Sendable, CaseIterable { case user = "USER", device = "DEVICE", ip = "IP" }

public struct RiskListEntry: Codable, Sendable, Equatable {
    public var list: RiskListName
    public var subject: RiskSubject
    public var value: String
    /// Unix milliseconds after which the entry no longer counts; nil = until removed.
    public var expiresMilliseconds: Int64?
    public init(list: RiskListName, subject: RiskSubject, value: String, expiresMilliseconds: Int64?) {
        self.list = list
        self.subject = subject
        self.value = value
        self.expiresMilliseconds = expiresMilliseconds
    }
}

/// `risk_list_add` (0x0305).
public struct AddRiskListEntryRequest: WireRequest, Equatable {
    public typealias Response = RiskListEntry
    public static let kind = MessageKind.riskListAdd
    public var list: RiskListName
    public var subject: RiskSubject
    public var value: String
    public var ttlSeconds: Int64?
    public init(list: RiskListName, subject: RiskSubject, value: String, ttlSeconds: Int64? = nil) {
        self.list = list
        self.subject = subject
        self.value = value
        self.ttlSeconds = ttlSeconds
    }
}

/// `risk_list_remove` (0x0306): answers whether the entry was there.
public struct RemoveRiskListEntryRequest: WireRequest, Equatable {
    public typealias Response = RiskListChange
    public static let kind = MessageKind.riskListRemove
    public var list: RiskListName
    public var subject: RiskSubject
    public var value: String
    public init(list: RiskListName, subject: RiskSubject, value: String) {
        self.list = list
        self.subject = subject
        self.value = value
    }
}

public struct RiskListChange: Codable, Sendable, Equatable {
    public var removed: Bool
    public init(removed: Bool) { self.removed = removed }
}

/// `risk_list_get` (0x0307): the live entries of one list.
public struct GetRiskListRequest: WireRequest, Equatable {
    public typealias Response = RiskListView
    public static let kind = MessageKind.riskListGet
    public var list: RiskListName
    public var subject: RiskSubject
    public init(list: RiskListName, subject: RiskSubject) {
        self.list = list
        self.subject = subject
    }
}

public struct RiskListView: Codable, Sendable, Equatable {
    public var entries: [RiskListEntry]
    public init(entries: [RiskListEntry]) { self.entries = entries }
}

/// `risk_report` (0x0308): coupon-center tells risk control how an allowed action ended, so failed
/// redemptions (probing coupon ids) count against the user and the IP.
public struct RiskReportRequest: WireRequest, Equatable {
    public typealias Response = RiskReportAck
    public static let kind = MessageKind.riskReport
    public var action: RiskAction
    public var userId: String?
    public var deviceId: String?
    public var ip: String?
    public var code: ErrorCode
    public init(action: RiskAction, userId: String?, deviceId: String?, ip: String?, code: ErrorCode) {
        self.action = action
        self.userId = userId
        self.deviceId = deviceId
        self.ip = ip
        self.code = code
    }
}

public struct RiskReportAck: Codable, Sendable, Equatable {
    public var counted: Bool
    public init(counted: Bool) { self.counted = counted }
}

/// `risk_audit_summary` (0x030A): what risk control refused or held for review in
/// [`fromMilliseconds`, `toMilliseconds`), counted per verdict and per rule (reason code), read
/// from its own `risk_audit`: the fraud trend of coupon-center's health report.
public struct RiskAuditSummaryRequest: WireRequest, Equatable {
    public typealias Response = RiskAuditSummary
    public static let kind = MessageKind.riskAuditSummary
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64

    public init(fromMilliseconds: Int64, toMilliseconds: Int64) {
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
    }
}

/// Decisions with `verdict` that `reason` fired in (a decision with several reasons counts under each).
public struct RiskReasonCount: Codable, Sendable, Equatable {
    public var verdict: RiskVerdict
    public var reason: String
    public var decisions: Int64

    public init(verdict: RiskVerdict, reason: String, decisions: Int64) {
        self.verdict = verdict
        self.reason = reason
        self.decisions = decisions
    }
}

public struct RiskAuditSummary: Codable, Sendable, Equatable {
    /// Every decision audited in the period, and those denied and held for review.
    public var decisions: Int64
    public var denied: Int64
    public var reviewed: Int64
    public var byReason: [RiskReasonCount]

    public init(decisions: Int64, denied: Int64, reviewed: Int64, byReason: [RiskReasonCount]) {
        self.decisions = decisions
        self.denied = denied
        self.reviewed = reviewed
        self.byReason = byReason
    }
}
