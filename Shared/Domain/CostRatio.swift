import Wire

/// Coupon cost against order amount (Shared/DESIGN.md §2.5): discount ÷ order amount, kept as the
/// two integers and compared exactly (cross-multiplied in 128 bits), never as a float. Ceilings
/// and levels are basis points of the order amount (8% = 800).
public struct CostRatio: Sendable, Equatable {
    public var discountCents: Int64
    public var orderAmountCents: Int64

    public init(discountCents: Int64, orderAmountCents: Int64) {
        self.discountCents = discountCents
        self.orderAmountCents = orderAmountCents
    }

    /// The ratio in basis points rounded half up, for display; nil without an order amount.
    public var basisPoints: Int64? {
        guard orderAmountCents > 0 else { return nil }
        let scaled = Int128(discountCents) * 10_000 * 2 + Int128(orderAmountCents)
        let doubled = Int128(orderAmountCents) * 2
        // Floor division, so a negative ratio (refunds outweighing redemptions) rounds the same way.
        var quotient = scaled / doubled
        if scaled % doubled != 0 && scaled < 0 { quotient -= 1 }
        return Int64(clamping: quotient)
    }

    /// discount ÷ amount > basisPoints ÷ 10000, exactly. False without an order amount.
    public func isAbove(basisPoints: Int32) -> Bool {
        guard orderAmountCents > 0 else { return false }
        return Int128(discountCents) * 10_000 > Int128(basisPoints) * Int128(orderAmountCents)
    }

    /// discount ÷ amount < (percent ÷ 100) × basisPoints ÷ 10000, exactly. True without an order
    /// amount (nothing is spent on nothing).
    public func isBelow(percent: Int32, of basisPoints: Int32) -> Bool {
        guard orderAmountCents > 0 else { return true }
        return Int128(discountCents) * 10_000 * 100 < Int128(percent) * Int128(basisPoints) * Int128(orderAmountCents)
    }

    /// Whether `self` is a larger share than `other`; a ratio without an amount is the smallest.
    public func isLarger(than other: CostRatio) -> Bool {
        guard orderAmountCents > 0 else { return false }
        guard other.orderAmountCents > 0 else { return true }
        return Int128(discountCents) * Int128(other.orderAmountCents) > Int128(other.discountCents) * Int128(orderAmountCents)
    }

    /// The largest share of one order a coupon of this template can take off:
    /// 1. CASH: discount ÷ threshold (each tier's too, the largest wins); no threshold: 100%.
    /// 2. DISCOUNT: 1 − rate, and with a threshold at most maxDiscount ÷ threshold.
    /// 3. FREE: 100%, and with a threshold at most maxDiscount ÷ threshold.
    /// 4. EXCHANGE: discount ÷ threshold, or 100% with no threshold (an EXCHANGE coupon has none).
    /// A discount is never more than the order's eligible amount, so no ratio exceeds 100%.
    public static func worstCase(_ spec: TemplateSpec) -> CostRatio {
        let whole = CostRatio(discountCents: 1, orderAmountCents: 1)
        func share(_ discount: Int64, _ threshold: Int64) -> CostRatio {
            threshold > 0 ? CostRatio(discountCents: min(discount, threshold), orderAmountCents: threshold) : whole
        }
        func capped(_ ratio: CostRatio) -> CostRatio {
            guard let cap = spec.maxDiscountCents, spec.thresholdCents > 0 else { return ratio }
            let bound = share(cap, spec.thresholdCents)
            return ratio.isLarger(than: bound) ? bound : ratio
        }
        switch spec.type {
        case .cash, .exchange:
            var worst = share(spec.discountCents, spec.thresholdCents)
            for tier in spec.tiers {
                let tierShare = share(tier.discountCents, tier.thresholdCents)
                if tierShare.isLarger(than: worst) { worst = tierShare }
            }
            return worst
        case .discount:
            let rate = Int64(min(max(spec.rateBasisPoints ?? 10_000, 0), 10_000))
            return capped(CostRatio(discountCents: 10_000 - rate, orderAmountCents: 10_000))
        case .free:
            return capped(whole)
        }
    }

    /// Basis points rounded up: what a worst case is shown and compared as (never understated).
    public var basisPointsRoundedUp: Int64 {
        guard orderAmountCents > 0 else { return 0 }
        let scaled = Int128(discountCents) * 10_000
        let amount = Int128(orderAmountCents)
        var quotient = scaled / amount
        if scaled % amount != 0 && scaled > 0 { quotient += 1 }
        return Int64(clamping: quotient)
    }
}

