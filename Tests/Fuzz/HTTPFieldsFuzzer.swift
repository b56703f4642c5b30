import Domain
// libFuzzer target `http-fields`: everything coupon-center's HTTP routes do to a body before they
// touch a database. Deploy/fuzz compiles this file and FuzzSupport.swift against the Wire and Domain
// modules.
//
// The bytes are parsed as JSON (Shared/Wire/JSON.swift), then read the way the routes read them:
// `CouponJSON.templateSpec` and `TemplateRules.validate` (template_create), `CouponJSON.orderItems`,
// every `JSONFields` getter on every member, `TemplateRules.identifier` on every string, the money,
// rate and time parsers on every number and string, and the stats ratios on every number. Each step
// may refuse with a `ServiceError`; none may trap. Properties on top:
//   - a template that validates renders (`CouponJSON.template`) to JSON that reads back as the same
//     template;
//   - an amount in yuan, a rate and an instant print as text that parses back to the same value;
//   - a refusal from a reader is a client error (4xx), never an internal one.
import Foundation
import Wire

let shanghai = TimeZone(identifier: "Asia/Shanghai")!
let render = CouponJSON(timeZone: shanghai)

func fuzzTarget(_ bytes: [UInt8]) {
    guard let body = try? JSONParser.parse(bytes) else { return }
    readTemplate(body, input: bytes)
    if case .array(let elements) = body { readItems(elements, input: bytes) }
    guard case .object(let members) = body else {
        readScalars(body, input: bytes)
        return
    }
    let names = Set(members.map(\.0))
    // Duplicate names are refused by the parser, so this cannot fail; a failure is a bug.
    guard let fields = try? JSONFields(body, allowed: names) else { propertyFailed("JSONFields refused its own names", input: bytes) }
    for (name, value) in members {
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.string(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.strings(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.integer(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.int32(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.bool(name, default: false) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.money(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.time(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.rate(name) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.enumeration(name, CouponType.self) }
        refusal(input: bytes) { () throws(ServiceError) in _ = try fields.array(name) }
        if case .array(let elements) = value { readItems(elements, input: bytes) }
        readScalars(value, input: bytes)
    }
}

/// Runs one reader; a refusal must be the client's fault (a 4xx code).
func refusal(input: [UInt8], _ read: () throws(ServiceError) -> Void) {
    do {
        try read()
    } catch {
        guard error.code.httpStatus < 500 else { propertyFailed("a body reader answered \(error) (a server error)", input: input) }
    }
}

func readTemplate(_ body: JSONValue, input: [UInt8]) {
    let spec: TemplateSpec
    do {
        spec = try CouponJSON.templateSpec(body)
        try TemplateRules.validate(spec)
    } catch {
        guard error.code.httpStatus < 500 else { propertyFailed("template_create answered \(error)", input: input) }
        return
    }
    let view = TemplateView(
        templateId: "t1", spec: spec, status: .active, issued: 0, issuedToday: 0, used: 0, budgetSpentCents: 0,
        createdMilliseconds: spec.startMilliseconds, costCeilingBasisPoints: spec.costCeilingBasisPoints ?? 800,
        worstCaseRatioBasisPoints: CostRatio.worstCase(spec).basisPointsRoundedUp, costStopped: false)
    let written = render.template(view).filter { CouponJSON.templateFields.contains($0.0) }
    let reread: TemplateSpec
    do {
        reread = try CouponJSON.templateSpec(try JSONParser.parse(JSONValue.object(written).bytes))
    } catch {
        propertyFailed("a valid template renders to JSON that does not read back: \(error)", input: input)
    }
    guard reread == spec else { propertyFailed("a valid template reads back as \(reread), not \(spec)", input: input) }
}

func readItems(_ elements: [JSONValue], input: [UInt8]) {
    refusal(input: input) { () throws(ServiceError) in
        let items = try CouponJSON.orderItems(elements)
        for (index, item) in items.enumerated() {
            try TemplateRules.identifier(item.sku, field: "items[\(index)].sku")
            try TemplateRules.identifier(item.category, field: "items[\(index)].category")
        }
    }
}

/// Every number and string, at any depth, through the parsers the readers use.
func readScalars(_ value: JSONValue, input: [UInt8], depth: Int = 0) {
    switch value {
    case .number(let text):
        readNumber(text, input: input)
    case .string(let text):
        refusal(input: input) { () throws(ServiceError) in try TemplateRules.identifier(text, field: "id") }
        readTime(text, input: input)
        if let cents = try? Money.parseYuan(text).cents { checkMoney(cents, input: input) }
    case .array(let elements):
        for element in elements.prefix(64) { readScalars(element, input: input, depth: depth + 1) }
    case .object(let members):
        for (_, member) in members.prefix(64) { readScalars(member, input: input, depth: depth + 1) }
    case .null, .bool:
        break
    }
}

func readNumber(_ text: String, input: [UInt8]) {
    if let cents = try? Money.parseYuan(text).cents { checkMoney(cents, input: input) }
    if let basisPoints = Rate.parseBasisPoints(text) {
        guard Rate.parseBasisPoints(Rate.text(basisPoints)) == basisPoints else {
            propertyFailed("rate \(basisPoints) bp prints as \(Rate.text(basisPoints)), which reads back differently", input: input)
        }
    }
    if let ratio = Double(text) {
        let stats = TemplateStats(
            templateId: "t1", exposures: 1, claims: 1, uses: 1, orderAmountCents: 0, discountAmountCents: 0, claimRate: ratio,
            useRate: -ratio, roi: ratio * 1e6, costRatio: ratio / 1e6)
        let written = JSONValue.object(render.stats(stats)).bytes
        guard (try? JSONParser.parse(written)) != nil else { propertyFailed("stats for \(ratio) are not JSON", input: input) }
    }
}

func checkMoney(_ cents: Int64, input: [UInt8]) {
    guard cents >= 0, cents <= Money.maximum.cents else { propertyFailed("parseYuan gave \(cents) cents", input: input) }
    let text = Money(cents: cents).yuanText
    guard (try? Money.parseYuan(text).cents) == cents else {
        propertyFailed("\(cents) cents print as \(text), which reads back differently", input: input)
    }
}

func readTime(_ text: String, input: [UInt8]) {
    guard let milliseconds = Timestamp.parseISO8601(text) else { return }
    guard milliseconds >= 0 else { propertyFailed("parseISO8601 gave \(milliseconds) ms, before the epoch", input: input) }
    for zone in [shanghai, TimeZone(identifier: "UTC")!] {
        let written = Timestamp.formatISO8601(milliseconds, in: zone)
        // Beyond year 9999 the year has five digits, which the parser refuses by design.
        guard milliseconds <= Timestamp.latestMilliseconds else { continue }
        guard Timestamp.parseISO8601(written) == milliseconds else {
            propertyFailed("\(text) = \(milliseconds) ms prints as \(written), which reads back differently", input: input)
        }
    }
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let texts: [(String, String)] = [
        (
            "template-cash",
            #"{"name":"满200减30","type":"CASH","threshold":200,"discount":30,"startTime":"2026-11-11T00:00:00+08:00","endTime":"2026-11-18T00:00:00+08:00","validHours":24,"totalStock":1000,"perUserLimit":1,"dailyLimit":100,"budget":30000,"channels":["app","web"],"segments":["VIP","NEW"],"tiers":[{"segment":"VIP","threshold":150,"discount":30}]}"#
        ),
        (
            "template-discount",
            #"{"name":"8折","type":"DISCOUNT","rate":0.8,"maxDiscount":50,"startTime":"2026-11-11T00:00:00Z","endTime":"2026-11-12T00:00:00.123456789-05:30","totalStock":5,"level":"CATEGORY","categories":["digital"],"stacking":"EXCLUSIVE","thresholdOnDiscounted":true}"#
        ),
        (
            "template-shop",
            #"{"name":"店铺券","type":"FREE","maxDiscount":10.5,"startTime":"2026-11-11T00:00:00+08:00","endTime":"9999-12-30T23:59:59.999Z","totalStock":0,"level":"SHOP","shopId":"S1"}"#
        ),
        (
            "template-exchange",
            #"{"name":"积分兑换","type":"EXCHANGE","discount":5,"pointsCost":100,"startTime":"2026-11-11T00:00:00+08:00","endTime":"2026-11-18T00:00:00+08:00","totalStock":10}"#
        ),
        (
            "use",
            #"{"orderId":"o1","couponId":"c1","amount":199.99,"userId":"u1","items":[{"sku":"k1","category":"digital","shopId":"S1","amount":99.99},{"sku":"k2","category":"food","shopId":"S2","amount":1e2}],"requestId":"r1"}"#
        ),
        ("claim", #"{"userId":"u1","templateId":"t1","channel":"app","deviceId":"d1","ip":"10.0.0.1","requestId":"r1","points":12}"#),
        ("stats", #"[0.12345, 9.3e14, -1e308, 0.00005]"#),
    ]
    return texts.map { ($0.0, Array($0.1.utf8)) }
}
