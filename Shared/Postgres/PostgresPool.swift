import Synchronization

/// A fixed-size pool of connections, the way the rest of the program reaches PostgreSQL.
///
/// Connections are opened lazily, on first use, up to `config.poolSize`; `connect()` opens one
/// at startup to fail fast on a wrong URL. When all are busy, callers wait in FIFO order without
/// polling; a waiting task that is cancelled stops waiting with `CancellationError`. A statement
/// already running is not interrupted by cancellation.
///
/// A connection found broken when it is handed out (server restarted, backend terminated) is
/// replaced then, so the process heals by itself; a statement that was running when the
/// connection died throws `connectionFailed` and is not retried, because whether it took effect
/// is unknown (callers that can find out by reading use `untilReachable`). A connection whose
/// server refused a write as read-only (SQLSTATE 25006, a demoted primary) is replaced when its
/// lease ends, and the statement, which was not applied, is retried like a serialization failure.
public final class PostgresPool: PostgresQueryable {
    public let config: PostgresConfig

    private struct Waiter: Sendable {
        let id: UInt64
        let continuation: CheckedContinuation<ConnectionHandle, any Error>
    }

    private struct State: Sendable {
        var idle: [ConnectionHandle] = []
        var created = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isClosed = false
    }

    private let state = Mutex(State())

    public init(config: PostgresConfig) {
        self.config = config
    }

    private static func closedError() -> PostgresError {
        PostgresError(code: .poolClosed, message: "the PostgreSQL pool is closed")
    }

    /// Opens (or checks) one connection now, so a wrong URL or an unreachable server is
    /// reported at startup rather than on the first request.
    public func connect() async throws {
        let lease = try await lease()
        lease.end()
        release(lease.handle)
    }

