// libFuzzer target `coupon-center`: outside bytes through coupon-center's real code, with no server.
// Deploy/fuzz compiles every source of Services/CouponCenter but CouponCenterMain.swift (with its SQL
// and Lua files embedded as SwiftPM embeds them), Services/RuleEngine/RuleEngineRoutes.swift, this
// file, FuzzSupport.swift and RouterFuzzing.swift against the library modules.
//
// The process holds one `CouponCenterAssembly` (the wiring `main` serves) over dependencies that
// answer at once:
//   - PostgreSQL and Redis that nothing serves (a unix socket in a directory that does not exist,
//     a refused TCP port): every store call takes the real error path to DEPENDENCY_UNAVAILABLE;
//   - a real rule-engine (`RuleEngineRoutes` on an `RPCRouter`) served in process on `inproc://`,
//     so claims that get that far are checked by the real rules;
//   - a risk-control on `inproc://` that answers every call DEPENDENCY_UNAVAILABLE, so what is
//     exercised is `RiskGate`'s policy for a silent risk-control;
//   - the template cache holding four valid templates (CASH 满200减30, DISCOUNT 8折最高减50, FREE,
//     EXCHANGE, under the ids the seeds use), so claims get past the template into risk, the rules
//     and Redis stock;
//   - the assembly's batched stages, running from the first input on.
//
// The first byte chooses the mode (byte % 4) and, where it matters, a kind (byte / 4):
//   0  HTTP: the rest is `method 0x00 target 0x00 headers 0x00 body` (target is path?query, headers
//      are `Name: value` lines), answered by `HTTPDispatcher.respond`, what the server calls;
//   1  a whole frame to coupon-center's `RPCRouter` (CouponHandlers and the standard handlers);
//   2  the rest as the body of a valid frame of one of coupon-center's kinds;
//   3  the rest decoded (Wire) as one of coupon-center's answers and shown through `CouponJSON` as
//      the HTTP routes show it: whatever a store could hand back, a client sees without a trap.
//
// Properties: an HTTP answer is a JSON object with an integer `code` whose `ErrorCode.httpStatus`
// is its status, and `error` (the code's name) and `message` when the code is not 0; never
// INTERNAL; an answer about a failing dependency (5xx) carries no SQL, libpq or hiredis text. Every
// frame gets exactly one reply frame, for its id and kind when its header was readable
// (`readReply`, RouterFuzzing.swift), with the same rules for its error; a success decodes as the call's answer.
// Rendered answers are JSON that parses back.
import CouponClient
import Domain
import Foundation
import Messaging
import Postgres
import Redis
import ServiceKit
import Wire

/// Everything one fuzzing process serves from.
struct CouponCenterHarness: Sendable {
    let router: RPCRouter
    let http: HTTPDispatcher
    let json: CouponJSON
    let cache: TemplateCache
    let templates: [TemplateView]

    /// The cache forgets a template after a second; one that has is handed in again (from memory:
    /// the store is dead), so every input finds the seeded templates.
    func refreshTemplates() async {
        for view in templates {
            _ = try? await cache.template(view.templateId, load: { view })
        }
    }
}

let harness = makeHarness()

func makeHarness() -> CouponCenterHarness {
    do {
        return try buildHarness()
    } catch {
        fatalError("fuzz: cannot set up coupon-center: \(error)")
    }
}

