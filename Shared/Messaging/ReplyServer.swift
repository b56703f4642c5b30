internal import CNNG
import Synchronization

/// How a frame limit becomes nng's receive limit, for servers and clients alike.
///
/// NNG_OPT_RECVMAXSZ counts what the transport carries: the message and nng's own req/rep header
/// (4 bytes per hop: the request id, plus a pipe id per device in between; 4 bytes on a direct
/// connection). A message over it is never delivered: nng closes the connection it came on. Set to
/// the frame limit alone, a frame of exactly the limit would be dropped and no peer would ever see
/// FRAME_TOO_LARGE. So the socket limit is the frame limit plus `answerableOverrunBytes`: on a
/// direct connection every message up to `maxFrameBytes + answerableOverrunBytes − 4` bytes reaches
/// the application, which answers the oversized ones; only larger ones are dropped by nng.
public enum ReceiveLimit {
    public static let answerableOverrunBytes = 65_536
    /// nng's req/rep header on a direct connection (no device in between).
    public static let directHeaderBytes = 4

    /// The NNG_OPT_RECVMAXSZ value for a frame limit, without overflow for any `maxFrameBytes`.
    public static func socketLimit(maxFrameBytes: Int) -> Int {
        let (sum, overflow) = maxFrameBytes.addingReportingOverflow(answerableOverrunBytes)
        return overflow ? Int.max : sum
    }

    static func apply(maxFrameBytes: Int, to socket: nng_socket) throws(MessagingError) {
        guard maxFrameBytes > 0 else {
            throw MessagingError(code: .other, operation: "set receive limit", text: "maxFrameBytes \(maxFrameBytes) is not positive")
        }
        try nngCheck(nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, socketLimit(maxFrameBytes: maxFrameBytes)), "set receive limit")
    }
}

/// An NNG rep0 server that serves many requests at once: `concurrency` contexts, each with its own
/// aio, each looping receive → handle → send in a child task. No thread is blocked per request.
///
/// Shutdown is graceful: `shutdown()` stops taking new requests, lets the ones being handled send
/// their replies (up to `drainTimeout`), then closes the socket, and `run` returns.
public final class ReplyServer: Sendable {
    public struct Configuration: Sendable {
        public var urls: [String]
        /// The largest message the handler is meant to accept. Messages up to
        /// `ReceiveLimit.answerableOverrunBytes` larger still reach it, so it can refuse them with
        /// an answer; beyond that nng drops them (see `ReceiveLimit`).
        public var maxFrameBytes: Int
        public var concurrency: Int
        public var drainTimeoutMilliseconds: Int
        /// Mutual TLS on every address (all must then be `tls+tcp://`), or nil for none.
        public var tls: TLSConfiguration?

        public init(
            urls: [String], maxFrameBytes: Int = 1 << 20, concurrency: Int = 64, drainTimeoutMilliseconds: Int = 10_000,
            tls: TLSConfiguration? = nil
        ) {
            self.urls = urls
            self.maxFrameBytes = maxFrameBytes
            self.concurrency = concurrency
            self.drainTimeoutMilliseconds = drainTimeoutMilliseconds
            self.tls = tls
        }
    }

    /// The reply for one request, or nil to send none (the caller then times out).
    public typealias Handler = @Sendable ([UInt8]) async -> [UInt8]?

    private struct State {
        var draining = false
        var closed = false
        var busy = 0
        var receiving: [ObjectIdentifier: AsyncAIO] = [:]
        var drainWaiter: CheckedContinuation<Void, Never>?
    }

    static let lingerMilliseconds = 200
    private let socket: nng_socket
    private let configuration: Configuration
    private let state = Mutex(State())
    /// The addresses actually bound, with port 0 replaced by the port the system chose.
    public let boundURLs: [String]

    /// Opens the socket and binds every URL now, so a bad or busy address fails at start-up.
    public init(configuration: Configuration) throws(MessagingError) {
        guard !configuration.urls.isEmpty else {
            throw MessagingError(code: .invalidAddress, operation: "listen", text: "no address to listen on")
        }
        var socket = nng_socket()
        try nngCheck(nng_rep0_open(&socket), "open rep0 socket")
        var bound: [String] = []
        do {
            try ReceiveLimit.apply(maxFrameBytes: configuration.maxFrameBytes, to: socket)
            for url in configuration.urls {
                let listener = try TLSEndpoints.listen(socket, url: url, tls: configuration.tls)
                bound.append(TLSEndpoints.resolvedURL(url, listener: listener))
            }
        } catch {
            nng_close(socket)
            throw error
        }
        self.socket = socket
        self.configuration = configuration
        self.boundURLs = bound
    }

    /// Serves until `shutdown()`; returns once the socket is closed.
    public func run(_ handler: @escaping Handler) async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(1, configuration.concurrency) {
                group.addTask { await self.serveLoop(handler) }
            }
            group.addTask { await self.closeWhenDrained() }
        }
    }

    /// Stops taking requests; `run` returns after in-flight requests are answered.
    public func shutdown() {
        let waiter = state.withLock { state in
            state.draining = true
            for aio in state.receiving.values { aio.cancel() }
            defer { state.drainWaiter = nil }
            return state.drainWaiter
        }
        waiter?.resume()
    }

    private func serveLoop(_ handler: Handler) async {
        var context = nng_ctx()
        guard nng_ctx_open(&context, socket) == 0, let aio = try? AsyncAIO() else { return }
        defer { nng_ctx_close(context) }
        let key = ObjectIdentifier(aio)
        while true {
            let request: [UInt8]
            do {
                request = try await aio.receive(on: context) {
                    state.withLock { state in
                        guard !state.draining else { return false }
                        state.receiving[key] = aio
                        return true
                    }
                }
                state.withLock { state in
                    state.receiving[key] = nil
                    state.busy += 1
                }
            } catch {
                let stop = state.withLock { state in
                    state.receiving[key] = nil
                    return state.draining || state.closed
                }
                if stop || error.code == .closed { return }
                continue
            }
            if let reply = await handler(request) {
                // The caller may have given up or gone; its loss, not ours.
                try? await aio.send(reply, on: context)
            }
            state.withLock { $0.busy -= 1 }
        }
    }

    private func closeWhenDrained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDraining = state.withLock { state in
                if !state.draining { state.drainWaiter = continuation }
                return state.draining
            }
            if alreadyDraining { continuation.resume() }
        }
        // In-flight requests finish within a few milliseconds; poll only while draining.
        let deadline = ContinuousClock.now + .milliseconds(configuration.drainTimeoutMilliseconds)
        while state.withLock({ $0.busy > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        // A completed send means the reply is queued on its connection, not yet written: closing at
        // once would reset the connection under it. Give the last replies time to leave.
        try? await Task.sleep(for: .milliseconds(Self.lingerMilliseconds))
        state.withLock { $0.closed = true }
        // Completes every pending receive with NNG_ECLOSED, which ends the serve loops (they run on
        // the pool, so the close waits off it).
        let socket = self.socket
        await BlockingNNG.run { nng_close(socket) }
    }
}
