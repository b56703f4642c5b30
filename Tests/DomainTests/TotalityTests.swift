import Foundation
import Testing
import Wire

@testable import Domain

/// Hostile values from outside: each is refused with a precise `.invalidArgument` (or written
/// without converting), never a trap, and lengths are counted in the units PostgreSQL enforces.
@Suite struct TextLimitTests {
    /// One letter and 4,000 combining acute accents: one grapheme, 4,001 code points, ~8 kB.
    let zalgo = "a" + String(repeating: "\u{301}", count: 4_000)

    func message(_ body: () throws(ServiceError) -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            #expect(error.code == .invalidArgument)
            return error.message
        }
    }

    @Test func anIdentifierIsCountedInCodePointsNotGraphemes() {
        #expect(zalgo.count == 1)
        #expect(message { () throws(ServiceError) in try TemplateRules.identifier(zalgo, field: "shopId") } == "shopId: at most 64 code points")
        let sixtyFour = String(repeating: "é", count: 64)
        #expect(message { () throws(ServiceError) in try TemplateRules.identifier(sixtyFour, field: "id") } == nil)
        // "e" + U+0301 is one grapheme and two code points: 33 of them are 66 code points.
        let decomposed = String(repeating: "e\u{301}", count: 33)
        #expect(decomposed.count == 33)
        #expect(message { () throws(ServiceError) in try TemplateRules.identifier(decomposed, field: "id") } == "id: at most 64 code points")
    }

    @Test(arguments: ["", " a", "a ", "\u{3000}x", "x\n"])
    func anIdentifierHasNoSpaceAtEitherEnd(value: String) {
        #expect(
            message { () throws(ServiceError) in try TemplateRules.identifier(value, field: "channel") }
                == "channel: must be a non-empty name without surrounding spaces")
    }

    @Test(arguments: ["a\u{0}b", "a\u{1B}[31mb", "a\u{7F}b", "a\u{85}b", "a\u{9B}b"])
    func anIdentifierHasNoControlCharacter(value: String) {
        #expect(
            message { () throws(ServiceError) in try TemplateRules.identifier(value, field: "tag") } == "tag: must not contain control characters")
    }

    @Test func aNameIsCountedInCodePointsAsPostgresLengthIs() {
        let hundred = String(repeating: "券", count: 100)
        #expect(message { () throws(ServiceError) in try TemplateRules.validate(with(cash200Minus30()) { $0.name = hundred }) } == nil)
        let combining = "满" + String(repeating: "\u{301}", count: 100)
        #expect(combining.count == 1)
        #expect(
            message { () throws(ServiceError) in try TemplateRules.validate(with(cash200Minus30()) { $0.name = combining }) }
                == "name: at most 100 code points")
    }

    @Test func everyListOfNamesIsBoundedAndEachEntryIsAnIdentifier() {
        let many = (0...TemplateRules.maxListEntries).map { "c\($0)" }
        for field in ["categories", "channels", "segments"] {
            let spec = with(cash200Minus30()) {
                switch field {
                case "categories": $0.categories = many
                case "channels": $0.channels = many
                default: $0.segments = many
                }
            }
            #expect(message { () throws(ServiceError) in try TemplateRules.validate(spec) } == "\(field): at most 100 entries")
        }
        let spec = with(cash200Minus30()) { $0.channels = ["app", zalgo] }
        #expect(message { () throws(ServiceError) in try TemplateRules.validate(spec) } == "channels[1]: at most 64 code points")
        let shop = with(cash200Minus30()) {
            $0.level = .shop
            $0.shopId = zalgo
        }
        #expect(message { () throws(ServiceError) in try TemplateRules.validate(shop) } == "shopId: at most 64 code points")
        let tiers = with(cash200Minus30()) {
            $0.tiers = [Tier(segment: zalgo, thresholdCents: 0, discountCents: 100)]
        }
        #expect(message { () throws(ServiceError) in try TemplateRules.validate(tiers) } == "tiers[0].segment: at most 64 code points")
        let tooManyTiers = with(cash200Minus30()) {
            $0.tiers = (0...TemplateRules.maxListEntries).map { Tier(segment: "s\($0)", thresholdCents: 0, discountCents: 100) }
        }
        #expect(message { () throws(ServiceError) in try TemplateRules.validate(tooManyTiers) } == "tiers: at most 100 entries")
    }
}

