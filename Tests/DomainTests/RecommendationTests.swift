import Testing

@testable import Domain
@testable import Wire

/// The pure parts of the recommendations: the random draws against their distributions' moments,
/// Thompson sampling's choice and propensity, inverse propensity scoring on a log whose answer is
/// worked out by hand, and the rules of policy v0, the ranking and the counted limits.
@Suite struct RecommendationTests {
    static func moments(_ count: Int, _ draw: (inout SeededRandom) -> Double) -> (mean: Double, variance: Double) {
        var random = SeededRandom(seed: 20_261_201)
        var (sum, squares) = (0.0, 0.0)
        for _ in 0..<count {
            let value = draw(&random)
            sum += value
            squares += value * value
        }
        let mean = sum / Double(count)
        return (mean, squares / Double(count) - mean * mean)
    }

    // MARK: Draws

    /// Gamma(k, 1) has mean k and variance k, above and below shape 1 (the boost). With 40,000
    /// draws the standard error of the mean is √(k/40,000) (0.008 for k = 2.5) and of the variance
    /// about √((2k³ + 6k² … )/n) (0.03 for k = 2.5): the bounds are several of them wide.
    @Test func gammaDrawsHaveTheirShapesMeanAndVariance() {
        for shape in [0.5, 1.0, 2.5, 30.0] {
            let (mean, variance) = Self.moments(40_000) { RandomDraws.gamma(shape: shape, &$0) }
            #expect(abs(mean - shape) < 0.02 * max(shape, 1), "Gamma(\(shape)) mean \(mean)")
            #expect(abs(variance - shape) < 0.06 * max(shape, 1), "Gamma(\(shape)) variance \(variance)")
        }
    }

    /// Beta(a, b): mean a/(a+b), variance ab/((a+b)²(a+b+1)); Beta(3, 7) is 0.3 and 0.019090…
    @Test func betaDrawsHaveTheirMeanAndVariance() {
        let (mean, variance) = Self.moments(40_000) { RandomDraws.beta(alpha: 3, beta: 7, &$0) }
        #expect(abs(mean - 0.3) < 0.003, "mean \(mean)")
        #expect(abs(variance - 21.0 / 1_100.0) < 0.0008, "variance \(variance)")
        let (uniformMean, uniformVariance) = Self.moments(40_000) { RandomDraws.beta(alpha: 1, beta: 1, &$0) }
        #expect(abs(uniformMean - 0.5) < 0.005 && abs(uniformVariance - 1.0 / 12.0) < 0.002, "\(uniformMean) \(uniformVariance)")
    }

    @Test func uniformDrawsStayInsideTheOpenInterval() {
        var random = SeededRandom(seed: 0)
        for _ in 0..<10_000 {
            let value = RandomDraws.unit(&random)
            #expect(value > 0 && value < 1)
        }
        // The extremes of the 52 bits are still inside (with 53, the top one rounds to 1.0).
        #expect((Double(UInt64.max >> 12) + 0.5) / 4_503_599_627_370_496 < 1)
        #expect((Double(UInt64.max >> 11) + 0.5) / 9_007_199_254_740_992 == 1)
        #expect(0.5 / 4_503_599_627_370_496 > 0)
    }

    // MARK: Thompson sampling

    @Test func aClearlyBetterArmIsChosenNearlyAlwaysAndTheChoiceRepeatsWithItsSeed() {
        let records: [OfferArm: ArmRecord] = [
            .cash: ArmRecord(arm: .cash, trials: 200, successes: 120),
            .discount: ArmRecord(arm: .discount, trials: 200, successes: 30),
            .none: ArmRecord(arm: .none, trials: 200, successes: 10),
        ]
        var first = SeededRandom(seed: 7)
        var again = SeededRandom(seed: 7)
        let choice = ThompsonSampling.choose([.cash, .discount, .none], records: records, random: &first)
        #expect(choice == ThompsonSampling.choose([.cash, .discount, .none], records: records, random: &again))
        #expect(choice?.arm == .cash)
        #expect((choice?.propensity ?? 0) > 0.99)
        #expect(ThompsonSampling.choose([], records: records, random: &first) == nil)
    }

