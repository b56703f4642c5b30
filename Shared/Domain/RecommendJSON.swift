import Wire

/// The JSON shapes of the recommendation API, shared by coupon-center's HTTP front and couponctl.
/// Money in yuan; propensities, rates and estimates with six significant digits (null when
/// undefined); policies and arms by their wire names.
extension CouponJSON {
    public func recommendation(_ answer: Recommendation) -> [(String, JSONValue)] {
        [
            ("decisionId", .integer(answer.decisionId)), ("userId", .string(answer.userId)), ("segment", .string(answer.segment)),
            ("policy", .string(answer.policy.rawValue)), ("holdout", .bool(answer.holdout)), ("arm", .string(answer.arm.rawValue)),
            ("propensity", Self.statistic(answer.propensity)), ("offer", answer.offer.map { .string($0) } ?? .null),
            (
                "ranked",
                .array(
                    answer.ranked.map {
                        .object([
                            ("templateId", .string($0.templateId)), ("name", .string($0.name)), ("type", .string($0.type.rawValue)),
                            ("threshold", Self.yuan($0.thresholdCents)), ("discount", Self.yuan($0.discountCents)),
                            ("expectedDiscount", Self.yuan($0.expectedDiscountCents)), ("reasons", .array($0.reasons.map { .string($0) })),
                        ])
                    })
            ),
            (
                "dropped",
                .array(
                    answer.dropped.map {
                        .object([
                            ("templateId", .string($0.templateId)), ("code", .integer($0.code.rawValue)), ("error", .string($0.code.name)),
                            ("message", .string($0.message)),
                        ])
                    })
            ),
            ("features", .object(features(answer.features))),
        ]
    }

    public func features(_ features: UserFeatures) -> [(String, JSONValue)] {
        let share: Double? = features.orders > 0 ? Double(features.couponOrders) / Double(features.orders) : nil
        return [
            ("orders", .integer(features.orders)), ("couponOrders", .integer(features.couponOrders)), ("couponShare", Self.statistic(share)),
            ("averageDepth", Self.statistic(features.averageDepthBasisPoints.map { Double($0) / 10_000 })),
            ("ordersLast30Days", .integer(features.ordersLast30Days)), ("tags", .array(features.tags.map { .string($0) })),
            (
                "byType",
                .array(
                    features.byType.map {
                        .object([
                            ("type", .string($0.type.rawValue)), ("claims", .integer($0.claims)), ("uses", .integer($0.uses)),
                            ("useRate", Self.statistic($0.claims > 0 ? Double($0.uses) / Double($0.claims) : nil)),
                        ])
                    })
            ),
        ]
    }

    public func decision(_ decision: LoggedDecision) -> [(String, JSONValue)] {
        [
            ("decisionId", .integer(decision.decisionId)), ("userId", .string(decision.userId)), ("segment", .string(decision.segment)),
            ("policy", .string(decision.policy.rawValue)), ("holdout", .bool(decision.holdout)), ("arm", .string(decision.arm.rawValue)),
            ("propensity", Self.statistic(decision.propensity)), ("candidates", .array(decision.candidates.map { .string($0.rawValue) })),
            ("templateId", decision.templateId.map { .string($0) } ?? .null), ("decidedAt", time(decision.decidedMilliseconds)),
            ("converted", decision.converted.map { .bool($0) } ?? .null),
        ]
    }

    public func evaluation(_ evaluation: PolicyEvaluation) -> [(String, JSONValue)] {
        [
            ("policy", .string(evaluation.policy.rawValue)), ("decisions", .integer(evaluation.decisions)),
            ("loggedValue", Self.statistic(evaluation.loggedValue)), ("ipsValue", Self.statistic(evaluation.ipsValue)),
            ("selfNormalizedValue", Self.statistic(evaluation.selfNormalizedValue)),
            ("effectiveSampleSize", Self.statistic(evaluation.effectiveSampleSize)),
        ]
    }

    /// `v0`, `V1`, …: the policy a request or a command line names.
    public static func policy(_ text: String, field: String) throws(ServiceError) -> RecommendPolicy {
        guard let policy = RecommendPolicy(rawValue: text.uppercased()) else {
            throw ServiceError(.invalidArgument, "\(field): '\(text)' is neither v0 nor v1")
        }
        return policy
    }
}
