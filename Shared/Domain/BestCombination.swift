import Wire

/// The set of a user's coupons that takes the most off one order (Shared/DESIGN.md §3, the Taobao
/// matrix). Pure: the rule engine answers `best_combination` with `choose(_:)`.
///
/// The contract:
/// - A coupon is a candidate when it would apply alone (`Discounts`' checks: terms, status and
///   expiry, scope, threshold against its scope's original amount) and would take more than 0 off.
///   Every other coupon is skipped with the name of the error that refuses it (a coupon that would
///   take nothing off is NOT_APPLICABLE).
/// - A combination holds at most one coupon per level, applied SHOP, then CATEGORY, then PLATFORM.
///   An EXCLUSIVE coupon is only ever chosen alone.
/// - A coupon's threshold is checked against its scope's original eligible amount, or, when it has
///   `thresholdOnDiscounted`, against what remains of its scope after the earlier levels. Its amount
///   off is computed on, and capped by, what remains of its scope. Each applied amount is spread over
///   the items of its scope in proportion to their remaining amounts: ⌊amount × remaining ÷ total⌋
///   each, then the cents left over one by one to the largest remainders (ties: the earlier item), so
///   no item's remainder goes negative. An order without items is one line only PLATFORM covers.
/// - Every coupon of a combination must take more than 0 off in it.
/// - The answer has the largest total; among equal totals, the one whose sorted list of expiry times
///   is lexicographically smallest (a shorter list that is a prefix of another comes first), then the
///   one whose sorted list of coupon ids is smallest (String order), then the smallest sorted list of
///   positions in the request.
/// - `explain` has one entry per coupon of the request, in its order: APPLIED with its amount off in
///   the answer; else the refusal's error name; else NOT_CHOSEN when the answer holds another coupon
///   of its level (for an EXCLUSIVE coupon: when the answer is another EXCLUSIVE coupon of its
///   level); else STACKING_CONFLICT (an EXCLUSIVE coupon that lost to a stack or to an EXCLUSIVE
///   coupon of another level, a coupon beside an EXCLUSIVE answer, or one that adds nothing to the
///   answer).
/// - An invalid order (`Discounts.orderProblem`) chooses nothing and explains every coupon with
///   INVALID_ARGUMENT.
///
/// Cost: after one pass over the wallet, the search is exhaustive over (shop candidates + none) ×
/// (category candidates + none) × (platform candidates + none) plus the EXCLUSIVE candidates alone.
/// Only the SHOP amount needs spreading over items (the PLATFORM scope is the whole order, so what
/// remains of it is the amount minus the earlier discounts); the inner loop is integer arithmetic on
/// precomputed candidates, without allocation.
public enum BestCombinations {
    /// Coupons of one request: coupon-center sends at most 200 of a wallet. The search is cubic in
    /// the count per level, so an absurd count is refused whole rather than searched.
    public static let maxCoupons = 1_000

    /// The rule engine's answer to `best_combination`: `.invalidArgument` for a request too large to
    /// search, else `choose(_:)` (which explains a coupon or an order it cannot price, per coupon).
    public static func respond(to request: BestCombinationRequest) throws(ServiceError) -> BestCombination {
        guard request.coupons.count <= maxCoupons else {
            throw ServiceError(.invalidArgument, "coupons: \(request.coupons.count) sent, at most \(maxCoupons) per request")
        }
        return choose(request)
    }

