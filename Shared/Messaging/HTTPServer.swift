internal import CNNG
import Synchronization

public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query, percent-decoding left to the caller.
    public var path: String
    public var query: String
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

    public init(status: Int, contentType: String = "application/json", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// nng's HTTP server with one handler for every path and method. The C callback must not block: it
/// copies the request out and hands it to Swift concurrency; a child task of `run` computes the
/// response and completes nng's aio (`nng_aio_set_output` + `nng_aio_finish`). nng waits for that
/// completion before it frees a connection, so every handed-out aio is always finished exactly once.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    /// The nng aio of one pending request; only touched by the task that answers it.
    private struct PendingRequest: @unchecked Sendable {
        let aio: OpaquePointer
        let request: HTTPRequest
    }

    /// What the C callback reaches through the handler's data pointer.
    private final class Inbox: Sendable {
        let continuation: AsyncStream<PendingRequest>.Continuation
        let stream: AsyncStream<PendingRequest>
        init() {
            (stream, continuation) = AsyncStream.makeStream(of: PendingRequest.self)
        }
    }

    private struct State {
        var draining = false
        var inFlight = 0
    }

    // Opaque nng handles, set once in init and released in `stop`.
    nonisolated(unsafe) private let server: OpaquePointer
    private let inbox = Inbox()
    private let state = Mutex(State())
    private let drainTimeoutMilliseconds: Int
    /// Port actually bound (meaningful when the URL asked for port 0).
    public let url: String

    public init(url: String, maxBodyBytes: Int = 1 << 20, drainTimeoutMilliseconds: Int = 10_000) throws(MessagingError) {
        var parsed: UnsafeMutablePointer<nng_url>?
        try nngCheck(nng_url_parse(&parsed, url), "parse \(url)")
        defer { nng_url_free(parsed) }
        var server: OpaquePointer?
        try nngCheck(nng_http_server_hold(&server, parsed), "listen \(url)")
        guard let server else { throw MessagingError(code: .other, operation: "listen \(url)", text: "no server") }
        var handler: OpaquePointer?
        do {
            try nngCheck(nng_http_handler_alloc(&handler, "/", { aio in HTTPServer.receive(aio) }), "http handler")
            try nngCheck(nng_http_handler_set_method(handler, nil), "http handler method")
            try nngCheck(nng_http_handler_set_tree(handler), "http handler tree")
            try nngCheck(nng_http_handler_collect_body(handler, true, maxBodyBytes), "http body limit")
            // The server keeps the inbox alive through the handler data and releases it in the dtor.
            let retained = Unmanaged.passRetained(inbox).toOpaque()
            try nngCheck(
                nng_http_handler_set_data(handler, retained, { data in
                    guard let data else { return }
                    Unmanaged<Inbox>.fromOpaque(data).release()
                }), "http handler data")
            try nngCheck(nng_http_server_add_handler(server, handler), "http add handler")
            handler = nil
            // The answers nng gives by itself (a body over the limit, a request that is not HTTP/1.x)
            // keep the API's shape: a JSON body with a code and a message.
            for (status, message) in [(400, "bad request: not HTTP/1.1, or a body larger than \(maxBodyBytes) bytes"), (505, "HTTP version not supported")] {
                _ = nng_http_server_set_error_page(server, UInt16(status), "{\"code\":1005,\"error\":\"INVALID_ARGUMENT\",\"message\":\"\(message)\"}")
            }
            try nngCheck(nng_http_server_start(server), "listen \(url)")
        } catch {
            if let handler { nng_http_handler_free(handler) }
            nng_http_server_release(server)
            throw error
        }
        self.server = server
        self.drainTimeoutMilliseconds = drainTimeoutMilliseconds
        self.url = url
    }

    /// Runs on an nng thread: copy the request, queue it, return at once.
    private static func receive(_ aio: OpaquePointer?) {
        guard let aio,
            let request = nng_aio_get_input(aio, 0).map(OpaquePointer.init),
            let handler = nng_aio_get_input(aio, 1).map(OpaquePointer.init),
            let data = nng_http_handler_get_data(handler)
        else {
            if let aio { nng_aio_finish(aio, Int32(NNG_EINVAL.rawValue)) }
            return
        }
        let inbox = Unmanaged<Inbox>.fromOpaque(data).takeUnretainedValue()
        let method = String(cString: nng_http_req_get_method(request))
        let uri = String(cString: nng_http_req_get_uri(request))
        let (path, query) = splitURI(uri)
        var headers: [String: String] = [:]
        for name in ["Content-Type", "X-Request-Id", "Accept"] {
            if let value = nng_http_req_get_header(request, name) { headers[name] = String(cString: value) }
        }
        var bodyPointer: UnsafeMutableRawPointer?
        var bodyLength = 0
        nng_http_req_get_data(request, &bodyPointer, &bodyLength)
        let body = bodyPointer.map { Array(UnsafeRawBufferPointer(start: $0, count: bodyLength)) } ?? []
        let pending = PendingRequest(
            aio: aio, request: HTTPRequest(method: method, path: path, query: query, headers: headers, body: body))
        if case .terminated = inbox.continuation.yield(pending) {
            // Shut down: answer here rather than leave the aio unfinished.
            complete(aio, HTTPResponse(status: 503, body: Array(#"{"code":1503,"message":"shutting down"}"#.utf8)))
        }
    }

    static func splitURI(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }

    private static func complete(_ aio: OpaquePointer, _ response: HTTPResponse) {
        var reply: OpaquePointer?
        guard nng_http_res_alloc(&reply) == 0, let reply else {
            nng_aio_finish(aio, Int32(NNG_ENOMEM.rawValue))
            return
        }
        _ = nng_http_res_set_status(reply, UInt16(clamping: response.status))
        _ = nng_http_res_set_header(reply, "Content-Type", response.contentType)
        let copied = response.body.withUnsafeBytes { bytes in
            nng_http_res_copy_data(reply, bytes.baseAddress, bytes.count)
        }
        guard copied == 0 else {
            nng_http_res_free(reply)
            nng_aio_finish(aio, copied)
            return
        }
        nng_aio_set_output(aio, 0, UnsafeMutableRawPointer(reply))
        nng_aio_finish(aio, 0)
    }

    /// Serves until `shutdown()`, one child task per request.
    public func run(_ handler: @escaping Handler) async {
        await withDiscardingTaskGroup { group in
            for await pending in inbox.stream {
                let accepted = state.withLock { state in
                    guard !state.draining else { return false }
                    state.inFlight += 1
                    return true
                }
                guard accepted else {
                    Self.complete(pending.aio, HTTPResponse(status: 503, body: Array(#"{"code":1503,"message":"shutting down"}"#.utf8)))
                    continue
                }
                group.addTask {
                    let response = await handler(pending.request)
                    Self.complete(pending.aio, response)
                    self.state.withLock { $0.inFlight -= 1 }
                }
            }
        }
        // Every answer is handed to nng; let the last ones be written before connections go.
        try? await Task.sleep(for: .milliseconds(ReplyServer.lingerMilliseconds))
        nng_http_server_stop(server)
        nng_http_server_release(server)
    }

    /// Stops taking requests; `run` returns once the ones in flight are answered.
    public func shutdown() async {
        state.withLock { $0.draining = true }
        let deadline = ContinuousClock.now + .milliseconds(drainTimeoutMilliseconds)
        while state.withLock({ $0.inFlight > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        inbox.continuation.finish()
    }
}
