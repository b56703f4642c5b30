// libFuzzer target `risk-control`: frames through a real `RPCRouter` with risk-control's handlers,
// registered by the same `RiskControlRoutes.register` that RiskControlMain calls (which also sets
// `CallerFacingErrors.policy`), plus the standard ping/service_stats handlers ServiceMain adds.
// Deploy/fuzz compiles this file, FuzzSupport.swift, RouterFuzzing.swift (shared with rule-engine's
// target) and Services/RiskControl/{RiskControlRoutes,CallerFacingErrors}.swift against the Wire,
// Messaging, Postgres, Redis, ServiceKit, BatchInputs and Risk modules.
//
// The dependencies point at nothing, so every call that needs one fails the way an outage does:
// the `RiskEngine`'s Redis pool at 127.0.0.1 port 1 (connection refused at once, no timeout, no
// retry sleep; checked before the first input), and the `AuditWriter`'s PostgreSQL pool at the
// same place, never flushed (it only queues, and nothing reaches it without a decision).
//
// An input whose first byte is even is a whole frame (the rest of the bytes); odd, it is a body
// (the rest) sent as a valid frame of one of the served kinds, so mutations reach the handlers.
// The contract:
//   - every byte string gets exactly one reply frame, for the request's id and kind when its header
//     was readable, and never INTERNAL_ERROR (the shield turns every failure into a code of ours);
//   - no error, nor any failed item of a batch, carries Redis's or PostgreSQL's text, and
//     DEPENDENCY_UNAVAILABLE always says only that a dependency is unavailable;
//   - `risk_rules_set` succeeds only for rules `RiskRulesFile.validate` accepts, answers them, and
//     `risk_rules_get` then returns them; a refused set leaves the rules as they were;
//   - nothing that needs Redis succeeds (no decision, list entry or counted report is invented),
//     and a batch answers each of its decisions with exactly one error.
import Postgres
import Redis
import Risk
import ServiceKit
import Wire

let nowhere = "127.0.0.1"
let metrics = Metrics()
let engine: RiskEngine = {
    do {
        let redis = RedisPool(config: try RedisConfig(host: nowhere, port: 1, poolSize: 1, timeoutMilliseconds: 500))
        return RiskEngine(redis: redis, rules: RiskRules(), metrics: metrics)
    } catch {
        fatalError("fuzz: cannot configure the Redis pool: \(error)")
    }
}()
let database: PostgresPool = {
    do {
        return PostgresPool(config: try PostgresConfig(host: nowhere, port: 1, user: "fuzz", database: "fuzz", poolSize: 1))
    } catch {
        fatalError("fuzz: cannot configure the PostgreSQL pool: \(error)")
    }
}()
let audit: AuditWriter = {
    do {
        let database = PostgresPool(config: try PostgresConfig(host: nowhere, port: 1, user: "fuzz", database: "fuzz", poolSize: 1))
        return AuditWriter(database: database, metrics: metrics, logger: Logger(service: "risk-control", level: .error))
    } catch {
        fatalError("fuzz: cannot configure the PostgreSQL pool: \(error)")
    }
}()

/// What the harness keeps between inputs. libFuzzer calls one input at a time and the router's
/// task is awaited before the next, so no two threads touch it at once. A class rather than a
/// global `Mutex`: with Swift 6.3.1 and -O, a global `let model = Mutex(RiskRules())` (a struct of
/// another module) read as all zeros here, while -Onone read the defaults.
final class Harness: @unchecked Sendable {
    /// The router is rebuilt every this many inputs: the shield logs every dependency failure at
    /// error level, and a capturing sink dropped with its router keeps those lines off libFuzzer's
    /// output without growing for the whole run. The engine (and so the rules) outlives routers.
    static let inputsPerRouter = 1024
    var router: RPCRouter?
    var served = 0
    /// The rules risk-control must be using: the defaults, then whatever a successful set installed.
    var expectedRules = RiskRules()
}
let harness = Harness()

func makeRouter() -> RPCRouter {
    let logger = Logger(service: "risk-control", level: .error, sink: LogSink(capturing: true))
    var router = RPCRouter(service: "risk-control", metrics: metrics, logger: logger)
    RiskControlRoutes.register(on: &router, engine: engine, audit: audit, adminAudit: AdminAudit(database: database), rulesFile: "")
    router.registerStandardHandlers(instance: "fuzz", startedAt: .now, dependencies: { [] })
    return router
}

