import Domain
import Testing
import Wire

@Suite struct CostRatioTests {
    static func spec(_ type: CouponType, threshold: Int64 = 0, discount: Int64 = 0, rate: Int32? = nil, cap: Int64? = nil, tiers: [Tier] = [])
        -> TemplateSpec
    {
        TemplateSpec(
            name: "t", type: type, thresholdCents: threshold, discountCents: discount, rateBasisPoints: rate, maxDiscountCents: cap,
            startMilliseconds: 0, endMilliseconds: 1, totalStock: 1, tiers: tiers)
    }

    @Test func theWorstCaseOfOneOrderFollowsTheCouponType() {
        func worst(_ spec: TemplateSpec) -> Int64 { CostRatio.worstCase(spec).basisPointsRoundedUp }
        // 满100减20: 20% of the smallest order it applies to.
        #expect(worst(Self.spec(.cash, threshold: 10_000, discount: 2_000)) == 2_000)
        // 满300减7: 2.33…%, rounded up so it is never understated.
        #expect(worst(Self.spec(.cash, threshold: 30_000, discount: 700)) == 234)
        // No threshold: a 5-yuan coupon can cover a 5-yuan order whole.
        #expect(worst(Self.spec(.cash, discount: 500)) == 10_000)
        // A tier with a larger share wins: 满20减8 is 40%.
        #expect(
            worst(Self.spec(.cash, threshold: 3_000, discount: 500, tiers: [Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 800)]))
                == 4_000)
        // 8折: 20% off, and a cap of 30 on a threshold of 200 bounds it to 15%.
        #expect(worst(Self.spec(.discount, rate: 8_000)) == 2_000)
        #expect(worst(Self.spec(.discount, threshold: 20_000, rate: 8_000, cap: 3_000)) == 1_500)
        // A cap above the rate's share changes nothing.
        #expect(worst(Self.spec(.discount, threshold: 20_000, rate: 8_000, cap: 10_000)) == 2_000)
        #expect(worst(Self.spec(.free)) == 10_000)
        #expect(worst(Self.spec(.free, threshold: 10_000, cap: 2_500)) == 2_500)
        #expect(worst(Self.spec(.exchange, discount: 500)) == 10_000)
    }

    @Test func percentsAreParsedExactlyIntoBasisPoints() throws {
        #expect(try CostPercent.parseBasisPoints(.number("8"), field: "f") == 800)
        #expect(try CostPercent.parseBasisPoints(.string("8.5"), field: "f") == 850)
        #expect(try CostPercent.parseBasisPoints(.number("12.25"), field: "f") == 1_225)
        #expect(try CostPercent.parseBasisPoints(.number("0.01"), field: "f") == 1)
        #expect(try CostPercent.parseBasisPoints(.number("100"), field: "f") == 10_000)
        #expect(try CostPercent.parseBasisPoints(.number("8e0"), field: "f") == 800)
        #expect(try CostPercent.parseBasisPoints(.number("8.500"), field: "f") == 850)
        for bad in ["0", "0.001", "8.125", "100.01", "-1", "1e400", "eight", ""] {
            #expect(throws: ServiceError.self, "\(bad)") { try CostPercent.parseBasisPoints(.string(bad), field: "f") }
        }
        #expect(throws: ServiceError.self) { try CostPercent.parseBasisPoints(.bool(true), field: "f") }
        #expect(CostPercent.text(818) == "8.18")
        #expect(CostPercent.text(800) == "8.00")
        #expect(CostPercent.text(-5) == "-0.05")
    }

    @Test func ratiosCompareExactlyAndRoundHalfUpForDisplay() {
        // The acceptance figures: 1,000 orders of 100.00 with 7.00 off, then 100 more with 20.00 off.
        let before = CostRatio(discountCents: 1_000 * 700, orderAmountCents: 1_000 * 10_000)
        let after = CostRatio(discountCents: 1_000 * 700 + 100 * 2_000, orderAmountCents: 1_100 * 10_000)
        #expect(before.basisPoints == 700)
        #expect(after.basisPoints == 818)
        #expect(!before.isAbove(basisPoints: 800))
        #expect(after.isAbove(basisPoints: 800))
        // Exactly at the ceiling is not above it; one cent more is.
        #expect(!CostRatio(discountCents: 800, orderAmountCents: 10_000).isAbove(basisPoints: 800))
        #expect(CostRatio(discountCents: 800_001, orderAmountCents: 10_000_000).isAbove(basisPoints: 800))
        // 95% of 8% is 7.6%: 7.59% is below it, 7.60% is not.
        #expect(CostRatio(discountCents: 759, orderAmountCents: 10_000).isBelow(percent: 95, of: 800))
        #expect(!CostRatio(discountCents: 760, orderAmountCents: 10_000).isBelow(percent: 95, of: 800))
        // Half a basis point rounds up; refunds can make a window negative, which rounds the same way.
        #expect(CostRatio(discountCents: 1, orderAmountCents: 20_000).basisPoints == 1)
        #expect(CostRatio(discountCents: -1, orderAmountCents: 20_000).basisPoints == 0)
        #expect(CostRatio(discountCents: -3, orderAmountCents: 20_000).basisPoints == -1)
        #expect(CostRatio(discountCents: 5, orderAmountCents: 0).basisPoints == nil)
        // Amounts near Int64's limit do not overflow the comparison.
        let huge = CostRatio(discountCents: Int64.max / 10, orderAmountCents: Int64.max)
        #expect(huge.isAbove(basisPoints: 999))
        #expect(!huge.isAbove(basisPoints: 1_000))
    }

    @Test func anAlertFiresAboveStaysBetweenAndResolvesAfterTwoCalmEvaluations() {
        let ceiling: Int32 = 800
        let above = CostRatio(discountCents: 818, orderAmountCents: 10_000)
        let between = CostRatio(discountCents: 780, orderAmountCents: 10_000)
        let calm = CostRatio(discountCents: 563, orderAmountCents: 10_000)
        var state = AlertHysteresis()
        var step: AlertHysteresis.Step

        (state, step) = state.next(between, thresholdBasisPoints: ceiling)
        #expect(step == .stayQuiet)
        (state, step) = state.next(nil, thresholdBasisPoints: ceiling)
        #expect(step == .stayQuiet)
        (state, step) = state.next(above, thresholdBasisPoints: ceiling)
        #expect(step == .fire)
        (state, step) = state.next(above, thresholdBasisPoints: ceiling)
        #expect(step == .stayFiring)
        // One calm evaluation, then a relapse to between 95% and the ceiling: the count starts again.
        (state, step) = state.next(calm, thresholdBasisPoints: ceiling)
        #expect(step == .stayFiring && state.calmEvaluations == 1)
        (state, step) = state.next(between, thresholdBasisPoints: ceiling)
        #expect(step == .stayFiring && state.calmEvaluations == 0)
        (state, step) = state.next(calm, thresholdBasisPoints: ceiling)
        #expect(step == .stayFiring && state.firing)
        (state, step) = state.next(calm, thresholdBasisPoints: ceiling)
        #expect(step == .resolve && !state.firing)
        (state, step) = state.next(calm, thresholdBasisPoints: ceiling)
        #expect(step == .stayQuiet)
        // A scope that can no longer be judged counts as calm.
        (state, _) = state.next(above, thresholdBasisPoints: ceiling)
        (state, step) = state.next(nil, thresholdBasisPoints: ceiling)
        #expect(step == .stayFiring)
        (state, step) = state.next(nil, thresholdBasisPoints: ceiling)
        #expect(step == .resolve)
    }

    @Test func aWindowIsJudgedOnlyWithEnoughOrders() {
        let ratio = CostRatio(discountCents: 818, orderAmountCents: 10_000)
        #expect(CostJudgement.state(ratio, orders: 199, minimumOrders: 200, ceiling: 800, warning: 720) == .tooFewOrders)
        #expect(CostJudgement.state(ratio, orders: 200, minimumOrders: 200, ceiling: 800, warning: 720) == .aboveCeiling)
        #expect(
            CostJudgement.state(CostRatio(discountCents: 750, orderAmountCents: 10_000), orders: 200, minimumOrders: 200, ceiling: 800, warning: 720)
                == .warning)
        #expect(
            CostJudgement.state(CostRatio(discountCents: 700, orderAmountCents: 10_000), orders: 200, minimumOrders: 200, ceiling: 800, warning: 720)
                == .ok)
        #expect(CostJudgement.warningLevel(ceiling: 800, percent: 90) == 720)
        #expect(CostJudgement.warningLevel(ceiling: 855, percent: 90) == 769)
    }
}
