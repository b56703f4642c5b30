import Domain
import Testing
import Wire

/// Coupons, orders and quotes for the discount and best-combination tests.
enum Fixture {
    /// 2026-11-11T00:00:00+08:00, and the default expiry a week later.
    static let now: Int64 = 1_794_326_400_000
    static let hourMs: Int64 = 3_600_000
    static let expiry: Int64 = now + 7 * 24 * hourMs

    static func coupon(
        _ id: String = "c1", _ type: CouponType = .cash, threshold: Int64 = 0, discount: Int64 = 0, rate: Int32? = nil, cap: Int64? = nil,
        level: ScopeLevel = .platform, shop: String? = nil, categories: [String] = [], stacking: StackingMode = .stackable,
        onDiscounted: Bool = false, expires: Int64 = expiry, status: CouponStatus = .unused
    ) -> CouponTerms {
        CouponTerms(
            couponId: id, type: type, status: status, thresholdCents: threshold, discountCents: discount, rateBasisPoints: rate,
            maxDiscountCents: cap, level: level, shopId: shop, categories: categories, stacking: stacking,
            thresholdOnDiscounted: onDiscounted, expiresMilliseconds: expires)
    }

    /// The same, with the default id "c1".
    static func coupon(
        _ type: CouponType, threshold: Int64 = 0, discount: Int64 = 0, rate: Int32? = nil, cap: Int64? = nil, level: ScopeLevel = .platform,
        shop: String? = nil, categories: [String] = [], stacking: StackingMode = .stackable, onDiscounted: Bool = false,
        expires: Int64 = expiry, status: CouponStatus = .unused
    ) -> CouponTerms {
        coupon(
            "c1", type, threshold: threshold, discount: discount, rate: rate, cap: cap, level: level, shop: shop, categories: categories,
            stacking: stacking, onDiscounted: onDiscounted, expires: expires, status: status)
    }

    static func item(_ sku: String, shop: String = "S1", category: String = "digital", _ cents: Int64) -> OrderItem {
        OrderItem(sku: sku, category: category, shopId: shop, amountCents: cents)
    }

    /// An order without items (one line that only PLATFORM coupons cover).
    static func order(_ cents: Int64) -> OrderSummary { OrderSummary(amountCents: cents, items: []) }

    /// An order whose amount is the sum of its items.
    static func order(_ items: [OrderItem]) -> OrderSummary {
        OrderSummary(amountCents: items.reduce(0) { $0 + $1.amountCents }, items: items)
    }

    static func quote(_ coupon: CouponTerms, _ order: OrderSummary, at time: Int64 = now) -> DiscountQuote {
        Discounts.quote(DiscountQuoteRequest(coupon: coupon, order: order, nowMilliseconds: time))
    }
}

/// The tests' seeded generator (a failing random case is reproducible).
typealias DiscountRandom = SeededRandom

@Suite struct CashDiscountTests {
    /// 满200减30, platform-wide.
    let cash = Fixture.coupon(threshold: 20_000, discount: 3_000)

    @Test func aboveTheThresholdTakesTheAmountOff() {
        let quote = Fixture.quote(cash, Fixture.order(25_000))
        #expect(quote == DiscountQuote(refusal: nil, eligibleCents: 25_000, discountCents: 3_000, payableCents: 22_000))
    }

    @Test func exactlyTheThresholdIsEnough() {
        let quote = Fixture.quote(cash, Fixture.order(20_000))
        #expect(quote.refusal == nil)
        #expect(quote.discountCents == 3_000)
        #expect(quote.payableCents == 17_000)
    }

    @Test func oneCentBelowTheThresholdIsRefused() {
        let quote = Fixture.quote(cash, Fixture.order(19_999))
        #expect(quote.refusal?.code == .thresholdNotMet)
        #expect(quote.refusal?.message.contains("200.00") == true)
        #expect(quote.eligibleCents == 19_999)
        #expect(quote.discountCents == 0)
        #expect(quote.payableCents == 19_999)
    }