@Suite struct TimeRangeTests {
    @Test(arguments: [Int64.min, -1, Timestamp.latestMilliseconds + 1, Int64.max])
    func aStartOutsideTheAcceptedRangeIsRefused(start: Int64) {
        let spec = with(cash200Minus30()) { $0.startMilliseconds = start }
        #expect(throws: ServiceError.self) { try TemplateRules.validate(spec) }
        do {
            try TemplateRules.validate(spec)
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("startTime: "))
        }
    }

    @Test func anEndThatIsYear10000SomewhereIsRefusedAndTheLastAcceptedMillisecondIsNot() throws {
        let last = Timestamp.parseISO8601("9999-12-30T23:59:59.999Z")
        #expect(last == Timestamp.latestMilliseconds)
        try TemplateRules.validate(with(cash200Minus30()) { $0.endMilliseconds = Timestamp.latestMilliseconds })
        let beyond = with(cash200Minus30()) { $0.endMilliseconds = Timestamp.latestMilliseconds + 1 }
        #expect(throws: ServiceError(.invalidArgument, "endTime: 253402214400000 ms is outside 1970-01-01T00:00:00Z…9999-12-30T23:59:59.999Z")) {
            try TemplateRules.validate(beyond)
        }
        let endOfYear = Timestamp.parseISO8601("9999-12-31T23:59:59.999Z")!
        #expect(throws: ServiceError.self) { try TemplateRules.validate(with(cash200Minus30()) { $0.endMilliseconds = endOfYear }) }
    }

    /// Found by the http-fields fuzzer: an accepted end of 9999-12-31T23:59:59.999Z printed as
    /// 10000-01-01T07:59:59.999+08:00, which the API could not read back.
    @Test(arguments: ["Pacific/Kiritimati", "Asia/Shanghai", "UTC", "Pacific/Pago_Pago", "Etc/GMT+12"])
    func everyAcceptedInstantPrintsAsATimeTheParserReadsBack(zone: String) {
        for milliseconds in [Timestamp.earliestMilliseconds, Timestamp.latestMilliseconds] {
            let text = Timestamp.formatISO8601(milliseconds, in: TimeZone(identifier: zone)!)
            #expect(Timestamp.parseISO8601(text) == milliseconds, "\(text)")
        }
    }

    @Test(arguments: [Int64.min, Int64.min + 1, -1, 0, Int64.max - 1, Int64.max])
    func formattingAnyInstantIsTotal(milliseconds: Int64) {
        for zone in ["Asia/Shanghai", "America/St_Johns", "UTC"] {
            let text = Timestamp.formatISO8601(milliseconds, in: TimeZone(identifier: zone)!)
            #expect(!text.isEmpty)
        }
    }
}

@Suite struct CheckedArithmeticTests {
    let valid = with(cash200Minus30()) { $0.validHours = Int32.max }

    @Test func expiryNearTheEndOfInt64IsARefusalNotATrap() {
        let spec = with(valid) { $0.endMilliseconds = Int64.max }
        #expect(throws: ServiceError.self) { try ClaimRules.expiry(spec, claimedAt: Int64.max - 1) }
        let negative = with(cash200Minus30()) { $0.validHours = -1 }
        #expect(throws: ServiceError.self) { try ClaimRules.expiry(negative, claimedAt: Int64.min) }
    }

    @Test func theLongestValidityFromTheLatestClaimIsCappedAtTheEnd() throws {
        let spec = with(valid) { $0.endMilliseconds = Timestamp.latestMilliseconds }
        #expect(try ClaimRules.expiry(spec, claimedAt: Timestamp.latestMilliseconds - 1) == Timestamp.latestMilliseconds)
    }

    @Test func moneySumsAreChecked() throws {
        #expect(try Money(cents: 10).adding(Money(cents: 20)) == Money(cents: 30))
        #expect(try Money(cents: 10).subtracting(Money(cents: 20)) == Money(cents: -10))
        #expect(throws: ServiceError.self) { try Money(cents: Int64.max).adding(Money(cents: 1)) }
        #expect(throws: ServiceError.self) { try Money(cents: Int64.min).subtracting(Money(cents: 1)) }
    }

    @Test func remainingStockIsTotal() {
        #expect(CouponJSON.remainingStock(10, issued: 3) == 7)
        #expect(CouponJSON.remainingStock(10, issued: 30) == 0)
        #expect(CouponJSON.remainingStock(Int32.max, issued: -1) == Int32.max)
        #expect(CouponJSON.remainingStock(0, issued: Int32.min) == Int32.max)
        #expect(CouponJSON.remainingStock(-2, issued: Int32.max) == 0)
    }
}

@Suite struct RatioTextTests {
    @Test(
        arguments: [
            (0.0, "0.0000"), (0.5, "0.5000"), (0.12344, "0.1234"), (0.12346, "0.1235"), (1.0, "1.0000"), (37.25, "37.2500"),
            (-2.5, "-2.5000"), (-0.00001, "0.0000"), (1e-9, "0.0000"),
        ] as [(Double, String)])
    func normalRatiosKeepFourDecimals(value: Double, text: String) {
        #expect(CouponJSON.ratioText(value) == text)
    }

    /// 9.2e14 × 10^4 is past Int64: the stats endpoint used to trap on every call for such a template.
    @Test(arguments: [9.3e14, 1e18, 1.7e308, -9.3e14, -1.7e308])
    func hugeRatiosAreWrittenWithoutConversion(value: Double) throws {
        let text = CouponJSON.ratioText(value)
        #expect(text.hasSuffix(".0000"))
        #expect(Double(text) == value.rounded())
        // A JSON number the strict parser takes.
        #expect(try JSONParser.parse(Array(text.utf8)) == .number(text))
    }
}

