/// rule-engine messages (0x02xx).

/// `claim_check` (0x0201): may this user claim from this template now, and with which face value?
/// coupon-center sends the template's rules, so the rule engine needs no database.
public struct ClaimCheckRequest: WireRequest, Equatable {
    public typealias Response = ClaimCheckResponse
    public static let kind = MessageKind.claimCheck
    public var spec: TemplateSpec
    public var status: TemplateStatus
    public var channel: String
    public var userSegments: [String]
    public var nowMilliseconds: Int64

    public init(spec: TemplateSpec, status: TemplateStatus, channel: String, userSegments: [String], nowMilliseconds: Int64) {
        self.spec = spec
        self.status = status
        self.channel = channel
        self.userSegments = userSegments
        self.nowMilliseconds = nowMilliseconds
    }
}

/// Eligible: `refusal` is nil and the face value and expiry are set. Refused: `refusal` says why.
public struct ClaimCheckResponse: Codable, Sendable, Equatable {
    public var refusal: ServiceError?
    public var thresholdCents: Int64
    public var discountCents: Int64
    public var segment: String?
    public var expiresMilliseconds: Int64
    /// What the coupon can cost the budget at most: the face value, or the cap of a rate coupon.
    public var budgetCostCents: Int64

    public init(refusal: ServiceError?, thresholdCents: Int64, discountCents: Int64, segment: String?, expiresMilliseconds: Int64, budgetCostCents: Int64) {
        self.refusal = refusal
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.segment = segment
        self.expiresMilliseconds = expiresMilliseconds
        self.budgetCostCents = budgetCostCents
    }
}
