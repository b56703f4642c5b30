import Testing
import Wire

@testable import Domain

let hour: Int64 = 3_600_000

/// The Meituan-style template: 满25减5 by default, 满30减5 for frequent users, 满20减8 for infrequent ones.
func meituanTiers() -> TemplateSpec {
    with(cash200Minus30()) {
        $0.name = "外卖红包"
        $0.thresholdCents = 2_500
        $0.discountCents = 500
        $0.tiers = [
            Tier(segment: "HIGH_FREQ", thresholdCents: 3_000, discountCents: 500),
            Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 800),
        ]
    }
}

func check(
    _ spec: TemplateSpec, status: TemplateStatus = .active, channel: String = "app", segments: [String] = ["NEW"],
    at now: Int64? = nil
) -> ClaimCheckResponse {
    ClaimRules.check(
        ClaimCheckRequest(
            spec: spec, status: status, channel: channel, userSegments: segments, nowMilliseconds: now ?? spec.startMilliseconds + hour))
}

@Suite struct ClaimRulesRefusalTests {
    let spec = with(cash200Minus30()) {
        $0.channels = ["app", "mini-program"]
        $0.segments = ["NEW", "VIP"]
    }

    @Test func eligibleClaimHasNoRefusal() {
        let response = check(spec)
        #expect(response.refusal == nil)
        #expect(response.thresholdCents == 20_000)
        #expect(response.discountCents == 3_000)
    }

    @Test func pausedComesFirst() {
        // Paused, not started, wrong channel and wrong segment all at once: paused wins.
        let response = check(spec, status: .paused, channel: "web", segments: ["RETURNING"], at: spec.startMilliseconds - 1)
        #expect(response.refusal?.code == .templatePaused)
        #expect(check(spec, status: .paused).refusal?.code == .templatePaused)
    }

    @Test func beforeStartIsNotStarted() {
        #expect(check(spec, at: spec.startMilliseconds - 1).refusal?.code == .claimWindowNotStarted)
        #expect(check(spec, at: spec.startMilliseconds - oneWeek).refusal?.code == .claimWindowNotStarted)
        // Before the channel and segment rules.
        #expect(check(spec, channel: "web", segments: ["RETURNING"], at: spec.startMilliseconds - 1).refusal?.code == .claimWindowNotStarted)
    }

    @Test func theStartInstantItselfIsAllowed() {
        #expect(check(spec, at: spec.startMilliseconds).refusal == nil)
    }

    @Test func atOrAfterTheEndIsEnded() {
        #expect(check(spec, at: spec.endMilliseconds - 1).refusal == nil)
        #expect(check(spec, at: spec.endMilliseconds).refusal?.code == .claimWindowEnded)
        #expect(check(spec, at: spec.endMilliseconds + 1).refusal?.code == .claimWindowEnded)
        #expect(check(spec, channel: "web", segments: ["RETURNING"], at: spec.endMilliseconds).refusal?.code == .claimWindowEnded)
    }

    @Test func wrongChannelIsRefused() {
        #expect(check(spec, channel: "web").refusal?.code == .channelNotAllowed)
        #expect(check(spec, channel: "APP").refusal?.code == .channelNotAllowed)
        // No channel at all is not a name: the request itself is invalid, as coupon-center refuses it.
        #expect(check(spec, channel: "").refusal?.code == .invalidArgument)
        #expect(check(spec, channel: "mini-program").refusal == nil)
        // Before the segment rule.
        #expect(check(spec, channel: "web", segments: ["RETURNING"]).refusal?.code == .channelNotAllowed)
    }

    @Test func noChannelsAllowsAny() {
        let open = with(spec) { $0.channels = [] }
        for channel in ["app", "web", "kiosk"] {
            #expect(check(open, channel: channel).refusal == nil, "\(channel)")
        }
    }

    @Test func segmentMismatchIsRefused() {
        #expect(check(spec, segments: ["RETURNING", "HIGH_FREQ"]).refusal?.code == .segmentNotAllowed)
        #expect(check(spec, segments: []).refusal?.code == .segmentNotAllowed)
        #expect(check(spec, segments: ["RETURNING", "LOW_FREQ", "VIP"]).refusal == nil)
        #expect(check(spec, segments: ["NEW"]).refusal == nil)
    }