func buildHarness() throws -> CouponCenterHarness {
    let logger = Logger(service: "coupon-center", level: .error)
    let metrics = Metrics()
    let ruleEngineURL = "inproc://coupon-center-fuzz-rule-engine"
    let riskControlURL = "inproc://coupon-center-fuzz-risk-control"
    let timeout = 2_000
    let arguments = [
        "--rule-engine", ruleEngineURL, "--risk-control", riskControlURL, "--dependency-timeout-ms", String(timeout), "--time-zone",
        "Asia/Shanghai",
    ]
    guard
        case .run(let values) = try ConfigParser.parse(
            program: "coupon-center", summary: "fuzz", options: CouponCenterConfiguration.options, arguments: arguments, environment: [:])
    else { throw ServiceError(.invalidArgument, "the fuzz configuration asked for help") }
    let configuration = try CouponCenterConfiguration(values)

    // The peers first, so the clients dial listeners that exist.
    var ruleEngineRouter = RPCRouter(service: "rule-engine", metrics: Metrics(), logger: logger)
    RuleEngineRoutes.register(on: &ruleEngineRouter)
    ruleEngineRouter.registerStandardHandlers(instance: "fuzz", startedAt: .now, dependencies: { [] })
    let ruleEngine = try RPCListener(urls: [ruleEngineURL], router: ruleEngineRouter, concurrency: 8)
    let riskControl = try RPCListener(urls: [riskControlURL], router: silentRiskControl(logger), concurrency: 8)

    // A unix socket directory that does not exist: libpq fails at once, with no network wait. The
    // configuration's URL cannot say that (its host is not percent-decoded), so the pool is built here.
    let database = PostgresPool(
        config: try PostgresConfig(host: "/nonexistent/coupon-center-fuzz", user: "fuzz", database: "coupon", poolSize: 2))
    // Port 1 on the loopback: nothing listens there, so every connect is refused at once.
    let redis = RedisPool(config: try RedisConfig(url: "redis://127.0.0.1:1/0", poolSize: 2, timeoutMilliseconds: 200))
    let dependencies = Dependencies(
        database: database, redis: redis,
        ruleEngine: try ServiceClient(service: "rule-engine", urls: [ruleEngineURL], timeoutMilliseconds: timeout),
        riskControl: try ServiceClient(service: "risk-control", urls: [riskControlURL], timeoutMilliseconds: timeout),
        timeoutMilliseconds: timeout)

    let parts = CouponCenterAssembly(configuration, dependencies, logger: logger, metrics: metrics)
    // As CouponCenterMain and ServiceMain build coupon-center's router.
    let errorPolicy = ErrorPolicy(translate: translateDependencyError)
    var router = RPCRouter(service: "coupon-center", metrics: metrics, logger: logger)
    router.errorPolicy = errorPolicy
    CouponHandlers.register(on: &router, parts.operations)
    router.registerStandardHandlers(instance: "fuzz", startedAt: .now, dependencies: { await dependencies.health() })

    // Started once and never stopped: the process ends when libFuzzer is done.
    for service in parts.stages + [ruleEngine, riskControl] {
        Task { try await service.run() }
    }
    let harness = CouponCenterHarness(
        router: router, http: HTTPDispatcher(routes: parts.routes, metrics: metrics, logger: logger, errorPolicy: errorPolicy),
        json: CouponJSON(timeZone: configuration.timeZone), cache: parts.operations.templates.cache,
        templates: try seededTemplates(now: unixMilliseconds()))
    try waitFor { () -> Result<Void, ServiceError> in
        do {
            _ = try await redis.command(["PING"])
            return .failure(ServiceError(.invalidArgument, "something answers Redis commands on 127.0.0.1:1; the fuzzer needs a dead Redis"))
        } catch {
            return .success(())
        }
    }.get()
    return harness
}

/// risk-control as coupon-center meets it when risk-control's own store is down.
func silentRiskControl(_ logger: Logger) -> RPCRouter {
    var router = RPCRouter(service: "risk-control", metrics: Metrics(), logger: logger)
    let down = ServiceError(.dependencyUnavailable, "risk-control (the fuzzer's peer) has no store")
    router.register(RiskDecisionRequest.self) { _, _ in throw down }
    router.register(RiskDecisionBatchRequest.self) { _, _ in throw down }
    router.register(RiskReportRequest.self) { _, _ in throw down }
    router.registerStandardHandlers(instance: "fuzz", startedAt: .now, dependencies: { [] })
    return router
}

