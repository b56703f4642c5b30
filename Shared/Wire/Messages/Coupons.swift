/// Coupon-center messages (0x01xx): templates, claims, wallet, points. Money is Int64 cents, rates
/// are basis points (0.85 = 8500), times are Unix milliseconds.

public enum CouponType: String, Codable, Sendable, CaseIterable { case cash = "CASH", discount = "DISCOUNT", free = "FREE", exchange = "EXCHANGE" }
public enum ScopeLevel: String, Codable, Sendable, CaseIterable { case shop = "SHOP", category = "CATEGORY", platform = "PLATFORM" }
public enum StackingMode: String, Codable, Sendable, CaseIterable { case exclusive = "EXCLUSIVE", stackable = "STACKABLE" }
public enum TemplateStatus: String, Codable, Sendable, CaseIterable { case active = "ACTIVE", paused = "PAUSED" }
public enum CouponStatus: String, Codable, Sendable, CaseIterable { case unused = "UNUSED", used = "USED", expired = "EXPIRED", revoked = "REVOKED" }

/// A face value chosen by the user's segment at claim time (满30减5 for HIGH_FREQ, 满20减8 for LOW_FREQ).
public struct Tier: Codable, Sendable, Equatable {
    public var segment: String
    public var thresholdCents: Int64
    public var discountCents: Int64
    public init(segment: String, thresholdCents: Int64, discountCents: Int64) {
        self.segment = segment
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
    }
}

/// Everything an operator sets on a template (Shared/DESIGN.md §3).
public struct TemplateSpec: Codable, Sendable, Equatable {
    public var name: String
    public var type: CouponType
    public var thresholdCents: Int64
    public var discountCents: Int64
    public var rateBasisPoints: Int32?
    public var maxDiscountCents: Int64?
    public var startMilliseconds: Int64
    public var endMilliseconds: Int64
    public var validHours: Int32?
    public var totalStock: Int32
    public var perUserLimit: Int32
    public var dailyLimit: Int32?
    public var budgetCents: Int64?
    public var level: ScopeLevel
    public var shopId: String?
    public var categories: [String]
    public var stacking: StackingMode
    public var thresholdOnDiscounted: Bool
    public var channels: [String]
    public var segments: [String]
    public var pointsCost: Int32
    public var tiers: [Tier]
    /// The template's own cost-ratio ceiling in basis points of the order amount (8% = 800);
    /// absent: the platform's default (`COUPON_COST_CEILING`).
    public var costCeilingBasisPoints: Int32?
    /// What happens while the ceiling is crossed: an alert only, or new claims refused too.
    public var costAction: CostAction

    public init(
        name: String, type: CouponType, thresholdCents: Int64 = 0, discountCents: Int64 = 0, rateBasisPoints: Int32? = nil,
        maxDiscountCents: Int64? = nil, startMilliseconds: Int64, endMilliseconds: Int64, validHours: Int32? = nil,
        totalStock: Int32, perUserLimit: Int32 = 1, dailyLimit: Int32? = nil, budgetCents: Int64? = nil,
        level: ScopeLevel = .platform, shopId: String? = nil, categories: [String] = [], stacking: StackingMode = .stackable,
        thresholdOnDiscounted: Bool = false, channels: [String] = [], segments: [String] = [], pointsCost: Int32 = 0,
        tiers: [Tier] = [], costCeilingBasisPoints: Int32? = nil, costAction: CostAction = .alert
    ) {
        self.name = name
        self.type = type
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.rateBasisPoints = rateBasisPoints
        self.maxDiscountCents = maxDiscountCents
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.validHours = validHours
        self.totalStock = totalStock
        self.perUserLimit = perUserLimit
        self.dailyLimit = dailyLimit
        self.budgetCents = budgetCents
        self.level = level
        self.shopId = shopId
        self.categories = categories
        self.stacking = stacking
        self.thresholdOnDiscounted = thresholdOnDiscounted
        self.channels = channels
        self.segments = segments
        self.pointsCost = pointsCost
        self.tiers = tiers
        self.costCeilingBasisPoints = costCeilingBasisPoints
        self.costAction = costAction
    }
}

/// A template with its live counters.
public struct TemplateView: Codable, Sendable, Equatable {
    public var templateId: String
    public var spec: TemplateSpec
    public var status: TemplateStatus
    public var issued: Int32
    public var issuedToday: Int32
    public var used: Int32
    public var budgetSpentCents: Int64
    public var createdMilliseconds: Int64
    /// The ceiling in force: the template's own, else the platform's default (basis points).
    public var costCeilingBasisPoints: Int32
    /// The largest share of one order's amount a coupon of this template can take off, in basis
    /// points rounded up (满100减20 → 2000; a coupon without threshold → 10000).
    public var worstCaseRatioBasisPoints: Int64
    /// True while claims are refused with `COST_CEILING` (STOP_ISSUANCE and a firing ceiling alert).
    public var costStopped: Bool

