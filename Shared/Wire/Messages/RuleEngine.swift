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

    public init(
        refusal: ServiceError?, thresholdCents: Int64, discountCents: Int64, segment: String?, expiresMilliseconds: Int64, budgetCostCents: Int64
    ) {
        self.refusal = refusal
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.segment = segment
        self.expiresMilliseconds = expiresMilliseconds
        self.budgetCostCents = budgetCostCents
    }
}

/// `claim_check_batch` (0x0204): many `claim_check`s in one frame. coupon-center gathers the claims
/// that arrive while a check is in flight, so a busy front door makes one round trip for many.
/// The answers come back in the order of the checks; a check the rule engine cannot evaluate is
/// answered with its `refusal` set, never by failing the whole batch.
public struct ClaimCheckBatchRequest: WireRequest, Equatable {
    public typealias Response = ClaimCheckBatchResponse
    public static let kind = MessageKind.claimCheckBatch
    /// At most this many checks per frame.
    public static let maxChecks = 1024
    public var checks: [ClaimCheckRequest]

    public init(checks: [ClaimCheckRequest]) { self.checks = checks }
}

public struct ClaimCheckBatchResponse: Codable, Sendable, Equatable {
    public var results: [ClaimCheckResponse]

    public init(results: [ClaimCheckResponse]) { self.results = results }
}