/// The templates every input finds in the cache, open from a day ago for a year. Each passes
/// `TemplateRules.validate`, as a created one would have.
func seededTemplates(now: Int64) throws -> [TemplateView] {
    let (start, end) = (now - 86_400_000, now + 365 * 86_400_000)
    let specs = [
        TemplateSpec(
            name: "满200减30", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: start, endMilliseconds: end,
            validHours: 24, totalStock: 1_000_000, channels: ["app"]),
        TemplateSpec(
            name: "8折最高减50", type: .discount, rateBasisPoints: 8_000, maxDiscountCents: 5_000, startMilliseconds: start,
            endMilliseconds: end, totalStock: 1_000_000, level: .category, categories: ["digital"]),
        TemplateSpec(
            name: "免单", type: .free, maxDiscountCents: 2_000, startMilliseconds: start, endMilliseconds: end, totalStock: 1_000,
            budgetCents: 100_000),
        TemplateSpec(
            name: "积分兑5元", type: .exchange, discountCents: 500, startMilliseconds: start, endMilliseconds: end, totalStock: 1_000,
            pointsCost: 100),
    ]
    return try zip(seededTemplateIds, specs).map { id, spec in
        try TemplateRules.validate(spec)
        return TemplateView(
            templateId: id, spec: spec, status: .active, issued: 0, issuedToday: 0, used: 0, budgetSpentCents: 0, createdMilliseconds: start,
            costCeilingBasisPoints: 800, worstCaseRatioBasisPoints: CostRatio.worstCase(spec).basisPointsRoundedUp, costStopped: false)
    }
}

let seededTemplateIds = ["T-fuzz-cash", "T-fuzz-discount", "T-fuzz-free", "T-fuzz-exchange"]

// MARK: - One input

func fuzzTarget(_ bytes: [UInt8]) {
    guard let mode = bytes.first else { return }
    let rest = Array(bytes.dropFirst())
    let choice = Int(mode / 4)
    switch mode % 4 {
    case 0:
        let request = httpRequest(rest)
        let response = waitFor {
            await harness.refreshTemplates()
            return await harness.http.respond(to: request)
        }
        checkHTTP(response, to: request, input: bytes)
    case 1, 2:
        let frame =
            mode % 4 == 1
            ? rest : FrameCodec.encode(Frame(header: FrameHeader(kind: servedCalls[choice % servedCalls.count].kind, requestId: 42), body: rest))
        let reply = waitFor {
            await harness.refreshTemplates()
            return await harness.router.handle(frame)
        }
        checkFrame(reply, to: frame, input: bytes)
    default:
        let answer = shownAnswers[choice % shownAnswers.count]
        guard let members = answer.render(rest, harness.json) else { return }
        let body = JSONValue.object([("code", .integer(0))] + members).bytes
        guard case .object? = try? JSONParser.parse(body) else {
            propertyFailed("a \(answer.name) is shown as JSON that does not parse: \(String(decoding: body, as: UTF8.self))", input: bytes)
        }
    }
}

/// `method 0x00 target 0x00 headers 0x00 body`; missing parts are empty, the body keeps any 0x00.
func httpRequest(_ bytes: [UInt8]) -> HTTPRequest {
    let parts = bytes.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
    func text(_ index: Int) -> String { index < parts.count ? String(decoding: parts[index], as: UTF8.self) : "" }
    let target = text(1)
    let (path, query) =
        if let mark = target.firstIndex(of: "?") { (String(target[..<mark]), String(target[target.index(after: mark)...])) } else { (target, "") }
    var headers: [String: String] = [:]
    for line in text(2).split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HTTPRequest(method: text(0), path: path, query: query, headers: headers, body: parts.count > 3 ? Array(parts[3]) : [])
}

/// Text only a store's own error carries: never in what a client is told about an outage.
let storeText = ["SELECT", "INSERT", "UPDATE ", "ERROR:  ", "libpq", "PQ", "hiredis", "claim_coupons", "redeem_coupons", ".s.PGSQL"]

