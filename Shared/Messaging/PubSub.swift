internal import CNNG
import Synchronization

/// An NNG pub0 socket listening for subscribers: every message goes to each subscriber connected
/// now, and to nobody else. nng's contract for pub0: a send never blocks and never fails because a
/// subscriber is slow or absent; the message is dropped for that subscriber instead. A publisher
/// therefore cannot know whether anyone received a message.
///
/// Each subscriber's connection has a queue of `queueMessages`; a subscriber that falls further
/// behind than that loses messages.
public final class Publisher: Sendable {
    private let socket: nng_socket
    private let isClosed = Atomic<Bool>(false)
    /// The address listened on, with port 0 replaced by the port the system chose.
    public let url: String

    /// The most a socket queue holds in nng 1.5.2 (NNG_OPT_SENDBUF, NNG_OPT_RECVBUF).
    public static let queueMessages: Int32 = 8192

    /// `tls`: subscribers must present a certificate the configuration trusts (`url` is then
    /// `tls+tcp://`), so events reach only allowed peers.
    public init(url: String, tls: TLSConfiguration? = nil) throws(MessagingError) {
        var socket = nng_socket()
        try nngCheck(nng_pub0_open(&socket), "open pub0 socket")
        let listener: nng_listener
        do {
            try nngCheck(nng_socket_set_int(socket, NNG_OPT_SENDBUF, Self.queueMessages), "set send queue")
            listener = try TLSEndpoints.listen(socket, url: url, tls: tls)
        } catch {
            nng_close(socket)
            throw error
        }
        self.url = TLSEndpoints.resolvedURL(url, listener: listener)
        self.socket = socket
    }

    deinit { close() }

    /// Hands `bytes` to every connected subscriber's queue (nng copies them). Does not wait.
    public func publish(_ bytes: [UInt8]) throws(MessagingError) {
        guard !isClosed.load(ordering: .acquiring) else {
            throw MessagingError(code: .closed, operation: "publish", text: "the publisher is closed")
        }
        let result = bytes.withUnsafeBytes { buffer in
            // nng_send wants a non-null pointer even for an empty message.
            nng_send(socket, UnsafeMutableRawPointer(mutating: buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!), bytes.count, 0)
        }
        try nngCheck(result, "publish")
    }

    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let socket = self.socket
        BlockingNNG.start { nng_close(socket) }
    }
}

/// An NNG sub0 socket: dials one or more publishers and receives the messages that start with one
/// of its subscribed prefixes (nng filters by byte prefix; the empty prefix takes everything).
/// Reconnects by itself; what was published while it was disconnected is gone.
public final class Subscriber: Sendable {
    private let socket: nng_socket
    private let context: nng_ctx
    private let aio: AsyncAIO
    private let isClosed = Atomic<Bool>(false)

    public init(urls: [String], prefixes: [String], maxMessageBytes: Int = 1 << 20, tls: TLSConfiguration? = nil) throws(MessagingError) {
        guard !urls.isEmpty else { throw MessagingError(code: .invalidAddress, operation: "dial", text: "no publisher to dial") }
        var socket = nng_socket()
        try nngCheck(nng_sub0_open(&socket), "open sub0 socket")
        var context = nng_ctx()
        do {
            try nngCheck(nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, maxMessageBytes), "set receive limit")
            // Before the context opens: a sub0 context takes its queue length from the socket.
            try nngCheck(nng_socket_set_int(socket, NNG_OPT_RECVBUF, Publisher.queueMessages), "set receive queue")
            try nngCheck(nng_socket_set_ms(socket, NNG_OPT_RECONNMINT, 50), "set reconnect time")
            try nngCheck(nng_socket_set_ms(socket, NNG_OPT_RECONNMAXT, 1_000), "set reconnect time")
            try nngCheck(nng_ctx_open(&context, socket), "open sub0 context")
            for prefix in prefixes {
                let bytes = Array(prefix.utf8)
                let result = bytes.withUnsafeBytes { buffer in
                    nng_ctx_set(context, "sub:subscribe", buffer.baseAddress, bytes.count)
                }
                try nngCheck(result, "subscribe to '\(prefix)'")
            }
            for url in urls {
                try TLSEndpoints.dial(socket, url: url, tls: tls)
            }
            aio = try AsyncAIO()
        } catch {
            nng_close(socket)
            throw error
        }
        self.socket = socket
        self.context = context
    }

    deinit { close() }

    /// The next message, or nil when none arrived within `timeoutMilliseconds`.
    public func receive(timeoutMilliseconds: Int) async throws(MessagingError) -> [UInt8]? {
        aio.setTimeout(milliseconds: Int32(clamping: max(timeoutMilliseconds, 1)))
        do {
            return try await aio.receive(on: context)
        } catch let error where error.code == .timedOut {
            return nil
        }
    }

    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let socket = self.socket
        BlockingNNG.start { nng_close(socket) }
    }
}
