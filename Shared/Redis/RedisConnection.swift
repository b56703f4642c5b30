internal import CHiredis
import Dispatch
import Synchronization

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
    private let state: Mutex<ContextState>

    /// The hiredis context, present while connected. Only touched under the lock, on `queue`
    /// (or in `deinit`, when no one else can reach it).
    ///
    /// `@unchecked Sendable`: `Mutex` wants state it can prove is not shared, which a raw pointer
    /// cannot; the pointer is handed only to closures running inside `withLock` and never kept.
    private struct ContextState: @unchecked Sendable {
        var context: UnsafeMutablePointer<redisContext>?
        var closed = false
    }

    /// Does no I/O: the connection is opened by the first command.
    public init(config: RedisConfig) {
        self.config = config
        queue = DispatchQueue(label: "coupon.redis.connection")
        state = Mutex(ContextState())
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

    /// Sends every command, then reads every reply: one hop to the connection's queue and one round
    /// trip to the server however many commands there are. The results are in the order of
    /// `commands`. An error reply fails only its own command (`serverError`, or `noScript`); a
    /// transport error throws for the whole call, and which of the commands ran is then unknown.
    /// Refuses the whole call, sending nothing, if any command is empty.
    public func pipeline(_ commands: [[[UInt8]]]) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.pipelineBlocking(commands) })
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
        try Self.checkNotEmpty(arguments)
        return try withContext { context in try Self.send(arguments, on: context) }
    }

    private func pipelineBlocking(_ commands: [[[UInt8]]]) throws -> [Result<RedisValue, RedisError>] {
        for command in commands { try Self.checkNotEmpty(command) }
        return try withContext { context in
            for command in commands { try Self.append(command, on: context) }
            return try commands.map { command in try Self.nextReply(to: command, on: context) }
        }
    }

    private static func checkNotEmpty(_ arguments: [[UInt8]]) throws {
        guard !arguments.isEmpty else { throw RedisError(.invalidCommand, "a command needs at least its name") }
    }

    /// Runs `body` with a connected context. A failure other than an error reply drops the context:
    /// after a transport error hiredis's context is unusable, and after anything else replies may be
    /// left unread that the next command would take for its own. An error reply leaves it fine.
    private func withContext<Result>(_ body: (UnsafeMutablePointer<redisContext>) throws -> Result) throws -> Result {
        try state.withLock { state in
            if state.closed { throw RedisError(.connectionClosed, "the connection was closed") }
            let context = try connectedContext(&state)
            do {
                return try body(context)
            } catch {
                let isErrorReply = (error as? RedisError)?.serverErrorKind != nil
                if context.pointee.err != 0 || !isErrorReply {
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

    /// One command and its reply. An error reply is thrown.
    private static func send(
        _ arguments: [[UInt8]], on context: UnsafeMutablePointer<redisContext>
    ) throws -> RedisValue {
        try append(arguments, on: context)
        return try nextReply(to: arguments, on: context).get()
    }

    /// Queues one command in hiredis's output buffer with `redisAppendCommandArgv` and explicit
    /// lengths; no format strings anywhere. Nothing is written until a reply is read.
    private static func append(_ arguments: [[UInt8]], on context: UnsafeMutablePointer<redisContext>) throws {
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

        // hiredis copies the formatted command, so the buffers need not outlive the call.
        let (status, errnoValue) = joined.withUnsafeBytes { bytes in
            var argv: [UnsafePointer<CChar>?] = offsets.map {
                (bytes.baseAddress! + $0).assumingMemoryBound(to: CChar.self)
            }
            return argv.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { lengths in
                    let status = redisAppendCommandArgv(context, Int32(argv.count), argv.baseAddress, lengths.baseAddress)
                    return (status, errno)
                }
            }
        }
        guard status == REDIS_OK else {
            throw RedisError(.from(context, errno: errnoValue, during: "sending \(commandName(arguments))"))
        }
    }

    /// Writes whatever is still queued, then reads the next reply (`redisGetReply`, blocking). An
    /// error reply, or a reply this wrapper cannot read, is a failure of that command alone; a
    /// transport error throws.
    private static func nextReply(
        to arguments: [[UInt8]], on context: UnsafeMutablePointer<redisContext>
    ) throws -> Result<RedisValue, RedisError> {
        var raw: UnsafeMutableRawPointer?
        let status = redisGetReply(context, &raw)
        let errnoValue = errno
        guard status == REDIS_OK, let raw else {
            if context.pointee.err != 0 {
                throw RedisError(.from(context, errno: errnoValue, during: "sending \(commandName(arguments))"))
            }
            throw RedisError(.outOfMemory(during: "sending a command"))
        }
        defer { freeReplyObject(raw) }
        do {
            let value = try value(of: raw.assumingMemoryBound(to: redisReply.self))
            if case .error(let text) = value { return .failure(RedisError(.errorReply(text))) }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    private static func commandName(_ arguments: [[UInt8]]) -> String {
        String(decoding: arguments[0], as: UTF8.self)
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> RedisValue {
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
                try (0..<reply.elements).map { index throws(RedisError) -> RedisValue in
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
