import Wire

/// What one coupon takes off one order (Shared/DESIGN.md §2–3). Pure and exact: every amount is an
/// integer number of cents, never a binary float. The rule engine answers `discount_quote` with
/// `quote(_:)`; `BestCombinations` builds on the same helpers.
///
/// The contract, in the order the checks run:
/// 1. The order must be valid (`orderProblem`): amount in 0…`Money.maximum`, no negative item, and
///    with items, their amounts add up to the order amount. Else `.invalidArgument`.
/// 2. The coupon's terms must be coherent (`termsProblem`), else `.invalidArgument`.
/// 3. Status and time (`statusProblem`): USED → `.couponAlreadyUsed`, REVOKED → `.couponRevoked`,
///    EXPIRED or `now >= expiresMilliseconds` → `.couponExpired`.
/// 4. Scope (`eligibleCents(for:in:)`): PLATFORM covers every item (the whole amount when the order
///    has no items), SHOP the items of its shop, CATEGORY the items in its categories. No covered
///    item → `.couponNotApplicable`.
/// 5. Threshold: the eligible amount must be at least `thresholdCents` (0 = no threshold), else
///    `.thresholdNotMet`.
/// 6. Amount off (`discount(for:eligible:)`), never more than the eligible amount; payable is the
///    order amount minus the discount, never negative.
public enum Discounts {
    /// A whole, in basis points: a DISCOUNT coupon's `rateBasisPoints` is the share still paid
    /// (8500 = 8.5折 = 15% off).
    public static let fullRate: Int64 = 10_000
    /// Items of one order: what coupon-center accepts from a client (`items: at most 500`).
    public static let maxItems = 500

    /// Why `order` cannot be priced (`.invalidArgument`), or nil when it can: the amount must be in
    /// 0…`Money.maximum`, no item may be negative, and when there are items (at most `maxItems`) their
    /// amounts must add up to `amountCents` exactly.
    public static func orderProblem(_ order: OrderSummary) -> ServiceError? {
        guard order.amountCents >= 0 else {
            return ServiceError(.invalidArgument, "the order amount \(order.amountCents) cents is negative")
        }
        guard order.amountCents <= Money.maximum.cents else {
            return ServiceError(.invalidArgument, "the order amount \(order.amountCents) cents is too large")
        }
        guard !order.items.isEmpty else { return nil }
        guard order.items.count <= maxItems else {
            return ServiceError(.invalidArgument, "the order has \(order.items.count) items, at most \(maxItems) are priced")
        }
        var sum: Int64 = 0
        for item in order.items {
            guard item.amountCents >= 0 else {
                return ServiceError(.invalidArgument, "item \(item.sku) has a negative amount (\(item.amountCents) cents)")
            }
            let (next, overflow) = sum.addingReportingOverflow(item.amountCents)
            guard !overflow, next <= Money.maximum.cents else {
                return ServiceError(.invalidArgument, "the items add up to more than the order amount \(Money(cents: order.amountCents).yuanText)")
            }
            sum = next
        }
        guard sum == order.amountCents else {
            return ServiceError(
                .invalidArgument,
                "the items add up to \(Money(cents: sum).yuanText), not the order amount \(Money(cents: order.amountCents).yuanText)")
        }
        return nil
    }

    /// Why `coupon`'s terms are incoherent (`.invalidArgument`), or nil: threshold, amount and cap
    /// in 0…`Money.maximum`; a DISCOUNT coupon has a rate in 0…10000; a SHOP coupon names its shop and
    /// a CATEGORY coupon 1…`TemplateRules.maxListEntries` categories.
    public static func termsProblem(_ coupon: CouponTerms) -> ServiceError? {
        func fail(_ message: String) -> ServiceError { ServiceError(.invalidArgument, "coupon \(coupon.couponId): \(message)") }
        guard coupon.thresholdCents >= 0 else { return fail("negative threshold") }
        guard coupon.thresholdCents <= Money.maximum.cents else { return fail("threshold too large") }
        if let cap = coupon.maxDiscountCents {
            guard cap >= 0 else { return fail("negative maxDiscount") }
            guard cap <= Money.maximum.cents else { return fail("maxDiscount too large") }
        }
        guard coupon.categories.count <= TemplateRules.maxListEntries else {
            return fail("at most \(TemplateRules.maxListEntries) categories")
        }
        switch coupon.type {
        case .cash, .exchange:
            guard coupon.discountCents >= 0 else { return fail("negative discount") }
            guard coupon.discountCents <= Money.maximum.cents else { return fail("discount too large") }
        case .discount:
            guard let rate = coupon.rateBasisPoints, rate >= 0, Int64(rate) <= fullRate else {
                return fail("a DISCOUNT coupon needs a rate between 0 and 10000 basis points")
            }
        case .free:
            break
        }
        switch coupon.level {
        case .shop:
            guard let shop = coupon.shopId, !shop.isEmpty else { return fail("a SHOP coupon needs a shopId") }
        case .category:
            guard !coupon.categories.isEmpty else { return fail("a CATEGORY coupon needs at least one category") }
        case .platform:
            break
        }
        return nil
    }