func currentRouter() -> RPCRouter {
    let router = harness.served % Harness.inputsPerRouter == 0 ? makeRouter() : harness.router ?? makeRouter()
    harness.router = router
    harness.served += 1
    return router
}

let servedKinds: [MessageKind] = [
    .riskDecide, .riskDecideBatch, .riskReport, .riskRulesGet, .riskRulesSet, .riskRulesReload, .riskListAdd, .riskListRemove,
    .riskListGet, .ping, .serviceStats, .riskAuditSummary,
]

/// Before the first input: the Redis pool must fail, and fail as a transport error, or the fuzzer
/// would be testing some server that happens to listen there.
let redisIsNowhere: Void = {
    let probe = RedisPool(config: try! RedisConfig(host: nowhere, port: 1, poolSize: 1, timeoutMilliseconds: 500))
    let failure: RedisError? = waitFor {
        do {
            _ = try await probe.command(["PING"])
            return nil
        } catch {
            return error as? RedisError
        }
    }
    guard let failure, failure.code == .connectionFailed else {
        fatalError("fuzz: expected Redis at \(nowhere):1 to refuse the connection, got \(String(describing: failure))")
    }
}()

func fuzzTarget(_ bytes: [UInt8]) {
    _ = redisIsNowhere
    guard let frame = frame(from: bytes, servedKinds: servedKinds) else { return }
    let router = currentRouter()
    check(reply: serve(frame, by: router), to: frame, input: bytes, router: router)
}

func check(reply bytes: [UInt8], to request: [UInt8], input: [UInt8], router: RPCRouter) {
    let (reply, error) = readReply(bytes, to: request, service: "risk-control", input: input)
    let frame = try? FrameCodec.decode(request)
    if let error {
        checkCallerFacing(error, input: input)
        if let frame, frame.header.kind == .riskRulesSet { checkRulesUnchanged(router, input: input) }
        return
    }
    // A success: the request was a well-formed frame of a served kind.
    guard let frame else { propertyFailed("a reply that is not an error to a bad frame", input: input) }
    switch frame.header.kind {
    case .riskDecide:
        propertyFailed("risk_decide answered a decision with Redis unreachable", input: input)
    case .riskDecideBatch:
        let (call, answer) = decode(RiskDecisionBatchRequest.self, frame, reply, input)
        guard answer.results.count == call.decisions.count else {
            propertyFailed("\(call.decisions.count) decisions, \(answer.results.count) results", input: input)
        }
        for outcome in answer.results {
            guard outcome.decision == nil, let error = outcome.error else {
                propertyFailed("a batch item answered \(outcome) with Redis unreachable", input: input)
            }
            checkCallerFacing(error, input: input)
        }
    case .riskReport:
        let (_, answer) = decode(RiskReportRequest.self, frame, reply, input)
        guard !answer.counted else { propertyFailed("risk_report counted a failure with Redis unreachable", input: input) }
    case .riskRulesGet:
        let (_, answer) = decode(GetRiskRulesRequest.self, frame, reply, input)
        let expected = harness.expectedRules
        guard answer == expected else { propertyFailed("risk_rules_get answered \(answer), not \(expected)", input: input) }
    case .riskRulesSet:
        let (call, answer) = decode(SetRiskRulesRequest.self, frame, reply, input)
        do {
            try RiskRulesFile.validate(call.rules)
        } catch {
            propertyFailed("risk_rules_set accepted rules the rules file refuses (\(error)): \(call.rules)", input: input)
        }
        guard answer == call.rules else { propertyFailed("risk_rules_set answered \(answer) for \(call.rules)", input: input) }
        harness.expectedRules = call.rules
        checkRulesUnchanged(router, input: input)
    case .riskRulesReload:
        propertyFailed("risk_rules_reload succeeded without a rules file", input: input)
    case .riskListAdd, .riskListRemove, .riskListGet:
        propertyFailed("\(frame.header.kind) succeeded with Redis unreachable", input: input)
    case .riskAuditSummary:
        propertyFailed("risk_audit_summary answered with PostgreSQL unreachable", input: input)
    default:
        checkStandardSuccess(frame, reply, input)
    }
}

