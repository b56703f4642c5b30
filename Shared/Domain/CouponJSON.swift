import Foundation
import Wire

/// The JSON shapes of the HTTP API (Shared/DESIGN.md §4), shared by coupon-center's HTTP front and
/// couponctl: JSON → messages with one precise error per bad field, messages → JSON with money in
/// yuan (two decimals) and times as ISO 8601 in the configured time zone.
public struct CouponJSON: Sendable {
    public let timeZone: TimeZone

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    // MARK: JSON → messages

    public static let templateFields: Set<String> = [
        "name", "type", "threshold", "discount", "rate", "maxDiscount", "startTime", "endTime", "validHours", "totalStock",
        "perUserLimit", "dailyLimit", "budget", "level", "shopId", "categories", "stacking", "thresholdOnDiscounted", "channels",
        "segments", "pointsCost", "tiers", "costCeiling", "costAction",
    ]

    public static func templateSpec(_ body: JSONValue) throws(ServiceError) -> TemplateSpec {
        let fields = try JSONFields(body, allowed: templateFields)
        var tiers: [Tier] = []
        for element in try fields.array("tiers") {
            let tier = try JSONFields(element, allowed: ["segment", "threshold", "discount"])
            tiers.append(
                Tier(
                    segment: try tier.string("segment"), thresholdCents: try tier.optionalMoney("threshold") ?? 0,
                    discountCents: try tier.money("discount")))
        }
        return TemplateSpec(
            name: try fields.string("name"), type: try fields.enumeration("type", CouponType.self),
            thresholdCents: try fields.optionalMoney("threshold") ?? 0, discountCents: try fields.optionalMoney("discount") ?? 0,
            rateBasisPoints: try fields.rate("rate"), maxDiscountCents: try fields.optionalMoney("maxDiscount"),
            startMilliseconds: try fields.time("startTime"), endMilliseconds: try fields.time("endTime"),
            validHours: try fields.optionalInt32("validHours"), totalStock: try fields.int32("totalStock"),
            perUserLimit: try fields.int32("perUserLimit", default: 1), dailyLimit: try fields.optionalInt32("dailyLimit"),
            budgetCents: try fields.optionalMoney("budget"), level: try fields.enumeration("level", ScopeLevel.self, default: .platform),
            shopId: try fields.optionalString("shopId"), categories: try fields.strings("categories"),
            stacking: try fields.enumeration("stacking", StackingMode.self, default: .stackable),
            thresholdOnDiscounted: try fields.bool("thresholdOnDiscounted", default: false), channels: try fields.strings("channels"),
            segments: try fields.strings("segments"), pointsCost: try fields.int32("pointsCost", default: 0), tiers: tiers,
            costCeilingBasisPoints: try fields.optionalPercent("costCeiling"),
            costAction: try fields.enumeration("costAction", CostAction.self, default: .alert))
    }

    // MARK: messages → JSON

    public static func yuan(_ cents: Int64) -> JSONValue { .number(Money(cents: cents).yuanText) }
    /// Basis points as a percent, a JSON number with two decimals: 818 → 8.18.
    public static func percent(_ basisPoints: Int64) -> JSONValue { .number(CostPercent.text(basisPoints)) }
    public func time(_ milliseconds: Int64) -> JSONValue { .string(Timestamp.formatISO8601(milliseconds, in: timeZone)) }

    public func template(_ view: TemplateView) -> [(String, JSONValue)] {
        let spec = view.spec
        var members: [(String, JSONValue)] = [
            ("id", .string(view.templateId)), ("name", .string(spec.name)), ("type", .string(spec.type.rawValue)),
            ("status", .string(view.status.rawValue)), ("threshold", Self.yuan(spec.thresholdCents)),
            ("discount", Self.yuan(spec.discountCents)),
            ("rate", spec.rateBasisPoints.map { .number(Rate.text($0)) } ?? .null),
            ("maxDiscount", spec.maxDiscountCents.map(Self.yuan) ?? .null), ("startTime", time(spec.startMilliseconds)),
            ("endTime", time(spec.endMilliseconds)), ("validHours", spec.validHours.map { .integer($0) } ?? .null),
            ("totalStock", .integer(spec.totalStock)), ("perUserLimit", .integer(spec.perUserLimit)),
            ("dailyLimit", spec.dailyLimit.map { .integer($0) } ?? .null), ("budget", spec.budgetCents.map(Self.yuan) ?? .null),
            ("level", .string(spec.level.rawValue)), ("shopId", spec.shopId.map { .string($0) } ?? .null),
            ("categories", .array(spec.categories.map { .string($0) })), ("stacking", .string(spec.stacking.rawValue)),
            ("thresholdOnDiscounted", .bool(spec.thresholdOnDiscounted)), ("channels", .array(spec.channels.map { .string($0) })),
            ("segments", .array(spec.segments.map { .string($0) })), ("pointsCost", .integer(spec.pointsCost)),
            (
                "tiers",
                .array(
                    spec.tiers.map {
                        .object([
                            ("segment", .string($0.segment)), ("threshold", Self.yuan($0.thresholdCents)), ("discount", Self.yuan($0.discountCents)),
                        ])
                    })
            ),
            ("costCeiling", spec.costCeilingBasisPoints.map { Self.percent(Int64($0)) } ?? .null),
            ("costAction", .string(spec.costAction.rawValue)),
            ("costCeilingInForce", Self.percent(Int64(view.costCeilingBasisPoints))),
            ("worstCaseRatio", Self.percent(view.worstCaseRatioBasisPoints)), ("costStopped", .bool(view.costStopped)),
        ]
        members.append(
            (
                "counters",
                .object([
                    ("issued", .integer(view.issued)), ("issuedToday", .integer(view.issuedToday)), ("used", .integer(view.used)),
                    ("budgetSpent", Self.yuan(view.budgetSpentCents)),
                    ("remainingStock", .integer(Self.remainingStock(spec.totalStock, issued: view.issued))),
                ])
            ))
        members.append(("createdAt", time(view.createdMilliseconds)))
        return members
    }

