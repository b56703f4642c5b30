import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// Templates, claims, wallets, points and profiles: the operator actions of coupon-center, over the
/// binary protocol. Inputs go through the same JSON rules as the HTTP API (`CouponJSON`), so a
/// template file for couponctl is the body of `POST /api/coupon/template`.
enum CouponCommands {
    static let all: [Command] = [template, issue, use, refund, best, exchange, wallet, points, profile]

    /// `--items sku:category:shop:amount,…` → order items.
    static func items(_ values: ConfigValues) throws -> [OrderItem] {
        try values.string("items").split(separator: ",").map { text in
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4 else { throw ConfigError("--items: '\(text)' is not sku:category:shop:amount") }
            do {
                return OrderItem(sku: parts[0], category: parts[1], shopId: parts[2], amountCents: try Money.parseYuan(parts[3]).cents)
            } catch {
                throw ConfigError("--items: \(error)")
            }
        }
    }

    static func money(_ values: ConfigValues, _ flag: String) throws -> Int64 {
        do {
            return try Money.parseYuan(values.string(flag)).cents
        } catch {
            throw ConfigError("--\(flag): \(error)")
        }
    }

    static let orderOptions = [
        ConfigOption("amount", default: "", "the order amount in yuan, e.g. 250.00"),
        ConfigOption("items", default: "", "order lines as sku:category:shop:amount, comma-separated"),
    ]

    static let use = Command(
        name: "use",
        summary: "redeem a coupon on an order (POST /api/coupon/use)",
        options: [
            ConfigOption("order", default: "", "the order id"), ConfigOption("coupon", default: "", "the coupon id"),
            ConfigOption("user", default: "", "when given, the coupon must be this user's"),
            ConfigOption("request-id", default: "", "makes the call safe to retry"),
        ] + orderOptions
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let response = try await client.call(
            UseRequest(
                orderId: values.string("order"), couponId: values.string("coupon"), amountCents: try money(values, "amount"),
                userId: values.nonEmpty("user"), items: try items(values), requestId: values.nonEmpty("request-id")))
        show(CouponJSON(timeZone: .gmt).use(response), output)
    }

    static let refund = Command(
        name: "refund",
        summary: "give a coupon back from a refunded order (POST /api/coupon/refund)",
        options: [ConfigOption("order", default: "", "the order id"), ConfigOption("coupon", default: "", "the coupon id")]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let response = try await client.call(RefundRequest(orderId: values.string("order"), couponId: values.string("coupon")))
        show([("couponId", .string(response.couponId)), ("status", .string(response.status.rawValue))], output)
    }

    static let best = Command(
        name: "best",
        summary: "the best combination of a user's coupons for an order (POST /api/coupon/best)",
        options: [ConfigOption("user", default: "", "the user")] + orderOptions
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let best = try await client.call(
            BestRequest(userId: values.string("user"), amountCents: try money(values, "amount"), items: try items(values)))
        if output.json {
            output.value(.object(CouponJSON(timeZone: .gmt).best(best)))
        } else {
            print(
                "coupons \(best.couponIds.joined(separator: " ")), discount \(Money(cents: best.discountCents).yuanText), payable \(Money(cents: best.payableCents).yuanText)"
            )
            output.table(
                ["COUPON", "APPLIED", "REASON", "DISCOUNT", "WHY"],
                best.explain.map { [$0.couponId, $0.applied ? "yes" : "no", $0.reason, Money(cents: $0.discountCents).yuanText, $0.message] })
        }
    }

    static let timeZoneOption = ConfigOption("time-zone", env: "COUPON_TIME_ZONE", default: "Asia/Shanghai", "time zone of printed times")

    static func json(_ values: ConfigValues) throws -> CouponJSON {
        guard let zone = TimeZone(identifier: values.string("time-zone")) else {
            throw ConfigError("--time-zone: '\(values.string("time-zone"))' is not a time zone name")
        }
        return CouponJSON(timeZone: zone)
    }

