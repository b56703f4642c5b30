internal import CNNG
import Synchronization

/// An NNG req0 client for one service. It dials every given endpoint (several replicas of one
/// service) and nng spreads requests across the connected ones. Each call uses its own context, so
/// many calls are in flight at once without blocking a thread; contexts are reused.
public final class RequestClient: Sendable {
    public struct Configuration: Sendable {
        public var urls: [String]
        /// The largest reply the caller accepts; replies a little larger still arrive (to be refused
        /// by the caller's decoder), much larger ones are dropped by nng (see `ReceiveLimit`).
        public var maxFrameBytes: Int
        /// Used when a call gives no timeout of its own.
        public var defaultTimeoutMilliseconds: Int
        /// Mutual TLS on every address (all must then be `tls+tcp://`), or nil for none.
        public var tls: TLSConfiguration?

        public init(urls: [String], maxFrameBytes: Int = 1 << 20, defaultTimeoutMilliseconds: Int = 2_000, tls: TLSConfiguration? = nil) {
            self.urls = urls
            self.maxFrameBytes = maxFrameBytes
            self.defaultTimeoutMilliseconds = defaultTimeoutMilliseconds
            self.tls = tls
        }
    }

    private final class Slot: Sendable {
        let context: nng_ctx
        let aio: AsyncAIO
        init(context: nng_ctx, aio: AsyncAIO) {
            self.context = context
            self.aio = aio
        }
        deinit { nng_ctx_close(context) }
    }

    private let socket: nng_socket
    private let idle = Mutex<[Slot]>([])
    private let isClosed = Atomic<Bool>(false)
    public let configuration: Configuration

    /// Dials without waiting: a service that is not up yet is connected to when it comes up, and a
    /// call made before that waits for it until the call's own timeout.
    public init(configuration: Configuration) throws(MessagingError) {
        guard !configuration.urls.isEmpty else {
            throw MessagingError(code: .invalidAddress, operation: "dial", text: "no address to dial")
        }
        var socket = nng_socket()
        try nngCheck(nng_req0_open(&socket), "open req0 socket")
        do {
            try ReceiveLimit.apply(maxFrameBytes: configuration.maxFrameBytes, to: socket)
            // No silent resend of a request whose reply is slow: the caller owns retries, because
            // a mutating call may only be repeated with its request id.
            try nngCheck(nng_socket_set_ms(socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), "set resend time")
            try nngCheck(nng_socket_set_ms(socket, NNG_OPT_RECONNMINT, 50), "set reconnect time")
            try nngCheck(nng_socket_set_ms(socket, NNG_OPT_RECONNMAXT, 1_000), "set reconnect time")
            for url in configuration.urls {
                try TLSEndpoints.dial(socket, url: url, tls: configuration.tls)
            }
        } catch {
            nng_close(socket)
            throw error
        }
        self.socket = socket
        self.configuration = configuration
    }

    public convenience init(urls: [String], timeoutMilliseconds: Int = 2_000) throws(MessagingError) {
        try self.init(configuration: Configuration(urls: urls, defaultTimeoutMilliseconds: timeoutMilliseconds))
    }

    deinit { close() }

    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        idle.withLock { $0.removeAll() }
        let socket = self.socket
        BlockingNNG.start { nng_close(socket) }
    }

    /// Sends one request and waits for its reply, for at most `timeoutMilliseconds` in all
    /// (waiting for a connection, sending and receiving), clamped to 1…Int32.max (nng's timeouts
    /// are Int32 milliseconds) before any arithmetic.
    public func call(_ request: [UInt8], timeoutMilliseconds: Int? = nil) async throws(MessagingError) -> [UInt8] {
        guard !isClosed.load(ordering: .acquiring) else {
            throw MessagingError(code: .closed, operation: "call", text: "client is closed")
        }
        let timeout = min(max(1, timeoutMilliseconds ?? configuration.defaultTimeoutMilliseconds), Int(Int32.max))
        let deadline = ContinuousClock.now + .milliseconds(timeout)
        // A context whose call failed may still hold the request: only a successful one goes back
        // to the idle list; a failed one is dropped (and closed) with its slot.
        let slot = try takeSlot()
        slot.aio.setTimeout(milliseconds: Int32(timeout))
        try await slot.aio.send(request, on: slot.context)
        // At most `timeout` (≤ Int32.max ms) is left, so the sum cannot overflow.
        let left = deadline - ContinuousClock.now
        let leftMilliseconds = max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
        slot.aio.setTimeout(milliseconds: Int32(clamping: leftMilliseconds))
        let reply = try await slot.aio.receive(on: slot.context)
        idle.withLock { $0.append(slot) }
        return reply
    }

    private func takeSlot() throws(MessagingError) -> Slot {
        if let slot = idle.withLock({ $0.popLast() }) { return slot }
        var context = nng_ctx()
        try nngCheck(nng_ctx_open(&context, socket), "open context")
        do {
            return Slot(context: context, aio: try AsyncAIO())
        } catch {
            nng_ctx_close(context)
            throw error
        }
    }
}
