import CouponClient
import Domain
import ServiceKit
import Wire

/// Personalised offers: one user's recommendation (the offer, the ranked templates with their
/// reasons, the dropped ones with the claim's code), the decision log, and the offline evaluation
/// of a policy on that log.
enum RecommendCommands {
    static let all: [Command] = [recommend]

    static let recommend = Command(
        name: "recommend",
        summary: "recommend [--user U --amount A] | recommend log | recommend evaluate --policy v1: personalised offers (GET /api/coupon/recommend)",
        options: [
            ConfigOption("user", default: "", "the user id"),
            ConfigOption("amount", default: "", "the order amount in yuan the offers are for"),
            ConfigOption("limit", default: "", "how many ranked templates (recommend: 1…50, default 10) or decisions (log: 1…1000, default 100)"),
            ConfigOption("channel", default: "app", "the channel the claim would come through"),
            ConfigOption("policy", default: "", "v0 or v1 (recommend: default the server's COUPON_RECOMMEND_POLICY; evaluate: required)"),
            ConfigOption("before", default: "", "log: the next page, before this decision id"),
            CouponCommands.timeZoneOption,
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let json = try CouponCommands.json(values)
        func number<N: FixedWidthInteger>(_ flag: String) throws -> N? {
            guard let text = values.nonEmpty(flag) else { return nil }
            guard let value = N(text) else { throw ConfigError("--\(flag): '\(text)' is not a whole number") }
            return value
        }
        func policy() throws -> RecommendPolicy? { try values.nonEmpty("policy").map { try CouponJSON.policy($0, field: "--policy") } }
        switch values.positional.first ?? "" {
        case "":
            guard let user = values.nonEmpty("user"), let amount = values.nonEmpty("amount") else {
                throw ConfigError("recommend needs --user and --amount")
            }
            let answer = try await client.call(
                RecommendRequest(
                    userId: user, amountCents: try JSONFields.money(.number(amount), field: "--amount"), limit: try number("limit") ?? 10,
                    channel: values.string("channel"), policy: try policy()))
            if output.json {
                output.value(.object(json.recommendation(answer)))
                return
            }
            print(
                "decision \(answer.decisionId): segment \(answer.segment), policy \(answer.policy.rawValue)\(answer.holdout ? " (holdout)" : ""), "
                    + "arm \(answer.arm.rawValue) (propensity \(answer.propensity)), offer \(answer.offer ?? "none")")
            output.table(
                ["TEMPLATE", "NAME", "TYPE", "THRESHOLD", "DISCOUNT", "EXPECTED", "REASONS"],
                answer.ranked.map {
                    [
                        $0.templateId, $0.name, $0.type.rawValue, Money(cents: $0.thresholdCents).yuanText, Money(cents: $0.discountCents).yuanText,
                        Money(cents: $0.expectedDiscountCents).yuanText, $0.reasons.joined(separator: "; "),
                    ]
                })
            for drop in answer.dropped { print("dropped \(drop.templateId): \(drop.code.rawValue) \(drop.code.name) — \(drop.message)") }
        case "log":
            let log = try await client.call(RecommendLogRequest(limit: try number("limit") ?? 100, beforeId: try number("before")))
            if output.json {
                output.value(
                    .object([
                        ("decisions", .array(log.decisions.map { .object(json.decision($0)) })),
                        ("nextBefore", log.nextBeforeId.map { .integer($0) } ?? .null),
                    ]))
                return
            }
            output.table(
                ["ID", "USER", "SEGMENT", "POLICY", "ARM", "PROPENSITY", "TEMPLATE", "CONVERTED"],
                log.decisions.map {
                    [
                        "\($0.decisionId)", $0.userId, $0.segment, $0.policy.rawValue + ($0.holdout ? " holdout" : ""), $0.arm.rawValue,
                        "\($0.propensity)", $0.templateId ?? "-", $0.converted.map { $0 ? "yes" : "no" } ?? "open",
                    ]
                })
        case "evaluate":
            guard let target = try policy() else { throw ConfigError("recommend evaluate needs --policy v0 or v1") }
            let evaluation = try await client.call(RecommendEvaluateRequest(policy: target, limit: try number("limit") ?? 10_000))
            CouponCommands.show(json.evaluation(evaluation), output)
        default:
            throw ConfigError("recommend takes no action (a recommendation), log or evaluate")
        }
    }
}