    public static func choose(_ request: BestCombinationRequest) -> BestCombination {
        let order = request.order
        let coupons = request.coupons
        if let problem = Discounts.orderProblem(order) {
            return BestCombination(
                couponIds: [], discountCents: 0, payableCents: max(order.amountCents, 0),
                explain: coupons.map {
                    CouponExplanation(couponId: $0.couponId, applied: false, reason: problem.code.name, discountCents: 0, message: problem.message)
                })
        }

        // One pass over the wallet: refusals, and candidates with the items of their scope.
        var refusals = [ServiceError?](repeating: nil, count: coupons.count)
        var candidates: [Candidate] = []
        candidates.reserveCapacity(coupons.count)
        var scopeItems: [Int32] = []
        var shops: [Int32] = []
        var categories: [Int32] = []
        var platforms: [Int32] = []
        var exclusives: [Int32] = []
        for (index, coupon) in coupons.enumerated() {
            let start = scopeItems.count
            let collect = coupon.level == .shop || coupon.level == .category
            let evaluation = Discounts.evaluate(coupon, in: order, nowMilliseconds: request.nowMilliseconds) { item in
                if collect { scopeItems.append(Int32(truncatingIfNeeded: item)) }
            }
            switch evaluation {
            case .refused(let refusal, _):
                scopeItems.removeSubrange(start...)
                refusals[index] = refusal
            case .applies(let eligible, let discount):
                guard discount > 0 else {
                    scopeItems.removeSubrange(start...)
                    refusals[index] = ServiceError(.couponNotApplicable, "it would take nothing off this order")
                    continue
                }
                let number = Int32(truncatingIfNeeded: candidates.count)
                candidates.append(
                    Candidate(
                        index: index, level: coupon.level, exclusive: coupon.stacking == .exclusive, off: AmountOff(coupon),
                        threshold: coupon.thresholdCents, onDiscounted: coupon.thresholdOnDiscounted, expiry: coupon.expiresMilliseconds,
                        rank: 0, eligible: eligible, alone: discount, scopeStart: Int32(truncatingIfNeeded: start),
                        scopeEnd: Int32(truncatingIfNeeded: scopeItems.count)))
                if coupon.stacking == .exclusive {
                    exclusives.append(number)
                } else {
                    switch coupon.level {
                    case .shop: shops.append(number)
                    case .category: categories.append(number)
                    case .platform: platforms.append(number)
                    }
                }
            }
        }
        // Ranks of the ids, so that ties compare integers (equal ids share a rank).
        if candidates.count > 1 {
            let byId = candidates.indices.sorted { coupons[candidates[$0].index].couponId < coupons[candidates[$1].index].couponId }
            var rank: Int32 = 0
            for (position, number) in byId.enumerated() {
                if position > 0, coupons[candidates[byId[position - 1]].index].couponId != coupons[candidates[number].index].couponId {
                    rank += 1
                }
                candidates[number].rank = rank
            }
        }

        let best = search(
            candidates: candidates, scopeItems: scopeItems, shops: shops, categories: categories, platforms: platforms,
            exclusives: exclusives, order: order)
        return answer(best, candidates: candidates, refusals: refusals, request: request)
    }

    /// A coupon that would apply alone, reduced to integers.
    struct Candidate {
        var index: Int
        var level: ScopeLevel
        var exclusive: Bool
        var off: AmountOff
        var threshold: Int64
        var onDiscounted: Bool
        var expiry: Int64
        var rank: Int32
        /// The original amount of its scope, and what it takes off alone.
        var eligible: Int64
        var alone: Int64
        /// Its covered items, `scopeItems[scopeStart..<scopeEnd]` (empty for PLATFORM).
        var scopeStart: Int32
        var scopeEnd: Int32
    }

    /// Up to three candidates (−1 = none) and their amounts off, in level order.
    struct Combination {
        var members: (Int32, Int32, Int32) = (-1, -1, -1)
        var parts: (Int64, Int64, Int64) = (0, 0, 0)
        var total: Int64 = 0
    }