    @Test func withoutThresholdTheDiscountNeverExceedsTheAmount() {
        let quote = Fixture.quote(Fixture.coupon(discount: 1_000), Fixture.order(500))
        #expect(quote == DiscountQuote(refusal: nil, eligibleCents: 500, discountCents: 500, payableCents: 0))
    }

    @Test func exchangeActsAsNoThresholdCash() {
        let exchange = Fixture.coupon("x1", .exchange, discount: 1_000)
        #expect(Fixture.quote(exchange, Fixture.order(1)).discountCents == 1)
        #expect(Fixture.quote(exchange, Fixture.order(4_500)).discountCents == 1_000)
        #expect(Fixture.quote(exchange, Fixture.order(4_500)).payableCents == 3_500)
    }

    @Test func emptyOrderMeetsOnlyAZeroThreshold() {
        let refused = Fixture.quote(cash, Fixture.order(0))
        #expect(refused.refusal?.code == .thresholdNotMet)
        #expect(refused.payableCents == 0)
        let free = Fixture.quote(Fixture.coupon(discount: 1_000), Fixture.order(0))
        #expect(free == DiscountQuote(refusal: nil, eligibleCents: 0, discountCents: 0, payableCents: 0))
    }
}

@Suite struct RateDiscountTests {
    /// 8折最高减50.
    let eightyCapped = Fixture.coupon(.discount, rate: 8_000, cap: 5_000)

    @Test func twentyPercentOfOneHundred() {
        #expect(
            Fixture.quote(eightyCapped, Fixture.order(10_000))
                == DiscountQuote(refusal: nil, eligibleCents: 10_000, discountCents: 2_000, payableCents: 8_000))
    }

    @Test func theCapLimitsLargeOrders() {
        #expect(Fixture.quote(eightyCapped, Fixture.order(30_000)).discountCents == 5_000)
        #expect(Fixture.quote(eightyCapped, Fixture.order(30_000)).payableCents == 25_000)
        // The cap is reached at exactly 250.00; one cent below, 20% is 49.998 → 49.99.
        #expect(Fixture.quote(eightyCapped, Fixture.order(25_000)).discountCents == 5_000)
        #expect(Fixture.quote(eightyCapped, Fixture.order(24_999)).discountCents == 4_999)
    }

    @Test func roundsDownToTheCent() {
        // 8.5折 on 33.33: 15% is 4.9995 → 4.99 (the merchant's favour).
        let quote = Fixture.quote(Fixture.coupon(.discount, rate: 8_500), Fixture.order(3_333))
        #expect(quote.discountCents == 499)
        #expect(quote.payableCents == 2_834)
        // 9折 on 0.09: 0.009 → nothing off.
        #expect(Fixture.quote(Fixture.coupon(.discount, rate: 9_000), Fixture.order(9)).discountCents == 0)
        #expect(Fixture.quote(Fixture.coupon(.discount, rate: 9_000), Fixture.order(10)).discountCents == 1)
    }

    @Test func thresholdAppliesToRateCoupons() {
        let coupon = Fixture.coupon(.discount, threshold: 10_000, rate: 9_000)
        #expect(Fixture.quote(coupon, Fixture.order(9_999)).refusal?.code == .thresholdNotMet)
        #expect(Fixture.quote(coupon, Fixture.order(10_000)).discountCents == 1_000)
    }

    @Test func percentageOffIsExactAtTheExtremes() {
        #expect(Discounts.percentageOff(Int64.max, rateBasisPoints: 5_000) == Int64.max / 2)
        #expect(Discounts.percentageOff(Int64.max, rateBasisPoints: 0) == Int64.max)
        #expect(Discounts.percentageOff(Int64.max, rateBasisPoints: 10_000) == 0)
        // 1‱ off the largest accepted amount (10^15 cents), exact to the cent.
        #expect(Discounts.percentageOff(Money.maximum.cents, rateBasisPoints: 9_999) == 100_000_000_000)
        #expect(Discounts.percentageOff(Money.maximum.cents - 1, rateBasisPoints: 1) == 999_899_999_999_999)
        let quote = Fixture.quote(Fixture.coupon(.discount, rate: 1), Fixture.order(Money.maximum.cents))
        #expect(quote.discountCents == 999_900_000_000_000)
        #expect(quote.payableCents == 100_000_000_000)
    }

    @Test func percentageOffMatchesTheNaiveFormula() {
        var random = DiscountRandom(seed: 85)
        for _ in 0..<20_000 {
            let eligible = Int64.random(in: 0...100_000_000_000, using: &random)
            let rate = Int64.random(in: 0...10_000, using: &random)
            #expect(Discounts.percentageOff(eligible, rateBasisPoints: rate) == (10_000 - rate) * eligible / 10_000)
        }
    }
}