func checkOutage(_ code: ErrorCode, _ text: String, input: [UInt8]) {
    guard code.httpStatus >= 500 else { return }
    if let leaked = storeText.first(where: { text.contains($0) }) {
        propertyFailed("a \(code.name) answer shows the store's text '\(leaked)': \(text)", input: input)
    }
}

func checkHTTP(_ response: HTTPResponse, to request: HTTPRequest, input: [UInt8]) {
    guard response.contentType == "application/json" else {
        // Only `/metrics` answers text.
        guard response.status == 200, response.contentType.hasPrefix("text/plain"), request.path.split(separator: "/") == ["metrics"] else {
            propertyFailed("\(request.method) \(request.path) answered \(response.status) as \(response.contentType)", input: input)
        }
        return
    }
    let text = String(decoding: response.body, as: UTF8.self)
    guard let answer = try? JSONParser.parse(response.body), case .object = answer else {
        propertyFailed("an HTTP answer that is not a JSON object: \(text)", input: input)
    }
    guard case .number(let codeText)? = answer["code"], let raw = UInt16(codeText) else {
        propertyFailed("an HTTP answer without an integer code: \(text)", input: input)
    }
    let code = ErrorCode(rawValue: raw)
    guard code != .internalError else { propertyFailed("coupon-center answered INTERNAL: \(text)", input: input) }
    guard response.status == code.httpStatus else {
        propertyFailed("status \(response.status) for code \(code.name), whose status is \(code.httpStatus): \(text)", input: input)
    }
    guard code != .ok else { return }
    guard case .string(code.name)? = answer["error"], case .string? = answer["message"] else {
        propertyFailed("an HTTP error answer without its code's name as error, or without message: \(text)", input: input)
    }
    checkOutage(code, text, input: input)
}

func checkFrame(_ bytes: [UInt8], to frame: [UInt8], input: [UInt8]) {
    let (reply, error) = readReply(bytes, to: frame, service: "coupon-center", input: input)
    if let error {
        checkOutage(error.code, error.message, input: input)
        return
    }
    guard let request = try? FrameCodec.decode(frame) else { propertyFailed("a reply that is not an error to a bad frame", input: input) }
    guard let call = servedCalls.first(where: { $0.kind == request.header.kind }) else {
        propertyFailed("a success reply to unserved kind \(request.header.kind)", input: input)
    }
    call.check(request, reply, input)
}

/// A kind coupon-center serves, and the check of a success: request and answer decode as its types.
struct ServedCall: Sendable {
    let kind: MessageKind
    let check: @Sendable (Frame, Frame, [UInt8]) -> Void

    init<R: WireRequest>(_: R.Type) {
        kind = R.kind
        check = { request, reply, input in _ = decode(R.self, request, reply, input) }
    }
}

let servedCalls = [
    ServedCall(CreateTemplateRequest.self), ServedCall(GetTemplateRequest.self), ServedCall(PauseTemplateRequest.self),
    ServedCall(ResumeTemplateRequest.self), ServedCall(ListTemplatesRequest.self), ServedCall(ClaimRequest.self), ServedCall(ExchangeRequest.self),
    ServedCall(UseRequest.self), ServedCall(RefundRequest.self), ServedCall(BestRequest.self), ServedCall(GrantPointsRequest.self),
    ServedCall(WalletRequest.self), ServedCall(SetProfileRequest.self), ServedCall(ExposureRequest.self), ServedCall(StatsRequest.self),
    ServedCall(PingRequest.self), ServedCall(ServiceStatsRequest.self), ServedCall(CostStatsRequest.self), ServedCall(AlertsListRequest.self),
    ServedCall(OrderReportRequest.self), ServedCall(CostEvaluateRequest.self), ServedCall(ExperimentClaimRequest.self),
    ServedCall(RecommendRequest.self), ServedCall(RecommendLogRequest.self), ServedCall(RecommendEvaluateRequest.self),
    ServedCall(HealthReportRequest.self),
]

/// An answer a store or a handler can give, read from Wire bytes and shown as its route shows it.
struct ShownAnswer: Sendable {
    let name: String
    let render: @Sendable ([UInt8], CouponJSON) -> [(String, JSONValue)]?

