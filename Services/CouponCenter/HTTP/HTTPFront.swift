import Access
import Messaging
import ServiceKit
import Wire

/// One HTTP route: a method and a path pattern whose `{name}` segments are captured.
struct HTTPRoute: Sendable {
    var method: String
    var pattern: [Substring]
    var handler: @Sendable (HTTPCall) async throws -> HTTPAnswer

    init(_ method: String, _ pattern: String, _ handler: @escaping @Sendable (HTTPCall) async throws -> HTTPAnswer) {
        self.method = method
        self.pattern = pattern.split(separator: "/")
        self.handler = handler
    }

    func match(_ segments: [Substring]) -> [String: String]? {
        guard segments.count == pattern.count else { return nil }
        var captured: [String: String] = [:]
        for (expected, actual) in zip(pattern, segments) {
            if expected.hasPrefix("{") && expected.hasSuffix("}") {
                captured[String(expected.dropFirst().dropLast())] = percentDecoded(actual)
            } else if expected != actual {
                return nil
            }
        }
        return captured
    }
}

/// What a route handler sees: the request, its path parameters, its query, and who is calling.
struct HTTPCall: Sendable {
    var request: HTTPRequest
    var pathParameters: [String: String]
    /// Who the credential belongs to (`HTTPGate`); nil for an open route, or with no gate.
    var principal: Principal? = nil

    /// Who the audit log names for a change made by this request.
    var actor: AuditActor {
        let requestId = request.headers["X-Request-Id"]
        return principal.map { AuditActor($0, requestId: requestId) } ?? .unauthenticated(requestId: requestId)
    }

    /// The session id this request presents (cookie or bearer), for logout and `me`.
    var sessionId: String? {
        let presented = HTTPGate.credential(of: request).value
        return presented.flatMap { CredentialText.kind(of: $0) == .session ? $0 : nil }
    }

    var query: [String: String] {
        var result: [String: String] = [:]
        for pair in request.query.split(separator: "&") {
            // `=value` has no key: split drops the empty piece, so read the key and value by position.
            let (keyText, valueText): (Substring, Substring?) =
                if let equals = pair.firstIndex(of: "=") { (pair[..<equals], pair[pair.index(after: equals)...]) } else { (pair, nil) }
            guard !keyText.isEmpty else { continue }
            let key = percentDecoded(keyText.replacingOccurrences(of: "+", with: " ")[...])
            let value = valueText.map { percentDecoded($0.replacingOccurrences(of: "+", with: " ")[...]) } ?? ""
            result[key] = value
        }
        return result
    }

    /// The body as a JSON object, or `malformedJSON`.
    func jsonObject() throws(ServiceError) -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONParser.parse(request.body)
        } catch {
            throw ServiceError(.malformedJSON, "body is not valid JSON: \(error)")
        }
        guard case .object = value else { throw ServiceError(.malformedJSON, "body must be a JSON object, got \(value.typeName)") }
        return value
    }
}

/// A route's answer: a JSON body with `code` 0 added (and any header lines, `Set-Cookie`), or raw
/// text (`/metrics`).
enum HTTPAnswer: Sendable {
    case json([(String, JSONValue)], status: Int = 200, headers: [(name: String, value: String)] = [])
    case text(String, contentType: String)
}

/// The HTTP/JSON API served over `HTTPServer`. Every answer carries `code` (0 on success, a stable
/// error code otherwise) and on failure `message`; the HTTP status comes from the one table in
/// `ErrorCode`. The answering is `HTTPDispatcher`'s; this only owns the socket.
struct HTTPFront: LifecycleService {
    let name = "http"
    private let server: HTTPServer
    let dispatcher: HTTPDispatcher

    init(
        url: String, maxBodyBytes: Int, readTimeoutMilliseconds: Int = 10_000, idleTimeoutMilliseconds: Int = 60_000,
        maxConnections: Int = HTTPServer.defaultMaxConnections, routes: [HTTPRoute], gate: HTTPGate? = nil, metrics: Metrics, logger: Logger,
        errorPolicy: ErrorPolicy = ErrorPolicy()
    ) throws(ServiceError) {
        metrics.describe(
            "http_refused_total", type: "counter",
            help: "HTTP requests the server answered before routing, and connections closed at the connection limit, by reason")
        do {
            let timeouts = HTTPServer.Timeouts(readMilliseconds: readTimeoutMilliseconds, idleMilliseconds: idleTimeoutMilliseconds)
            server = try HTTPServer(
                url: url, maxBodyBytes: maxBodyBytes, timeouts: timeouts, maxConnections: maxConnections,
                observeRefusal: { refusal in metrics.increment("http_refused_total", [("reason", refusal.label)]) })
        } catch {
            throw ServiceError(.dependencyUnavailable, "cannot serve HTTP on \(url): \(error)")
        }
        dispatcher = HTTPDispatcher(routes: routes, gate: gate, metrics: metrics, logger: logger, errorPolicy: errorPolicy)
    }

