internal import CLibpq
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The only file that sees libpq. Everything here runs on one connection's serial queue.

extension PostgresError {
    /// The one place a libpq failure becomes a `PostgresError`.
    ///
    /// Reads the diagnostic fields of `result` when there is one, otherwise libpq's message on
    /// `connection`. Any failure on a connection libpq reports as bad is `connectionFailed`,
    /// whatever the SQLSTATE, because the statement's fate is then unknown.
    static func fromLibpq(
        connection: OpaquePointer?, result: OpaquePointer?, query: String?
    ) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code)) else {
                return nil
            }
            return String(cString: value)
        }
        let sqlState = field(UInt8(ascii: "C"))  // PG_DIAG_SQLSTATE
        var message = field(UInt8(ascii: "M"))  // PG_DIAG_MESSAGE_PRIMARY
        if message == nil, let result, let text = PQresultErrorMessage(result), text.pointee != 0 {
            message = String(cString: text)
        }
        if message == nil, let connection, let text = PQerrorMessage(connection), text.pointee != 0 {
            message = String(cString: text)
        }
        let trimmed = (message ?? "unknown libpq failure").trimmingCharacters(
            in: .whitespacesAndNewlines)

        var code = sqlState.map(PostgresError.code(forSQLState:)) ?? .queryFailed
        if connection == nil || PQstatus(connection) != CONNECTION_OK {
            code = .connectionFailed
        }
        return PostgresError(
            code: code, message: trimmed, sqlState: sqlState,
            detail: field(UInt8(ascii: "D")),  // PG_DIAG_MESSAGE_DETAIL
            constraint: field(UInt8(ascii: "n")),  // PG_DIAG_CONSTRAINT_NAME
            table: field(UInt8(ascii: "t")),  // PG_DIAG_TABLE_NAME
            column: field(UInt8(ascii: "c")),  // PG_DIAG_COLUMN_NAME
            query: query)
    }
}

/// Owns one `PGconn*` and the statements prepared on it.
///
/// Not thread-safe by itself: `ConnectionHandle` is its only owner and calls it only on its
/// serial queue with its lock held. It never reconnects in the middle of a lease (see
/// `prepareForLease`), so statements of one transaction can never land on two server sessions.
final class LibpqSession {
    private let config: PostgresConfig
    private var connection: OpaquePointer?
    /// SQL text → server-side statement name. Bounded in practice because SQL text is written in
    /// the source, never built from values.
    private var statementNames: [String: String] = [:]
    private var statementCounter = 0
    /// Set when the server refused a write as read-only (a demoted primary, or a standby that
    /// libpq was allowed to pick): the session is replaced when its lease ends, so that the next
    /// connection lets libpq look for the server that accepts writes.
    private var mustReconnect = false

