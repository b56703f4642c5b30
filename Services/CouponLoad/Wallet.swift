import Domain
import ServiceKit
import Wire

/// The 50-coupon wallet of the `best-engine` scenario: every type, all three scope levels, two
/// shops, three categories, some exclusive coupons, thresholds on the discounted amount, and an
/// order of six lines. Built from a fixed seed, so every run (and every machine) asks the same
/// question and the figures compare.
enum BenchWallet {
    static func request(nowMilliseconds now: Int64) -> BestCombinationRequest {
        var random = SeededRandom(seed: 50)
        let items = [
            OrderItem(sku: "a", category: "digital", shopId: "S1", amountCents: 120_000),
            OrderItem(sku: "b", category: "food", shopId: "S1", amountCents: 8_800),
            OrderItem(sku: "c", category: "digital", shopId: "S2", amountCents: 45_000),
            OrderItem(sku: "d", category: "books", shopId: "S2", amountCents: 6_600),
            OrderItem(sku: "e", category: "books", shopId: "S1", amountCents: 3_300),
            OrderItem(sku: "f", category: "food", shopId: "S2", amountCents: 12_000),
        ]
        let order = OrderSummary(amountCents: items.reduce(0) { $0 + $1.amountCents }, items: items)
        let coupons = (0..<50).map { index in
            let type: CouponType = [.cash, .cash, .discount, .free, .exchange].randomElement(using: &random)!
            return CouponTerms(
                couponId: "w\(index)", type: type, status: .unused,
                thresholdCents: [0, 19_900, 50_000, 100_000, 150_000].randomElement(using: &random)!,
                discountCents: Int64.random(in: 500...30_000, using: &random), rateBasisPoints: Int32.random(in: 7_000...9_500, using: &random),
                maxDiscountCents: type == .cash ? nil : Int64.random(in: 2_000...20_000, using: &random), level: ScopeLevel.allCases[index % 3],
                shopId: ["S1", "S2"].randomElement(using: &random)!,
                categories: [["digital"], ["food", "books"], ["books"]].randomElement(using: &random)!,
                stacking: index % 9 == 4 ? .exclusive : .stackable, thresholdOnDiscounted: index % 4 == 1,
                expiresMilliseconds: now + 7 * 86_400_000 + Int64(index % 5) * 3_600_000)
        }
        return BestCombinationRequest(coupons: coupons, order: order, nowMilliseconds: now)
    }

    /// Mean microseconds of `BestCombinations.choose` on this wallet in this process, over `rounds`
    /// calls after a warm-up: the rule engine's own compute time, without the wire.
    static func computeMicroseconds(_ request: BestCombinationRequest, rounds: Int = 2_000) -> Int64 {
        var checksum: Int64 = 0
        for _ in 0..<200 { checksum &+= BestCombinations.choose(request).discountCents }
        let elapsed = ContinuousClock().measure {
            for _ in 0..<rounds { checksum &+= BestCombinations.choose(request).discountCents }
        }
        precondition(checksum > 0, "the bench wallet must have a usable coupon")
        return elapsed.wholeMicroseconds / Int64(rounds)
    }
}