    /// Without records every arm has the uniform prior: each wins about a third of the draws, and
    /// the chosen arm's propensity is its share, never 0.
    @Test func withoutRecordsTheArmsShareTheDraws() {
        var random = SeededRandom(seed: 11)
        let shares = ThompsonSampling.probabilities([.cash, .discount, .none], records: [:], random: &random, draws: 6_000)
        #expect(shares.count == 3)
        #expect(abs(shares.map(\.probability).reduce(0, +) - 1) < 1e-12)
        for share in shares { #expect(abs(share.probability - 1.0 / 3.0) < 0.03, "\(share)") }
        for seed in UInt64(0)..<50 {
            var one = SeededRandom(seed: seed)
            let choice = ThompsonSampling.choose([.cash, .none], records: [:], random: &one, draws: 4)
            #expect((choice?.propensity ?? 0) >= 0.25)
        }
    }

    /// Records that make no sense (more successes than trials, negative counts) are clamped to a
    /// valid posterior instead of a shape the Gamma draw cannot take.
    @Test func inconsistentRecordsGiveAValidPosterior() {
        #expect(ArmRecord(arm: .cash, trials: 5, successes: 9).posterior == (6, 1))
        #expect(ArmRecord(arm: .cash, trials: -3, successes: -1).posterior == (1, 1))
        #expect(ArmRecord(arm: .cash, trials: .max, successes: .max).posterior.alpha.isFinite)
    }

    // MARK: Offline evaluation

    /// Four logged decisions, weights target ÷ logged = 2, 0, 2, 1 and rewards 1, 0, 1, 0:
    /// IPS = (2 + 0 + 2 + 0) / 4 = 1; self-normalised = 4 / 5 = 0.8; effective sample size
    /// (2+0+2+1)² / (4+0+4+1) = 25/9; logged value 2/4. A propensity of 0 cannot be weighed: skipped.
    @Test func inversePropensityScoringOfAHandWorkedLog() throws {
        let samples = [
            OfflineEvaluation.Sample(reward: 1, loggedPropensity: 0.5, targetProbability: 1),
            OfflineEvaluation.Sample(reward: 0, loggedPropensity: 0.5, targetProbability: 0),
            OfflineEvaluation.Sample(reward: 1, loggedPropensity: 0.25, targetProbability: 0.5),
            OfflineEvaluation.Sample(reward: 0, loggedPropensity: 1, targetProbability: 1),
            OfflineEvaluation.Sample(reward: 1, loggedPropensity: 0, targetProbability: 1),
        ]
        let estimate = try #require(OfflineEvaluation.estimate(samples))
        #expect(estimate.ips == 1)
        #expect(estimate.selfNormalized == 0.8)
        #expect(abs((estimate.effectiveSampleSize ?? 0) - 25.0 / 9.0) < 1e-12)
        #expect(estimate.logged == 0.5)
        #expect(OfflineEvaluation.estimate([]) == nil)
        let never = try #require(OfflineEvaluation.estimate([OfflineEvaluation.Sample(reward: 1, loggedPropensity: 1, targetProbability: 0)]))
        #expect(never.ips == 0 && never.selfNormalized == nil && never.effectiveSampleSize == nil)
    }

    /// The policy that logged the decisions evaluates to what it earned (every weight 1).
    @Test func theLoggingPolicyEvaluatesToItsOwnValue() throws {
        var random = SeededRandom(seed: 3)
        var samples: [OfflineEvaluation.Sample] = []
        for _ in 0..<1_000 {
            let propensity = 0.2 + 0.8 * RandomDraws.unit(&random)
            samples.append(
                OfflineEvaluation.Sample(reward: RandomDraws.unit(&random) < 0.3 ? 1 : 0, loggedPropensity: propensity, targetProbability: propensity)
            )
        }
        let estimate = try #require(OfflineEvaluation.estimate(samples))
        #expect(abs(estimate.ips - estimate.logged) < 1e-12)
        #expect(abs((estimate.effectiveSampleSize ?? 0) - 1_000) < 1e-6)
    }

    // MARK: Rules

    static func features(orders: Int64 = 0, couponOrders: Int64 = 0, tags: [String] = []) -> UserFeatures {
        UserFeatures(orders: orders, couponOrders: couponOrders, averageDepthBasisPoints: nil, ordersLast30Days: 0, tags: tags, byType: [])
    }

    static func ranked(_ id: String, _ type: CouponType, expected: Int64, face: Int64 = 0) -> RankedTemplate {
        RankedTemplate(templateId: id, name: id, type: type, thresholdCents: 0, discountCents: face, expectedDiscountCents: expected, reasons: [])
    }

    @Test func theSegmentComesFromTheTagsThenTheShareOfOrdersWithACoupon() {
        #expect(RecommendRules.segment(Self.features(orders: 10, couponOrders: 0, tags: ["VIP", "PRICE_SENSITIVE"])) == "PRICE_SENSITIVE")
        #expect(RecommendRules.segment(Self.features(orders: 10, couponOrders: 10, tags: ["QUALITY_SEEKING"])) == "QUALITY_SEEKING")
        #expect(RecommendRules.segment(Self.features(orders: 2, couponOrders: 2)) == "NEW")
        #expect(RecommendRules.segment(Self.features(orders: 4, couponOrders: 2)) == "PRICE_SENSITIVE")
        #expect(RecommendRules.segment(Self.features(orders: 5, couponOrders: 2)) == "QUALITY_SEEKING")
    }

    @Test func policyZeroOffersTheSeedsTypesAndOtherwiseTheLargestDiscount() {
        let both = [Self.ranked("c", .cash, expected: 2_000), Self.ranked("d", .discount, expected: 4_000)]
        #expect(RecommendRules.ruleArm(segment: "PRICE_SENSITIVE", ranked: both) == .cash)
        #expect(RecommendRules.ruleArm(segment: "QUALITY_SEEKING", ranked: both) == .discount)
        #expect(RecommendRules.ruleArm(segment: "NEW", ranked: both) == .discount)
        #expect(RecommendRules.ruleArm(segment: "QUALITY_SEEKING", ranked: [Self.ranked("c", .cash, expected: 0)]) == .cash)
        #expect(RecommendRules.ruleArm(segment: "PRICE_SENSITIVE", ranked: []) == OfferArm.none)
        #expect(RecommendRules.candidates(both + [Self.ranked("x", .exchange, expected: 9_000)]) == [.cash, .discount, .none])
        #expect(RecommendRules.candidates([]) == [OfferArm.none])
    }

    @Test func theChosenArmComesFirstThenTheLargestDiscountThenTheId() {
        let templates = [
            Self.ranked("b", .discount, expected: 4_000), Self.ranked("a", .cash, expected: 1_000), Self.ranked("c", .cash, expected: 3_000),
            Self.ranked("d", .discount, expected: 4_000), Self.ranked("e", .free, expected: 4_000, face: 1),
        ]
        #expect(RecommendRules.order(templates, first: .cash).map(\.templateId) == ["c", "a", "e", "b", "d"])
        #expect(RecommendRules.order(templates, first: nil).map(\.templateId) == ["e", "b", "d", "c", "a"])
    }

    @Test func theExpectedDiscountIsTheRuleEnginesMathsAboveTheThreshold() {
        // 满100减20 on 200.00 and on 50.00.
        #expect(
            RecommendRules.expectedDiscount(
                type: .cash, thresholdCents: 10_000, discountCents: 2_000, rateBasisPoints: nil, maxDiscountCents: nil, amountCents: 20_000) == 2_000)
        #expect(
            RecommendRules.expectedDiscount(
                type: .cash, thresholdCents: 10_000, discountCents: 2_000, rateBasisPoints: nil, maxDiscountCents: nil, amountCents: 5_000) == 0)
        // 8折 capped at 50.00: 40.00 off 200.00, 50.00 off 10,000.00; 5 yuan off on a 3-yuan order is 3.
        #expect(
            RecommendRules.expectedDiscount(
                type: .discount, thresholdCents: 0, discountCents: 0, rateBasisPoints: 8_000, maxDiscountCents: 5_000, amountCents: 20_000) == 4_000)
        #expect(
            RecommendRules.expectedDiscount(
                type: .discount, thresholdCents: 0, discountCents: 0, rateBasisPoints: 8_000, maxDiscountCents: 5_000, amountCents: 1_000_000)
                == 5_000)
        #expect(
            RecommendRules.expectedDiscount(
                type: .cash, thresholdCents: 0, discountCents: 500, rateBasisPoints: nil, maxDiscountCents: nil, amountCents: 300) == 300)
        #expect(
            RecommendRules.expectedDiscount(
                type: .free, thresholdCents: 0, discountCents: 0, rateBasisPoints: nil, maxDiscountCents: nil, amountCents: .max) == .max)
    }

    /// The holdout is a tenth of users at 1,000 basis points, by a hash that is not the draws'.
    @Test func theHoldoutBucketsSpreadUsersEvenly() {
        let buckets = (0..<20_000).map { RecommendRules.holdoutBucket("user-\($0)") }
        #expect(buckets.allSatisfy { (0..<10_000).contains($0) })
        let held = buckets.filter { $0 < 1_000 }.count
        #expect((1_800...2_200).contains(held), "\(held) of 20,000 under 1,000")
        #expect(RecommendRules.decisionSeed(1, userId: "u", sequence: 0) != RecommendRules.decisionSeed(1, userId: "u", sequence: 1))
        #expect(RecommendRules.decisionSeed(1, userId: "u", sequence: 0) != RecommendRules.decisionSeed(2, userId: "u", sequence: 0))
        #expect(RecommendRules.decisionSeed(1, userId: "u", sequence: 0) == RecommendRules.decisionSeed(1, userId: "u", sequence: 0))
    }

    // MARK: Counted limits

    @Test func theCountedLimitsAreJudgedInTheClaimsOrder() {
        var spec = CostRatioTests.spec(.cash, discount: 500)
        spec.totalStock = 10
        spec.dailyLimit = 5
        spec.perUserLimit = 2
        spec.budgetCents = 10_000
        func refusal(_ issued: Int64, _ today: Int64, _ user: Int64, _ spent: Int64, cost: Int64 = 500) -> ErrorCode? {
            ClaimLimits.refusal(
                spec, counts: ClaimLimits.Counts(issued: issued, issuedToday: today, issuedToUser: user, budgetSpentCents: spent), costCents: cost)
        }
        #expect(refusal(0, 0, 0, 0) == nil)
        #expect(refusal(10, 5, 2, 10_000) == .soldOut)
        #expect(refusal(9, 5, 2, 10_000) == .dailyLimitReached)
        #expect(refusal(9, 4, 2, 10_000) == .perUserLimitReached)
        #expect(refusal(9, 4, 1, 9_501) == .budgetExhausted)
        #expect(refusal(9, 4, 1, 9_500) == nil)
        #expect(refusal(0, 0, 0, .max, cost: 1) == .budgetExhausted)
        spec.dailyLimit = nil
        spec.budgetCents = nil
        #expect(refusal(9, 1_000, 1, .max) == nil)
    }
}