    public init(
        templateId: String, spec: TemplateSpec, status: TemplateStatus, issued: Int32, issuedToday: Int32, used: Int32, budgetSpentCents: Int64,
        createdMilliseconds: Int64, costCeilingBasisPoints: Int32, worstCaseRatioBasisPoints: Int64, costStopped: Bool
    ) {
        self.templateId = templateId
        self.spec = spec
        self.status = status
        self.issued = issued
        self.issuedToday = issuedToday
        self.used = used
        self.budgetSpentCents = budgetSpentCents
        self.createdMilliseconds = createdMilliseconds
        self.costCeilingBasisPoints = costCeilingBasisPoints
        self.worstCaseRatioBasisPoints = worstCaseRatioBasisPoints
        self.costStopped = costStopped
    }
}

/// `template_create` (0x0101).
public struct CreateTemplateRequest: WireRequest, Equatable {
    public typealias Response = TemplateView
    public static let kind = MessageKind.templateCreate
    public var spec: TemplateSpec
    public init(spec: TemplateSpec) { self.spec = spec }
}

/// `template_get` (0x0102), `template_pause` (0x0103), `template_resume` (0x0104).
public struct GetTemplateRequest: WireRequest, Equatable {
    public typealias Response = TemplateView
    public static let kind = MessageKind.templateGet
    public var templateId: String
    public init(templateId: String) { self.templateId = templateId }
}

public struct PauseTemplateRequest: WireRequest, Equatable {
    public typealias Response = TemplateView
    public static let kind = MessageKind.templatePause
    public var templateId: String
    public init(templateId: String) { self.templateId = templateId }
}

public struct ResumeTemplateRequest: WireRequest, Equatable {
    public typealias Response = TemplateView
    public static let kind = MessageKind.templateResume
    public var templateId: String
    public init(templateId: String) { self.templateId = templateId }
}

/// `template_list` (0x0105): newest first.
public struct ListTemplatesRequest: WireRequest, Equatable {
    public typealias Response = TemplateList
    public static let kind = MessageKind.templateList
    public var limit: Int32
    public init(limit: Int32 = 100) { self.limit = limit }
}

public struct TemplateList: Codable, Sendable, Equatable {
    public var templates: [TemplateView]
    public init(templates: [TemplateView]) { self.templates = templates }
}

/// `claim` (0x0110): `POST /api/coupon/issue`. `deviceId` and `ip` are the end user's, for risk control.
public struct ClaimRequest: WireRequest, Equatable {
    public typealias Response = ClaimResponse
    public static let kind = MessageKind.claim
    public var userId: String
    public var templateId: String
    public var channel: String
    public var deviceId: String?
    public var ip: String?
    public var requestId: String?

    public init(userId: String, templateId: String, channel: String, deviceId: String? = nil, ip: String? = nil, requestId: String? = nil) {
        self.userId = userId
        self.templateId = templateId
        self.channel = channel
        self.deviceId = deviceId
        self.ip = ip
        self.requestId = requestId
    }
}

public struct ClaimResponse: Codable, Sendable, Equatable {
    public var couponId: String
    public var templateId: String
    public var expiresMilliseconds: Int64
    public var thresholdCents: Int64
    public var discountCents: Int64
    /// Set for exchanges: the user's points after paying for the coupon.
    public var pointsLeft: Int64?

    public init(
        couponId: String, templateId: String, expiresMilliseconds: Int64, thresholdCents: Int64, discountCents: Int64, pointsLeft: Int64? = nil
    ) {
        self.couponId = couponId
        self.templateId = templateId
        self.expiresMilliseconds = expiresMilliseconds
        self.thresholdCents = thresholdCents
        self.discountCents = discountCents
        self.pointsLeft = pointsLeft
    }
}

/// `exchange` (0x0115): `POST /api/coupon/exchange`, an EXCHANGE coupon paid with points.
public struct ExchangeRequest: WireRequest, Equatable {
    public typealias Response = ClaimResponse
    public static let kind = MessageKind.exchange
    public var userId: String
    public var templateId: String
    public var requestId: String
    public var deviceId: String?
    public var ip: String?

    public init(userId: String, templateId: String, requestId: String, deviceId: String? = nil, ip: String? = nil) {
        self.userId = userId
        self.templateId = templateId
        self.requestId = requestId
        self.deviceId = deviceId
        self.ip = ip
    }
}

/// `points_grant` (0x0116): `POST /api/points/grant`.
public struct GrantPointsRequest: WireRequest, Equatable {
    public typealias Response = PointsBalance
    public static let kind = MessageKind.pointsGrant
    public var userId: String
    public var points: Int64
    public var requestId: String?
    public init(userId: String, points: Int64, requestId: String? = nil) {
        self.userId = userId
        self.points = points
        self.requestId = requestId
    }
}

