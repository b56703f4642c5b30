/// Orders, redemption, refund and best combination (coupon-center 0x011x, rule-engine 0x020x).

/// One line of an order. `shopId` and `category` decide which SHOP and CATEGORY coupons apply.
public struct OrderItem: Codable, Sendable, Equatable {
    public var sku: String
    public var category: String
    public var shopId: String
    public var amountCents: Int64
    public init(sku: String, category: String, shopId: String, amountCents: Int64) {
        self.sku = sku
        self.category = category
        self.shopId = shopId
        self.amountCents = amountCents
    }
}

/// An order as the rules see it. Without items, the whole amount is one line that only PLATFORM
/// coupons apply to. With items, their amounts must add up to `amountCents`.
public struct OrderSummary: Codable, Sendable, Equatable {
    public var amountCents: Int64
    public var items: [OrderItem]
    public init(amountCents: Int64, items: [OrderItem]) {
        self.amountCents = amountCents
        self.items = items
    }
}

/// What the rules need to know about one coupon the user holds (its face value frozen at claim).
public struct CouponTerms: Codable, Sendable, Equatable {
    public var couponId: String
    public var type: CouponType
    public var status: CouponStatus
    public var thresholdCents: Int64
    public var discountCents: Int64
    public var rateBasisPoints: Int32?
    public var maxDiscountCents: Int64?
    public var level: ScopeLevel
    public var shopId: String?
    public var categories: [String]
    public var stacking: StackingMode
    public var thresholdOnDiscounted: Bool
    public var expiresMilliseconds: Int64

    public init(
        couponId: String, type: CouponType, status: CouponStatus, thresholdCents: Int64, discountCents: Int64, rateBasisPoints: Int32?,
        maxDiscountCents: Int64?, level: ScopeLevel, shopId: String?, categories: [String], stacking: StackingMode,
        thresholdOnDiscounted: Bool, expiresMilliseconds: Int64
    ) {
        self.couponId = couponId
        self.type = type
        self.status = status
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.rateBasisPoints = rateBasisPoints
        self.maxDiscountCents = maxDiscountCents
        self.level = level
        self.shopId = shopId
        self.categories = categories
        self.stacking = stacking
        self.thresholdOnDiscounted = thresholdOnDiscounted
        self.expiresMilliseconds = expiresMilliseconds
    }
}

/// Why a coupon was applied or skipped, for people (`message`) and programs (`reason`, an error
/// name from the error table, or `APPLIED`).
public struct CouponExplanation: Codable, Sendable, Equatable {
    public var couponId: String
    public var applied: Bool
    public var reason: String
    public var discountCents: Int64
    public var message: String
    public init(couponId: String, applied: Bool, reason: String, discountCents: Int64, message: String) {
        self.couponId = couponId
        self.applied = applied
        self.reason = reason
        self.discountCents = discountCents
        self.message = message
    }
}

/// `discount_quote` (0x0202, rule-engine): what one coupon takes off this order now.
public struct DiscountQuoteRequest: WireRequest, Equatable {
    public typealias Response = DiscountQuote
    public static let kind = MessageKind.discountQuote
    public var coupon: CouponTerms
    public var order: OrderSummary
    public var nowMilliseconds: Int64
    public init(coupon: CouponTerms, order: OrderSummary, nowMilliseconds: Int64) {
        self.coupon = coupon
        self.order = order
        self.nowMilliseconds = nowMilliseconds
    }
}

/// Applicable: `refusal` nil. `eligibleCents` is the amount of the order in the coupon's scope.
public struct DiscountQuote: Codable, Sendable, Equatable {
    public var refusal: ServiceError?
    public var eligibleCents: Int64
    public var discountCents: Int64
    public var payableCents: Int64
    public init(refusal: ServiceError?, eligibleCents: Int64, discountCents: Int64, payableCents: Int64) {
        self.refusal = refusal
        self.eligibleCents = eligibleCents
        self.discountCents = discountCents
        self.payableCents = payableCents
    }
}

/// `discount_quote_batch` (0x0205, rule-engine): many `discount_quote`s in one frame, answered in
/// order. coupon-center gathers the redemptions that arrive while a quote is in flight.
public struct DiscountQuoteBatchRequest: WireRequest, Equatable {
    public typealias Response = DiscountQuoteBatch
    public static let kind = MessageKind.discountQuoteBatch
    /// At most this many quotes per frame.
    public static let maxQuotes = 1024
    public var quotes: [DiscountQuoteRequest]