    /// What `POST /api/coupon/template` warns about: one order's worst-case cost ratio above the
    /// ceiling in force (满100减20 → 20% against 8%).
    public func templateWarnings(_ view: TemplateView) -> JSONValue {
        guard view.worstCaseRatioBasisPoints > Int64(view.costCeilingBasisPoints) else { return .array([]) }
        let worst = CostPercent.text(view.worstCaseRatioBasisPoints)
        let ceiling = CostPercent.text(Int64(view.costCeilingBasisPoints))
        return .array([
            .object([
                ("code", .string("WORST_CASE_ABOVE_COST_CEILING")), ("worstCaseRatio", Self.percent(view.worstCaseRatioBasisPoints)),
                ("costCeiling", Self.percent(Int64(view.costCeilingBasisPoints))),
                ("message", .string("one order can cost up to \(worst)% of its amount, above the cost ceiling of \(ceiling)%")),
            ])
        ])
    }

    /// Stock left, never negative; checked, because the view may come from the wire (couponctl).
    static func remainingStock(_ total: Int32, issued: Int32) -> Int32 {
        let (left, overflow) = total.subtractingReportingOverflow(issued)
        return overflow ? (issued < 0 ? Int32.max : 0) : max(0, left)
    }

    public func claim(_ response: ClaimResponse) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("couponId", .string(response.couponId)), ("templateId", .string(response.templateId)),
            ("expiresAt", time(response.expiresMilliseconds)), ("threshold", Self.yuan(response.thresholdCents)),
            ("discount", Self.yuan(response.discountCents)),
        ]
        if let points = response.pointsLeft { members.append(("pointsLeft", .integer(points))) }
        return members
    }

    public func coupon(_ coupon: CouponView) -> [(String, JSONValue)] {
        [
            ("couponId", .string(coupon.couponId)), ("templateId", .string(coupon.templateId)), ("templateName", .string(coupon.templateName)),
            ("type", .string(coupon.type.rawValue)), ("status", .string(coupon.status.rawValue)), ("threshold", Self.yuan(coupon.thresholdCents)),
            ("discount", Self.yuan(coupon.discountCents)), ("rate", coupon.rateBasisPoints.map { .number(Rate.text($0)) } ?? .null),
            ("maxDiscount", coupon.maxDiscountCents.map(Self.yuan) ?? .null), ("level", .string(coupon.level.rawValue)),
            ("shopId", coupon.shopId.map { .string($0) } ?? .null), ("categories", .array(coupon.categories.map { .string($0) })),
            ("stacking", .string(coupon.stacking.rawValue)), ("claimedAt", time(coupon.claimedMilliseconds)),
            ("expiresAt", time(coupon.expiresMilliseconds)), ("orderId", coupon.orderId.map { .string($0) } ?? .null),
        ]
    }

    public func profile(_ profile: UserProfileView) -> [(String, JSONValue)] {
        [
            ("userId", .string(profile.userId)), ("tags", .array(profile.tags.map { .string($0) })),
            ("orderCount", .integer(profile.orderCount)), ("ordersLast30Days", .integer(profile.ordersLast30Days)),
            ("lastOrderAt", profile.lastOrderMilliseconds.map(time) ?? .null), ("segments", .array(profile.segments.map { .string($0) })),
        ]
    }

    /// A finite ratio with exactly four decimals ("0.1235", "-2.5000"), rounded half away from zero
    /// in ten-thousandths. Total: a ratio whose ten-thousandths do not fit an Int64 (an ROI of 10^15
    /// is possible with a tiny discount) is written by `%.4f` instead of being converted.
    static func ratioText(_ value: Double) -> String {
        guard let scaled = Int64(exactly: (value * 10_000).rounded()), scaled != Int64.min else {
            return String(format: "%.4f", value)
        }
        let digits = String(scaled.magnitude % 10_000)
        return "\(scaled < 0 ? "-" : "")\(scaled.magnitude / 10_000).\(String(repeating: "0", count: 4 - digits.utf8.count))\(digits)"
    }

    /// A window's cost: ratio, ceiling and warning level as percents with two decimals (ratio null
    /// without any order amount).
    public func costStats(_ stats: CostStats) -> [(String, JSONValue)] {
        [
            ("templateId", stats.templateId.map { .string($0) } ?? .null), ("window", .string(stats.window.rawValue.lowercased())),
            ("orders", .integer(stats.orders)), ("orderAmount", Self.yuan(stats.orderAmountCents)), ("discount", Self.yuan(stats.discountCents)),
            ("ratio", stats.ratioBasisPoints.map(Self.percent) ?? .null), ("ceiling", Self.percent(Int64(stats.ceilingBasisPoints))),
            ("warningLevel", Self.percent(Int64(stats.warningBasisPoints))), ("minimumOrders", .integer(stats.minimumOrders)),
            ("state", .string(stats.state.rawValue)),
        ]
    }

    public func alert(_ alert: AlertView) -> [(String, JSONValue)] {
        [
            ("id", .integer(alert.alertId)), ("kind", .string(alert.kind.rawValue)), ("scope", .string(alert.scope)),
            ("window", .string(alert.window.rawValue.lowercased())), ("value", Self.percent(alert.valueBasisPoints)),
            ("threshold", Self.percent(Int64(alert.thresholdBasisPoints))), ("status", .string(alert.status.rawValue)),
            ("firstSeenAt", time(alert.firstSeenMilliseconds)), ("lastSeenAt", time(alert.lastSeenMilliseconds)),
            ("resolvedAt", alert.resolvedMilliseconds.map(time) ?? .null),
        ]
    }

    public func alertList(_ list: AlertList) -> [(String, JSONValue)] {
        [("alerts", .array(list.alerts.map { .object(alert($0)) })), ("nextBefore", list.nextBeforeId.map { .integer($0) } ?? .null)]
    }

    public func costEvaluation(_ evaluation: CostEvaluation) -> [(String, JSONValue)] {
        [
            ("evaluated", .bool(evaluation.evaluated)), ("judgedScopes", .integer(evaluation.judgedScopes)), ("fired", .integer(evaluation.fired)),
            ("resolved", .integer(evaluation.resolved)), ("firing", .integer(evaluation.firing)),
            ("stoppedTemplates", .integer(evaluation.stoppedTemplates)),
        ]
    }

    /// `items: [{sku, category, shopId, amount}]`.
    public static func orderItems(_ values: [JSONValue]) throws(ServiceError) -> [OrderItem] {
        var items: [OrderItem] = []
        for (index, value) in values.enumerated() {
            let fields = try JSONFields(value, allowed: ["sku", "category", "shopId", "amount"], path: "items[\(index)]")
            items.append(
                OrderItem(
                    sku: try fields.string("sku"), category: try fields.string("category"), shopId: try fields.string("shopId"),
                    amountCents: try fields.money("amount")))
        }
        return items
    }

    public func use(_ response: UseResponse) -> [(String, JSONValue)] {
        [
            ("orderId", .string(response.orderId)), ("couponId", .string(response.couponId)),
            ("discount", Self.yuan(response.discountCents)), ("payable", Self.yuan(response.payableCents)),
        ]
    }

    public func best(_ best: BestCombination) -> [(String, JSONValue)] {
        [
            ("couponIds", .array(best.couponIds.map { .string($0) })), ("discount", Self.yuan(best.discountCents)),
            ("payable", Self.yuan(best.payableCents)),
            (
                "explain",
                .array(
                    best.explain.map {
                        .object([
                            ("couponId", .string($0.couponId)), ("applied", .bool($0.applied)), ("reason", .string($0.reason)),
                            ("discount", Self.yuan($0.discountCents)), ("message", .string($0.message)),
                        ])
                    })
            ),
        ]
    }

    /// Ratios to four decimals (null where the denominator is zero); amounts in yuan.
    public func stats(_ stats: TemplateStats) -> [(String, JSONValue)] {
        func ratio(_ value: Double?) -> JSONValue {
            guard let value, value.isFinite else { return .null }
            return .number(Self.ratioText(value))
        }
        return [
            ("templateId", .string(stats.templateId)), ("exposures", .integer(stats.exposures)), ("claims", .integer(stats.claims)),
            ("uses", .integer(stats.uses)), ("claimRate", ratio(stats.claimRate)), ("useRate", ratio(stats.useRate)),
            ("orderAmount", Self.yuan(stats.orderAmountCents)), ("discountAmount", Self.yuan(stats.discountAmountCents)),
            ("roi", ratio(stats.roi)), ("costRatio", ratio(stats.costRatio)),
        ]
    }
}
