import Wire

/// Validation of a template as an operator wrote it: each problem has its own message naming the
/// field, and nothing invalid reaches the database.
///
/// Lengths are counted in the unit the database enforces, never in graphemes (`String.count`): one
/// letter with 4,000 combining marks is one grapheme but 4,001 code points and 8 kB or more of
/// UTF-8, more than a PostgreSQL index row holds.
public enum TemplateRules {
    /// `coupon_template.name` is CHECKed with `length(name) BETWEEN 1 AND 100`; PostgreSQL's `length`
    /// of UTF-8 text counts code points, so this is a number of Unicode scalars.
    public static let maxNameLength = 100
    /// Ids, channels, segments, categories, tags: at most 64 code points (at most 256 bytes of
    /// UTF-8), so every index row they appear in stays far below PostgreSQL's ~2.7 kB limit.
    public static let maxIdentifierLength = 64
    /// Entries of one list of names (categories, channels, segments, tags) and tiers of one template.
    public static let maxListEntries = 100

    public static func validate(_ spec: TemplateSpec) throws(ServiceError) {
        func fail(_ field: String, _ message: String) -> ServiceError {
            ServiceError(.invalidArgument, "\(field): \(message)")
        }
        let name = spec.name.trimmingWhitespace
        guard !name.isEmpty else { throw fail("name", "must not be empty") }
        guard spec.name.unicodeScalars.count <= maxNameLength else { throw fail("name", "at most \(maxNameLength) code points") }
        guard !containsControlCharacters(spec.name) else { throw fail("name", "must not contain control characters") }
        guard spec.thresholdCents >= 0 else { throw fail("threshold", "must not be negative") }
        guard spec.thresholdCents <= Money.maximum.cents else { throw fail("threshold", "too large") }
        // PostgreSQL would refuse what lies outside its timestamptz range with an internal error;
        // the API's own range (`Timestamp.earliestMilliseconds...latestMilliseconds`) is well inside it.
        try Timestamp.checkRange(spec.startMilliseconds, field: "startTime")
        try Timestamp.checkRange(spec.endMilliseconds, field: "endTime")
        guard spec.endMilliseconds > spec.startMilliseconds else { throw fail("endTime", "must be after startTime") }
        if let validHours = spec.validHours, validHours <= 0 { throw fail("validHours", "must be a positive number of hours") }
        guard spec.totalStock >= 0 else { throw fail("totalStock", "must not be negative") }
        guard spec.perUserLimit >= 1 else { throw fail("perUserLimit", "must be at least 1") }
        if let dailyLimit = spec.dailyLimit, dailyLimit < 1 { throw fail("dailyLimit", "must be at least 1") }
        if let budget = spec.budgetCents {
            guard budget > 0 else { throw fail("budget", "must be positive") }
            guard budget <= Money.maximum.cents else { throw fail("budget", "too large") }
        }
        if let cap = spec.maxDiscountCents {
            guard cap > 0 else { throw fail("maxDiscount", "must be positive") }
            guard cap <= Money.maximum.cents else { throw fail("maxDiscount", "too large") }
        }
        guard spec.pointsCost >= 0 else { throw fail("pointsCost", "must not be negative") }
        if let ceiling = spec.costCeilingBasisPoints, !(1...10_000).contains(ceiling) {
            throw fail("costCeiling", "must be more than 0% and at most 100% of the order amount")
        }

        switch spec.type {
        case .cash, .exchange:
            guard spec.discountCents > 0 else { throw fail("discount", "a \(spec.type.rawValue) coupon needs a positive discount") }
            guard spec.discountCents <= Money.maximum.cents else { throw fail("discount", "too large") }
            if spec.thresholdCents > 0 && spec.discountCents > spec.thresholdCents {
                throw fail(
                    "discount",
                    "\(Money(cents: spec.discountCents).yuanText) is more than the threshold \(Money(cents: spec.thresholdCents).yuanText)")
            }
            guard spec.rateBasisPoints == nil else { throw fail("rate", "only DISCOUNT coupons have a rate") }
            guard spec.maxDiscountCents == nil else { throw fail("maxDiscount", "only DISCOUNT and FREE coupons have a cap") }
        case .discount:
            guard let rate = spec.rateBasisPoints else { throw fail("rate", "a DISCOUNT coupon needs a rate, e.g. 0.8 for 8折") }
            guard rate > 0 && rate < 10_000 else { throw fail("rate", "must be between 0 and 1 (exclusive)") }
            guard spec.discountCents == 0 else { throw fail("discount", "a DISCOUNT coupon takes a rate, not an amount") }
        case .free:
            guard spec.rateBasisPoints == nil else { throw fail("rate", "only DISCOUNT coupons have a rate") }
            guard spec.discountCents == 0 else { throw fail("discount", "a FREE coupon takes no amount (it covers the order, up to maxDiscount)") }
        }
        if spec.type == .exchange {
            guard spec.pointsCost >= 1 else { throw fail("pointsCost", "an EXCHANGE coupon costs at least 1 point") }
            guard spec.thresholdCents == 0 else { throw fail("threshold", "an EXCHANGE coupon has no threshold") }
        } else if spec.pointsCost != 0 {
            throw fail("pointsCost", "only EXCHANGE coupons cost points")
        }
        if spec.budgetCents != nil && (spec.type == .discount || spec.type == .free) && spec.maxDiscountCents == nil {
            throw fail("maxDiscount", "a \(spec.type.rawValue) coupon with a budget needs a cap, so its cost is bounded when claimed")
        }

        switch spec.level {
        case .shop:
            guard let shop = spec.shopId, !shop.trimmingWhitespace.isEmpty else { throw fail("shopId", "a SHOP coupon needs its shop") }
            try identifier(shop, field: "shopId")
        case .category:
            guard !spec.categories.isEmpty else { throw fail("categories", "a CATEGORY coupon needs at least one category") }
        case .platform:
            break
        }
        if spec.level != .shop, spec.shopId != nil { throw fail("shopId", "only SHOP coupons name a shop") }
        try identifiers(spec.categories, field: "categories")
        try identifiers(spec.channels, field: "channels")
        try identifiers(spec.segments, field: "segments")

        guard spec.tiers.count <= maxListEntries else { throw fail("tiers", "at most \(maxListEntries) entries") }
        var tierSegments = Set<String>()
        for (index, tier) in spec.tiers.enumerated() {
            let field = "tiers[\(index)]"
            guard spec.type == .cash || spec.type == .exchange else { throw fail("tiers", "only CASH and EXCHANGE coupons have tiers") }
            try identifier(tier.segment, field: "\(field).segment")
            guard tierSegments.insert(tier.segment).inserted else { throw fail("\(field).segment", "\(tier.segment) appears twice") }
            guard tier.thresholdCents >= 0 else { throw fail("\(field).threshold", "must not be negative") }
            guard tier.discountCents > 0 else { throw fail("\(field).discount", "must be positive") }
            guard tier.discountCents <= Money.maximum.cents, tier.thresholdCents <= Money.maximum.cents else {
                throw fail("\(field)", "amount too large")
            }
            if tier.thresholdCents > 0 && tier.discountCents > tier.thresholdCents {
                throw fail("\(field).discount", "more than its threshold")
            }
        }
    }