public struct PointsBalance: Codable, Sendable, Equatable {
    public var userId: String
    public var points: Int64
    public init(userId: String, points: Int64) {
        self.userId = userId
        self.points = points
    }
}

/// `wallet` (0x0113): `GET /api/coupon/list`. A coupon past its expiry shows as EXPIRED even before
/// the expiry job has marked it.
public struct WalletRequest: WireRequest, Equatable {
    public typealias Response = Wallet
    public static let kind = MessageKind.wallet
    public var userId: String
    public var status: CouponStatus?
    public init(userId: String, status: CouponStatus? = nil) {
        self.userId = userId
        self.status = status
    }
}

public struct CouponView: Codable, Sendable, Equatable {
    public var couponId: String
    public var templateId: String
    public var templateName: String
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
    public var claimedMilliseconds: Int64
    public var expiresMilliseconds: Int64
    public var orderId: String?

    public init(
        couponId: String, templateId: String, templateName: String, type: CouponType, status: CouponStatus, thresholdCents: Int64,
        discountCents: Int64, rateBasisPoints: Int32?, maxDiscountCents: Int64?, level: ScopeLevel, shopId: String?,
        categories: [String], stacking: StackingMode, claimedMilliseconds: Int64, expiresMilliseconds: Int64, orderId: String?
    ) {
        self.couponId = couponId
        self.templateId = templateId
        self.templateName = templateName
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
        self.claimedMilliseconds = claimedMilliseconds
        self.expiresMilliseconds = expiresMilliseconds
        self.orderId = orderId
    }
}

public struct Wallet: Codable, Sendable, Equatable {
    public var userId: String
    public var coupons: [CouponView]
    public init(userId: String, coupons: [CouponView]) {
        self.userId = userId
        self.coupons = coupons
    }
}

/// `profile_set` (0x0117): `POST /api/user/profile`, the operator's tags for a user.
public struct SetProfileRequest: WireRequest, Equatable {
    public typealias Response = UserProfileView
    public static let kind = MessageKind.profileSet
    public var userId: String
    public var tags: [String]
    public init(userId: String, tags: [String]) {
        self.userId = userId
        self.tags = tags
    }
}

public struct UserProfileView: Codable, Sendable, Equatable {
    public var userId: String
    public var tags: [String]
    public var orderCount: Int32
    public var ordersLast30Days: Int32
    public var lastOrderMilliseconds: Int64?
    /// NEW or RETURNING, HIGH_FREQ or LOW_FREQ for returning users, then the tags.
    public var segments: [String]

    public init(userId: String, tags: [String], orderCount: Int32, ordersLast30Days: Int32, lastOrderMilliseconds: Int64?, segments: [String]) {
        self.userId = userId
        self.tags = tags
        self.orderCount = orderCount
        self.ordersLast30Days = ordersLast30Days
        self.lastOrderMilliseconds = lastOrderMilliseconds
        self.segments = segments
    }
}

/// `exposure` (0x0118): `POST /api/coupon/exposure`, a template was shown to a user.
public struct ExposureRequest: WireRequest, Equatable {
    public typealias Response = ExposureAck
    public static let kind = MessageKind.exposure
    public var userId: String
    public var templateId: String
    public init(userId: String, templateId: String) {
        self.userId = userId
        self.templateId = templateId
    }
}

public struct ExposureAck: Codable, Sendable, Equatable {
    public var recorded: Bool
    public init(recorded: Bool) { self.recorded = recorded }
}

/// `stats` (0x0119): `GET /api/coupon/stats`, the seed's metrics for one template. Ratios are
/// plain numbers (never money); nil where the denominator is zero.
public struct StatsRequest: WireRequest, Equatable {
    public typealias Response = TemplateStats
    public static let kind = MessageKind.stats
    public var templateId: String
    public init(templateId: String) { self.templateId = templateId }
}

public struct TemplateStats: Codable, Sendable, Equatable {
    public var templateId: String
    public var exposures: Int64
    public var claims: Int64
    public var uses: Int64
    public var orderAmountCents: Int64
    public var discountAmountCents: Int64
    /// claims ÷ exposures (领取率).
    public var claimRate: Double?
    /// uses ÷ claims (核销率).
    public var useRate: Double?
    /// (order amount − discount amount) ÷ discount amount (ROI as the seed defines it).
    public var roi: Double?
    /// discount amount ÷ order amount (the 8% cost-ratio alarm).
    public var costRatio: Double?

    public init(
        templateId: String, exposures: Int64, claims: Int64, uses: Int64, orderAmountCents: Int64, discountAmountCents: Int64,
        claimRate: Double?, useRate: Double?, roi: Double?, costRatio: Double?
    ) {
        self.templateId = templateId
        self.exposures = exposures
        self.claims = claims
        self.uses = uses
        self.orderAmountCents = orderAmountCents
        self.discountAmountCents = discountAmountCents
        self.claimRate = claimRate
        self.useRate = useRate
        self.roi = roi
        self.costRatio = costRatio
    }
}
