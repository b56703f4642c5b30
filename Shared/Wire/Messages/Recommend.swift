/// Personalised offers (0x0139–0x013B): the templates a user can claim now, ranked by a policy
/// (v0 the seed's rules, v1 Thompson sampling learned per segment), every dropped template with the
/// claim's refusal code, each decision logged with its propensity, and an offline estimate of a
/// policy's value from that log. Money is cents; propensities, rates and estimates are doubles
/// (never money).

/// Which policy chooses the offer. `V0`: the seed's rules (price-sensitive users get 满减, CASH;
/// quality-seeking users get 折扣, DISCOUNT; others the largest expected discount). `V1`: Thompson
/// sampling over the arms with Beta posteriors per segment, learned from the logged outcomes.
public enum RecommendPolicy: String, Codable, Sendable, CaseIterable {
    case v0 = "V0"
    case v1 = "V1"
}

/// What a policy chooses between: a coupon type (then that type's best template is the offer) or
/// no coupon at all.
public enum OfferArm: String, Codable, Sendable, CaseIterable {
    case cash = "CASH"
    case discount = "DISCOUNT"
    case free = "FREE"
    case none = "NONE"
}

/// `recommend` (0x0139): `GET /api/coupon/recommend`. `policy` absent: the configured one
/// (`COUPON_RECOMMEND_POLICY`). The channel is checked as a claim on it would be.
public struct RecommendRequest: WireRequest, Equatable {
    public typealias Response = Recommendation
    public static let kind = MessageKind.recommend
    public var userId: String
    public var amountCents: Int64
    public var limit: Int32
    public var channel: String
    public var policy: RecommendPolicy?

    public init(userId: String, amountCents: Int64, limit: Int32 = 10, channel: String = "app", policy: RecommendPolicy? = nil) {
        self.userId = userId
        self.amountCents = amountCents
        self.limit = limit
        self.channel = channel
        self.policy = policy
    }
}

/// A coupon type's record for one user, from the ledger.
public struct TypeUse: Codable, Sendable, Equatable {
    public var type: CouponType
    public var claims: Int64
    public var uses: Int64

    public init(type: CouponType, claims: Int64, uses: Int64) {
        self.type = type
        self.claims = claims
        self.uses = uses
    }
}

/// What the ledger says about the user: orders (with and without coupons), the share of orders
/// that used a coupon and the average depth of those discounts (discount ÷ order amount, basis
/// points), orders in the last 30 days (Meituan's frequency tiers) and uses by coupon type.
public struct UserFeatures: Codable, Sendable, Equatable {
    public var orders: Int64
    public var couponOrders: Int64
    public var averageDepthBasisPoints: Int64?
    public var ordersLast30Days: Int64
    public var tags: [String]
    public var byType: [TypeUse]

    public init(orders: Int64, couponOrders: Int64, averageDepthBasisPoints: Int64?, ordersLast30Days: Int64, tags: [String], byType: [TypeUse]) {
        self.orders = orders
        self.couponOrders = couponOrders
        self.averageDepthBasisPoints = averageDepthBasisPoints
        self.ordersLast30Days = ordersLast30Days
        self.tags = tags
        self.byType = byType
    }
}

/// A template the user can claim now, with the claim's face value (the user's tier) and what it
/// would take off `amountCents`; `reasons` for people.
public struct RankedTemplate: Codable, Sendable, Equatable {
    public var templateId: String
    public var name: String
    public var type: CouponType
    public var thresholdCents: Int64
    public var discountCents: Int64
    public var expectedDiscountCents: Int64
    public var reasons: [String]

    public init(
        templateId: String, name: String, type: CouponType, thresholdCents: Int64, discountCents: Int64, expectedDiscountCents: Int64,
        reasons: [String]
    ) {
        self.templateId = templateId
        self.name = name
        self.type = type
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.expectedDiscountCents = expectedDiscountCents
        self.reasons = reasons
    }
}

/// A template a claim would refuse now, with the claim's code (SOLD_OUT, PER_USER_LIMIT, …).
public struct DroppedTemplate: Codable, Sendable, Equatable {
    public var templateId: String
    public var code: ErrorCode
    public var message: String

    public init(templateId: String, code: ErrorCode, message: String) {
        self.templateId = templateId
        self.code = code
        self.message = message
    }
}

