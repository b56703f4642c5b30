import Domain
import Testing
import Wire

private func choose(_ coupons: [CouponTerms], _ order: OrderSummary, at time: Int64 = Fixture.now) -> BestCombination {
    BestCombinations.choose(BestCombinationRequest(coupons: coupons, order: order, nowMilliseconds: time))
}

/// The Taobao 双11 matrix: shop 满199减20 (S1), category 满500减100 (digital), platform 满1000减200.
private func taobaoMatrix(expires: Int64 = Fixture.expiry) -> [CouponTerms] {
    [
        Fixture.coupon("shop", threshold: 19_900, discount: 2_000, level: .shop, shop: "S1", expires: expires),
        Fixture.coupon("category", threshold: 50_000, discount: 10_000, level: .category, categories: ["digital"], expires: expires),
        Fixture.coupon("platform", threshold: 100_000, discount: 20_000, expires: expires),
    ]
}

private let oneThousandYuan = Fixture.order([Fixture.item("laptop", shop: "S1", category: "digital", 100_000)])

@Suite struct BestCombinationTests {
    @Test func taobaoMatrixStacksAllThreeLevels() {
        let best = choose(taobaoMatrix(), oneThousandYuan)
        #expect(best.couponIds == ["shop", "category", "platform"])
        #expect(best.discountCents == 32_000)
        #expect(best.payableCents == 68_000)
        #expect(best.explain.map(\.reason) == ["APPLIED", "APPLIED", "APPLIED"])
        #expect(best.explain.map(\.discountCents) == [2_000, 10_000, 20_000])
        // Listed in another order, the answer still applies SHOP, CATEGORY, PLATFORM; explain follows the request.
        let reversed = choose(taobaoMatrix().reversed(), oneThousandYuan)
        #expect(reversed.couponIds == ["shop", "category", "platform"])
        #expect(reversed.explain.map(\.couponId) == ["platform", "category", "shop"])
    }

    @Test func thresholdsUseTheOriginalAmountByDefault() {
        // After 20 + 100 off, 880.00 remains, yet the platform threshold of 1000 counts the original.
        let best = choose(taobaoMatrix(), oneThousandYuan)
        #expect(best.explain[2].applied)
    }

    @Test func amountOffIsComputedOnWhatRemains() {
        // Shop S1 takes 40.00 off 400.00 of S1 items: 30.00 on the phone, 10.00 on the rice. The
        // digital 9折 then sees 870.00 left of 900.00: 87.00, not 90.00.
        let order = Fixture.order([
            Fixture.item("phone", shop: "S1", category: "digital", 30_000),
            Fixture.item("rice", shop: "S1", category: "food", 10_000),
            Fixture.item("tv", shop: "S2", category: "digital", 60_000),
        ])
        let coupons = [
            Fixture.coupon("s", discount: 4_000, level: .shop, shop: "S1"),
            Fixture.coupon("d", .discount, rate: 9_000, level: .category, categories: ["digital"]),
        ]
        let best = choose(coupons, order)
        #expect(best.couponIds == ["s", "d"])
        #expect(best.explain.map(\.discountCents) == [4_000, 8_700])
        #expect(best.discountCents == 12_700)
        #expect(best.payableCents == 87_300)
    }

    @Test func leftoverCentsGoToTheEarlierItemOnATie() {
        // 0.01 off two items of 1.00 of shop S1: equal remainders, the earlier item takes the cent.
        let shopCent = Fixture.coupon("s", discount: 1, level: .shop, shop: "S1")
        let freeDigital = Fixture.coupon("f", .free, level: .category, categories: ["digital"])
        let digitalFirst = Fixture.order([
            Fixture.item("a", shop: "S1", category: "digital", 100), Fixture.item("b", shop: "S1", category: "food", 100),
        ])
        #expect(choose([shopCent, freeDigital], digitalFirst).discountCents == 100)
        let foodFirst = Fixture.order([
            Fixture.item("b", shop: "S1", category: "food", 100), Fixture.item("a", shop: "S1", category: "digital", 100),
        ])
        #expect(choose([shopCent, freeDigital], foodFirst).discountCents == 101)
    }

