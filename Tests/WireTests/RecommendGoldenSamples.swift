@testable import Wire

/// The recommendation messages' golden values (0x0139–0x013B), in PROTOCOL.md beside the others.
extension GoldenSamples {
    static let recommendation = Recommendation(
        decisionId: 42, userId: "u-42", segment: "PRICE_SENSITIVE", policy: .v1, holdout: false, arm: .cash, propensity: 0.75,
        offer: "tpl-1",
        ranked: [
            RankedTemplate(
                templateId: "tpl-1", name: "满100减20", type: .cash, thresholdCents: 10_000, discountCents: 2_000, expectedDiscountCents: 2_000,
                reasons: ["segment PRICE_SENSITIVE"])
        ],
        dropped: [DroppedTemplate(templateId: "tpl-2", code: .soldOut, message: "sold out")],
        features: UserFeatures(
            orders: 4, couponOrders: 3, averageDepthBasisPoints: 1_200, ordersLast30Days: 4, tags: ["PRICE_SENSITIVE"],
            byType: [TypeUse(type: .cash, claims: 4, uses: 3)]))

    static let loggedDecision = LoggedDecision(
        decisionId: 42, userId: "u-42", segment: "PRICE_SENSITIVE", policy: .v1, holdout: false, arm: .cash, propensity: 0.75,
        candidates: [.cash, .none], templateId: "tpl-1", decidedMilliseconds: created, converted: true)

    static let recommendations: [GoldenSample] = [
        GoldenSample(RecommendRequest(userId: "u-42", amountCents: 20_000, limit: 5, channel: "app", policy: .v1), recommendation),
        GoldenSample(RecommendLogRequest(limit: 1, beforeId: 43), RecommendLog(decisions: [loggedDecision], nextBeforeId: 42)),
        GoldenSample(
            RecommendEvaluateRequest(policy: .v0, limit: 1_000),
            PolicyEvaluation(policy: .v0, decisions: 4, loggedValue: 0.5, ipsValue: 1, selfNormalizedValue: 0.8, effectiveSampleSize: 2.5)),
    ]
}