/// The answer: the decision (logged as `decisionId`), the offer (absent when the arm is NONE or
/// nothing is claimable), the ranked templates and the dropped ones.
public struct Recommendation: Codable, Sendable, Equatable {
    public var decisionId: Int64
    public var userId: String
    public var segment: String
    public var policy: RecommendPolicy
    /// The user is in the holdout: served by v0 whatever the policy asked for.
    public var holdout: Bool
    public var arm: OfferArm
    /// The probability the policy gave the chosen arm (1 for v0).
    public var propensity: Double
    public var offer: String?
    public var ranked: [RankedTemplate]
    public var dropped: [DroppedTemplate]
    public var features: UserFeatures

    public init(
        decisionId: Int64, userId: String, segment: String, policy: RecommendPolicy, holdout: Bool, arm: OfferArm, propensity: Double,
        offer: String?, ranked: [RankedTemplate], dropped: [DroppedTemplate], features: UserFeatures
    ) {
        self.decisionId = decisionId
        self.userId = userId
        self.segment = segment
        self.policy = policy
        self.holdout = holdout
        self.arm = arm
        self.propensity = propensity
        self.offer = offer
        self.ranked = ranked
        self.dropped = dropped
        self.features = features
    }
}

/// `recommend_log` (0x013A): the logged decisions, newest first, `beforeId` the next page.
public struct RecommendLogRequest: WireRequest, Equatable {
    public typealias Response = RecommendLog
    public static let kind = MessageKind.recommendLog
    public var limit: Int32
    public var beforeId: Int64?

    public init(limit: Int32 = 100, beforeId: Int64? = nil) {
        self.limit = limit
        self.beforeId = beforeId
    }
}

/// One logged decision. `converted` is read from the ledger: absent while the decision's window is
/// open (no later decision for the user and younger than the attribution window); for a coupon arm,
/// whether a coupon of the offered template claimed in the window was used; for NONE, whether the
/// user ordered in the window.
public struct LoggedDecision: Codable, Sendable, Equatable {
    public var decisionId: Int64
    public var userId: String
    public var segment: String
    public var policy: RecommendPolicy
    public var holdout: Bool
    public var arm: OfferArm
    public var propensity: Double
    public var candidates: [OfferArm]
    public var templateId: String?
    public var decidedMilliseconds: Int64
    public var converted: Bool?

    public init(
        decisionId: Int64, userId: String, segment: String, policy: RecommendPolicy, holdout: Bool, arm: OfferArm, propensity: Double,
        candidates: [OfferArm], templateId: String?, decidedMilliseconds: Int64, converted: Bool?
    ) {
        self.decisionId = decisionId
        self.userId = userId
        self.segment = segment
        self.policy = policy
        self.holdout = holdout
        self.arm = arm
        self.propensity = propensity
        self.candidates = candidates
        self.templateId = templateId
        self.decidedMilliseconds = decidedMilliseconds
        self.converted = converted
    }
}

public struct RecommendLog: Codable, Sendable, Equatable {
    public var decisions: [LoggedDecision]
    public var nextBeforeId: Int64?

    public init(decisions: [LoggedDecision], nextBeforeId: Int64?) {
        self.decisions = decisions
        self.nextBeforeId = nextBeforeId
    }
}

/// `recommend_evaluate` (0x013B): what `policy` would have earned on the last `limit` decisions
/// whose outcome is known, estimated from the log by inverse propensity scoring, before switching
/// it on.
public struct RecommendEvaluateRequest: WireRequest, Equatable {
    public typealias Response = PolicyEvaluation
    public static let kind = MessageKind.recommendEvaluate
    public var policy: RecommendPolicy
    public var limit: Int32

    public init(policy: RecommendPolicy, limit: Int32 = 10_000) {
        self.policy = policy
        self.limit = limit
    }
}

/// `loggedValue`: the conversion rate the logged choices had. `ipsValue`: the mean of reward ×
/// target probability ÷ logged propensity; `selfNormalizedValue` divides by the sum of the weights
/// instead of the count (less variance, a small bias); `effectiveSampleSize` (Σw)² ÷ Σw². All
/// absent without decisions.
public struct PolicyEvaluation: Codable, Sendable, Equatable {
    public var policy: RecommendPolicy
    public var decisions: Int64
    public var loggedValue: Double?
    public var ipsValue: Double?
    public var selfNormalizedValue: Double?
    public var effectiveSampleSize: Double?

    public init(
        policy: RecommendPolicy, decisions: Int64, loggedValue: Double?, ipsValue: Double?, selfNormalizedValue: Double?,
        effectiveSampleSize: Double?
    ) {
        self.policy = policy
        self.decisions = decisions
        self.loggedValue = loggedValue
        self.ipsValue = ipsValue
        self.selfNormalizedValue = selfNormalizedValue
        self.effectiveSampleSize = effectiveSampleSize
    }
}
