import Domain
import ServiceKit
import Wire

/// The recommendation API over HTTP/JSON (README "Recommendations"), answered by the same
/// `RecommendService` as the binary messages.
struct RecommendRoutes {
    let recommend: RecommendService
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("GET", "/api/coupon/recommend") { call in
                guard let userId = call.query["userId"], !userId.isEmpty else { throw ServiceError(.invalidArgument, "userId: required") }
                guard let amount = call.query["amount"], !amount.isEmpty else {
                    throw ServiceError(.invalidArgument, "amount: required, the order amount in yuan the offers are for")
                }
                let answer = try await recommend.recommend(
                    RecommendRequest(
                        userId: userId, amountCents: try JSONFields.money(.number(amount), field: "amount"),
                        limit: try CouponRoutes.number(call.query["limit"], field: "limit") ?? 10, channel: call.query["channel"] ?? "app",
                        policy: try call.query["policy"].map { text throws(ServiceError) in try CouponJSON.policy(text, field: "policy") }))
                return .json(json.recommendation(answer))
            },
            HTTPRoute("GET", "/api/admin/recommend/log") { call in
                let log = try await recommend.log(
                    RecommendLogRequest(
                        limit: try CouponRoutes.number(call.query["limit"], field: "limit") ?? 100,
                        beforeId: try CouponRoutes.number(call.query["before"], field: "before")))
                return .json([
                    ("decisions", .array(log.decisions.map { .object(json.decision($0)) })),
                    ("nextBefore", log.nextBeforeId.map { .integer($0) } ?? .null),
                ])
            },
            HTTPRoute("GET", "/api/admin/recommend/evaluate") { call in
                guard let policy = call.query["policy"], !policy.isEmpty else { throw ServiceError(.invalidArgument, "policy: required (v0 or v1)") }
                let evaluation = try await recommend.evaluate(
                    RecommendEvaluateRequest(
                        policy: try CouponJSON.policy(policy, field: "policy"),
                        limit: try CouponRoutes.number(call.query["limit"], field: "limit") ?? 10_000))
                return .json(json.evaluation(evaluation))
            },
        ]
    }
}