@Suite struct FreeDiscountTests {
    @Test func freeTakesTheWholeEligibleAmount() {
        let quote = Fixture.quote(Fixture.coupon(.free), Fixture.order(12_345))
        #expect(quote == DiscountQuote(refusal: nil, eligibleCents: 12_345, discountCents: 12_345, payableCents: 0))
    }

    @Test func freeRespectsItsCap() {
        let capped = Fixture.coupon(.free, cap: 5_000)
        #expect(Fixture.quote(capped, Fixture.order(12_345)).discountCents == 5_000)
        #expect(Fixture.quote(capped, Fixture.order(12_345)).payableCents == 7_345)
        #expect(Fixture.quote(capped, Fixture.order(3_000)).discountCents == 3_000)
    }

    @Test func freeOnAShopCoversOnlyThatShop() {
        let order = Fixture.order([Fixture.item("a", shop: "S1", 4_000), Fixture.item("b", shop: "S2", 6_000)])
        let quote = Fixture.quote(Fixture.coupon(.free, level: .shop, shop: "S1"), order)
        #expect(quote == DiscountQuote(refusal: nil, eligibleCents: 4_000, discountCents: 4_000, payableCents: 6_000))
    }
}

@Suite struct ScopeTests {
    let order = Fixture.order([
        Fixture.item("phone", shop: "S1", category: "digital", 15_000),
        Fixture.item("rice", shop: "S2", category: "food", 50_000),
        Fixture.item("book", shop: "S1", category: "books", 2_000),
    ])

    @Test func shopCouponCountsOnlyItsShop() throws {
        let coupon = Fixture.coupon(level: .shop, shop: "S1")
        #expect(try Discounts.eligibleCents(for: coupon, in: order) == 17_000)
        // 满200减30 for shop S1: 170.00 of S1 items, although the order is 670.00.
        let quote = Fixture.quote(Fixture.coupon(threshold: 20_000, discount: 3_000, level: .shop, shop: "S1"), order)
        #expect(quote.refusal?.code == .thresholdNotMet)
        #expect(quote.eligibleCents == 17_000)
    }

    @Test func categoryCouponCountsItsCategories() throws {
        let coupon = Fixture.coupon(threshold: 15_000, discount: 1_000, level: .category, categories: ["digital", "books"])
        #expect(try Discounts.eligibleCents(for: coupon, in: order) == 17_000)
        #expect(Fixture.quote(coupon, order) == DiscountQuote(refusal: nil, eligibleCents: 17_000, discountCents: 1_000, payableCents: 66_000))
    }

    @Test func platformCouponCountsEverything() throws {
        #expect(try Discounts.eligibleCents(for: Fixture.coupon(), in: order) == 67_000)
        #expect(try Discounts.eligibleCents(for: Fixture.coupon(), in: Fixture.order(4_200)) == 4_200)
    }

    @Test func noItemInScopeIsNotApplicable() {
        let otherShop = Fixture.quote(Fixture.coupon(discount: 100, level: .shop, shop: "S3"), order)
        #expect(otherShop.refusal?.code == .couponNotApplicable)
        #expect(otherShop.refusal?.message == "no item of shop S3")
        let otherCategory = Fixture.quote(Fixture.coupon(discount: 100, level: .category, categories: ["toys", "shoes"]), order)
        #expect(otherCategory.refusal?.code == .couponNotApplicable)
        #expect(otherCategory.refusal?.message == "no item in categories toys, shoes")
        #expect(otherCategory.payableCents == 67_000)
    }

