import Wire

/// The pure part of a recommendation: the user's segment from the ledger's features, policy v0's
/// arm (the seed's section 七), the arms a policy chooses between, what a template takes off the
/// amount, and the order of the ranked templates. Eligibility is not here: a template is ranked
/// only after the claim's own checks passed (coupon-center's `ClaimService.eligibility`).
public enum RecommendRules {
    /// Price-sensitive (价格敏感型): the operator's tag, or at least half of the user's orders used a
    /// coupon. Quality-seeking (品质追求型): the tag, or fewer than half did. New: no tag and fewer
    /// orders than `minimumOrders`, too few to tell.
    public static let priceSensitive = "PRICE_SENSITIVE"
    public static let qualitySeeking = "QUALITY_SEEKING"
    public static let newUser = "NEW"
    public static let minimumOrders: Int64 = 3

    public static func segment(_ features: UserFeatures) -> String {
        if features.tags.contains(priceSensitive) { return priceSensitive }
        if features.tags.contains(qualitySeeking) { return qualitySeeking }
        guard features.orders >= minimumOrders else { return newUser }
        // couponOrders ≥ half of orders, without a division (counts, far from overflow).
        return features.couponOrders >= features.orders - features.couponOrders ? priceSensitive : qualitySeeking
    }

    /// The arm a template belongs to; EXCHANGE templates are bought with points, never offered.
    public static func arm(_ type: CouponType) -> OfferArm? {
        switch type {
        case .cash: .cash
        case .discount: .discount
        case .free: .free
        case .exchange: nil
        }
    }

    /// The arms present among the claimable templates, in a fixed order, then NONE (v1 may offer
    /// nothing).
    public static func candidates(_ ranked: [RankedTemplate]) -> [OfferArm] {
        let present = Set(ranked.compactMap { arm($0.type) })
        return OfferArm.allCases.filter { $0 != .none && present.contains($0) } + [.none]
    }

    /// Policy v0, the seed's rules: 满减 (CASH) to the price-sensitive, 折扣 (DISCOUNT) to the
    /// quality-seeking, when such a template is claimable; otherwise (and for new users) the arm
    /// of the template with the largest expected discount. NONE only when nothing is claimable.
    public static func ruleArm(segment: String, ranked: [RankedTemplate]) -> OfferArm {
        let present = Set(ranked.compactMap { arm($0.type) })
        if segment == priceSensitive && present.contains(.cash) { return .cash }
        if segment == qualitySeeking && present.contains(.discount) { return .discount }
        return order(ranked, first: nil).first.flatMap { arm($0.type) } ?? .none
    }

    /// The chosen arm's templates first, then by expected discount (largest first), then the
    /// face value, then the template id, so the order is total.
    public static func order(_ ranked: [RankedTemplate], first: OfferArm?) -> [RankedTemplate] {
        ranked.sorted { left, right in
            let (leftFirst, rightFirst) = (first != nil && arm(left.type) == first, first != nil && arm(right.type) == first)
            if leftFirst != rightFirst { return leftFirst }
            if left.expectedDiscountCents != right.expectedDiscountCents { return left.expectedDiscountCents > right.expectedDiscountCents }
            if left.discountCents != right.discountCents { return left.discountCents > right.discountCents }
            return left.templateId < right.templateId
        }
    }

    /// What a coupon with this face value takes off an order of `amountCents` wholly in its scope:
    /// 0 below the threshold, else the rule-engine's discount maths (`Discounts.discount`).
    public static func expectedDiscount(
        type: CouponType, thresholdCents: Int64, discountCents: Int64, rateBasisPoints: Int32?, maxDiscountCents: Int64?, amountCents: Int64
    ) -> Int64 {
        guard amountCents >= thresholdCents, amountCents > 0 else { return 0 }
        let terms = CouponTerms(
            couponId: "", type: type, status: .unused, thresholdCents: thresholdCents, discountCents: discountCents,
            rateBasisPoints: rateBasisPoints, maxDiscountCents: maxDiscountCents, level: .platform, shopId: nil, categories: [],
            stacking: .stackable, thresholdOnDiscounted: false, expiresMilliseconds: .max)
        return Discounts.discount(for: terms, eligible: amountCents)
    }

    /// The reasons shown with a ranked template: the segment and the policy's view of its arm, the
    /// user's history with its coupon type, and the expected discount for the amount.
    public static func reasons(
        _ template: RankedTemplate, segment: String, features: UserFeatures, amountCents: Int64, policyReason: String
    ) -> [String] {
        var reasons = ["segment \(segment): \(policyReason)"]
        if let use = features.byType.first(where: { $0.type == template.type }), use.claims > 0 {
            reasons.append("history: \(use.uses) of \(use.claims) \(template.type.rawValue) coupons used")
        } else {
            reasons.append("history: no \(template.type.rawValue) coupon claimed yet")
        }
        if template.expectedDiscountCents > 0 {
            reasons.append("expected discount \(Money(cents: template.expectedDiscountCents).yuanText) on \(Money(cents: amountCents).yuanText)")
        } else {
            reasons.append(
                "threshold \(Money(cents: template.thresholdCents).yuanText) not met by \(Money(cents: amountCents).yuanText): no discount on this amount"
            )
        }
        return reasons
    }

    /// A user's holdout bucket, 0…9,999: FNV-1a (64 bits) of the user id's UTF-8, so it is the same
    /// on every process and independent of the policy's random draws.
    public static func holdoutBucket(_ userId: String) -> Int32 {
        Int32(truncatingIfNeeded: fnv1a("holdout:" + userId) % 10_000)
    }

    /// The seed of one decision's draws: the configured seed mixed with the user and how many
    /// decisions the user had before, so a run is the same whatever order users arrive in.
    public static func decisionSeed(_ seed: UInt64, userId: String, sequence: Int64) -> UInt64 {
        var mixer = SeededRandom(seed: seed ^ fnv1a(userId) ^ (UInt64(bitPattern: sequence) &* 0x9E37_79B9_7F4A_7C15))
        return mixer.next()
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