    static func search(
        candidates: [Candidate], scopeItems: [Int32], shops: [Int32], categories: [Int32], platforms: [Int32], exclusives: [Int32],
        order: OrderSummary
    ) -> Combination {
        var best = Combination()
        func consider(_ members: (Int32, Int32, Int32), _ parts: (Int64, Int64, Int64)) {
            let total = parts.0 + parts.1 + parts.2
            if total > best.total || (total == best.total && precedes(members, best.members, candidates)) {
                best = Combination(members: members, parts: parts, total: total)
            }
        }
        for number in exclusives {
            consider((number, -1, -1), (candidates[Int(number)].alone, 0, 0))
        }
        let amount = order.amountCents
        let weights = order.items.isEmpty ? [amount] : order.items.map(\.amountCents)
        var spread = [Int64](repeating: 0, count: weights.count)
        var scratch: [(remainder: Int64, item: Int32)] = []
        for shopSlot in -1..<shops.count {
            let shop: Int32 = shopSlot < 0 ? -1 : shops[shopSlot]
            var shopOff: Int64 = 0
            if shop >= 0 {
                let candidate = candidates[Int(shop)]
                shopOff = candidate.alone
                if !categories.isEmpty {
                    Allocation.spread(
                        shopOff, over: scopeItems[Int(candidate.scopeStart)..<Int(candidate.scopeEnd)], weights: weights,
                        total: candidate.eligible, into: &spread, scratch: &scratch)
                }
            }
            for categorySlot in -1..<categories.count {
                let category: Int32 = categorySlot < 0 ? -1 : categories[categorySlot]
                var categoryOff: Int64 = 0
                if category >= 0 {
                    let candidate = candidates[Int(category)]
                    var remaining = candidate.eligible
                    if shop >= 0 {
                        for item in scopeItems[Int(candidate.scopeStart)..<Int(candidate.scopeEnd)] { remaining -= spread[Int(item)] }
                    }
                    guard (candidate.onDiscounted ? remaining : candidate.eligible) >= candidate.threshold else { continue }
                    categoryOff = candidate.off(remaining)
                    guard categoryOff > 0 else { continue }
                }
                if shop >= 0 || category >= 0 { consider((shop, category, -1), (shopOff, categoryOff, 0)) }
                let remaining = amount - shopOff - categoryOff
                for platform in platforms {
                    let candidate = candidates[Int(platform)]
                    guard (candidate.onDiscounted ? remaining : amount) >= candidate.threshold else { continue }
                    let platformOff = candidate.off(remaining)
                    guard platformOff > 0 else { continue }
                    let total = shopOff + categoryOff + platformOff
                    if total >= best.total { consider((shop, category, platform), (shopOff, categoryOff, platformOff)) }
                }
            }
            if shop >= 0 {
                let candidate = candidates[Int(shop)]
                for item in scopeItems[Int(candidate.scopeStart)..<Int(candidate.scopeEnd)] { spread[Int(item)] = 0 }
            }
        }
        return best
    }

    /// Whether combination `a` wins a tie against `b`: earlier sorted expiries, then lower sorted id
    /// ranks, then lower sorted positions (a list that is a prefix of the other comes first).
    static func precedes(_ a: (Int32, Int32, Int32), _ b: (Int32, Int32, Int32), _ candidates: [Candidate]) -> Bool {
        func key(_ members: (Int32, Int32, Int32), _ value: (Candidate) -> Int64) -> SortedTriple {
            var key = SortedTriple()
            if members.0 >= 0 { key.insert(value(candidates[Int(members.0)])) }
            if members.1 >= 0 { key.insert(value(candidates[Int(members.1)])) }
            if members.2 >= 0 { key.insert(value(candidates[Int(members.2)])) }
            return key
        }
        let expiries = (key(a) { $0.expiry }, key(b) { $0.expiry })
        if expiries.0 != expiries.1 { return expiries.0 < expiries.1 }
        let ranks = (key(a) { Int64($0.rank) }, key(b) { Int64($0.rank) })
        if ranks.0 != ranks.1 { return ranks.0 < ranks.1 }
        return key(a) { Int64($0.index) } < key(b) { Int64($0.index) }
    }

    /// Up to three values kept sorted, compared lexicographically (a prefix comes first).
    struct SortedTriple: Equatable, Comparable {
        var count = 0
        var values: (Int64, Int64, Int64) = (0, 0, 0)

        mutating func insert(_ value: Int64) {
            switch count {
            case 0: values.0 = value
            case 1: if value < values.0 { values = (value, values.0, 0) } else { values.1 = value }
            default:
                if value < values.0 {
                    values = (value, values.0, values.1)
                } else if value < values.1 {
                    values = (values.0, value, values.1)
                } else {
                    values.2 = value
                }
            }
            count += 1
        }

        func at(_ position: Int) -> Int64 { position == 0 ? values.0 : position == 1 ? values.1 : values.2 }

        static func == (lhs: SortedTriple, rhs: SortedTriple) -> Bool {
            guard lhs.count == rhs.count else { return false }
            for position in 0..<lhs.count where lhs.at(position) != rhs.at(position) { return false }
            return true
        }

        static func < (lhs: SortedTriple, rhs: SortedTriple) -> Bool {
            for position in 0..<min(lhs.count, rhs.count) where lhs.at(position) != rhs.at(position) {
                return lhs.at(position) < rhs.at(position)
            }
            return lhs.count < rhs.count
        }
    }