    @Test func anOrderWithoutItemsOnlyTakesPlatformCoupons() {
        #expect(Fixture.quote(Fixture.coupon(discount: 100, level: .shop, shop: "S1"), Fixture.order(10_000)).refusal?.code == .couponNotApplicable)
        #expect(
            Fixture.quote(Fixture.coupon(discount: 100, level: .category, categories: ["digital"]), Fixture.order(10_000)).refusal?.code
                == .couponNotApplicable)
        #expect(Fixture.quote(Fixture.coupon(discount: 100), Fixture.order(10_000)).discountCents == 100)
    }

    @Test func aCashAmountAboveTheScopeIsCappedByTheScope() {
        let quote = Fixture.quote(Fixture.coupon(discount: 5_000, level: .category, categories: ["books"]), order)
        #expect(quote == DiscountQuote(refusal: nil, eligibleCents: 2_000, discountCents: 2_000, payableCents: 65_000))
    }
}

@Suite struct InvalidOrderTests {
    let coupon = Fixture.coupon(discount: 100)

    @Test func itemsThatDoNotAddUpAreInvalid() {
        let order = OrderSummary(amountCents: 10_000, items: [Fixture.item("a", 6_000), Fixture.item("b", 3_999)])
        let quote = Fixture.quote(coupon, order)
        #expect(quote.refusal?.code == .invalidArgument)
        #expect(quote.discountCents == 0)
        #expect(quote.payableCents == 10_000)
    }

    @Test func negativeAmountsAreInvalid() {
        #expect(Fixture.quote(coupon, Fixture.order(-1)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(coupon, Fixture.order(-1)).payableCents == 0)
        // A negative item, even when the sum matches.
        let order = OrderSummary(amountCents: 2_000, items: [Fixture.item("a", 3_000), Fixture.item("b", -1_000)])
        #expect(Fixture.quote(coupon, order).refusal?.code == .invalidArgument)
    }

    @Test func amountsAboveTheMaximumAreInvalid() {
        #expect(Fixture.quote(coupon, Fixture.order(Money.maximum.cents + 1)).refusal?.code == .invalidArgument)
        let overflowing = OrderSummary(amountCents: 10, items: [Fixture.item("a", Int64.max), Fixture.item("b", Int64.max)])
        #expect(Fixture.quote(coupon, overflowing).refusal?.code == .invalidArgument)
    }

    @Test func anInvalidOrderComesBeforeTheCouponsState() {
        let used = Fixture.coupon(discount: 100, status: .used)
        #expect(Fixture.quote(used, Fixture.order(-5)).refusal?.code == .invalidArgument)
    }

    @Test func incoherentTermsAreInvalid() {
        #expect(Fixture.quote(Fixture.coupon(.discount), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(.discount, rate: 10_001), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(.discount, rate: -1), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(discount: -1), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(threshold: -1), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(.free, cap: -1), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(level: .shop), Fixture.order(1_000)).refusal?.code == .invalidArgument)
        #expect(Fixture.quote(Fixture.coupon(level: .category), Fixture.order(1_000)).refusal?.code == .invalidArgument)
    }
}

@Suite struct CouponStateTests {
    let order = Fixture.order(30_000)

    @Test func expiresAtItsExpiryInstant() {
        let coupon = Fixture.coupon(discount: 100, expires: Fixture.now)
        #expect(Fixture.quote(coupon, order, at: Fixture.now - 1).refusal == nil)
        #expect(Fixture.quote(coupon, order, at: Fixture.now).refusal?.code == .couponExpired)
        #expect(Fixture.quote(coupon, order, at: Fixture.now + 1).refusal?.code == .couponExpired)
    }

    @Test func markedExpiredIsExpiredEvenBeforeItsTime() {
        #expect(Fixture.quote(Fixture.coupon(discount: 100, status: .expired), order).refusal?.code == .couponExpired)
    }