    func run() async throws {
        let dispatcher = self.dispatcher
        await server.run { request in await dispatcher.respond(to: request) }
    }

    func shutdown() async { await server.shutdown() }

    func respond(to request: HTTPRequest) async -> HTTPResponse { await dispatcher.respond(to: request) }
}

/// What the HTTP front does with a request once it is read: finds its route, runs it, and turns
/// its answer or its failure into JSON, counting it in `metrics`. Apart from the socket so that the
/// coupon-center fuzzer (Tests/Fuzz/CouponCenterFuzzer.swift) answers requests exactly as the server does.
struct HTTPDispatcher: Sendable {
    private let routes: [HTTPRoute]
    /// Checks each request's credential against its route's requirement before the handler runs;
    /// nil admits every request (in-process tests of the routes themselves).
    private let gate: HTTPGate?
    private let metrics: Metrics
    private let logger: Logger
    private let errorPolicy: ErrorPolicy

    init(routes: [HTTPRoute], gate: HTTPGate? = nil, metrics: Metrics, logger: Logger, errorPolicy: ErrorPolicy = ErrorPolicy()) {
        self.routes = routes
        self.gate = gate
        self.metrics = metrics
        self.logger = logger
        self.errorPolicy = errorPolicy
        metrics.describe("http_requests_total", type: "counter", help: "HTTP requests, by route and result code")
        metrics.describe("http_request_duration_seconds", type: "histogram", help: "HTTP request latency, by route")
    }

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        let started = ContinuousClock.now
        let segments = request.path.split(separator: "/")
        var label = "unmatched"
        var code = ErrorCode.ok
        defer {
            let micros = (ContinuousClock.now - started).wholeMicroseconds
            metrics.increment("http_requests_total", [("route", label), ("code", code.name)])
            metrics.observe("http_request_duration_seconds", [("route", label)], microseconds: micros)
        }
        let candidates = routes.compactMap { route in route.match(segments).map { (route, $0) } }
        guard !candidates.isEmpty else {
            code = .unknownPath
            return Self.error(ServiceError(.unknownPath, "no such path: \(request.method) \(request.path)"))
        }
        let method = request.method == "HEAD" ? "GET" : request.method
        guard let (route, parameters) = candidates.first(where: { $0.0.method == method }) else {
            code = .methodNotAllowed
            let allowed = candidates.map(\.0.method).joined(separator: ", ")
            return Self.error(ServiceError(.methodNotAllowed, "\(request.method) not allowed on \(request.path); use \(allowed)"))
        }
        label = "\(route.method) /" + route.pattern.joined(separator: "/")
        do {
            let principal = try await gate?.admit(route: label, request: request)
            switch try await route.handler(HTTPCall(request: request, pathParameters: parameters, principal: principal)) {
            case .json(let members, let status, let headers):
                if case .number(let text)? = members.first(where: { $0.0 == "code" })?.1, let raw = UInt16(text) {
                    code = ErrorCode(rawValue: raw)
                }
                let withCode = members.contains { $0.0 == "code" } ? members : [("code", .integer(0))] + members
                return HTTPResponse(status: status, headers: headers, body: JSONValue.object(withCode).bytes)
            case .text(let text, let contentType):
                return HTTPResponse(status: 200, contentType: contentType, body: Array(text.utf8))
            }
        } catch {
            let answer = errorPolicy.answer(for: error, logger: logger.with([("route", label)]))
            code = answer.code
            return Self.error(answer)
        }
    }

    /// Every route as the access table names it (`POST /api/coupon/template/{id}/pause`).
    var routeLabels: [String] { routes.map { "\($0.method) /" + $0.pattern.joined(separator: "/") } }

    static func error(_ error: ServiceError) -> HTTPResponse {
        HTTPResponse(
            status: error.code.httpStatus,
            body: JSONValue.object([
                ("code", .integer(error.code.rawValue)), ("error", .string(error.code.name)), ("message", .string(error.message)),
            ]).bytes)
    }
}

/// Decodes %XX escapes; invalid escapes are kept as written.
func percentDecoded(_ text: Substring) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
            let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
        {
            bytes.append(value)
            iterator = iterator.dropFirst(2)
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