    @Test func noSegmentsAllowsEveryone() {
        let open = with(spec) { $0.segments = [] }
        for segments in [["NEW"], ["RETURNING", "HIGH_FREQ"], ["RETURNING", "LOW_FREQ", "PRICE_SENSITIVE"], []] {
            #expect(check(open, segments: segments).refusal == nil, "\(segments)")
        }
    }

    @Test func refusalsCarryNoFaceValue() {
        let response = check(spec, status: .paused)
        #expect(response.refusal?.message.isEmpty == false)
        #expect(response.discountCents == 0)
        #expect(response.budgetCostCents == 0)
        #expect(response.segment == nil)
    }
}

@Suite struct ClaimRulesFaceValueTests {
    @Test func frequentUsersGet30Minus5() {
        let response = check(meituanTiers(), segments: ["RETURNING", "HIGH_FREQ"])
        #expect(response.refusal == nil)
        #expect(response.thresholdCents == 3_000)
        #expect(response.discountCents == 500)
        #expect(response.segment == "HIGH_FREQ")
        #expect(response.budgetCostCents == 500)
    }

    @Test func infrequentUsersGet20Minus8() {
        let response = check(meituanTiers(), segments: ["RETURNING", "LOW_FREQ", "VIP"])
        #expect(response.refusal == nil)
        #expect(response.thresholdCents == 2_000)
        #expect(response.discountCents == 800)
        #expect(response.segment == "LOW_FREQ")
        #expect(response.budgetCostCents == 800)
    }

    @Test func newUsersGetTheTemplatesOwnFaceValue() {
        let response = check(meituanTiers(), segments: ["NEW"])
        #expect(response.refusal == nil)
        #expect(response.thresholdCents == 2_500)
        #expect(response.discountCents == 500)
        #expect(response.segment == nil)
        #expect(response.budgetCostCents == 500)
    }

    @Test func theFirstMatchingTierInTemplateOrderWins() {
        let spec = with(meituanTiers()) { $0.tiers.insert(Tier(segment: "VIP", thresholdCents: 1_000, discountCents: 900), at: 0) }
        let response = check(spec, segments: ["RETURNING", "LOW_FREQ", "VIP"])
        #expect(response.segment == "VIP")
        #expect(response.thresholdCents == 1_000)
        #expect(response.discountCents == 900)
    }

    @Test func expiresValidHoursAfterTheClaim() {
        let spec = with(cash200Minus30()) { $0.validHours = 24 }
        let claimedAt = spec.startMilliseconds + 5 * hour + 123
        #expect(check(spec, at: claimedAt).expiresMilliseconds == claimedAt + 24 * hour)
    }

    @Test func expiryIsCappedAtTheTemplatesEnd() throws {
        let spec = with(cash200Minus30()) { $0.validHours = 72 }
        let claimedAt = spec.endMilliseconds - 10 * hour
        #expect(check(spec, at: claimedAt).expiresMilliseconds == spec.endMilliseconds)
        // Exactly at the boundary.
        let exact = spec.endMilliseconds - 72 * hour
        #expect(check(spec, at: exact).expiresMilliseconds == spec.endMilliseconds)
        #expect(check(spec, at: exact - 1).expiresMilliseconds == spec.endMilliseconds - 1)
        #expect(try ClaimRules.expiry(spec, claimedAt: claimedAt) == spec.endMilliseconds)
    }

    @Test func withoutValidHoursTheCouponLastsUntilTheEnd() {
        let spec = cash200Minus30()
        #expect(spec.validHours == nil)
        #expect(check(spec, at: spec.startMilliseconds).expiresMilliseconds == spec.endMilliseconds)
        #expect(check(spec, at: spec.endMilliseconds - 1).expiresMilliseconds == spec.endMilliseconds)
    }

    @Test func budgetCostIsTheFaceValueForCashAndExchange() {
        #expect(check(cash200Minus30()).budgetCostCents == 3_000)
        let exchange = with(cash200Minus30()) {
            $0.type = .exchange
            $0.thresholdCents = 0
            $0.discountCents = 1_000
            $0.pointsCost = 1
        }
        let response = check(exchange)
        #expect(response.refusal == nil)
        #expect(response.budgetCostCents == 1_000)
        #expect(response.discountCents == 1_000)
        #expect(response.thresholdCents == 0)
    }