    /// Prints an answer: JSON as the HTTP API would give it, or its members one per line.
    static func show(_ members: [(String, JSONValue)], _ output: Output) {
        if output.json {
            output.value(.object(members))
            return
        }
        output.table(
            ["FIELD", "VALUE"],
            members.map { name, value in
                if case .string(let text) = value { return [name, text] }
                return [name, value.serialized()]
            })
    }

    static let templateFlags: [(flag: String, field: String, kind: String)] = [
        ("name", "name", "string"), ("type", "type", "string"), ("threshold", "threshold", "number"), ("discount", "discount", "number"),
        ("rate", "rate", "number"), ("max-discount", "maxDiscount", "number"), ("start", "startTime", "string"),
        ("end", "endTime", "string"), ("valid-hours", "validHours", "number"), ("stock", "totalStock", "number"),
        ("per-user", "perUserLimit", "number"), ("daily", "dailyLimit", "number"), ("budget", "budget", "number"),
        ("level", "level", "string"), ("shop", "shopId", "string"), ("categories", "categories", "list"),
        ("stacking", "stacking", "string"), ("channels", "channels", "list"), ("segments", "segments", "list"),
        ("points-cost", "pointsCost", "number"), ("cost-ceiling", "costCeiling", "number"), ("cost-action", "costAction", "string"),
    ]

    static let template = Command(
        name: "template",
        summary: "template create|show|pause|resume|list|stats: create from a JSON file (--file) or flags, inspect, pause, resume",
        options: [ConfigOption("file", default: "", "create: a JSON file shaped like the body of POST /api/coupon/template"), timeZoneOption]
            + templateFlags.map { ConfigOption($0.flag, default: "", "create: the template's \($0.field)") },
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let json = try json(values)
        let action = values.positional.first ?? ""
        func id() throws -> String {
            guard values.positional.count == 2 else { throw ConfigError("template \(action) takes one template id") }
            return values.positional[1]
        }
        switch action {
        case "create":
            let body: JSONValue
            let file = values.string("file")
            if !file.isEmpty {
                guard let data = FileManager.default.contents(atPath: file) else { throw ConfigError("--file: cannot read \(file)") }
                do {
                    body = try JSONParser.parse(Array(data))
                } catch {
                    throw ServiceError(.malformedJSON, "\(file): \(error)")
                }
            } else {
                var members: [(String, JSONValue)] = []
                for (flag, field, kind) in templateFlags where !values.string(flag).isEmpty {
                    let text = values.string(flag)
                    switch kind {
                    case "number": members.append((field, .number(text)))
                    case "list": members.append((field, .array(text.split(separator: ",").map { .string(String($0)) })))
                    default: members.append((field, .string(text)))
                    }
                }
                body = .object(members)
            }
            let view = try await client.call(CreateTemplateRequest(spec: try CouponJSON.templateSpec(body)))
            show([("templateId", .string(view.templateId))] + json.template(view) + [("warnings", json.templateWarnings(view))], output)
        case "show": show(json.template(try await client.call(GetTemplateRequest(templateId: try id()))), output)
        case "pause": show(json.template(try await client.call(PauseTemplateRequest(templateId: try id()))), output)
        case "resume": show(json.template(try await client.call(ResumeTemplateRequest(templateId: try id()))), output)
        case "stats": show(json.stats(try await client.call(StatsRequest(templateId: try id()))), output)
        case "list":
            let list = try await client.call(ListTemplatesRequest())
            if output.json {
                output.value(.object([("templates", .array(list.templates.map { .object(json.template($0)) }))]))
            } else {
                output.table(
                    ["ID", "NAME", "TYPE", "STATUS", "ISSUED", "STOCK", "USED", "ENDS"],
                    list.templates.map {
                        [
                            $0.templateId, $0.spec.name, $0.spec.type.rawValue, $0.status.rawValue, "\($0.issued)", "\($0.spec.totalStock)",
                            "\($0.used)", Timestamp.formatISO8601($0.spec.endMilliseconds, in: json.timeZone),
                        ]
                    })
            }
        default:
            throw ConfigError("template needs an action: create, show ID, pause ID, resume ID or list")
        }
    }