    @Test func spreadingIsExactForHugeAmounts() {
        // 1e14 + 1 cents over 6e14 and 4e14: 6e13 + 0.6 and 4e13 + 0.4, the leftover cent to the
        // larger remainder (the digital item), then FREE on what remains of the digital item.
        let order = Fixture.order([
            Fixture.item("a", shop: "S1", category: "digital", 600_000_000_000_000),
            Fixture.item("b", shop: "S1", category: "food", 400_000_000_000_000),
        ])
        let coupons = [
            Fixture.coupon("s", discount: 100_000_000_000_001, level: .shop, shop: "S1"),
            Fixture.coupon("f", .free, level: .category, categories: ["digital"]),
        ]
        let best = choose(coupons, order)
        #expect(best.couponIds == ["s", "f"])
        #expect(best.explain.map(\.discountCents) == [100_000_000_000_001, 539_999_999_999_999])
        #expect(best.discountCents == 640_000_000_000_000)
    }

    @Test func exclusiveLosesToABetterStack() {
        let exclusive = Fixture.coupon("x", discount: 30_000, level: .platform, stacking: .exclusive)
        let best = choose(taobaoMatrix() + [exclusive], oneThousandYuan)
        #expect(best.couponIds == ["shop", "category", "platform"])
        #expect(best.discountCents == 32_000)
        #expect(best.explain[3].reason == "STACKING_CONFLICT")
        #expect(best.explain[3].discountCents == 0)
    }

    @Test func exclusiveBeatsAWorseStackAndCombinesWithNothing() {
        let exclusive = Fixture.coupon("x", discount: 35_000, level: .shop, shop: "S1", stacking: .exclusive)
        let best = choose(taobaoMatrix() + [exclusive], oneThousandYuan)
        #expect(best.couponIds == ["x"])
        #expect(best.discountCents == 35_000)
        #expect(best.payableCents == 65_000)
        #expect(best.explain.map(\.reason) == ["NOT_CHOSEN", "STACKING_CONFLICT", "STACKING_CONFLICT", "APPLIED"])
    }

    @Test func twoExclusivesAreNeverCombined() {
        let coupons = [
            Fixture.coupon("x1", discount: 5_000, level: .shop, shop: "S1", stacking: .exclusive),
            Fixture.coupon("x2", discount: 6_000, stacking: .exclusive),
        ]
        let best = choose(coupons, oneThousandYuan)
        #expect(best.couponIds == ["x2"])
        #expect(best.discountCents == 6_000)
        #expect(best.explain.map(\.reason) == ["STACKING_CONFLICT", "APPLIED"])
    }

    @Test func thresholdOnTheDiscountedAmountChangesTheAnswer() {
        let shop = Fixture.coupon("s", discount: 10_000, level: .shop, shop: "S1")
        let onOriginal = Fixture.coupon("p", threshold: 95_000, discount: 15_000)
        #expect(choose([shop, onOriginal], oneThousandYuan).discountCents == 25_000)
        // Counted after the shop's 100.00, 900.00 is below 950.00: the two no longer stack, and
        // the platform coupon alone (150.00) beats the shop coupon alone (100.00).
        let onDiscounted = Fixture.coupon("p", threshold: 95_000, discount: 15_000, onDiscounted: true)
        let best = choose([shop, onDiscounted], oneThousandYuan)
        #expect(best.couponIds == ["p"])
        #expect(best.discountCents == 15_000)
        #expect(best.explain.map(\.reason) == ["STACKING_CONFLICT", "APPLIED"])
    }