    /// Why `coupon` cannot be used at `nowMilliseconds` because of its state, or nil when it is
    /// UNUSED and `nowMilliseconds < expiresMilliseconds`.
    public static func statusProblem(_ coupon: CouponTerms, nowMilliseconds: Int64) -> ServiceError? {
        switch coupon.status {
        case .used: return ServiceError(.couponAlreadyUsed, "coupon \(coupon.couponId) is already used")
        case .revoked: return ServiceError(.couponRevoked, "coupon \(coupon.couponId) was revoked")
        case .expired: return ServiceError(.couponExpired, "coupon \(coupon.couponId) has expired")
        case .unused:
            guard nowMilliseconds < coupon.expiresMilliseconds else {
                return ServiceError(.couponExpired, "coupon \(coupon.couponId) expired at \(coupon.expiresMilliseconds) (now \(nowMilliseconds))")
            }
            return nil
        }
    }

    /// Whether `coupon`'s scope covers `item`: PLATFORM every item, SHOP the items of its shop,
    /// CATEGORY the items whose category is one of its categories.
    public static func covers(_ coupon: CouponTerms, _ item: OrderItem) -> Bool {
        switch coupon.level {
        case .platform: true
        case .shop: coupon.shopId.map { $0 == item.shopId } ?? false
        case .category: coupon.categories.contains(item.category)
        }
    }

    /// The amount of a valid `order` (see `orderProblem`) in `coupon`'s scope. An order without
    /// items is one line only PLATFORM coupons cover. Throws `.couponNotApplicable` when no item is
    /// in scope (an item of amount 0 in scope still counts: the eligible amount is then 0).
    public static func eligibleCents(for coupon: CouponTerms, in order: OrderSummary) throws(ServiceError) -> Int64 {
        try eligibleCents(for: coupon, in: order) { _ in }
    }

    /// As `eligibleCents(for:in:)`, calling `visit` with the index of each covered item (never for
    /// an order without items).
    static func eligibleCents(for coupon: CouponTerms, in order: OrderSummary, visit: (Int) -> Void) throws(ServiceError) -> Int64 {
        if order.items.isEmpty {
            guard coupon.level == .platform else { throw notApplicable(coupon) }
            return order.amountCents
        }
        var found = false
        var sum: Int64 = 0
        for (index, item) in order.items.enumerated() where covers(coupon, item) {
            found = true
            sum &+= item.amountCents
            visit(index)
        }
        guard found else { throw notApplicable(coupon) }
        return sum
    }

    static func notApplicable(_ coupon: CouponTerms) -> ServiceError {
        switch coupon.level {
        case .shop: ServiceError(.couponNotApplicable, "no item of shop \(coupon.shopId ?? "")")
        case .category: ServiceError(.couponNotApplicable, "no item in categories \(coupon.categories.joined(separator: ", "))")
        case .platform: ServiceError(.couponNotApplicable, "the order has nothing to discount")
        }
    }

    /// The amount `coupon` takes off `eligible` cents of its scope, in 0…`eligible` (negative
    /// `eligible` counts as 0). CASH and EXCHANGE: `discountCents`. DISCOUNT:
    /// ⌊(10000 − rate) × eligible / 10000⌋, rounded down to the cent (the merchant's favour), then
    /// capped by `maxDiscountCents` when set. FREE: the whole eligible amount, capped by
    /// `maxDiscountCents` when set. The threshold is not checked here. Exact for every Int64.
    public static func discount(for coupon: CouponTerms, eligible: Int64) -> Int64 {
        AmountOff(coupon)(eligible)
    }

    /// ⌊(10000 − rateBasisPoints) × eligible / 10000⌋ without overflow for any `eligible` ≥ 0
    /// (the rate is clamped to 0…10000): splitting eligible = q × 10000 + r gives exactly
    /// q × k + ⌊r × k / 10000⌋ with k = 10000 − rate, and neither product can overflow.
    public static func percentageOff(_ eligible: Int64, rateBasisPoints: Int64) -> Int64 {
        let off = fullRate - min(max(rateBasisPoints, 0), fullRate)
        let whole = max(eligible, 0)
        return (whole / fullRate) * off + (whole % fullRate) * off / fullRate
    }