    @Test func usedIsAlreadyUsed() {
        let quote = Fixture.quote(Fixture.coupon(discount: 100, status: .used), order)
        #expect(quote.refusal?.code == .couponAlreadyUsed)
        #expect(quote.discountCents == 0)
        #expect(quote.payableCents == 30_000)
        // Used wins over expired by time.
        #expect(Fixture.quote(Fixture.coupon(discount: 100, expires: 0, status: .used), order).refusal?.code == .couponAlreadyUsed)
    }

    @Test func revokedIsRevoked() {
        #expect(Fixture.quote(Fixture.coupon(discount: 100, status: .revoked), order).refusal?.code == .couponRevoked)
    }

    @Test func stateComesBeforeScopeAndThreshold() {
        let coupon = Fixture.coupon(threshold: 1_000_000, discount: 100, level: .shop, shop: "nowhere", expires: 0)
        #expect(Fixture.quote(coupon, order).refusal?.code == .couponExpired)
    }
}

@Suite struct DiscountInvariantTests {
    /// Over random coupons and orders: an applied quote takes 0…eligible off, eligible ≤ amount, and
    /// payable = amount − discount ≥ 0; a refusal takes nothing off.
    @Test func discountNeverExceedsTheEligibleAmount() {
        var random = DiscountRandom(seed: 2_026)
        let types = CouponType.allCases
        let levels = ScopeLevel.allCases
        for _ in 0..<5_000 {
            let items = (0..<Int.random(in: 0...4, using: &random)).map { index in
                Fixture.item(
                    "i\(index)", shop: ["S1", "S2"].randomElement(using: &random)!,
                    category: ["digital", "food", "books"].randomElement(using: &random)!, Int64.random(in: 0...80_000, using: &random))
            }
            let order = items.isEmpty ? Fixture.order(Int64.random(in: 0...80_000, using: &random)) : Fixture.order(items)
            let coupon = Fixture.coupon(
                types.randomElement(using: &random)!, threshold: [0, 100, 20_000, 50_000].randomElement(using: &random)!,
                discount: Int64.random(in: 0...60_000, using: &random), rate: Int32.random(in: 0...10_000, using: &random),
                cap: Bool.random(using: &random) ? nil : Int64.random(in: 0...10_000, using: &random), level: levels.randomElement(using: &random)!,
                shop: "S1", categories: ["digital"])
            let quote = Fixture.quote(coupon, order)
            if quote.refusal == nil {
                #expect(quote.discountCents >= 0)
                #expect(quote.discountCents <= quote.eligibleCents)
                #expect(quote.eligibleCents <= order.amountCents)
                #expect(quote.payableCents == order.amountCents - quote.discountCents)
                #expect(quote.payableCents >= 0)
                #expect(quote.discountCents == Discounts.discount(for: coupon, eligible: quote.eligibleCents))
            } else {
                #expect(quote.discountCents == 0)
                #expect(quote.payableCents == order.amountCents)
            }
        }
    }
}

@Suite struct DiscountQuoteBatchTests {
    @Test func aBatchAnswersEachQuoteInOrderAsAloneAndRefusesOversizedBatches() throws {
        let order = Fixture.order(25_000)
        let quotes = [
            DiscountQuoteRequest(coupon: Fixture.coupon(.cash, threshold: 20_000, discount: 3_000), order: order, nowMilliseconds: Fixture.now),
            DiscountQuoteRequest(coupon: Fixture.coupon(.cash, threshold: 30_000, discount: 5_000), order: order, nowMilliseconds: Fixture.now),
            DiscountQuoteRequest(
                coupon: Fixture.coupon(.discount, rate: 8_000, cap: 5_000), order: order, nowMilliseconds: Fixture.now),
        ]
        let answers = try Discounts.quote(DiscountQuoteBatchRequest(quotes: quotes)).results
        #expect(answers == quotes.map { Discounts.quote($0) })
        #expect(answers.map(\.discountCents) == [3_000, 0, 5_000])
        #expect(answers[1].refusal?.code == .thresholdNotMet)
        let tooMany = DiscountQuoteBatchRequest(quotes: Array(repeating: quotes[0], count: DiscountQuoteBatchRequest.maxQuotes + 1))
        #expect(throws: ServiceError.self) { try Discounts.quote(tooMany) }
    }
}