    @Test func tiesPreferTheEarlierExpiryThenTheLowerId() {
        let late = Fixture.coupon("a", discount: 1_000, expires: Fixture.expiry)
        let early = Fixture.coupon("b", discount: 1_000, expires: Fixture.expiry - 1)
        #expect(choose([late, early], oneThousandYuan).couponIds == ["b"])
        #expect(choose([early, late], oneThousandYuan).couponIds == ["b"])
        let sameTime = Fixture.coupon("b", discount: 1_000, expires: Fixture.expiry)
        #expect(choose([sameTime, late], oneThousandYuan).couponIds == ["a"])
        #expect(choose([late, sameTime], oneThousandYuan).couponIds == ["a"])
        // Across levels: shop 10.00 expiring later vs platform 10.00 expiring sooner.
        let shop = Fixture.coupon("s", discount: 1_000, level: .shop, shop: "S1", stacking: .exclusive, expires: Fixture.expiry)
        let platform = Fixture.coupon("p", discount: 1_000, stacking: .exclusive, expires: Fixture.expiry - 5)
        #expect(choose([shop, platform], oneThousandYuan).couponIds == ["p"])
    }

    @Test func explainHasOneEntryPerCouponInOrder() {
        let coupons = [
            Fixture.coupon("used", discount: 100, status: .used),
            Fixture.coupon("shop-small", discount: 1_000, level: .shop, shop: "S1"),
            Fixture.coupon("late", discount: 100, expires: Fixture.now),
            Fixture.coupon("shop-big", discount: 3_000, level: .shop, shop: "S1"),
            Fixture.coupon("elsewhere", discount: 100, level: .shop, shop: "S9"),
            Fixture.coupon("too-high", threshold: 200_000, discount: 30_000),
            Fixture.coupon("revoked", discount: 100, status: .revoked),
            Fixture.coupon("platform", discount: 500),
            Fixture.coupon("nothing", .discount, rate: 10_000),
            Fixture.coupon("broken", .discount),
        ]
        let best = choose(coupons, oneThousandYuan)
        #expect(best.couponIds == ["shop-big", "platform"])
        #expect(best.discountCents == 3_500)
        #expect(best.explain.map(\.couponId) == coupons.map(\.couponId))
        #expect(
            best.explain.map(\.reason) == [
                "ALREADY_USED", "NOT_CHOSEN", "COUPON_EXPIRED", "APPLIED", "NOT_APPLICABLE", "THRESHOLD_NOT_MET", "COUPON_REVOKED",
                "APPLIED", "NOT_APPLICABLE", "INVALID_ARGUMENT",
            ])
        #expect(best.explain.map(\.applied) == [false, false, false, true, false, false, false, true, false, false])
        #expect(best.explain.allSatisfy { !$0.message.isEmpty })
        #expect(best.explain[4].message == "no item of shop S9")
    }

    @Test func emptyWalletAndEmptyOrder() {
        #expect(choose([], oneThousandYuan) == BestCombination(couponIds: [], discountCents: 0, payableCents: 100_000, explain: []))
        let best = choose([Fixture.coupon("zero", discount: 500)], Fixture.order(0))
        #expect(best.couponIds.isEmpty)
        #expect(best.payableCents == 0)
        #expect(best.explain.map(\.reason) == ["NOT_APPLICABLE"])
    }

    @Test func anInvalidOrderChoosesNothing() {
        let order = OrderSummary(amountCents: 100_000, items: [Fixture.item("a", 50_000)])
        let best = choose(taobaoMatrix(), order)
        #expect(best.couponIds.isEmpty)
        #expect(best.discountCents == 0)
        #expect(best.payableCents == 100_000)
        #expect(best.explain.map(\.reason) == ["INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT"])
    }

    @Test func anOrderWithoutItemsTakesOnlyPlatformCoupons() {
        let best = choose(taobaoMatrix(), Fixture.order(100_000))
        #expect(best.couponIds == ["platform"])
        #expect(best.explain.map(\.reason) == ["NOT_APPLICABLE", "NOT_APPLICABLE", "APPLIED"])
    }

    @Test func matchesTheBruteForceOnRandomWallets() {
        var random = DiscountRandom(seed: 1_111)
        var stacked = 0
        var exclusiveWins = 0
        for round in 0..<4_000 {
            let (coupons, order) = randomCase(&random)
            let best = choose(coupons, order)
            let naive = NaiveBest.choose(coupons, order, now: Fixture.now)
            #expect(best.discountCents == naive.total, "round \(round)")
            #expect(best.couponIds == naive.ids, "round \(round)")
            #expect(best.payableCents == order.amountCents - naive.total, "round \(round)")
            #expect(best.explain.map(\.couponId) == coupons.map(\.couponId), "round \(round)")
            #expect(Set(best.explain.filter(\.applied).map(\.couponId)) == Set(naive.ids), "round \(round)")
            #expect(best.explain.filter(\.applied).reduce(0) { $0 + $1.discountCents } == naive.total, "round \(round)")
            if best.couponIds.count > 1 { stacked += 1 }
            if best.couponIds.count == 1, coupons.first(where: { $0.couponId == best.couponIds[0] })?.stacking == .exclusive { exclusiveWins += 1 }
        }
        // The generator must exercise stacking and exclusivity, not just trivial wallets.
        #expect(stacked > 300)
        #expect(exclusiveWins > 100)
    }
}

