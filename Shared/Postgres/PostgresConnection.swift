import Synchronization

/// Something statements can run on: the pool (any free connection), a leased connection, or a
/// transaction. Code that only runs statements can take `some PostgresQueryable` and so work
/// both inside and outside a transaction.
///
/// Parameters are `[(any PostgresBindable)?]` so that a literal `nil` binds SQL NULL:
/// `query("UPDATE t SET note = $1 WHERE id = $2", [nil, id])`. Values are never spliced into
/// the SQL text (`SQL` refuses interpolation); each distinct SQL text is prepared once per connection and reused.
public protocol PostgresQueryable: Sendable {
    /// Runs one statement with `$1`, `$2`, ... bound to `parameters` in order.
    func query(_ sql: SQL, _ parameters: [(any PostgresBindable)?]) async throws -> PostgresRows
}

extension PostgresQueryable {
    /// Runs one statement without parameters.
    public func query(_ sql: SQL) async throws -> PostgresRows {
        try await query(sql, [])
    }

    /// Runs one statement and returns how many rows it inserted, updated or deleted.
    @discardableResult
    public func execute(_ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws
        -> Int
    {
        try await query(sql, parameters).affectedRows
    }
}

/// Binds every parameter up front, so a bad value fails before anything reaches the server.
func encodeParameters(_ parameters: [(any PostgresBindable)?], sql: SQL) throws -> [String?] {
    try parameters.enumerated().map { position, parameter in
        do {
            return try parameter?.postgresText()
        } catch var error as PostgresError {
            error.message = "parameter $\(position + 1): \(error.message)"
            error.query = sql.text
            throw error
        }
    }
}

/// A connection checked out of the pool for the length of one body. It refuses to run anything
/// once the body has returned, because the connection may by then belong to another task.
final class Lease: Sendable {
    let handle: ConnectionHandle
    private let isActive = Mutex(true)

    init(handle: ConnectionHandle) {
        self.handle = handle
    }

    func end() {
        isActive.withLock { $0 = false }
    }

    private func checkActive(_ sql: String) throws {
        guard isActive.withLock({ $0 }) else {
            throw PostgresError(
                code: .connectionReleased,
                message: "a connection or transaction was used after its body returned", query: sql)
        }
    }

    /// Throws encoding errors before, and server errors from, the statement; `serverFailure`
    /// sees only the latter.
    func run(
        _ sql: SQL, _ parameters: [(any PostgresBindable)?],
        serverFailure: (PostgresError) -> Void = { _ in }
    ) async throws -> PostgresRows {
        try checkActive(sql.text)
        let encoded = try encodeParameters(parameters, sql: sql)
        do {
            return try await handle.perform { try $0.execute(sql.text, encoded) }
        } catch let error as PostgresError {
            serverFailure(error)
            throw error
        }
    }

    func runScript(_ sql: SQL, serverFailure: (PostgresError) -> Void = { _ in }) async throws {
        try checkActive(sql.text)
        do {
            try await handle.perform { try $0.runScript(sql.text) }
        } catch let error as PostgresError {
            serverFailure(error)
            throw error
        }
    }
}

/// One connection, held for the body of `PostgresPool.withConnection`. Statements run in
/// autocommit mode unless the body issues BEGIN itself; a connection handed back inside an
/// unfinished transaction is closed rather than reused.
public final class PostgresConnection: PostgresQueryable {
    private let lease: Lease

    init(lease: Lease) {
        self.lease = lease
    }

    public func query(_ sql: SQL, _ parameters: [(any PostgresBindable)?]) async throws
        -> PostgresRows
    {
        try await lease.run(sql, parameters)
    }

    /// Runs a multi-statement script with the simple query protocol: no parameters, no
    /// prepared statement. Only for trusted SQL shipped inside the binary (migrations); never
    /// pass text that contains or is derived from input.
    public func runScript(_ sql: SQL) async throws {
        try await lease.runScript(sql)
    }
}

/// How strongly concurrent transactions are isolated. `serializable` and `repeatableRead` can
/// fail with `serializationFailure`, which `PostgresPool.transaction` retries.
public enum PostgresIsolationLevel: Sendable {
    case readCommitted
    case repeatableRead
    case serializable

    var beginStatement: SQL {
        switch self {
        case .readCommitted: return "BEGIN ISOLATION LEVEL READ COMMITTED"
        case .repeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case .serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

/// The open transaction inside `PostgresPool.transaction`. Valid only during that body.
///
/// After any statement fails, the server refuses everything else in the transaction. If the
/// body catches such an error and returns normally anyway, the commit does not happen and the
/// caught error is thrown from `transaction` (so a caught serialization failure is still
/// retried) — nothing is silently lost.
public final class PostgresTransaction: PostgresQueryable {
    private let lease: Lease
    private let firstFailure = Mutex<PostgresError?>(nil)

    init(lease: Lease) {
        self.lease = lease
    }

    private func record(_ error: PostgresError) {
        firstFailure.withLock { if $0 == nil { $0 = error } }
    }

    public func query(_ sql: SQL, _ parameters: [(any PostgresBindable)?]) async throws
        -> PostgresRows
    {
        try await lease.run(sql, parameters, serverFailure: record)
    }

    /// As `PostgresConnection.runScript`: trusted SQL from the binary only. Runs inside this
    /// transaction, so the script must not contain BEGIN/COMMIT or statements that refuse to
    /// run in a transaction block (CREATE INDEX CONCURRENTLY).
    public func runScript(_ sql: SQL) async throws {
        try await lease.runScript(sql, serverFailure: record)
    }

    func begin(_ level: PostgresIsolationLevel) async throws {
        _ = try await lease.run(level.beginStatement, [])
    }

    func commit() async throws {
        let rows = try await lease.run("COMMIT", [], serverFailure: record)
        // COMMIT of a failed transaction reports success with the tag ROLLBACK.
        if rows.commandTag == "ROLLBACK" {
            throw firstFailure.withLock { $0 }
                ?? PostgresError(
                    code: .transactionAborted,
                    message: "the transaction had failed, so COMMIT rolled it back")
        }
    }

    /// Best effort: if ROLLBACK itself fails, the connection is closed when the lease ends
    /// (it is not idle), which also ends the transaction.
    func rollback() async {
        _ = try? await lease.run("ROLLBACK", [])
    }
}