@Suite struct OneValidationPerMessageTests {
    func request(_ spec: TemplateSpec, channel: String = "app", segments: [String] = ["NEW"], now: Int64? = nil) -> ClaimCheckRequest {
        ClaimCheckRequest(
            spec: spec, status: .active, channel: channel, userSegments: segments, nowMilliseconds: now ?? spec.startMilliseconds + hour)
    }

    @Test func aClaimCheckRunsTheTemplateCreateValidation() {
        let hostile: [(String, TemplateSpec)] = [
            ("discount", with(cash200Minus30()) { $0.discountCents = -3_000 }),
            ("validHours", with(cash200Minus30()) { $0.validHours = -24 }),
            ("validHours", with(cash200Minus30()) { $0.validHours = 0 }),
            ("threshold", with(cash200Minus30()) { $0.thresholdCents = Int64.min }),
            ("name", with(cash200Minus30()) { $0.name = "" }),
            ("endTime", with(cash200Minus30()) { $0.endMilliseconds = Int64.max }),
        ]
        for (field, spec) in hostile {
            let response = ClaimRules.check(request(spec))
            #expect(response.refusal?.code == .invalidArgument)
            #expect(response.refusal?.message.hasPrefix("\(field): ") == true, "\(response.refusal?.message ?? "accepted")")
            #expect(response.discountCents == 0 && response.expiresMilliseconds == 0)
        }
    }

    @Test func aClaimCheckRefusesAHostileChannelSegmentsOrClock() {
        let spec = cash200Minus30()
        #expect(ClaimRules.check(request(spec, channel: "")).refusal?.message.hasPrefix("channel: ") == true)
        #expect(ClaimRules.check(request(spec, segments: [String](repeating: "VIP", count: 500))).refusal?.code == .invalidArgument)
        #expect(ClaimRules.check(request(spec, segments: ["a\u{0}"])).refusal?.message.hasPrefix("userSegments[0]: ") == true)
        #expect(ClaimRules.check(request(spec, now: Int64.max)).refusal?.message.hasPrefix("now: ") == true)
    }

    @Test func oneBadCheckFailsAloneInItsBatch() throws {
        let good = request(cash200Minus30())
        let bad = request(with(cash200Minus30()) { $0.validHours = -1 })
        let response = try ClaimRules.check(ClaimCheckBatchRequest(checks: [good, bad, good]))
        #expect(response.results.map { $0.refusal?.code } == [nil, .invalidArgument, nil])
        #expect(response.results[0].discountCents == 3_000 && response.results[2].discountCents == 3_000)
    }

    @Test func aQuoteRefusesHostileTermsAloneInItsBatch() throws {
        let order = Fixture.order(50_000)
        let good = DiscountQuoteRequest(coupon: Fixture.coupon(.cash, discount: 1_000), order: order, nowMilliseconds: Fixture.now)
        let hostile = [
            Fixture.coupon(.cash, discount: -1), Fixture.coupon(.cash, discount: Int64.max), Fixture.coupon(.cash, threshold: Int64.min),
            Fixture.coupon(.discount, rate: -1), Fixture.coupon(.discount, rate: 10_001), Fixture.coupon(.discount, rate: 8_000, cap: Int64.max),
            Fixture.coupon(.free, cap: -5), Fixture.coupon(.cash, discount: 1, categories: (0...100).map { "k\($0)" }),
        ]
        let batch = DiscountQuoteBatchRequest(
            quotes: [good] + hostile.map { DiscountQuoteRequest(coupon: $0, order: order, nowMilliseconds: Fixture.now) } + [good])
        let results = try Discounts.quote(batch).results
        #expect(results.count == hostile.count + 2)
        #expect(results.first?.refusal == nil && results.last?.refusal == nil)
        #expect(results.first?.discountCents == 1_000)
        for result in results.dropFirst().dropLast() {
            #expect(result.refusal?.code == .invalidArgument)
            #expect(result.discountCents == 0 && result.payableCents == 50_000)
        }
    }

    @Test func anOrderWithAbsurdlyManyItemsIsRefused() {
        let items = (0...Discounts.maxItems).map { Fixture.item("sku\($0)", 1) }
        let quote = Fixture.quote(Fixture.coupon(.cash, discount: 1), Fixture.order(items))
        #expect(quote.refusal?.code == .invalidArgument)
    }

    @Test func aBestCombinationWithAbsurdlyManyCouponsIsRefusedWhole() throws {
        let coupons = (0...BestCombinations.maxCoupons).map { Fixture.coupon("c\($0)", .cash, discount: 1) }
        let request = BestCombinationRequest(coupons: coupons, order: Fixture.order(10_000), nowMilliseconds: Fixture.now)
        #expect(throws: ServiceError.self) { try BestCombinations.respond(to: request) }
        let fine = BestCombinationRequest(coupons: Array(coupons.prefix(3)), order: Fixture.order(10_000), nowMilliseconds: Fixture.now)
        #expect(try BestCombinations.respond(to: fine).discountCents == 1)
    }
}