    init<Answer: Decodable & Sendable>(_: Answer.Type, _ show: @escaping @Sendable (Answer, CouponJSON) -> [(String, JSONValue)]) {
        name = "\(Answer.self)"
        render = { bytes, json in (try? WireBody.decode(Answer.self, from: bytes)).map { show($0, json) } }
    }
}

let shownAnswers = [
    ShownAnswer(TemplateView.self) { view, json in json.template(view) },
    ShownAnswer(TemplateList.self) { list, json in [("templates", .array(list.templates.map { .object(json.template($0)) }))] },
    ShownAnswer(ClaimResponse.self) { response, json in json.claim(response) },
    ShownAnswer(Wallet.self) { wallet, json in
        [("userId", .string(wallet.userId)), ("coupons", .array(wallet.coupons.map { .object(json.coupon($0)) }))]
    },
    ShownAnswer(UserProfileView.self) { profile, json in json.profile(profile) },
    ShownAnswer(UseResponse.self) { response, json in json.use(response) },
    ShownAnswer(BestCombination.self) { best, json in json.best(best) },
    ShownAnswer(TemplateStats.self) { stats, json in json.stats(stats) },
    ShownAnswer(CostStats.self) { stats, json in json.costStats(stats) },
    ShownAnswer(AlertList.self) { list, json in json.alertList(list) },
    ShownAnswer(CostEvaluation.self) { evaluation, json in json.costEvaluation(evaluation) },
]

