import CouponClient
import Domain
import ServiceKit
import Wire

/// The cost ratio and its alerts: windows per template or platform-wide, the alert history, an
/// evaluation now, and orders without coupons (which count in the platform's ratio).
enum CostCommands {
    static let all: [Command] = [cost, alerts, order]

    static let cost = Command(
        name: "cost",
        summary: "the cost ratio of a template (--template) or the platform over 1h, 24h or day (GET /api/coupon/stats/cost)",
        options: [
            ConfigOption("template", default: "", "the template id (empty: platform-wide)"),
            ConfigOption("window", default: "1h", "1h, 24h or day"),
        ]
    ) { values, output in
        guard let window = CostWindow(rawValue: values.string("window").uppercased()) else {
            throw ConfigError("--window: '\(values.string("window"))' is not one of 1h, 24h, day")
        }
        let client = try values.client()
        defer { client.close() }
        let stats = try await client.call(CostStatsRequest(templateId: values.nonEmpty("template"), window: window))
        CouponCommands.show(CouponJSON(timeZone: .gmt).costStats(stats), output)
    }

    static let alerts = Command(
        name: "alerts",
        summary: "alerts [list|evaluate]: the cost-ratio alerts, newest first (GET /api/admin/alerts), or one evaluation now",
        options: [
            ConfigOption("status", default: "", "FIRING or RESOLVED (empty: both)"),
            ConfigOption("limit", default: "100", "alerts per page, 1…1000"), ConfigOption("before", default: "", "the page before this alert id"),
            CouponCommands.timeZoneOption,
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        switch values.positional.first ?? "list" {
        case "list":
            var status: AlertStatus?
            if let text = values.nonEmpty("status") {
                guard let parsed = AlertStatus(rawValue: text.uppercased()) else {
                    throw ConfigError("--status: '\(text)' is not FIRING or RESOLVED")
                }
                status = parsed
            }
            guard let limit = Int32(values.string("limit")) else { throw ConfigError("--limit: '\(values.string("limit"))' is not a number") }
            var before: Int64?
            if let text = values.nonEmpty("before") {
                guard let id = Int64(text) else { throw ConfigError("--before: '\(text)' is not an alert id") }
                before = id
            }
            let list = try await client.call(AlertsListRequest(status: status, limit: limit, beforeId: before))
            let json = try CouponCommands.json(values)
            if output.json {
                output.value(.object(json.alertList(list)))
            } else {
                output.table(
                    ["ID", "KIND", "SCOPE", "WINDOW", "VALUE", "THRESHOLD", "STATUS", "FIRST SEEN", "LAST SEEN"],
                    list.alerts.map {
                        [
                            "\($0.alertId)", $0.kind.rawValue, $0.scope, $0.window.rawValue.lowercased(), CostPercent.text($0.valueBasisPoints) + "%",
                            CostPercent.text(Int64($0.thresholdBasisPoints)) + "%", $0.status.rawValue,
                            Timestamp.formatISO8601($0.firstSeenMilliseconds, in: json.timeZone),
                            Timestamp.formatISO8601($0.lastSeenMilliseconds, in: json.timeZone),
                        ]
                    })
                if let next = list.nextBeforeId { print("more: --before \(next)") }
            }
        case "evaluate":
            let evaluation = try await client.call(CostEvaluateRequest())
            CouponCommands.show(CouponJSON(timeZone: .gmt).costEvaluation(evaluation), output)
        default:
            throw ConfigError("alerts takes list (the default) or evaluate")
        }
    }

    static let order = Command(
        name: "order",
        summary: "report an order that used no coupon, for the platform's cost ratio (POST /api/coupon/order)",
        options: [
            ConfigOption("order", default: "", "the order id"), ConfigOption("user", default: "", "the user"),
            ConfigOption("amount", default: "", "the order amount in yuan, e.g. 100.00"),
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let ack = try await client.call(
            OrderReportRequest(
                orderId: values.string("order"), userId: values.string("user"), amountCents: try CouponCommands.money(values, "amount")))
        CouponCommands.show([("recorded", .bool(ack.recorded))], output)
    }
}
