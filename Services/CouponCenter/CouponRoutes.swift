import Domain
import Foundation
import ServiceKit
import Wire

/// The HTTP/JSON API of DESIGN section 4, translated to the same messages the binary protocol
/// carries and answered by the same `CouponService` methods. Money goes out in yuan as a JSON number
/// with two decimals; times as ISO 8601 in the configured time zone.
struct CouponRoutes {
    let service: CouponService
    let timeZone: TimeZone

    var routes: [HTTPRoute] {
        [
            HTTPRoute("POST", "/api/coupon/template") { call in
                let view = try await service.createTemplate(CreateTemplateRequest(spec: try Self.templateSpec(try call.jsonObject())))
                return .json([("templateId", .string(view.templateId))] + templateMembers(view))
            },
            HTTPRoute("GET", "/api/coupon/template") { _ in
                let list = try await service.listTemplates(ListTemplatesRequest())
                return .json([("templates", .array(list.templates.map { .object(templateMembers($0)) }))])
            },
            HTTPRoute("GET", "/api/coupon/template/{id}") { call in
                .json(templateMembers(try await service.template(call.pathParameters["id"] ?? "")))
            },
            HTTPRoute("POST", "/api/coupon/template/{id}/pause") { call in
                .json(templateMembers(try await service.setStatus(call.pathParameters["id"] ?? "", .paused)))
            },
            HTTPRoute("POST", "/api/coupon/template/{id}/resume") { call in
                .json(templateMembers(try await service.setStatus(call.pathParameters["id"] ?? "", .active)))
            },
            HTTPRoute("POST", "/api/coupon/issue") { call in
                let fields = try JSONFields(
                    try call.jsonObject(), allowed: ["userId", "couponType", "templateId", "channel", "deviceId", "ip", "requestId"])
                let templateId: String
                switch (try fields.optionalString("couponType"), try fields.optionalString("templateId")) {
                case (let type?, let id?) where type != id:
                    throw ServiceError(.invalidArgument, "couponType and templateId name different templates")
                case (let type?, _): templateId = type
                case (nil, let id?): templateId = id
                case (nil, nil): throw ServiceError(.invalidArgument, "couponType: required (the template id)")
                }
                let response = try await service.claim(
                    ClaimRequest(
                        userId: try fields.string("userId"), templateId: templateId, channel: try fields.string("channel"),
                        deviceId: try fields.optionalString("deviceId"), ip: try fields.optionalString("ip"),
                        requestId: try fields.optionalString("requestId")))
                return .json(claimMembers(response))
            },
            HTTPRoute("POST", "/api/coupon/exchange") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "templateId", "requestId", "deviceId", "ip"])
                let response = try await service.exchange(
                    ExchangeRequest(
                        userId: try fields.string("userId"), templateId: try fields.string("templateId"),
                        requestId: try fields.string("requestId"), deviceId: try fields.optionalString("deviceId"),
                        ip: try fields.optionalString("ip")))
                return .json(claimMembers(response))
            },
            HTTPRoute("POST", "/api/points/grant") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "points", "requestId"])
                let balance = try await service.grantPoints(
                    GrantPointsRequest(
                        userId: try fields.string("userId"), points: try fields.integer("points"),
                        requestId: try fields.optionalString("requestId")))
                return .json([("userId", .string(balance.userId)), ("points", .integer(balance.points))])
            },
            HTTPRoute("POST", "/api/user/profile") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "tags"])
                let profile = try await service.setProfile(SetProfileRequest(userId: try fields.string("userId"), tags: try fields.strings("tags")))
                return .json(profileMembers(profile))
            },
            HTTPRoute("GET", "/api/coupon/list") { call in
                let query = call.query
                guard let userId = query["userId"], !userId.isEmpty else { throw ServiceError(.invalidArgument, "userId: required") }
                var status: CouponStatus?
                if let text = query["status"], !text.isEmpty {
                    guard let parsed = CouponStatus(rawValue: text.uppercased()) else {
                        throw ServiceError(.invalidArgument, "status: '\(text)' is not one of \(CouponStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    status = parsed
                }
                let wallet = try await service.wallet(WalletRequest(userId: userId, status: status))
                return .json([("userId", .string(wallet.userId)), ("coupons", .array(wallet.coupons.map { .object(couponMembers($0)) }))])
            },
        ]
    }

    // MARK: JSON → messages

    static let templateFields: Set<String> = [
        "name", "type", "threshold", "discount", "rate", "maxDiscount", "startTime", "endTime", "validHours", "totalStock",
        "perUserLimit", "dailyLimit", "budget", "level", "shopId", "categories", "stacking", "thresholdOnDiscounted", "channels",
        "segments", "pointsCost", "tiers",
    ]

    static func templateSpec(_ body: JSONValue) throws(ServiceError) -> TemplateSpec {
        let fields = try JSONFields(body, allowed: templateFields)
        var tiers: [Tier] = []
        for (index, element) in try fields.array("tiers").enumerated() {
            let tier = try JSONFields(element, allowed: ["segment", "threshold", "discount"])
            tiers.append(
                Tier(
                    segment: try tier.string("segment"), thresholdCents: try tier.optionalMoney("threshold") ?? 0,
                    discountCents: try tier.money("discount")))
            _ = index
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
            segments: try fields.strings("segments"), pointsCost: try fields.int32("pointsCost", default: 0), tiers: tiers)
    }

    // MARK: messages → JSON

    static func yuan(_ cents: Int64) -> JSONValue { .number(Money(cents: cents).yuanText) }
    func time(_ milliseconds: Int64) -> JSONValue { .string(Timestamp.formatISO8601(milliseconds, in: timeZone)) }

    func templateMembers(_ view: TemplateView) -> [(String, JSONValue)] {
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
            ("tiers", .array(spec.tiers.map { .object([("segment", .string($0.segment)), ("threshold", Self.yuan($0.thresholdCents)), ("discount", Self.yuan($0.discountCents))]) })),
        ]
        members.append(
            ("counters", .object([
                ("issued", .integer(view.issued)), ("issuedToday", .integer(view.issuedToday)), ("used", .integer(view.used)),
                ("budgetSpent", Self.yuan(view.budgetSpentCents)), ("remainingStock", .integer(max(0, spec.totalStock - view.issued))),
            ])))
        members.append(("createdAt", time(view.createdMilliseconds)))
        return members
    }

    func claimMembers(_ response: ClaimResponse) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("couponId", .string(response.couponId)), ("templateId", .string(response.templateId)),
            ("expiresAt", time(response.expiresMilliseconds)), ("threshold", Self.yuan(response.thresholdCents)),
            ("discount", Self.yuan(response.discountCents)),
        ]
        if let points = response.pointsLeft { members.append(("pointsLeft", .integer(points))) }
        return members
    }

    func couponMembers(_ coupon: CouponView) -> [(String, JSONValue)] {
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

    func profileMembers(_ profile: UserProfileView) -> [(String, JSONValue)] {
        [
            ("userId", .string(profile.userId)), ("tags", .array(profile.tags.map { .string($0) })),
            ("orderCount", .integer(profile.orderCount)), ("ordersLast30Days", .integer(profile.ordersLast30Days)),
            ("lastOrderAt", profile.lastOrderMilliseconds.map(time) ?? .null), ("segments", .array(profile.segments.map { .string($0) })),
        ]
    }
}

/// The binary protocol: every operation of the HTTP API, same service methods.
enum CouponHandlers {
    static func register(on router: inout RPCRouter, service: CouponService) {
        router.register(CreateTemplateRequest.self) { request, _ in try await service.createTemplate(request) }
        router.register(GetTemplateRequest.self) { request, _ in try await service.template(request.templateId) }
        router.register(PauseTemplateRequest.self) { request, _ in try await service.setStatus(request.templateId, .paused) }
        router.register(ResumeTemplateRequest.self) { request, _ in try await service.setStatus(request.templateId, .active) }
        router.register(ListTemplatesRequest.self) { request, _ in try await service.listTemplates(request) }
        router.register(ClaimRequest.self) { request, _ in try await service.claim(request) }
        router.register(ExchangeRequest.self) { request, _ in try await service.exchange(request) }
        router.register(GrantPointsRequest.self) { request, _ in try await service.grantPoints(request) }
        router.register(WalletRequest.self) { request, _ in try await service.wallet(request) }
        router.register(SetProfileRequest.self) { request, _ in try await service.setProfile(request) }
    }
}