    public init(quotes: [DiscountQuoteRequest]) { self.quotes = quotes }
}

public struct DiscountQuoteBatch: Codable, Sendable, Equatable {
    public var results: [DiscountQuote]

    public init(results: [DiscountQuote]) { self.results = results }
}

/// `best_combination` (0x0203, rule-engine): the set of the user's coupons that takes the most off.
public struct BestCombinationRequest: WireRequest, Equatable {
    public typealias Response = BestCombination
    public static let kind = MessageKind.bestCombination
    public var coupons: [CouponTerms]
    public var order: OrderSummary
    public var nowMilliseconds: Int64
    public init(coupons: [CouponTerms], order: OrderSummary, nowMilliseconds: Int64) {
        self.coupons = coupons
        self.order = order
        self.nowMilliseconds = nowMilliseconds
    }
}

public struct BestCombination: Codable, Sendable, Equatable {
    /// In the order they apply: SHOP, then CATEGORY, then PLATFORM.
    public var couponIds: [String]
    public var discountCents: Int64
    public var payableCents: Int64
    /// One entry per coupon considered, in the order given.
    public var explain: [CouponExplanation]
    public init(couponIds: [String], discountCents: Int64, payableCents: Int64, explain: [CouponExplanation]) {
        self.couponIds = couponIds
        self.discountCents = discountCents
        self.payableCents = payableCents
        self.explain = explain
    }
}

/// `use` (0x0111, coupon-center): `POST /api/coupon/use`, redeem a coupon on an order. Idempotent on
/// (orderId, couponId): the same pair again returns the same answer.
public struct UseRequest: WireRequest, Equatable {
    public typealias Response = UseResponse
    public static let kind = MessageKind.use
    public var orderId: String
    public var couponId: String
    public var amountCents: Int64
    /// When given, the coupon must be this user's (else 404, as for an unknown coupon).
    public var userId: String?
    public var items: [OrderItem]
    public var requestId: String?
    public var deviceId: String?
    public var ip: String?

    public init(
        orderId: String, couponId: String, amountCents: Int64, userId: String? = nil, items: [OrderItem] = [], requestId: String? = nil,
        deviceId: String? = nil, ip: String? = nil
    ) {
        self.orderId = orderId
        self.couponId = couponId
        self.amountCents = amountCents
        self.userId = userId
        self.items = items
        self.requestId = requestId
        self.deviceId = deviceId
        self.ip = ip
    }
}

public struct UseResponse: Codable, Sendable, Equatable {
    public var orderId: String
    public var couponId: String
    public var discountCents: Int64
    public var payableCents: Int64
    public init(orderId: String, couponId: String, discountCents: Int64, payableCents: Int64) {
        self.orderId = orderId
        self.couponId = couponId
        self.discountCents = discountCents
        self.payableCents = payableCents
    }
}

/// `refund` (0x0112, coupon-center): `POST /api/coupon/refund`. Returns the coupon to UNUSED while
/// it is still valid, else EXPIRED; exactly once (a retry answers the same).
public struct RefundRequest: WireRequest, Equatable {
    public typealias Response = RefundResponse
    public static let kind = MessageKind.refund
    public var orderId: String
    public var couponId: String
    public init(orderId: String, couponId: String) {
        self.orderId = orderId
        self.couponId = couponId
    }
}

public struct RefundResponse: Codable, Sendable, Equatable {
    public var couponId: String
    public var status: CouponStatus
    public init(couponId: String, status: CouponStatus) {
        self.couponId = couponId
        self.status = status
    }
}

/// `best` (0x0114, coupon-center): `POST /api/coupon/best`, the best combination of the user's
/// usable coupons for an order.
public struct BestRequest: WireRequest, Equatable {
    public typealias Response = BestCombination
    public static let kind = MessageKind.best
    public var userId: String
    public var amountCents: Int64
    public var items: [OrderItem]
    public init(userId: String, amountCents: Int64, items: [OrderItem]) {
        self.userId = userId
        self.amountCents = amountCents
        self.items = items
    }
}