/// One random wallet (0…8 coupons over shops S1/S2 and categories digital/food/books) and order.
private func randomCase(_ random: inout DiscountRandom) -> ([CouponTerms], OrderSummary) {
    let shops = ["S1", "S2"]
    let categories = ["digital", "food", "books"]
    // One case in four uses cent-sized amounts, where leftover cents and their ties decide the answer.
    let tiny = Int.random(in: 0..<4, using: &random) == 0
    let itemCount = Int.random(in: tiny ? 1...4 : 0...4, using: &random)
    var items: [OrderItem] = []
    for index in 0..<itemCount {
        let cents: Int64 =
            tiny
            ? [1, 2, 3, 100, 100].randomElement(using: &random)!
            : [0, 1, 99, 19_900, Int64.random(in: 0...60_000, using: &random), Int64.random(in: 0...60_000, using: &random)]
                .randomElement(using: &random)!
        items.append(
            Fixture.item("i\(index)", shop: shops.randomElement(using: &random)!, category: categories.randomElement(using: &random)!, cents))
    }
    let order = items.isEmpty ? Fixture.order(Int64.random(in: 0...150_000, using: &random)) : Fixture.order(items)
    var ids = Array(0..<20).map { "k\($0)" }
    ids.shuffle(using: &random)
    var coupons: [CouponTerms] = []
    for index in 0..<Int.random(in: 0...8, using: &random) {
        let type = CouponType.allCases.randomElement(using: &random)!
        let level = ScopeLevel.allCases.randomElement(using: &random)!
        let status: CouponStatus = Int.random(in: 0..<10, using: &random) < 8 ? .unused : CouponStatus.allCases.randomElement(using: &random)!
        let categoryCount = Int.random(in: 1...2, using: &random)
        coupons.append(
            Fixture.coupon(
                ids[index], type,
                threshold: tiny
                    ? [0, 0, 1, 100, 199].randomElement(using: &random)!
                    : [0, 0, 100, 19_900, 20_000, 50_000, Int64.random(in: 0...100_000, using: &random)].randomElement(using: &random)!,
                discount: tiny
                    ? Int64.random(in: 1...5, using: &random)
                    : [1, 500, 1_000, 2_000, Int64.random(in: 1...40_000, using: &random)].randomElement(using: &random)!,
                rate: [5_000, 8_000, 8_500, 9_000, Int32.random(in: 1...9_999, using: &random)].randomElement(using: &random)!,
                cap: Bool.random(using: &random)
                    ? nil : [1, 1_000, 5_000, Int64.random(in: 0...30_000, using: &random)].randomElement(using: &random)!,
                level: level, shop: shops.randomElement(using: &random)!,
                categories: Array(categories.shuffled(using: &random).prefix(categoryCount)),
                stacking: Int.random(in: 0..<5, using: &random) == 0 ? .exclusive : .stackable, onDiscounted: Bool.random(using: &random),
                expires: [Fixture.now, Fixture.now + 1, Fixture.now + 2, Fixture.now + 3].randomElement(using: &random)!, status: status))
    }
    return (coupons, order)
}