    /// What one coupon takes off one order now; `refusal` nil when it applies. On a refusal the
    /// discount is 0, the payable is the order amount (0 for an order whose amount is negative) and
    /// `eligibleCents` is the scope's amount when it was known (threshold not met), else 0.
    /// `discount_quote_batch`: every quote of the batch, in order.
    public static func quote(_ batch: DiscountQuoteBatchRequest) throws(ServiceError) -> DiscountQuoteBatch {
        guard batch.quotes.count <= DiscountQuoteBatchRequest.maxQuotes else {
            throw ServiceError(.invalidArgument, "quotes: at most \(DiscountQuoteBatchRequest.maxQuotes) per batch")
        }
        return DiscountQuoteBatch(results: batch.quotes.map { quote($0) })
    }

    public static func quote(_ request: DiscountQuoteRequest) -> DiscountQuote {
        let order = request.order
        let payable = max(order.amountCents, 0)
        if let problem = orderProblem(order) {
            return DiscountQuote(refusal: problem, eligibleCents: 0, discountCents: 0, payableCents: payable)
        }
        switch evaluate(request.coupon, in: order, nowMilliseconds: request.nowMilliseconds, visit: { _ in }) {
        case .refused(let refusal, let eligible):
            return DiscountQuote(refusal: refusal, eligibleCents: eligible, discountCents: 0, payableCents: payable)
        case .applies(let eligible, let discount):
            return DiscountQuote(refusal: nil, eligibleCents: eligible, discountCents: discount, payableCents: order.amountCents - discount)
        }
    }

    /// The outcome of the checks 2–6 for one coupon alone (the order already validated).
    enum Evaluation {
        case refused(ServiceError, eligible: Int64)
        case applies(eligible: Int64, discount: Int64)
    }

    /// Checks 2–6 of the contract for `coupon` alone on a valid `order`, calling `visit` with each
    /// covered item's index while scanning (also when a later check refuses).
    static func evaluate(_ coupon: CouponTerms, in order: OrderSummary, nowMilliseconds: Int64, visit: (Int) -> Void) -> Evaluation {
        if let problem = termsProblem(coupon) { return .refused(problem, eligible: 0) }
        if let problem = statusProblem(coupon, nowMilliseconds: nowMilliseconds) { return .refused(problem, eligible: 0) }
        let eligible: Int64
        do {
            eligible = try eligibleCents(for: coupon, in: order, visit: visit)
        } catch {
            return .refused(error, eligible: 0)
        }
        guard eligible >= coupon.thresholdCents else {
            return .refused(
                ServiceError(
                    .thresholdNotMet,
                    "needs \(Money(cents: coupon.thresholdCents).yuanText) of eligible items, the order has \(Money(cents: eligible).yuanText)"),
                eligible: eligible)
        }
        return .applies(eligible: eligible, discount: discount(for: coupon, eligible: eligible))
    }
}

/// A coupon's amount-off rule reduced to integers, so the best-combination search evaluates it in
/// its inner loop without touching the coupon's strings.
struct AmountOff: Sendable {
    enum Kind: UInt8, Sendable { case fixed, rate, whole }
    var kind: Kind
    /// CASH/EXCHANGE: the amount; DISCOUNT: the rate paid in basis points; FREE: unused.
    var value: Int64
    /// `Int64.max` when the coupon has no cap (or its type ignores caps).
    var cap: Int64

    init(_ coupon: CouponTerms) {
        switch coupon.type {
        case .cash, .exchange:
            kind = .fixed
            value = coupon.discountCents
            cap = Int64.max
        case .discount:
            kind = .rate
            value = Int64(coupon.rateBasisPoints ?? Int32(Discounts.fullRate))
            cap = coupon.maxDiscountCents ?? Int64.max
        case .free:
            kind = .whole
            value = 0
            cap = coupon.maxDiscountCents ?? Int64.max
        }
    }

    /// The amount off `eligible`, in 0…max(eligible, 0).
    @inline(__always)
    func callAsFunction(_ eligible: Int64) -> Int64 {
        let off: Int64
        switch kind {
        case .fixed: off = value
        case .rate: off = min(Discounts.percentageOff(eligible, rateBasisPoints: value), cap)
        case .whole: off = min(eligible, cap)
        }
        return max(min(off, eligible), 0)
    }
}