/// What the shield promises a caller: a code of ours, never INTERNAL_ERROR, and none of the
/// dependencies' own text (words the input itself spelled are allowed back in a refusal).
func checkCallerFacing(_ error: ServiceError, input: [UInt8]) {
    guard error.code != .internalError else { propertyFailed("risk-control answered \(error)", input: input) }
    if error.code == .dependencyUnavailable, error.message != "a dependency of risk-control is unavailable" {
        propertyFailed("DEPENDENCY_UNAVAILABLE says more than it should: \(error.message)", input: input)
    }
    let inputText = String(decoding: input, as: UTF8.self)
    for word in ["RedisError", "PostgresError", "hiredis", "Connection refused", "connecting to", "\(nowhere):1"]
    where error.message.contains(word) && !inputText.contains(word) {
        propertyFailed("an error shows a dependency's text ('\(word)'): \(error.message)", input: input)
    }
}

/// `risk_rules_get`, asked through the router, returns the rules the model expects.
func checkRulesUnchanged(_ router: RPCRouter, input: [UInt8]) {
    let request: [UInt8]
    do {
        request = try Envelope.request(GetRiskRulesRequest(), requestId: 43)
    } catch {
        propertyFailed("cannot encode risk_rules_get: \(error)", input: input)
    }
    let expected = harness.expectedRules
    guard let reply = try? FrameCodec.decode(serve(request, by: router)), !reply.isError,
        let rules = try? WireBody.decode(RiskRules.self, from: reply.body)
    else {
        propertyFailed("risk_rules_get failed after risk_rules_set", input: input)
    }
    guard rules == expected else { propertyFailed("risk_rules_get answered \(rules) after a set, not \(expected)", input: input) }
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let decision = RiskDecisionRequest(
        action: .claim, userId: "u-1001", deviceId: "dev-7", ip: "203.0.113.9", templateId: "t-42", couponType: .cash, amountCents: 3_000)
    let free = RiskDecisionRequest(
        action: .exchange, userId: "u-1002", deviceId: nil, ip: "2001:db8::1", templateId: "t-43", couponType: .free, amountCents: 0)
    let invalid = RiskDecisionRequest(
        action: .redeem, userId: "", deviceId: "dev-8", ip: nil, templateId: "t-44", couponType: .discount, amountCents: -1)
    var stricter = RiskRules()
    stricter.userLimitPerWindow = 5
    stricter.accountsPerDevicePerDay = 2
    func body<R: WireRequest>(_ request: R) throws -> [UInt8] { try seedBody(request, servedKinds: servedKinds) }
    return [
        ("body-risk-decide", try body(decision)),
        ("body-risk-decide-batch", try body(RiskDecisionBatchRequest(decisions: [decision, free, invalid]))),
        ("body-risk-decide-batch-invalid", try body(RiskDecisionBatchRequest(decisions: [invalid, invalid]))),
        ("body-risk-report", try body(RiskReportRequest(action: .redeem, userId: "u-1001", deviceId: nil, ip: "203.0.113.9", code: .notOwner))),
        ("body-risk-report-not-counted", try body(RiskReportRequest(action: .claim, userId: "u-1001", deviceId: nil, ip: nil, code: .soldOut))),
        ("body-risk-rules-get", try body(GetRiskRulesRequest())),
        ("body-risk-rules-set", try body(SetRiskRulesRequest(rules: stricter))),
        ("body-risk-rules-set-defaults", try body(SetRiskRulesRequest(rules: RiskRules()))),
        ("body-risk-rules-reload", try body(ReloadRiskRulesRequest())),
        ("body-risk-list-add", try body(AddRiskListEntryRequest(list: .block, subject: .device, value: "dev-7", ttlSeconds: 3_600))),
        ("body-risk-list-remove", try body(RemoveRiskListEntryRequest(list: .allow, subject: .user, value: "u-1001"))),
        ("body-risk-list-get", try body(GetRiskListRequest(list: .block, subject: .ip))),
        ("body-risk-audit-summary", try body(RiskAuditSummaryRequest(fromMilliseconds: 1_764_000_000_000, toMilliseconds: 1_764_003_600_000))),
        ("frame-risk-decide", [0] + (try Envelope.request(decision, requestId: 7, deadlineMilliseconds: 0))),
        ("frame-risk-rules-set", [0] + (try Envelope.request(SetRiskRulesRequest(rules: stricter), requestId: 8))),
        ("frame-ping", [0] + (try Envelope.request(PingRequest(), requestId: 9))),
    ]
}
