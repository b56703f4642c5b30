import Domain
import Foundation
import ServiceKit
import Wire

/// The HTTP/JSON API of Shared/DESIGN.md §4, translated to the same messages the binary protocol
/// carries and answered by the same `Operations`. Money goes out in yuan as a JSON number
/// with two decimals; times as ISO 8601 in the configured time zone.
struct CouponRoutes {
    let operations: Operations
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("POST", "/api/coupon/template") { call in
                let view = try await operations.templates.create(
                    CreateTemplateRequest(spec: try CouponJSON.templateSpec(try call.jsonObject())), by: call.actor)
                return .json([("templateId", .string(view.templateId))] + json.template(view) + [("warnings", json.templateWarnings(view))])
            },
            HTTPRoute("GET", "/api/coupon/template") { _ in
                let list = try await operations.templates.list(ListTemplatesRequest())
                return .json([("templates", .array(list.templates.map { .object(json.template($0)) }))])
            },
            HTTPRoute("GET", "/api/coupon/template/{id}") { call in
                .json(json.template(try await operations.templates.template(call.pathParameters["id"] ?? "")))
            },
            HTTPRoute("POST", "/api/coupon/template/{id}/pause") { call in
                .json(json.template(try await operations.templates.setStatus(call.pathParameters["id"] ?? "", .paused, by: call.actor)))
            },
            HTTPRoute("POST", "/api/coupon/template/{id}/resume") { call in
                .json(json.template(try await operations.templates.setStatus(call.pathParameters["id"] ?? "", .active, by: call.actor)))
            },
            HTTPRoute("POST", "/api/coupon/issue") { call in
                let fields = try JSONFields(
                    try call.jsonObject(), allowed: ["userId", "couponType", "templateId", "channel", "deviceId", "ip", "requestId", "experimentId"])
                let (userId, channel) = (try fields.string("userId"), try fields.string("channel"))
                let (deviceId, ip, requestId) = (
                    try fields.optionalString("deviceId"), try fields.optionalString("ip"), try fields.optionalString("requestId")
                )
                let templateId: String
                let experimentId = try fields.optionalString("experimentId")
                switch (try fields.optionalString("couponType"), try fields.optionalString("templateId")) {
                case (.some, _) where experimentId != nil, (_, .some) where experimentId != nil:
                    throw ServiceError(.invalidArgument, "experimentId: a claim through an experiment names no template (its arm decides)")
                case (let type?, let id?) where type != id:
                    throw ServiceError(.invalidArgument, "couponType and templateId name different templates")
                case (let type?, _): templateId = type
                case (nil, let id?): templateId = id
                case (nil, nil) where experimentId != nil: templateId = ""
                case (nil, nil): throw ServiceError(.invalidArgument, "couponType: required (the template id)")
                }
                let response: ClaimResponse
                if let experimentId {
                    response = try await operations.experiments.claim(
                        ExperimentClaimRequest(
                            userId: userId, experimentId: experimentId, channel: channel, deviceId: deviceId, ip: ip, requestId: requestId))
                } else {
                    response = try await operations.claims.claim(
                        ClaimRequest(userId: userId, templateId: templateId, channel: channel, deviceId: deviceId, ip: ip, requestId: requestId))
                }
                return .json(json.claim(response))
            },
            HTTPRoute("POST", "/api/coupon/exchange") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "templateId", "requestId", "deviceId", "ip"])
                let response = try await operations.claims.exchange(
                    ExchangeRequest(
                        userId: try fields.string("userId"), templateId: try fields.string("templateId"),
                        requestId: try fields.string("requestId"), deviceId: try fields.optionalString("deviceId"),
                        ip: try fields.optionalString("ip")))
                return .json(json.claim(response))
            },
            HTTPRoute("POST", "/api/points/grant") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "points", "requestId"])
                let balance = try await operations.wallets.grantPoints(
                    GrantPointsRequest(
                        userId: try fields.string("userId"), points: try fields.integer("points"),
                        requestId: try fields.optionalString("requestId")))
                return .json([("userId", .string(balance.userId)), ("points", .integer(balance.points))])
            },
            HTTPRoute("POST", "/api/user/profile") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "tags"])
                let profile = try await operations.wallets.setProfile(
                    SetProfileRequest(userId: try fields.string("userId"), tags: try fields.strings("tags")))
                return .json(json.profile(profile))
            },
            HTTPRoute("POST", "/api/coupon/use") { call in
                let fields = try JSONFields(
                    try call.jsonObject(), allowed: ["orderId", "couponId", "amount", "userId", "items", "requestId", "deviceId", "ip"])
                let response = try await operations.redemptions.use(
                    UseRequest(
                        orderId: try fields.string("orderId"), couponId: try fields.string("couponId"), amountCents: try fields.money("amount"),
                        userId: try fields.optionalString("userId"), items: try CouponJSON.orderItems(try fields.array("items")),
                        requestId: try fields.optionalString("requestId"), deviceId: try fields.optionalString("deviceId"),
                        ip: try fields.optionalString("ip")))
                return .json(json.use(response))
            },
            HTTPRoute("POST", "/api/coupon/refund") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["orderId", "couponId"])
                let response = try await operations.refunds.refund(
                    RefundRequest(orderId: try fields.string("orderId"), couponId: try fields.string("couponId")))
                return .json([("couponId", .string(response.couponId)), ("status", .string(response.status.rawValue))])
            },
            HTTPRoute("POST", "/api/coupon/best") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "amount", "items"])
                let best = try await operations.best.best(
                    BestRequest(
                        userId: try fields.string("userId"), amountCents: try fields.money("amount"),
                        items: try CouponJSON.orderItems(try fields.array("items"))))
                return .json(json.best(best))
            },
            HTTPRoute("POST", "/api/coupon/exposure") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["userId", "templateId"])
                _ = try await operations.analytics.recordExposure(
                    ExposureRequest(userId: try fields.string("userId"), templateId: try fields.string("templateId")))
                return .json([("recorded", .bool(true))])
            },
            HTTPRoute("GET", "/api/coupon/stats") { call in
                guard let templateId = call.query["templateId"], !templateId.isEmpty else {
                    throw ServiceError(.invalidArgument, "templateId: required")
                }
                return .json(json.stats(try await operations.analytics.stats(StatsRequest(templateId: templateId))))
            },
            HTTPRoute("GET", "/api/coupon/stats/cost") { call in
                let query = call.query
                let templateId = query["templateId"].flatMap { $0.isEmpty ? nil : $0 }
                let window = try Self.enumeration(query["window"], CostWindow.self, field: "window") ?? .lastHour
                return .json(json.costStats(try await operations.cost.stats(CostStatsRequest(templateId: templateId, window: window))))
            },
            HTTPRoute("GET", "/api/admin/alerts") { call in
                let query = call.query
                let list = try await operations.cost.alerts(
                    AlertsListRequest(
                        status: try Self.enumeration(query["status"], AlertStatus.self, field: "status"),
                        limit: try Self.number(query["limit"], field: "limit") ?? 100, beforeId: try Self.number(query["before"], field: "before")))
                return .json(json.alertList(list))
            },
            HTTPRoute("POST", "/api/admin/alerts/evaluate") { _ in
                .json(json.costEvaluation(try await operations.cost.evaluate(CostEvaluateRequest())))
            },
            HTTPRoute("POST", "/api/coupon/order") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["orderId", "userId", "amount"])
                let ack = try await operations.cost.reportOrder(
                    OrderReportRequest(
                        orderId: try fields.string("orderId"), userId: try fields.string("userId"), amountCents: try fields.money("amount")))
                return .json([("recorded", .bool(ack.recorded))])
            },
            HTTPRoute("GET", "/api/coupon/list") { call in
                let query = call.query
                guard let userId = query["userId"], !userId.isEmpty else { throw ServiceError(.invalidArgument, "userId: required") }
                var status: CouponStatus?
                if let text = query["status"], !text.isEmpty {
                    guard let parsed = CouponStatus(rawValue: text.uppercased()) else {
                        throw ServiceError(
                            .invalidArgument, "status: '\(text)' is not one of \(CouponStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    status = parsed
                }
                let wallet = try await operations.wallets.wallet(WalletRequest(userId: userId, status: status))
                return .json([("userId", .string(wallet.userId)), ("coupons", .array(wallet.coupons.map { .object(json.coupon($0)) }))])
            },
        ]
    }

    /// An optional query value naming a case (any letter case: `window=1h`, `status=firing`).
    static func enumeration<E: RawRepresentable & CaseIterable>(_ text: String?, _: E.Type, field: String) throws(ServiceError) -> E?
    where E.RawValue == String {
        guard let text, !text.isEmpty else { return nil }
        guard let value = E(rawValue: text.uppercased()) else {
            throw ServiceError(
                .invalidArgument, "\(field): '\(text)' is not one of \(E.allCases.map { $0.rawValue.lowercased() }.joined(separator: ", "))")
        }
        return value
    }

    /// An optional whole number in a query value.
    static func number<N: FixedWidthInteger>(_ text: String?, field: String) throws(ServiceError) -> N? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = N(text) else { throw ServiceError(.invalidArgument, "\(field): '\(text)' is not a whole number in range") }
        return value
    }
}