/// The cost ceiling as operators write it and the API shows it: a percent of the order amount with
/// at most two decimals ("8", 8.5, "12.25"), kept as basis points.
public enum CostPercent {
    /// Parses a percent given as a JSON number or a string of one, exactly (digit by digit, never
    /// through a binary float): 8 → 800, "8.5" → 850. Accepts more than 0 and at most 100.
    public static func parseBasisPoints(_ value: JSONValue, field: String) throws(ServiceError) -> Int32 {
        let text: String
        switch value {
        case .number(let number): text = number
        case .string(let string): text = string
        default: throw ServiceError(.invalidArgument, "\(field): expected a percent such as 8 or \"8.5\", got \(value.typeName)")
        }
        // A percent with two decimals has the shape of yuan with two decimals: hundredths of a
        // percent are basis points as cents are hundredths of a yuan, so the money parser's exact
        // digit rules apply unchanged.
        let hundredths: Int64
        do {
            hundredths = try Money.parseYuan(text).cents
        } catch {
            throw ServiceError(.invalidArgument, "\(field): '\(text)' must be a percent with at most 2 decimals, e.g. 8 or 8.5")
        }
        guard hundredths > 0, hundredths <= 10_000, let basisPoints = Int32(exactly: hundredths) else {
            throw ServiceError(.invalidArgument, "\(field): \(text)% must be more than 0 and at most 100")
        }
        return basisPoints
    }

    /// Basis points as a percent with exactly two decimals: 818 → "8.18", -5 → "-0.05".
    public static func text(_ basisPoints: Int64) -> String { Money(cents: basisPoints).yuanText }
}

/// The life of one alert (one kind, one scope), evaluated again and again: it fires when the ratio
/// goes above its threshold, and resolves once the ratio has been below 95% of the threshold on two
/// evaluations in a row. Between the two (at or above 95%, not above the threshold) a firing alert
/// stays firing and its count of calm evaluations starts again. A scope that cannot be judged (too
/// few orders in every window) counts as calm: there is no sign of overspending.
public struct AlertHysteresis: Sendable, Equatable {
    public static let resolveBelowPercent: Int32 = 95
    public static let calmEvaluationsToResolve: Int32 = 2

    public var firing: Bool
    /// Consecutive evaluations below 95% of the threshold while firing.
    public var calmEvaluations: Int32

    public init(firing: Bool = false, calmEvaluations: Int32 = 0) {
        self.firing = firing
        self.calmEvaluations = calmEvaluations
    }

    public enum Step: Sendable, Equatable {
        case fire, stayFiring, resolve, stayQuiet
    }

    /// The next state and what changed, for one evaluation. `ratio` nil: not judged.
    public func next(_ ratio: CostRatio?, thresholdBasisPoints: Int32) -> (AlertHysteresis, Step) {
        guard firing else {
            guard let ratio, ratio.isAbove(basisPoints: thresholdBasisPoints) else { return (self, .stayQuiet) }
            return (AlertHysteresis(firing: true, calmEvaluations: 0), .fire)
        }
        let calm = ratio?.isBelow(percent: Self.resolveBelowPercent, of: thresholdBasisPoints) ?? true
        guard calm else { return (AlertHysteresis(firing: true, calmEvaluations: 0), .stayFiring) }
        let count = calmEvaluations + 1
        if count >= Self.calmEvaluationsToResolve { return (AlertHysteresis(firing: false, calmEvaluations: 0), .resolve) }
        return (AlertHysteresis(firing: true, calmEvaluations: count), .stayFiring)
    }
}

/// How a window stands against a ceiling and its warning level.
public enum CostJudgement {
    public static func state(_ ratio: CostRatio, orders: Int64, minimumOrders: Int64, ceiling: Int32, warning: Int32) -> CostState {
        guard orders >= minimumOrders else { return .tooFewOrders }
        if ratio.isAbove(basisPoints: ceiling) { return .aboveCeiling }
        if ratio.isAbove(basisPoints: warning) { return .warning }
        return .ok
    }

    /// The warning level: `percent` of the ceiling, rounded down to the basis point.
    public static func warningLevel(ceiling: Int32, percent: Int32) -> Int32 {
        Int32((Int64(ceiling) * Int64(percent)) / 100)
    }
}