    /// Closes idle connections now and busy ones as they come back; waiting and later callers
    /// get `poolClosed`. Safe to call more than once.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.isClosed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: Self.closedError())
        }
        for handle in idle {
            try? await handle.perform { $0.close() }
        }
    }

    // MARK: Statements

    public func query(_ sql: SQL, _ parameters: [(any PostgresBindable)?]) async throws
        -> PostgresRows
    {
        // Encode before taking a connection: a bad parameter should not hold one up.
        _ = try encodeParameters(parameters, sql: sql)
        let lease = try await lease()
        defer {
            lease.end()
            release(lease.handle)
        }
        return try await lease.run(sql, parameters)
    }

    /// One statement that is a transaction of its own: PostgreSQL commits it as it finishes, so it
    /// costs one round trip and the row locks it takes are held only inside the server, never
    /// across a hop back to the caller (group-commit batches lock a hot template row). Retried like
    /// `transaction` after a serialization failure or deadlock; the statement must be safe to run
    /// again, which a statement that failed and was rolled back is.
    public func autocommitQuery(_ sql: SQL, _ parameters: [(any PostgresBindable)?], maxAttempts: Int = 5) async throws
        -> PostgresRows
    {
        var attempt = 1
        while true {
            do {
                return try await query(sql, parameters)
            } catch let error as PostgresError
                where (error.isTransientTransactionFailure || error.isReadOnlyServer) && attempt < maxAttempts
            {
                try await Task.sleep(for: Self.retryDelay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }

    /// Trusted SQL from the binary only; see `PostgresConnection.runScript`.
    public func runScript(_ sql: SQL) async throws {
        let lease = try await lease()
        defer {
            lease.end()
            release(lease.handle)
        }
        try await lease.runScript(sql)
    }

    /// Runs `body` with one connection to itself, for statements that must share a session
    /// (session settings, advisory locks). The connection must not escape the body.
    public func withConnection<Result>(
        callerIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let lease = try await lease()
        defer {
            lease.end()
            release(lease.handle)
        }
        return try await body(PostgresConnection(lease: lease))
    }

    /// Runs `body` in a transaction: BEGIN, the body, COMMIT; ROLLBACK if the body throws.
    ///
    /// On `serializationFailure` or `deadlockDetected` — from the body or from COMMIT — the
    /// transaction is rolled back and the whole body runs again on a fresh transaction, after a
    /// short jittered pause, up to `maxAttempts` runs in all; then that error is thrown. The body
    /// must therefore be safe to run more than once: no side effects outside the database.
    /// Other errors are rethrown after the rollback without retrying.
    public func transaction<Result>(
        isolation: PostgresIsolationLevel = .readCommitted,
        maxAttempts: Int = 5,
        callerIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresTransaction) async throws -> Result
    ) async throws -> Result {
        var attempt = 1
        while true {
            do {
                let lease = try await lease()
                defer {
                    lease.end()
                    release(lease.handle)
                }
                let transaction = PostgresTransaction(lease: lease)
                try await transaction.begin(isolation)
                let result: Result
                do {
                    result = try await body(transaction)
                } catch {
                    await transaction.rollback()
                    throw error
                }
                try await transaction.commit()
                return result
            } catch let error as PostgresError
                where (error.isTransientTransactionFailure || error.isReadOnlyServer) && attempt < maxAttempts
            {
                try await Task.sleep(for: Self.retryDelay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }

    /// Runs `body` until it gets through to a server that accepts writes, for up to `patience`:
    /// after `connectionFailed` (the server went away, or none is reachable yet) or a read-only
    /// refusal it pauses and tries again on a fresh connection, which libpq, given several hosts
    /// and `target_session_attrs=read-write`, opens on the new primary after a failover. Other
    /// errors, and the last failure once `patience` is spent, are thrown. `body` must be safe to
    /// run again after a failure whose outcome is unknown: a read, or a write that checks first.
    public func untilReachable<Result>(
        patience: Duration, callerIsolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let deadline = ContinuousClock.now + patience
        var pause = Duration.milliseconds(50)
        while true {
            do {
                return try await body()
            } catch let error as PostgresError
                where (error.code == .connectionFailed || error.isReadOnlyServer) && ContinuousClock.now + pause < deadline
            {
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            }
        }
    }

    /// About 5 ms doubling per attempt up to 160 ms, spread by ±50% so that the transactions
    /// that collided do not collide again in lockstep.
    static func retryDelay(afterAttempt attempt: Int) -> Duration {
        let base = 5_000 << min(max(attempt - 1, 0), 5)  // microseconds
        return .microseconds(Int.random(in: (base / 2)...(base + base / 2)))
    }

    // MARK: Leasing

    func lease() async throws -> Lease {
        let handle = try await acquire()
        do {
            try await handle.perform { try $0.prepareForLease() }
        } catch {
            release(handle)
            throw error
        }
        return Lease(handle: handle)
    }

    private enum Acquisition {
        case reuse(ConnectionHandle)
        case create(number: Int)
        case wait
    }

    private func acquire() async throws -> ConnectionHandle {
        let acquisition = try state.withLock { state -> Acquisition in
            if state.isClosed { throw Self.closedError() }
            if let handle = state.idle.popLast() { return .reuse(handle) }
            if state.created < config.poolSize {
                state.created += 1
                return .create(number: state.created)
            }
            return .wait
        }
        switch acquisition {
        case .reuse(let handle): return handle
        case .create(let number): return ConnectionHandle(config: config, number: number)
        case .wait: return try await waitForRelease()
        }
    }

    private func waitForRelease() async throws -> ConnectionHandle {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Checked under the same lock the cancellation handler takes: either the handler
                // finds this waiter, or the cancellation is already visible here.
                let immediate = state.withLock {
                    state -> Swift.Result<ConnectionHandle, any Error>? in
                    if state.isClosed { return .failure(Self.closedError()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if let handle = state.idle.popLast() { return .success(handle) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    func release(_ handle: ConnectionHandle) {
        // Queued before any use by the next holder, so it always sees a cleaned-up session.
        handle.enqueue { $0.cleanUpAfterLease() }
        enum Next {
            case handOver(Waiter)
            case keep
            case close
        }
        let next = state.withLock { state -> Next in
            if state.isClosed { return .close }
            if !state.waiters.isEmpty { return .handOver(state.waiters.removeFirst()) }
            state.idle.append(handle)
            return .keep
        }
        switch next {
        case .handOver(let waiter): waiter.continuation.resume(returning: handle)
        case .close: handle.enqueue { $0.close() }
        case .keep: break
        }
    }
}

extension PostgresError {
    /// SQLSTATE 25006, read_only_sql_transaction: the server is (now) a standby. Nothing was
    /// applied, so the statement may run again, on a connection to the primary.
    public var isReadOnlyServer: Bool { sqlState == "25006" }

    /// A `connectionFailed` from opening a connection, before any statement was sent (those errors
    /// carry no query): nothing was applied, so unlike a statement cut off, its outcome is known.
    public var failedBeforeSending: Bool { code == .connectionFailed && query == nil }
}
