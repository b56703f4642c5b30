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