/// The reference answer by brute force: every subset of the wallet, at most one coupon per level, an
/// EXCLUSIVE coupon only alone, applied SHOP → CATEGORY → PLATFORM on per-item remainders, each
/// amount spread over its scope with the largest-remainder rule; the largest total wins, ties to
/// the earlier sorted expiries, then the lower sorted ids.
private enum NaiveBest {
    struct Line {
        var shop: String?
        var category: String?
        var amount: Int64
    }

    static func choose(_ coupons: [CouponTerms], _ order: OrderSummary, now: Int64) -> (ids: [String], total: Int64) {
        let lines =
            order.items.isEmpty
            ? [Line(shop: nil, category: nil, amount: order.amountCents)]
            : order.items.map { Line(shop: $0.shopId, category: $0.category, amount: $0.amountCents) }
        var best: (ids: [String], total: Int64, expiries: [Int64], sortedIds: [String]) = ([], 0, [], [])
        for mask in 0..<(1 << coupons.count) {
            let subset = coupons.indices.filter { mask & (1 << $0) != 0 }.map { coupons[$0] }
            guard Set(subset.map(\.level)).count == subset.count else { continue }
            guard subset.count <= 1 || subset.allSatisfy({ $0.stacking == .stackable }) else { continue }
            let ordered = subset.sorted { rank($0.level) < rank($1.level) }
            guard let total = apply(ordered, to: lines, now: now) else { continue }
            let expiries = ordered.map(\.expiresMilliseconds).sorted()
            let sortedIds = ordered.map(\.couponId).sorted()
            let better =
                total > best.total
                || (total == best.total
                    && (expiries.lexicographicallyPrecedes(best.expiries)
                        || (expiries == best.expiries && sortedIds.lexicographicallyPrecedes(best.sortedIds))))
            if better { best = (ordered.map(\.couponId), total, expiries, sortedIds) }
        }
        return (best.ids, best.total)
    }

    static func rank(_ level: ScopeLevel) -> Int {
        switch level {
        case .shop: 0
        case .category: 1
        case .platform: 2
        }
    }

    /// The total taken off, or nil when a coupon of the combination does not apply or takes nothing.
    static func apply(_ coupons: [CouponTerms], to lines: [Line], now: Int64) -> Int64? {
        var remaining = lines.map(\.amount)
        var total: Int64 = 0
        for coupon in coupons {
            guard coupon.status == .unused, now < coupon.expiresMilliseconds else { return nil }
            let scope = lines.indices.filter { index in
                switch coupon.level {
                case .platform: true
                case .shop: lines[index].shop != nil && lines[index].shop == coupon.shopId
                case .category: lines[index].category.map { coupon.categories.contains($0) } ?? false
                }
            }
            guard !scope.isEmpty else { return nil }
            let original = scope.reduce(Int64(0)) { $0 + lines[$1].amount }
            let left = scope.reduce(Int64(0)) { $0 + remaining[$1] }
            guard (coupon.thresholdOnDiscounted ? left : original) >= coupon.thresholdCents else { return nil }
            var off: Int64
            switch coupon.type {
            case .cash, .exchange: off = coupon.discountCents
            case .discount: off = (10_000 - Int64(coupon.rateBasisPoints!)) * left / 10_000
            case .free: off = left
            }
            if coupon.type == .discount || coupon.type == .free, let cap = coupon.maxDiscountCents { off = min(off, cap) }
            off = min(off, left)
            guard off > 0 else { return nil }
            // Spread `off` over the scope in proportion to what remains of each line.
            var shares = scope.map { off * remaining[$0] / left }
            var leftover = off - shares.reduce(0, +)
            let byRemainder = scope.indices.sorted { a, b in
                let ra = off * remaining[scope[a]] % left
                let rb = off * remaining[scope[b]] % left
                return ra != rb ? ra > rb : a < b
            }
            for position in byRemainder where leftover > 0 {
                shares[position] += 1
                leftover -= 1
            }
            for (position, index) in scope.enumerated() {
                remaining[index] -= shares[position]
                precondition(remaining[index] >= 0)
            }
            total += off
        }
        return total
    }
}