// MARK: - Seeds

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    guard let shanghai = TimeZone(identifier: "Asia/Shanghai") else { throw ServiceError(.internalError, "no time zone Asia/Shanghai") }
    let json = CouponJSON(timeZone: shanghai)
    let now: Int64 = 1_794_326_400_000
    let (cash, discount, free, exchange) = (seededTemplateIds[0], seededTemplateIds[1], seededTemplateIds[2], seededTemplateIds[3])
    func http(_ method: String, _ target: String, _ body: JSONValue? = nil) -> [UInt8] {
        let headers = body == nil ? "" : "Content-Type: application/json"
        return [0] + Array(method.utf8) + [0] + Array(target.utf8) + [0] + Array(headers.utf8) + [0] + (body?.bytes ?? [])
    }
    let items: JSONValue = .array([
        .object([("sku", .string("k1")), ("category", .string("digital")), ("shopId", .string("S1")), ("amount", CouponJSON.yuan(30_000))]),
        .object([("sku", .string("k2")), ("category", .string("food")), ("shopId", .string("S2")), ("amount", CouponJSON.yuan(5_000))]),
    ])
    let template: JSONValue = .object([
        ("name", .string("满200减30")), ("type", .string("CASH")), ("threshold", CouponJSON.yuan(20_000)), ("discount", CouponJSON.yuan(3_000)),
        ("startTime", json.time(now)), ("endTime", json.time(now + 7 * 86_400_000)), ("validHours", .integer(24)),
        ("totalStock", .integer(1_000)), ("perUserLimit", .integer(1)), ("channels", .array([.string("app")])),
        ("tiers", .array([.object([("segment", .string("VIP")), ("threshold", CouponJSON.yuan(10_000)), ("discount", CouponJSON.yuan(2_000))])])),
    ])
    var list: [(name: String, bytes: [UInt8])] = [
        ("http-health", http("GET", "/health")),
        ("http-metrics", http("GET", "/metrics")),
        ("http-template-create", http("POST", "/api/coupon/template", template)),
        ("http-template-list", http("GET", "/api/coupon/template")),
        ("http-template-get", http("GET", "/api/coupon/template/\(cash)")),
        ("http-template-pause", http("POST", "/api/coupon/template/\(cash)/pause")),
        ("http-template-resume", http("POST", "/api/coupon/template/\(cash)/resume")),
        (
            "http-issue-cash",
            http("POST", "/api/coupon/issue", .object([("userId", .string("u1")), ("couponType", .string(cash)), ("channel", .string("app"))]))
        ),
        (
            "http-issue-discount",
            http(
                "POST", "/api/coupon/issue",
                .object([("userId", .string("u2")), ("templateId", .string(discount)), ("channel", .string("web")), ("deviceId", .string("d1"))]))
        ),
        (
            "http-issue-free",
            http(
                "POST", "/api/coupon/issue",
                .object([("userId", .string("u3")), ("couponType", .string(free)), ("channel", .string("app")), ("ip", .string("10.0.0.1"))]))
        ),
        (
            "http-exchange",
            http(
                "POST", "/api/coupon/exchange",
                .object([("userId", .string("u4")), ("templateId", .string(exchange)), ("requestId", .string("r-exchange-1"))]))
        ),
        ("http-points-grant", http("POST", "/api/points/grant", .object([("userId", .string("u4")), ("points", .integer(500))]))),
        ("http-profile", http("POST", "/api/user/profile", .object([("userId", .string("u1")), ("tags", .array([.string("VIP")]))]))),
        (
            "http-use",
            http(
                "POST", "/api/coupon/use",
                .object([
                    ("orderId", .string("o1")), ("couponId", .string("C1")), ("amount", CouponJSON.yuan(35_000)), ("userId", .string("u1")),
                    ("items", items), ("requestId", .string("r-use-1")),
                ]))
        ),
        ("http-refund", http("POST", "/api/coupon/refund", .object([("orderId", .string("o1")), ("couponId", .string("C1"))]))),
        ("http-best", http("POST", "/api/coupon/best", .object([("userId", .string("u1")), ("amount", CouponJSON.yuan(35_000)), ("items", items)]))),
        ("http-exposure", http("POST", "/api/coupon/exposure", .object([("userId", .string("u1")), ("templateId", .string(cash))]))),
        ("http-stats", http("GET", "/api/coupon/stats?templateId=\(cash)")),
        ("http-list", http("GET", "/api/coupon/list?userId=u1&status=unused")),
        ("http-stats-cost", http("GET", "/api/coupon/stats/cost?templateId=\(cash)&window=24h")),
        ("http-alerts", http("GET", "/api/admin/alerts?status=FIRING&limit=10&before=7")),
        ("http-alerts-evaluate", http("POST", "/api/admin/alerts/evaluate")),
        (
            "http-order",
            http("POST", "/api/coupon/order", .object([("orderId", .string("o9")), ("userId", .string("u1")), ("amount", CouponJSON.yuan(10_000))]))
        ),
    ]

    let orderItems = [
        OrderItem(sku: "k1", category: "digital", shopId: "S1", amountCents: 30_000),
        OrderItem(sku: "k2", category: "food", shopId: "S2", amountCents: 5_000),
    ]
    let spec = try CouponJSON.templateSpec(template)
    // Mode 2: a body for the kind servedCalls[byte / 4]; mode 1: a whole frame.
    func body<R: WireRequest>(_ request: R) throws -> [UInt8] {
        guard let index = servedCalls.firstIndex(where: { $0.kind == R.kind }) else { throw ServiceError(.internalError, "\(R.kind) is not served") }
        return [UInt8(index * 4 + 2)] + (try WireBody.encode(request))
    }
    func frame<R: WireRequest>(_ request: R) throws -> [UInt8] { [1] + (try Envelope.request(request, requestId: 7, deadlineMilliseconds: 0)) }
    let calls: [(String, [UInt8], [UInt8])] = [
        ("template-create", try body(CreateTemplateRequest(spec: spec)), try frame(CreateTemplateRequest(spec: spec))),
        ("template-get", try body(GetTemplateRequest(templateId: cash)), try frame(GetTemplateRequest(templateId: cash))),
        ("template-pause", try body(PauseTemplateRequest(templateId: cash)), try frame(PauseTemplateRequest(templateId: cash))),
        ("template-resume", try body(ResumeTemplateRequest(templateId: cash)), try frame(ResumeTemplateRequest(templateId: cash))),
        ("template-list", try body(ListTemplatesRequest(limit: 10)), try frame(ListTemplatesRequest(limit: 10))),
        (
            "claim", try body(ClaimRequest(userId: "u1", templateId: cash, channel: "app")),
            try frame(ClaimRequest(userId: "u1", templateId: cash, channel: "app", deviceId: "d1", ip: "10.0.0.1"))
        ),
        (
            "exchange", try body(ExchangeRequest(userId: "u4", templateId: exchange, requestId: "r-exchange-2")),
            try frame(ExchangeRequest(userId: "u4", templateId: exchange, requestId: "r-exchange-3"))
        ),
        (
            "use", try body(UseRequest(orderId: "o1", couponId: "C1", amountCents: 35_000, userId: "u1", items: orderItems)),
            try frame(UseRequest(orderId: "o2", couponId: "C2", amountCents: 35_000, requestId: "r-use-2"))
        ),
        ("refund", try body(RefundRequest(orderId: "o1", couponId: "C1")), try frame(RefundRequest(orderId: "o1", couponId: "C1"))),
        (
            "best", try body(BestRequest(userId: "u1", amountCents: 35_000, items: orderItems)),
            try frame(BestRequest(userId: "u1", amountCents: 35_000, items: orderItems))
        ),
        (
            "points-grant", try body(GrantPointsRequest(userId: "u4", points: 500)),
            try frame(GrantPointsRequest(userId: "u4", points: 5, requestId: "r-p"))
        ),
        ("wallet", try body(WalletRequest(userId: "u1", status: .unused)), try frame(WalletRequest(userId: "u1"))),
        ("profile-set", try body(SetProfileRequest(userId: "u1", tags: ["VIP"])), try frame(SetProfileRequest(userId: "u1", tags: []))),
        ("exposure", try body(ExposureRequest(userId: "u1", templateId: cash)), try frame(ExposureRequest(userId: "u1", templateId: cash))),
        ("stats", try body(StatsRequest(templateId: cash)), try frame(StatsRequest(templateId: cash))),
        ("ping", try body(PingRequest()), try frame(PingRequest())),
        ("service-stats", try body(ServiceStatsRequest()), try frame(ServiceStatsRequest())),
        (
            "stats-cost", try body(CostStatsRequest(templateId: cash, window: .businessDay)),
            try frame(CostStatsRequest(templateId: nil, window: .lastHour))
        ),
        ("alerts-list", try body(AlertsListRequest(status: .resolved, limit: 5, beforeId: 3)), try frame(AlertsListRequest())),
        (
            "order-report", try body(OrderReportRequest(orderId: "o9", userId: "u1", amountCents: 10_000)),
            try frame(OrderReportRequest(orderId: "o9", userId: "u1", amountCents: 0))
        ),
        ("cost-evaluate", try body(CostEvaluateRequest()), try frame(CostEvaluateRequest())),
    ]
    for (name, bodySeed, frameSeed) in calls {
        list.append(("body-\(name)", bodySeed))
        list.append(("frame-\(name)", frameSeed))
    }

    // Mode 3: answers with the values a store could hand back, the extremes included.
    func shown<Answer: Encodable>(_ name: String, _ value: Answer) throws -> (String, [UInt8]) {
        guard let index = shownAnswers.firstIndex(where: { $0.name == "\(Answer.self)" }) else {
            throw ServiceError(.internalError, "\(Answer.self) is not shown")
        }
        return ("answer-\(name)", [UInt8(index * 4 + 3)] + (try WireBody.encode(value)))
    }
    let view = TemplateView(
        templateId: cash, spec: spec, status: .active, issued: 3, issuedToday: 1, used: 1, budgetSpentCents: 9_000, createdMilliseconds: now,
        costCeilingBasisPoints: 800, worstCaseRatioBasisPoints: 1_500, costStopped: false)
    var extreme = spec
    (extreme.thresholdCents, extreme.discountCents, extreme.startMilliseconds, extreme.endMilliseconds) = (.max, .min, .min, .max)
    let coupon = CouponView(
        couponId: "C1", templateId: cash, templateName: "满200减30", type: .cash, status: .unused, thresholdCents: 20_000, discountCents: 3_000,
        rateBasisPoints: nil, maxDiscountCents: nil, level: .platform, shopId: nil, categories: [], stacking: .stackable,
        claimedMilliseconds: now, expiresMilliseconds: now + 86_400_000, orderId: nil)
    let answers = [
        try shown("template", view),
        try shown(
            "template-extreme",
            TemplateView(
                templateId: cash, spec: extreme, status: .paused, issued: .max, issuedToday: .min, used: -1, budgetSpentCents: .min,
                createdMilliseconds: .min, costCeilingBasisPoints: .min, worstCaseRatioBasisPoints: .min, costStopped: true)),
        try shown("template-list", TemplateList(templates: [view, view])),
        try shown("claim", ClaimResponse(couponId: "C1", templateId: cash, expiresMilliseconds: now, thresholdCents: 20_000, discountCents: 3_000)),
        try shown(
            "claim-extreme",
            ClaimResponse(
                couponId: "C1", templateId: exchange, expiresMilliseconds: .max, thresholdCents: .min, discountCents: .max, pointsLeft: .min)),
        try shown("wallet", Wallet(userId: "u1", coupons: [coupon])),
        try shown(
            "profile",
            UserProfileView(userId: "u1", tags: ["VIP"], orderCount: 5, ordersLast30Days: .max, lastOrderMilliseconds: .min, segments: ["HIGH_FREQ"])),
        try shown("use", UseResponse(orderId: "o1", couponId: "C1", discountCents: .min, payableCents: .max)),
        try shown(
            "best",
            BestCombination(
                couponIds: ["C1"], discountCents: 3_000, payableCents: 32_000,
                explain: [CouponExplanation(couponId: "C1", applied: true, reason: "OK", discountCents: 3_000, message: "满200减30")])),
        try shown(
            "stats",
            TemplateStats(
                templateId: cash, exposures: 10, claims: 3, uses: 1, orderAmountCents: 35_000, discountAmountCents: 3_000, claimRate: 0.3,
                useRate: 1.0 / 3, roi: 10.6667, costRatio: 0.0857)),
        try shown(
            "stats-extreme",
            TemplateStats(
                templateId: cash, exposures: .max, claims: .min, uses: 0, orderAmountCents: .max, discountAmountCents: 1, claimRate: .nan,
                useRate: -.infinity, roi: 9.2e15, costRatio: -1e300)),
        try shown(
            "stats-cost",
            CostStats(
                templateId: nil, window: .lastHour, orders: 1_100, orderAmountCents: 11_000_000, discountCents: 900_000, ratioBasisPoints: 818,
                ceilingBasisPoints: 800, warningBasisPoints: 720, minimumOrders: 200, state: .aboveCeiling)),
        try shown(
            "stats-cost-extreme",
            CostStats(
                templateId: cash, window: .businessDay, orders: .min, orderAmountCents: .max, discountCents: .min, ratioBasisPoints: .min,
                ceilingBasisPoints: .max, warningBasisPoints: .min, minimumOrders: .max, state: .tooFewOrders)),
        try shown(
            "alerts",
            AlertList(
                alerts: [
                    AlertView(
                        alertId: .max, kind: .costRatioWarning, scope: "template:\(cash)", window: .last24Hours, valueBasisPoints: .min,
                        thresholdBasisPoints: .max, status: .resolved, firstSeenMilliseconds: .min, lastSeenMilliseconds: .max,
                        resolvedMilliseconds: .min)
                ], nextBeforeId: .min)),
        try shown("evaluation", CostEvaluation(evaluated: false, judgedScopes: .max, fired: .min, resolved: 0, firing: -1, stoppedTemplates: .max)),
    ]
    return list + answers
}