    static let issue = Command(
        name: "issue",
        summary: "claim a coupon for a user (POST /api/coupon/issue)",
        options: [
            ConfigOption("user", default: "", "the user"), ConfigOption("template", default: "", "the template id"),
            ConfigOption("channel", default: "ops", "the channel"), ConfigOption("device", default: "", "the end user's device id"),
            ConfigOption("ip", default: "", "the end user's IP"), ConfigOption("request-id", default: "", "makes the call safe to retry"),
            timeZoneOption,
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let response = try await client.call(
            ClaimRequest(
                userId: values.string("user"), templateId: values.string("template"), channel: values.string("channel"),
                deviceId: values.nonEmpty("device"), ip: values.nonEmpty("ip"), requestId: values.nonEmpty("request-id")))
        show(try json(values).claim(response), output)
    }

    static let exchange = Command(
        name: "exchange",
        summary: "buy an EXCHANGE coupon with the user's points (POST /api/coupon/exchange)",
        options: [
            ConfigOption("user", default: "", "the user"), ConfigOption("template", default: "", "the EXCHANGE template id"),
            ConfigOption("request-id", default: "", "required: makes the call safe to retry"), timeZoneOption,
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let response = try await client.call(
            ExchangeRequest(userId: values.string("user"), templateId: values.string("template"), requestId: values.string("request-id")))
        show(try json(values).claim(response), output)
    }

    static let wallet = Command(
        name: "wallet",
        summary: "a user's coupons (GET /api/coupon/list)",
        options: [
            ConfigOption("user", default: "", "the user"), ConfigOption("status", default: "", "UNUSED, USED, EXPIRED or REVOKED"),
            timeZoneOption,
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        var status: CouponStatus?
        if let text = values.nonEmpty("status") {
            guard let parsed = CouponStatus(rawValue: text.uppercased()) else { throw ConfigError("--status: '\(text)' is not a coupon status") }
            status = parsed
        }
        let wallet = try await client.call(WalletRequest(userId: values.string("user"), status: status))
        let json = try json(values)
        if output.json {
            output.value(.object([("userId", .string(wallet.userId)), ("coupons", .array(wallet.coupons.map { .object(json.coupon($0)) }))]))
        } else {
            output.table(
                ["COUPON", "TEMPLATE", "TYPE", "STATUS", "THRESHOLD", "DISCOUNT", "EXPIRES"],
                wallet.coupons.map {
                    [
                        $0.couponId, $0.templateName, $0.type.rawValue, $0.status.rawValue, Money(cents: $0.thresholdCents).yuanText,
                        $0.rateBasisPoints.map { Rate.text($0) } ?? Money(cents: $0.discountCents).yuanText,
                        Timestamp.formatISO8601($0.expiresMilliseconds, in: json.timeZone),
                    ]
                })
        }
    }

    static let points = Command(
        name: "points",
        summary: "points grant: add loyalty points to a user (POST /api/points/grant)",
        options: [
            ConfigOption("user", default: "", "the user"), ConfigOption("points", default: "", "how many points to add"),
            ConfigOption("request-id", default: "", "makes the call safe to retry"),
        ],
        takesPositional: true
    ) { values, output in
        guard values.positional == ["grant"] else { throw ConfigError("points needs the action grant") }
        guard let points = Int64(values.string("points")) else { throw ConfigError("--points: a whole number") }
        let client = try values.client()
        defer { client.close() }
        let balance = try await client.call(
            GrantPointsRequest(userId: values.string("user"), points: points, requestId: values.nonEmpty("request-id")))
        show([("userId", .string(balance.userId)), ("points", .integer(balance.points))], output)
    }

    static let profile = Command(
        name: "profile",
        summary: "set a user's tags (POST /api/user/profile) and show their segments",
        options: [
            ConfigOption("user", default: "", "the user"), ConfigOption("tags", default: "", "comma-separated tags, e.g. VIP,PRICE_SENSITIVE"),
            timeZoneOption,
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let tags = values.string("tags").split(separator: ",").map(String.init)
        let profile = try await client.call(SetProfileRequest(userId: values.string("user"), tags: tags))
        show(try json(values).profile(profile), output)
    }
}

extension ConfigValues {
    func nonEmpty(_ flag: String) -> String? {
        let text = string(flag)
        return text.isEmpty ? nil : text
    }
}