    init(config: PostgresConfig) {
        self.config = config
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    /// Closes the server session, if any. The next lease opens a new one.
    func close() {
        if let connection { PQfinish(connection) }
        connection = nil
        statementNames = [:]
        statementCounter = 0
        mustReconnect = false
    }

    /// Makes sure the session is open, idle and healthy before someone leases it; reconnects
    /// otherwise. This is how a server restart heals: the broken session is replaced here.
    func prepareForLease() throws {
        if let connection, isReusable(connection) { return }
        close()
        try open()
    }

    /// Called when a lease ends. A session left inside a transaction (the holder issued BEGIN
    /// and never finished it) must not reach the next holder, so it is closed.
    func cleanUpAfterLease() {
        guard let connection else { return }
        if mustReconnect || PQstatus(connection) != CONNECTION_OK
            || PQtransactionStatus(connection) != PQTRANS_IDLE
        {
            close()
        }
    }

    private func isReusable(_ connection: OpaquePointer) -> Bool {
        guard PQstatus(connection) == CONNECTION_OK,
            PQtransactionStatus(connection) == PQTRANS_IDLE
        else { return false }
        // An idle session receives nothing unprompted, except when the server is ending it
        // (a FATAL message, then EOF after a restart or pg_terminate_backend). Readable here
        // therefore means "about to fail": replace it rather than let the next query find out.
        let socket = PQsocket(connection)
        guard socket >= 0 else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    private func open() throws {
        var settings: [(String, String)] = [
            // libpq's multi-host form: comma-separated lists, the n-th port for the n-th host.
            ("host", config.endpoints.map(\.host).joined(separator: ",")),
            ("port", config.endpoints.map { String($0.port) }.joined(separator: ",")),
            ("user", config.user),
            ("dbname", config.database),
            ("connect_timeout", String(config.connectTimeoutSeconds)),
            ("client_encoding", "UTF8"),
            // Every session: the decoders depend on these output formats.
            ("options", "-c TimeZone=UTC -c DateStyle=ISO,YMD -c bytea_output=hex"),
            ("fallback_application_name", "coupon-cluster"),
        ]
        if let password = config.password { settings.append(("password", password)) }
        if let sslMode = config.sslMode { settings.append(("sslmode", sslMode)) }
        if let name = config.applicationName { settings.append(("application_name", name)) }
        if let attributes = config.targetSessionAttributes {
            settings.append(("target_session_attrs", attributes))
        }

        let keywords = settings.map { strdup($0.0) }
        let values = settings.map { strdup($0.1) }
        defer {
            for pointer in keywords + values { free(pointer) }
        }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let newConnection = PQconnectdbParams(keywordPointers, valuePointers, 0) else {
            throw PostgresError(
                code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(newConnection) == CONNECTION_OK else {
            let error = PostgresError.fromLibpq(connection: newConnection, result: nil, query: nil)
            PQfinish(newConnection)
            throw error
        }
        // Server notices (e.g. "relation already exists, skipping") would go to stderr.
        _ = PQsetNoticeProcessor(newConnection, { _, _ in }, nil)

        func parameter(_ name: String) -> String {
            guard let value = PQparameterStatus(newConnection, name) else { return "" }
            return String(cString: value)
        }
        guard parameter("TimeZone") == "UTC", parameter("DateStyle").hasPrefix("ISO") else {
            PQfinish(newConnection)
            throw PostgresError(
                code: .connectionFailed,
                message: "the server did not apply TimeZone=UTC and DateStyle=ISO to the session")
        }
        connection = newConnection
    }

    private func liveConnection(query: String?) throws -> OpaquePointer {
        guard let connection else {
            throw PostgresError(
                code: .connectionFailed, message: "the connection was lost earlier in this lease",
                query: query)
        }
        return connection
    }

    /// Turns a failed result into an error and drops the session if libpq says it broke.
    private func failure(_ connection: OpaquePointer, _ result: OpaquePointer?, _ sql: String)
        -> PostgresError
    {
        let error = PostgresError.fromLibpq(connection: connection, result: result, query: sql)
        if PQstatus(connection) != CONNECTION_OK { close() }
        if error.isReadOnlyServer { mustReconnect = true }
        return error
    }

    private func statementName(for sql: String, on connection: OpaquePointer) throws -> String {
        if let name = statementNames[sql] { return name }
        statementCounter += 1
        let name = "coupon_\(statementCounter)"
        let result = PQprepare(connection, name, sql, 0, nil)
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
            throw failure(connection, result, sql)
        }
        statementNames[sql] = name
        return name
    }

    /// Runs one parameterised statement through the prepared-statement cache.
    func execute(_ sql: String, _ parameters: [String?]) throws -> PostgresRows {
        let connection = try liveConnection(query: sql)
        let name = try statementName(for: sql, on: connection)

        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { for pointer in copies { free(pointer) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        let result = PQexecPrepared(connection, name, Int32(pointers.count), pointers, nil, nil, 0)
        defer { PQclear(result) }

        guard let result else { throw failure(connection, nil, sql) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return rows(from: result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // The session is now in COPY mode; starting over is simpler than unwinding it.
            close()
            throw PostgresError(code: .queryFailed, message: "COPY is not supported", query: sql)
        default:
            let error = failure(connection, result, sql)
            if error.sqlState == "0A000" {
                // "cached plan must not change result type": the schema changed under the
                // prepared statement. Prepare it afresh next time.
                statementNames[sql] = nil
            }
            throw error
        }
    }

    /// Runs several statements in one simple-protocol round trip (no parameters). Only for
    /// trusted SQL compiled into the binary, such as migrations.
    func runScript(_ sql: String) throws {
        let connection = try liveConnection(query: sql)
        guard PQsendQuery(connection, sql) == 1 else { throw failure(connection, nil, sql) }
        var firstError: PostgresError?
        // Every result must be read, even after an error, before the session is usable again.
        while let result = PQgetResult(connection) {
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR:
                if firstError == nil {
                    firstError = PostgresError.fromLibpq(
                        connection: connection, result: result, query: sql)
                }
            case PGRES_COPY_IN:
                _ = PQputCopyEnd(connection, "COPY FROM STDIN is not supported in scripts")
            case PGRES_COPY_OUT:
                var buffer: UnsafeMutablePointer<CChar>?
                while PQgetCopyData(connection, &buffer, 0) > 0 {
                    PQfreemem(buffer)
                    buffer = nil
                }
            default:
                break
            }
            PQclear(result)
        }
        if PQstatus(connection) != CONNECTION_OK {
            let error =
                firstError
                ?? PostgresError.fromLibpq(connection: connection, result: nil, query: sql)
            close()
            throw error
        }
        if let firstError { throw firstError }
    }

    private func rows(from result: OpaquePointer) -> PostgresRows {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let index = PostgresColumnIndex(
            names: (0..<columnCount).map { column in
                PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?"
            })
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(
                        PQgetvalue(result, Int32(row), Int32(column)).map { String(cString: $0) })
                }
            }
            rows.append(PostgresRow(columnIndex: index, values: values))
        }
        let affected = PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        return PostgresRows(columnIndex: index, rows: rows, affectedRows: affected, commandTag: tag)
    }
}

/// One pooled connection: a `LibpqSession` plus the serial queue its blocking calls run on.
///
/// libpq blocks its calling thread for the whole network round trip, so these calls must stay
/// off Swift's cooperative pool; async callers hop here with a continuation and are resumed
/// when the call returns. The lock is uncontended (only the queue takes it) and makes the
/// ownership visible to the compiler.
final class ConnectionHandle: Sendable {
    private let queue: DispatchQueue
    private let session: Mutex<LibpqSession>

    init(config: PostgresConfig, number: Int) {
        queue = DispatchQueue(label: "coupon.postgres.connection.\(number)")
        session = Mutex(LibpqSession(config: config))
    }

    func perform<Result: Sendable>(
        _ work: @escaping @Sendable (LibpqSession) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(
                    with: Swift.Result { try self.session.withLock { try work($0) } })
            }
        }
    }

    /// Queues work without waiting for it. Work queued later on this handle runs after it.
    func enqueue(_ work: @escaping @Sendable (LibpqSession) -> Void) {
        queue.async { self.session.withLock { work($0) } }
    }
}