    static func answer(_ best: Combination, candidates: [Candidate], refusals: [ServiceError?], request: BestCombinationRequest)
        -> BestCombination
    {
        let coupons = request.coupons
        var chosen: [(candidate: Candidate, off: Int64)] = []
        for (member, off) in [(best.members.0, best.parts.0), (best.members.1, best.parts.1), (best.members.2, best.parts.2)] where member >= 0 {
            chosen.append((candidates[Int(member)], off))
        }
        let chosenIds = chosen.map { coupons[$0.candidate.index].couponId }
        let chosenText = chosenIds.joined(separator: ", ")
        var applied = [Int64?](repeating: nil, count: coupons.count)
        for entry in chosen { applied[entry.candidate.index] = entry.off }
        var alone = [Int64](repeating: 0, count: coupons.count)
        for candidate in candidates { alone[candidate.index] = candidate.alone }
        let answerIsExclusive = chosen.count == 1 && chosen[0].candidate.exclusive

        var explain: [CouponExplanation] = []
        explain.reserveCapacity(coupons.count)
        for (index, coupon) in coupons.enumerated() {
            let id = coupon.couponId
            if let off = applied[index] {
                explain.append(
                    CouponExplanation(
                        couponId: id, applied: true, reason: "APPLIED", discountCents: off,
                        message: "takes \(Money(cents: off).yuanText) off at the \(coupon.level.rawValue) level"))
            } else if let refusal = refusals[index] {
                explain.append(CouponExplanation(couponId: id, applied: false, reason: refusal.code.name, discountCents: 0, message: refusal.message))
            } else if let rival = chosen.first(where: { $0.candidate.level == coupon.level }),
                coupon.stacking == .stackable || answerIsExclusive
            {
                let rivalId = coupons[rival.candidate.index].couponId
                explain.append(
                    CouponExplanation(
                        couponId: id, applied: false, reason: "NOT_CHOSEN", discountCents: 0,
                        message: "at most one \(coupon.level.rawValue) coupon: \(rivalId) makes a better combination"))
            } else {
                let aloneText = Money(cents: alone[index]).yuanText
                let message: String
                if coupon.stacking == .exclusive {
                    message =
                        "EXCLUSIVE: combines with nothing; alone it takes \(aloneText) off, and \(chosenText) takes \(Money(cents: best.total).yuanText) off"
                } else if answerIsExclusive {
                    message = "the chosen coupon \(chosenText) is EXCLUSIVE and combines with nothing"
                } else {
                    message = "takes \(aloneText) off alone, but adds nothing to the better combination \(chosenText)"
                }
                explain.append(
                    CouponExplanation(couponId: id, applied: false, reason: ErrorCode.stackingConflict.name, discountCents: 0, message: message))
            }
        }
        return BestCombination(
            couponIds: chosenIds, discountCents: best.total, payableCents: request.order.amountCents - best.total, explain: explain)
    }
}

/// Spreading an amount over items in proportion to their amounts, in whole cents.
enum Allocation {
    /// Adds to `shares[i]`, for each `i` in `items`, its part of `amount`: ⌊amount × weights[i] ÷
    /// total⌋, then the cents left over, one each, to the largest remainders (ties: the earlier item).
    /// Requires `total` = Σ weights over `items` and 0 ≤ `amount` ≤ `total`; then each part is at most
    /// its weight and the parts add up to `amount`. Exact for any Int64 amounts.
    static func spread(
        _ amount: Int64, over items: ArraySlice<Int32>, weights: [Int64], total: Int64, into shares: inout [Int64],
        scratch: inout [(remainder: Int64, item: Int32)]
    ) {
        guard amount > 0, total > 0 else { return }
        if amount >= total {
            for item in items { shares[Int(item)] += weights[Int(item)] }
            return
        }
        scratch.removeAll(keepingCapacity: true)
        var given: Int64 = 0
        for item in items {
            let weight = weights[Int(item)]
            let quotient: Int64
            let remainder: Int64
            let (product, overflow) = amount.multipliedReportingOverflow(by: weight)
            if !overflow {
                quotient = product / total
                remainder = product % total
            } else {
                let wide = amount.multipliedFullWidth(by: weight)
                (quotient, remainder) = total.dividingFullWidth(wide)
            }
            shares[Int(item)] += quotient
            given += quotient
            if remainder > 0 { scratch.append((remainder, item)) }
        }
        var left = amount - given
        guard left > 0 else { return }
        if scratch.count > 1 {
            scratch.sort { $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.item < $1.item }
        }
        for entry in scratch {
            guard left > 0 else { break }
            shares[Int(entry.item)] += 1
            left -= 1
        }
    }
}
