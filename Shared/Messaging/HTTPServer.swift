internal import CNNG
import Synchronization

public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The path without the query, percent-decoding left to the caller.
    public var path: String
    public var query: String
    /// Every header, named in canonical case (`Content-Type`, `X-Request-Id`); repeated headers
    /// joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Further header lines (`Set-Cookie`), written in order; a name or value holding a line break
    /// is dropped rather than allowed to split the head.
    public var headers: [(name: String, value: String)]

    public init(status: Int, contentType: String = "application/json", headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }
}

/// An HTTP/1.1 server on nng's byte streams (`nng_stream_listener`), one handler for every path and
/// method.
///
/// Why not nng's own HTTP server: in nng 1.5.2 it sets no timeout on the reads of a connection (a
/// client sending half a request holds it forever), answers what it refuses by itself with HTML,
/// and ignores `Transfer-Encoding: chunked` (the body reads as empty and the chunks as the next
/// request). Here the framing is `HTTPRequestParser` (pure, tested byte by byte) and every answer,
/// the refusals included, is JSON with a `code`.
///
/// Each connection is a child task of `run`: it receives into the parser, hands each complete
/// request to the handler and writes the answer, one request at a time (pipelined requests wait in
/// the parser's buffer). Timeouts are nng aio timeouts on each receive and send:
/// - read timeout: from the first byte of a request until its last, whatever the pace (a client
///   trickling a byte a second is cut off too); the client gets 408 and the connection closes. An
///   answer must also be taken by the client within this time.
/// - idle timeout: a kept-alive connection with no request in progress is closed silently.
/// At most `maxConnections` are open at once; past that a new connection is closed unanswered.
/// A refused request is answered with `Connection: close`; the server then reads and drops what the
/// client still sends for a moment before closing, so the client reads the answer rather than a
/// reset.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    /// What the server turned away before any handler saw it, for the caller's metrics: a request
    /// refused with an answer (`HTTPRefusal.Kind`), or a connection closed unanswered because
    /// `maxConnections` were already open.
    public enum Refusal: Sendable, Equatable {
        case request(HTTPRefusal.Kind)
        case connectionLimit

        /// A stable label: the refusal's error name, or `CONNECTION_LIMIT`.
        public var label: String {
            switch self {
            case .request(let kind): kind.name
            case .connectionLimit: "CONNECTION_LIMIT"
            }
        }
    }
    public typealias RefusalObserver = @Sendable (Refusal) -> Void

    public struct Timeouts: Sendable {
        public var readMilliseconds: Int
        public var idleMilliseconds: Int

        public init(readMilliseconds: Int = 10_000, idleMilliseconds: Int = 60_000) {
            self.readMilliseconds = readMilliseconds
            self.idleMilliseconds = idleMilliseconds
        }
    }

    /// An accepted connection's stream; freed only by the task that serves it, after it left the
    /// registry, so `shutdown` (which closes streams under the registry lock) never sees a freed one.
    private struct OpenStream: @unchecked Sendable {
        let stream: OpaquePointer
    }

    private struct Registry {
        var draining = false
        var inFlight = 0
        var nextId = 0
        /// Open connections, and whether each is answering a request right now (from the handler's
        /// start to the answer's last byte).
        var connections: [Int: (stream: OpenStream, handling: Bool)] = [:]
    }

    // Set once in init, closed by `shutdown`, freed in deinit.
    nonisolated(unsafe) private let listener: OpaquePointer
    private let registry = Mutex(Registry())
    private let limits: HTTPRequestParser.Limits
    private let timeouts: Timeouts
    private let maxConnections: Int
    private let drainTimeoutMilliseconds: Int
    private let observeRefusal: RefusalObserver
    /// The address served, with port 0 replaced by the port the system chose.
    public let url: String

    /// How long a refused connection is read from and drained before it is closed.
    static let lingerMilliseconds = 1_000
    /// The receive buffer of each connection: small, since every open connection holds one, and a
    /// request above it simply takes more receives.
    static let receiveBufferBytes = 8 * 1024

    /// `maxConnections` bounds what a flood of connections can take (descriptors, buffers) from
    /// the rest of the process: past it a new connection is closed at once. `observeRefusal` is
    /// told of every request or connection turned away before the handler (called on the
    /// connection's task; keep it cheap).
    public init(
        url: String, maxBodyBytes: Int = 1 << 20, timeouts: Timeouts = Timeouts(), maxConnections: Int = defaultMaxConnections,
        drainTimeoutMilliseconds: Int = 10_000, observeRefusal: @escaping RefusalObserver = { _ in }
    ) throws(MessagingError) {
        guard maxConnections > 0 else {
            throw MessagingError(code: .other, operation: "listen \(url)", text: "maxConnections \(maxConnections) is not positive")
        }
        let authority = try Self.authority(of: url)
        var listener: OpaquePointer?
        try nngCheck(nng_stream_listener_alloc(&listener, "tcp://\(authority)"), "listen \(url)")
        guard let listener else { throw MessagingError(code: .other, operation: "listen \(url)", text: "no listener") }
        do {
            // Answers are small writes; without this, a second answer on a connection waits for the
            // client's delayed acknowledgement of the first.
            try nngCheck(nng_stream_listener_set_bool(listener, NNG_OPT_TCP_NODELAY, true), "listen \(url): TCP_NODELAY")
            try nngCheck(nng_stream_listener_listen(listener), "listen \(url)")
        } catch {
            nng_stream_listener_free(listener)
            throw error
        }
        var port: Int32 = 0
        if nng_stream_listener_get_int(listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0, authority.hasSuffix(":0") {
            self.url = "http://" + authority.dropLast(2) + ":\(port)"
        } else {
            self.url = url
        }
        self.listener = listener
        self.limits = HTTPRequestParser.Limits(maxBodyBytes: maxBodyBytes)
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.drainTimeoutMilliseconds = drainTimeoutMilliseconds
        self.observeRefusal = observeRefusal
    }

    /// Open connections allowed at once unless the caller says otherwise.
    public static let defaultMaxConnections = 4096

    deinit {
        nng_stream_listener_free(listener)
    }

    /// `host:port` of an `http://host:port[/]` URL, as nng's tcp transport spells it.
    private static func authority(of url: String) throws(MessagingError) -> String {
        try HTTPURL(parsing: url, for: "listen").authority
    }

    static func splitURI(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }

    /// Serves until `shutdown()`: accepts connections, one child task each, and returns when the
    /// last connection is closed.
    public func run(_ handler: @escaping Handler) async {
        guard let accepting = try? AsyncAIO() else { return }
        await withDiscardingTaskGroup { group in
            while true {
                let result = await accepting.run { aio in
                    nng_stream_listener_accept(listener, aio)
                    return true
                }
                guard result == 0 else {
                    if registry.withLock({ $0.draining }) || result == Int32(NNG_ECLOSED.rawValue) { break }
                    // Out of descriptors or a connection reset before accept: try again shortly.
                    try? await Task.sleep(for: .milliseconds(10))
                    continue
                }
                guard let stream = nng_aio_get_output(accepting.handle, 0).map(OpaquePointer.init) else { continue }
                let id = registry.withLock { registry -> Int? in
                    guard !registry.draining, registry.connections.count < maxConnections else { return nil }
                    registry.nextId += 1
                    registry.connections[registry.nextId] = (OpenStream(stream: stream), false)
                    return registry.nextId
                }
                guard let id else {
                    nng_stream_free(stream)
                    if !registry.withLock({ $0.draining }) { observeRefusal(.connectionLimit) }
                    continue
                }
                let open = OpenStream(stream: stream)
                group.addTask {
                    await self.serve(open, id: id, handler)
                    self.registry.withLock { _ = $0.connections.removeValue(forKey: id) }
                    nng_stream_free(open.stream)
                }
            }
        }
    }

    /// Stops taking connections and requests; `run` returns once the requests being handled are
    /// answered (or `drainTimeoutMilliseconds` passed) and every connection is closed.
    public func shutdown() async {
        registry.withLock { registry in
            registry.draining = true
            for (_, connection) in registry.connections where !connection.handling {
                nng_stream_close(connection.stream.stream)
            }
        }
        nng_stream_listener_close(listener)
        let deadline = ContinuousClock.now + .milliseconds(drainTimeoutMilliseconds)
        while registry.withLock({ $0.inFlight > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        registry.withLock { registry in
            for (_, connection) in registry.connections { nng_stream_close(connection.stream.stream) }
        }
    }

    // MARK: One connection

    private func serve(_ open: OpenStream, id: Int, _ handler: Handler) async {
        guard let connection = try? Connection(stream: open.stream) else { return }
        var parser = HTTPRequestParser(limits: limits)
        var requestDeadline: ContinuousClock.Instant?
        while true {
            switch parser.next() {
            case .needMore:
                let timeout: Duration
                if parser.hasPartialRequest {
                    let deadline = requestDeadline ?? ContinuousClock.now + .milliseconds(timeouts.readMilliseconds)
                    requestDeadline = deadline
                    timeout = deadline - ContinuousClock.now
                } else {
                    if registry.withLock({ $0.draining }) { return }
                    requestDeadline = nil
                    timeout = .milliseconds(timeouts.idleMilliseconds)
                }
                switch await connection.receive(timeout: timeout) {
                case .received(let bytes):
                    parser.append(bytes)
                case .timedOut where parser.hasPartialRequest:
                    let refusal = HTTPRefusal(.timedOut, "request not received within \(timeouts.readMilliseconds) ms")
                    observeRefusal(.request(refusal.kind))
                    guard await connection.send(Self.encode(Self.answer(refusal), closing: true), timeout: writeTimeout) else { return }
                    await connection.drain(for: .milliseconds(Self.lingerMilliseconds))
                    return
                case .timedOut, .closed:
                    return
                }
            case .continueExpected:
                guard await connection.send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), timeout: writeTimeout) else { return }
            case .refused(let refusal):
                observeRefusal(.request(refusal.kind))
                guard await connection.send(Self.encode(Self.answer(refusal), closing: true), timeout: writeTimeout) else { return }
                await connection.drain(for: .milliseconds(Self.lingerMilliseconds))
                return
            case .request(let request, let keepAlive):
                requestDeadline = nil
                let admitted = registry.withLock { registry in
                    guard !registry.draining else { return false }
                    registry.inFlight += 1
                    registry.connections[id]?.handling = true
                    return true
                }
                guard admitted else {
                    let refusal = HTTPRefusal(.shuttingDown, "shutting down")
                    observeRefusal(.request(refusal.kind))
                    _ = await connection.send(Self.encode(Self.answer(refusal), closing: true), timeout: writeTimeout)
                    return
                }
                let response = await handler(request)
                let closing = !keepAlive || registry.withLock { $0.draining }
                let bytes = Self.encode(response, omittingBody: request.method == "HEAD", closing: closing)
                let sent = await connection.send(bytes, timeout: writeTimeout)
                // Only now is the connection idle again: `shutdown` must not cut an answer half-written.
                let draining = registry.withLock { registry in
                    registry.inFlight -= 1
                    registry.connections[id]?.handling = false
                    return registry.draining
                }
                guard sent, !closing, !draining else { return }
            }
        }
    }

    private var writeTimeout: Duration { .milliseconds(timeouts.readMilliseconds) }

    /// A refusal in the shape of every error answer of the API: code, name and message.
    static func answer(_ refusal: HTTPRefusal) -> HTTPResponse {
        let body = "{\"code\":\(refusal.kind.code),\"error\":\"\(refusal.kind.name)\",\"message\":\(jsonString(refusal.message))}"
        return HTTPResponse(status: refusal.kind.status, body: Array(body.utf8))
    }

    static func encode(_ response: HTTPResponse, omittingBody: Bool = false, closing: Bool) -> [UInt8] {
        let status = (100...599).contains(response.status) ? response.status : 500
        // The content type is ours, not the client's; still, a line break in it would split the head.
        let contentType = response.contentType.contains(where: \.isNewline) ? "application/octet-stream" : response.contentType
        var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\nContent-Type: \(contentType)\r\n"
        head += "Content-Length: \(response.body.count)\r\n"
        for (name, value) in response.headers where !name.isEmpty && !name.contains(where: \.isNewline) && !value.contains(where: \.isNewline) {
            head += "\(name): \(value)\r\n"
        }
        if closing { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if !omittingBody { bytes += response.body }
        return bytes
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(status)"
        }
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// One accepted stream with its aio and receive buffer; used by one task, one operation at a time.
private final class Connection {
    enum Received {
        case received(UnsafeRawBufferPointer)
        case timedOut
        case closed
    }

    private let stream: OpaquePointer
    private let aio: AsyncAIO
    private let buffer: UnsafeMutableRawBufferPointer

    init(stream: OpaquePointer) throws(MessagingError) {
        self.stream = stream
        self.aio = try AsyncAIO()
        self.buffer = .allocate(byteCount: HTTPServer.receiveBufferBytes, alignment: 1)
    }

    deinit {
        buffer.deallocate()
    }

    /// The bytes of `.received` stay valid until the next receive.
    func receive(timeout: Duration) async -> Received {
        let result = await aio.run { aio in
            var iov = nng_iov(iov_buf: buffer.baseAddress, iov_len: buffer.count)
            guard nng_aio_set_iov(aio, 1, &iov) == 0 else { return false }
            nng_aio_set_timeout(aio, Self.milliseconds(timeout))
            nng_stream_recv(stream, aio)
            return true
        }
        if result == Int32(NNG_ETIMEDOUT.rawValue) { return .timedOut }
        let count = nng_aio_count(aio.handle)
        guard result == 0, count > 0 else { return .closed }
        return .received(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }

    /// Writes all of `bytes`; false when the stream failed or the client did not take them in time.
    func send(_ bytes: [UInt8], timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        let outgoing = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { outgoing.deallocate() }
        outgoing.copyBytes(from: bytes)
        var offset = 0
        while offset < bytes.count {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            let result = await aio.run { aio in
                var iov = nng_iov(iov_buf: outgoing.baseAddress! + offset, iov_len: bytes.count - offset)
                guard nng_aio_set_iov(aio, 1, &iov) == 0 else { return false }
                nng_aio_set_timeout(aio, Self.milliseconds(remaining))
                nng_stream_send(stream, aio)
                return true
            }
            let count = nng_aio_count(aio.handle)
            guard result == 0, count > 0 else { return false }
            offset += count
        }
        return true
    }

    /// Reads and drops what the client still sends, until it closes or `duration` passed.
    func drain(for duration: Duration) async {
        let deadline = ContinuousClock.now + duration
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, case .received = await receive(timeout: remaining) else { return }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let total = min(seconds, 1_000_000) * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(total, 1))
    }
}
