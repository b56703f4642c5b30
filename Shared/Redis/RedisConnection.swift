internal import CHiredis
import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One connection to Redis: the only owner of its hiredis context.
///
/// hiredis is blocking, so every call runs on this connection's own serial `DispatchQueue`,
/// never on Swift's cooperative pool; the async methods hop there with a continuation. A call
/// therefore occupies one queue thread for at most `timeoutMilliseconds` and is not cancellable.
///
/// The connection is opened on first use. After an I/O error or a timeout the context is freed,
/// and the next call connects again, so a restarted Redis heals without restarting the process.
/// Before each command an idle connection is checked for a close the server sent meanwhile
/// (Redis restarted, `CLIENT KILL`, idle timeout); such a connection is replaced before anything is
/// sent, so the first command after a restart normally succeeds. If the server disappeared
/// without closing (host lost), that first command fails (`connectionFailed` or `timeout`) and the
/// one after it reconnects. Commands are never retried here: whether a failed one ran is unknown.
public final class RedisConnection: Sendable {
    public let config: RedisConfig
    private let queue: DispatchQueue
    private let state: Locked<ContextState>

    /// The hiredis context, present while connected. Only touched under the lock, on `queue`
    /// (or in `deinit`, when no one else can reach it).
    private struct ContextState {
        var context: UnsafeMutablePointer<redisContext>?
        var closed = false
    }

    /// Does no I/O: the connection is opened by the first command.
    public init(config: RedisConfig) {
        self.config = config
        queue = DispatchQueue(label: "coupon.redis.connection")
        state = Locked(ContextState())
    }

    deinit {
        state.withLock { state in
            if let context = state.context { redisFree(context) }
            state.context = nil
        }
    }

    /// Sends one command as an argument vector; each argument goes to Redis with its exact length.
    public func command(_ arguments: [String]) async throws -> RedisValue {
        try await command(arguments.map { Array($0.utf8) })
    }

    /// Sends one command as an argument vector of raw bytes (binary safe: NUL, CR/LF, invalid
    /// UTF-8 all arrive unchanged).
    public func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.runBlocking(arguments) })
            }
        }
    }

    /// Frees the context after any command already queued; later commands throw `connectionClosed`.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.closeOnQueue()
                continuation.resume()
            }
        }
    }

    /// `close()` for callers that must not wait (the pool, when a connection comes back after the
    /// pool was closed).
    func closeWithoutWaiting() {
        queue.async { self.closeOnQueue() }
    }

    private func closeOnQueue() {
        state.withLock { state in
            if let context = state.context { redisFree(context) }
            state.context = nil
            state.closed = true
        }
    }

    // MARK: - On the connection's queue

    private func runBlocking(_ arguments: [[UInt8]]) throws -> RedisValue {
        guard !arguments.isEmpty else { throw RedisError(.invalidCommand, "a command needs at least its name") }
        return try state.withLock { state in
            if state.closed { throw RedisError(.connectionClosed, "the connection was closed") }
            let context = try connectedContext(&state)
            do {
                return try Self.send(arguments, on: context)
            } catch {
                // After a transport error hiredis's context is unusable; an error reply leaves it fine.
                if context.pointee.err != 0 {
                    redisFree(context)
                    state.context = nil
                }
                throw error
            }
        }
    }

    private func connectedContext(_ state: inout ContextState) throws -> UnsafeMutablePointer<redisContext> {
        if let context = state.context {
            if Self.peerHasClosed(context) {
                redisFree(context)
                state.context = nil
            } else {
                return context
            }
        }
        let context = try connect()
        state.context = context
        return context
    }

    private func connect() throws -> UnsafeMutablePointer<redisContext> {
        let during = "connecting to \(config.host):\(config.port)"
        let timeout = timeval(
            tv_sec: .init(config.timeoutMilliseconds / 1000),
            tv_usec: .init(config.timeoutMilliseconds % 1000 * 1000))
        guard let context = redisConnectWithTimeout(config.host, Int32(config.port), timeout) else {
            throw RedisError(.outOfMemory(during: during))
        }
        do {
            if context.pointee.err != 0 {
                throw RedisError(.from(context, errno: errno, during: during))
            }
            // The connect timeout does not bound reads and writes; this sets SO_RCVTIMEO/SO_SNDTIMEO.
            if redisSetTimeout(context, timeout) != REDIS_OK {
                throw RedisError(.from(context, errno: errno, during: during))
            }
            if let password = config.password {
                var auth = ["AUTH"]
                if let username = config.username { auth.append(username) }
                auth.append(password)
                _ = try Self.send(auth.map { Array($0.utf8) }, on: context)
            }
            if config.database != 0 {
                _ = try Self.send([Array("SELECT".utf8), Array(String(config.database).utf8)], on: context)
            }
            return context
        } catch {
            redisFree(context)
            throw error
        }
    }

    /// An idle connection has nothing to read: if its socket is readable, the server has closed it
    /// (or sent something unsolicited), and it must not be used.
    private static func peerHasClosed(_ context: UnsafeMutablePointer<redisContext>) -> Bool {
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) != 0
    }

    /// Calls `redisCommandArgv` with explicit lengths; no format strings anywhere.
    private static func send(
        _ arguments: [[UInt8]], on context: UnsafeMutablePointer<redisContext>
    ) throws -> RedisValue {
        // All arguments in one buffer; argv points into it. The trailing 0 keeps the buffer
        // non-empty (and its base address valid) when every argument is empty.
        var joined: [UInt8] = []
        joined.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(joined.count)
            lengths.append(argument.count)
            joined.append(contentsOf: argument)
        }
        joined.append(0)

        let (reply, errnoValue) = joined.withUnsafeBytes { bytes in
            var argv: [UnsafePointer<CChar>?] = offsets.map {
                (bytes.baseAddress! + $0).assumingMemoryBound(to: CChar.self)
            }
            return argv.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lengths in
                    let reply = redisCommandArgv(context, Int32(argv.count), argv.baseAddress, lengths.baseAddress)
                    return (reply, errno)
                }
            }
        }
        guard let reply else {
            if context.pointee.err != 0 {
                let name = String(decoding: arguments[0], as: UTF8.self)
                throw RedisError(.from(context, errno: errnoValue, during: "sending \(name)"))
            }
            throw RedisError(.outOfMemory(during: "sending a command"))
        }
        defer { freeReplyObject(reply) }
        let value = try value(of: reply.assumingMemoryBound(to: redisReply.self))
        if case .error(let text) = value { throw RedisError(.errorReply(text)) }
        return value
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) throws -> RedisValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_STRING:
            return .bulk(bytes(reply))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_ARRAY:
            guard reply.elements > 0, let elements = reply.element else { return .array([]) }
            return .array(
                try (0..<reply.elements).map { index in
                    guard let element = elements[index] else { return .null }
                    return try value(of: element)
                })
        default:
            throw RedisError(.unknownReplyType(reply.type))
        }
    }

    private static func bytes(_ reply: redisReply) -> [UInt8] {
        guard let text = reply.str, reply.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: text, count: reply.len))
    }
}