    /// Ids, channels, segments, categories: 1…64 code points, no control character, no white space
    /// at either end. Counted in Unicode scalars, the unit of PostgreSQL's `length`.
    public static func identifier(_ value: String, field: String) throws(ServiceError) {
        let scalars = value.unicodeScalars
        guard let first = scalars.first, let last = scalars.last, !first.properties.isWhitespace, !last.properties.isWhitespace
        else {
            throw ServiceError(.invalidArgument, "\(field): must be a non-empty name without surrounding spaces")
        }
        // Stop counting at the first scalar past the limit: a hostile 1 MB value costs no more than a long one.
        guard scalars.dropFirst(maxIdentifierLength).isEmpty else {
            throw ServiceError(.invalidArgument, "\(field): at most \(maxIdentifierLength) code points")
        }
        guard !containsControlCharacters(value) else { throw ServiceError(.invalidArgument, "\(field): must not contain control characters") }
    }

    public static func identifiers(_ values: [String], field: String) throws(ServiceError) {
        guard values.count <= maxListEntries else { throw ServiceError(.invalidArgument, "\(field): at most \(maxListEntries) entries") }
        var seen = Set<String>()
        for (index, value) in values.enumerated() {
            try identifier(value, field: "\(field)[\(index)]")
            guard seen.insert(value).inserted else { throw ServiceError(.invalidArgument, "\(field): \(value) appears twice") }
        }
    }

    static func containsControlCharacters(_ text: String) -> Bool {
        // C0, DEL and the C1 range (NEL, CSI…): nothing that moves a terminal or splits a line.
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }
}

extension String {
    var trimmingWhitespace: String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view.removeFirst() }
        while view.last?.isWhitespace == true { view.removeLast() }
        return String(view)
    }
}
