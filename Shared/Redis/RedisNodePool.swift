import Synchronization

/// A fixed number of `RedisConnection`s to one server, shared by many tasks. `RedisPool` holds one
/// (a `redis://` URL), one for the current master (Sentinel), or one per node (Cluster).
///
/// A task that finds every connection busy waits in a FIFO queue (suspended, no polling) and is
/// handed the next connection given back. Connections open lazily on first use. Script hashes from
/// `SCRIPT LOAD` are cached per pool (see `evaluate`).
final class RedisNodePool: Sendable {
    let config: RedisConfig
    private let state: Mutex<PoolState>
    /// Script source → SHA1 the server returned for it.
    private let scriptHashes = Mutex<[String: String]>([:])

    init(config: RedisConfig) {
        self.config = config
        let connections = (0..<config.poolSize).map { _ in RedisConnection(config: config) }
        state = Mutex(PoolState(idle: connections))
    }

    /// Runs `body` with a connection of its own, for command sequences that must share one
    /// connection (`WATCH`/`MULTI`/`EXEC`). The connection goes back to the pool afterwards.
    func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await lease()
        defer { giveBack(connection) }
        return try await body(connection)
    }

    func command(_ arguments: [String]) async throws -> RedisValue {
        try await withConnection { try await $0.command(arguments) }
    }

    func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        try await withConnection { try await $0.command(arguments) }
    }

    /// Sends every command on one connection in one round trip; see `RedisConnection.pipeline`.
    func pipeline(_ commands: [[[UInt8]]]) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        return try await withConnection { connection in try await connection.pipeline(commands) }
    }

    /// Runs `script` once per call, in the order of `calls`, with one `EVALSHA` each, all in one
    /// pipeline (one round trip). The hash is cached as for `evaluate`; the calls answered
    /// `NOSCRIPT` are run again, in their order, in one more pipeline after loading the script.
    /// Those are the calls after the moment the script vanished, so the calls still run in order
    /// (unless another client loads the script again while this pipeline runs).
    /// An error the script raises fails its own call only; a transport error throws.
    func evaluateMany(
        _ script: RedisScript, _ calls: [(keys: [String], args: [String])]
    ) async throws -> [Result<RedisValue, RedisError>] {
        guard !calls.isEmpty else { return [] }
        let tails = calls.map { call in ([String(call.keys.count)] + call.keys + call.args).map { Array($0.utf8) } }
        func evalsha(_ hash: String, _ indices: some Sequence<Int>) -> [[[UInt8]]] {
            let prefix = [Array("EVALSHA".utf8), Array(hash.utf8)]
            return indices.map { prefix + tails[$0] }
        }
        return try await withConnection { connection in
            let hash: String
            if let cached = scriptHashes.withLock({ $0[script.source] }) {
                hash = cached
            } else {
                hash = try await load(script, on: connection)
            }
            var results = try await connection.pipeline(evalsha(hash, tails.indices))
            let missing = results.indices.filter { index in
                if case .failure(let error) = results[index], error.code == .noScript { true } else { false }
            }
            guard !missing.isEmpty else { return results }
            let reloaded = try await load(script, on: connection)
            let retried = try await connection.pipeline(evalsha(reloaded, missing))
            for (index, result) in zip(missing, retried) { results[index] = result }
            return results
        }
    }

    private func load(_ script: RedisScript, on connection: RedisConnection) async throws -> String {
        let hash = try RedisPool.scriptHash(fromReply: try await connection.command(["SCRIPT", "LOAD", script.source]))
        scriptHashes.withLock { $0[script.source] = hash }
        return hash
    }

    /// Loads `script` on this server (a cluster node that answered `NOSCRIPT`) and caches its hash.
    func load(_ script: RedisScript) async throws -> String {
        try await withConnection { connection in try await load(script, on: connection) }
    }

    /// The hash cached for `script`, if it was loaded through this pool.
    func cachedHash(of script: RedisScript) -> String? {
        scriptHashes.withLock { $0[script.source] }
    }

    /// Fails every waiting task with `poolClosed` and closes the idle connections; connections in
    /// use are closed when they are given back. Later calls throw `poolClosed`.
    func close() async {
        let (waiters, idle) = state.withLock { state in
            state.closed = true
            let idle = state.idle
            state.idle = []
            return (state.waiters.drain(), idle)
        }
        for waiter in waiters {
            waiter.resume(throwing: RedisError(.poolClosed, "the Redis pool was closed"))
        }
        for connection in idle { await connection.close() }
    }

    /// How many tasks wait for a connection right now: tests wait on it for a queue to form
    /// instead of guessing how long that takes.
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    // MARK: - Leasing

    private func lease() async throws -> RedisConnection {
        let ready: RedisConnection? = try state.withLock { state in
            if state.closed { throw RedisError(.poolClosed, "the Redis pool is closed") }
            return state.idle.popLast()
        }
        if let ready { return ready }

        let id = state.withLock { state in state.waiters.nextID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let outcome: Result<RedisConnection, any Error>? = state.withLock { state in
                    if state.closed { return .failure(RedisError(.poolClosed, "the Redis pool is closed")) }
                    // A connection may have come back since the fast path looked.
                    if let connection = state.idle.popLast() { return .success(connection) }
                    // Cancellation is flagged before the handler runs; checking under the lock means
                    // either the handler finds this waiter or this check sees the flag.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters.append(id: id, continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            state.withLock { $0.waiters.remove(id: id) }?.resume(throwing: CancellationError())
        }
    }

    private func giveBack(_ connection: RedisConnection) {
        enum Next {
            case handTo(CheckedContinuation<RedisConnection, any Error>)
            case close
            case keep
        }
        let next: Next = state.withLock { state in
            if state.closed { return .close }
            if let waiter = state.waiters.removeFirst() { return .handTo(waiter) }
            state.idle.append(connection)
            return .keep
        }
        switch next {
        case .handTo(let waiter):
            waiter.resume(returning: connection)
        case .close:
            connection.closeWithoutWaiting()
        case .keep:
            break
        }
    }
}

private struct PoolState {
    var idle: [RedisConnection]
    var waiters = WaiterQueue()
    var closed = false
}

/// Waiting tasks in arrival order. Cancelled waiters are removed by id; `order` may then hold ids
/// that are no longer waiting, which `removeFirst` skips.
private struct WaiterQueue {
    typealias Continuation = CheckedContinuation<RedisConnection, any Error>

    private var byID: [UInt64: Continuation] = [:]
    private var order: [UInt64] = []
    private var head = 0
    private var lastID: UInt64 = 0

    var count: Int { byID.count }

    mutating func nextID() -> UInt64 {
        lastID += 1
        return lastID
    }

    mutating func append(id: UInt64, _ continuation: Continuation) {
        byID[id] = continuation
        order.append(id)
    }

    mutating func remove(id: UInt64) -> Continuation? {
        byID.removeValue(forKey: id)
    }

    mutating func removeFirst() -> Continuation? {
        while head < order.count {
            let id = order[head]
            head += 1
            if let continuation = byID.removeValue(forKey: id) {
                compactIfWorthIt()
                return continuation
            }
        }
        compactIfWorthIt()
        return nil
    }

    mutating func drain() -> [Continuation] {
        var all: [Continuation] = []
        while let next = removeFirst() { all.append(next) }
        return all
    }

    private mutating func compactIfWorthIt() {
        if head == order.count {
            order.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