    @Test func budgetCostIsTheCapForDiscountAndFree() {
        let discount = with(cash200Minus30()) {
            $0.type = .discount
            $0.discountCents = 0
            $0.rateBasisPoints = 8_000
            $0.maxDiscountCents = 5_000
            $0.budgetCents = 1_000_000
        }
        let discountResponse = check(discount)
        #expect(discountResponse.refusal == nil)
        #expect(discountResponse.budgetCostCents == 5_000)
        let free = with(cash200Minus30()) {
            $0.type = .free
            $0.thresholdCents = 0
            $0.discountCents = 0
            $0.maxDiscountCents = 2_000
            $0.budgetCents = 1_000_000
        }
        let freeResponse = check(free)
        #expect(freeResponse.refusal == nil)
        #expect(freeResponse.budgetCostCents == 2_000)
    }
}

@Suite struct SegmentsTests {
    @Test func noOrdersIsNew() {
        #expect(Segments.of(orderCount: 0, ordersLast30Days: 0, tags: []) == ["NEW"])
    }

    @Test func fourRecentOrdersIsHighFrequency() {
        #expect(Segments.of(orderCount: 5, ordersLast30Days: 4, tags: []) == ["RETURNING", "HIGH_FREQ"])
        #expect(Segments.of(orderCount: 50, ordersLast30Days: 40, tags: []) == ["RETURNING", "HIGH_FREQ"])
    }

    @Test func fewerRecentOrdersIsLowFrequency() {
        #expect(Segments.of(orderCount: 5, ordersLast30Days: 3, tags: []) == ["RETURNING", "LOW_FREQ"])
        #expect(Segments.of(orderCount: 1, ordersLast30Days: 0, tags: []) == ["RETURNING", "LOW_FREQ"])
    }

    @Test func tagsAreAppendedWithoutDuplicates() {
        #expect(Segments.of(orderCount: 0, ordersLast30Days: 0, tags: ["VIP"]) == ["NEW", "VIP"])
        #expect(
            Segments.of(orderCount: 5, ordersLast30Days: 3, tags: ["VIP", "PRICE_SENSITIVE", "VIP"])
                == ["RETURNING", "LOW_FREQ", "VIP", "PRICE_SENSITIVE"])
        #expect(Segments.of(orderCount: 5, ordersLast30Days: 4, tags: ["HIGH_FREQ", "RETURNING", "VIP"]) == ["RETURNING", "HIGH_FREQ", "VIP"])
    }

    @Test func theHighFrequencyThresholdIsConfigurable() {
        #expect(Segments.of(orderCount: 5, ordersLast30Days: 2, tags: [], highFrequencyOrders: 2) == ["RETURNING", "HIGH_FREQ"])
        #expect(Segments.of(orderCount: 5, ordersLast30Days: 1, tags: [], highFrequencyOrders: 2) == ["RETURNING", "LOW_FREQ"])
        #expect(Segments.of(orderCount: 9, ordersLast30Days: 9, tags: [], highFrequencyOrders: 10) == ["RETURNING", "LOW_FREQ"])
        #expect(Segments.of(orderCount: 10, ordersLast30Days: 10, tags: [], highFrequencyOrders: 10) == ["RETURNING", "HIGH_FREQ"])
    }

    /// The segments a profile yields pick the tier at claim time.
    @Test func segmentsDriveTierSelection() {
        let frequent = Segments.of(orderCount: 12, ordersLast30Days: 6, tags: [])
        let infrequent = Segments.of(orderCount: 12, ordersLast30Days: 1, tags: [])
        let newcomer = Segments.of(orderCount: 0, ordersLast30Days: 0, tags: [])
        #expect(check(meituanTiers(), segments: frequent).discountCents == 500)
        #expect(check(meituanTiers(), segments: frequent).thresholdCents == 3_000)
        #expect(check(meituanTiers(), segments: infrequent).discountCents == 800)
        #expect(check(meituanTiers(), segments: newcomer).thresholdCents == 2_500)
    }
}

@Suite struct ClaimRulesSegmentNeedTests {
    /// A claim skips the profile read exactly when the answer cannot depend on the segments.
    @Test func segmentsMatterOnlyForRestrictionsAndTiers() {
        let plain = cash200Minus30()
        #expect(!ClaimRules.needsSegments(plain))
        #expect(ClaimRules.needsSegments(meituanTiers()))
        #expect(ClaimRules.needsSegments(with(plain) { $0.segments = ["VIP"] }))
        // Where it says no, any segments give the same answer as none.
        for segments in [[], ["NEW"], ["RETURNING", "HIGH_FREQ"], ["VIP"]] {
            #expect(check(plain, segments: segments) == check(plain, segments: []))
        }
    }
}
