/// Everything this module throws, apart from `CancellationError` while waiting for a connection.
///
/// The server's diagnostic fields are kept apart so callers can branch on them without parsing
/// text: `code` for the kind of failure, `constraint` to tell which rule a row broke. `description`
/// leaves out `detail`, because the server puts row values there (`Key (code)=(ABC) already
/// exists`) and descriptions end up in logs; read `detail` explicitly when it is safe to show.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// Could not connect, or the connection was lost. Whether a statement that was running
        /// when the connection died took effect is unknown.
        public static let connectionFailed = Code("connectionFailed")
        /// The server rejected the statement for a reason without a more specific code here.
        public static let queryFailed = Code("queryFailed")
        /// SQLSTATE 40001. Retrying the whole transaction is the correct response.
        public static let serializationFailure = Code("serializationFailure")
        /// SQLSTATE 40P01. Retrying the whole transaction is the correct response.
        public static let deadlockDetected = Code("deadlockDetected")
        /// SQLSTATE 23505; `constraint` names the unique index or constraint.
        public static let uniqueViolation = Code("uniqueViolation")
        /// SQLSTATE 23514; `constraint` names the check constraint.
        public static let checkViolation = Code("checkViolation")
        /// SQLSTATE 23503; `constraint` names the foreign key.
        public static let foreignKeyViolation = Code("foreignKeyViolation")
        /// SQLSTATE 23502; `column` names the column.
        public static let notNullViolation = Code("notNullViolation")
        /// A result value was NULL where a non-optional was asked for, or its text did not parse
        /// as the requested type; `column` names the column.
        public static let decodingFailed = Code("decodingFailed")
        /// The pool was closed before or while waiting for a connection.
        public static let poolClosed = Code("poolClosed")
        /// SQLSTATE 57014 (statement_timeout, or a cancelled statement) or 55P03 (lock_timeout).
        public static let timeout = Code("timeout")
        /// SQLSTATE 25P02, or a transaction body swallowed an error so COMMIT rolled back.
        public static let transactionAborted = Code("transactionAborted")
        /// The database URL or a pool setting is invalid.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A parameter has no text form the server would read back unchanged (say a NUL byte).
        public static let invalidParameter = Code("invalidParameter")
        /// A connection or transaction object was used after its `withConnection`/`transaction`
        /// body returned, when it may already belong to someone else.
        public static let connectionReleased = Code("connectionReleased")
        /// The migration list is not strictly increasing by version, or has an empty name.
        public static let invalidMigrations = Code("invalidMigrations")
        /// An applied migration's recorded name differs from the one in the binary.
        public static let migrationMismatch = Code("migrationMismatch")
    }

    public var code: Code
    /// The five-character SQLSTATE when the server sent one; nil for client-side failures.
    public var sqlState: String?
    /// The server's primary message, or libpq's or this module's explanation.
    public var message: String
    /// The server's DETAIL field. May contain row values; not part of `description`.
    public var detail: String?
    /// The violated constraint, when the server names one.
    public var constraint: String?
    /// The table the server associates with the error, when it names one.
    public var table: String?
    /// The column concerned: from the server (NOT NULL violations) or from decoding.
    public var column: String?
    /// The SQL text that failed. Safe to log: values are always bound as parameters.
    public var query: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.constraint = constraint
        self.table = table
        self.column = column
        self.query = query
    }

    /// Whether the server refused the statement because of the values in it, so that the same
    /// values would be refused forever: SQLSTATE class 22 (data exception: an untranslatable
    /// `\u0000`, a bad encoding, a value too long), 23 (a broken constraint) or 54 (a program limit:
    /// an index row too large), or a parameter the client could not even send. Connection
    /// failures, timeouts and schema errors are not. Batches split on this to isolate the item at
    /// fault (coupon-center's group commit, risk-control's audit writer).
    public var refusesValues: Bool {
        if code == .invalidParameter { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("22") || sqlState.hasPrefix("23") || sqlState.hasPrefix("54")
    }

    /// True for the failures after which running the same transaction again can succeed.
    public var isTransientTransactionFailure: Bool {
        code == .serializationFailure || code == .deadlockDetected
    }

    public var description: String {
        var text = "PostgresError.\(code)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        text += ": \(message)"
        if let constraint { text += " [constraint \(constraint)]" }
        if let table { text += " [table \(table)]" }
        if let column { text += " [column \(column)]" }
        if let query { text += " [query: \(query)]" }
        return text
    }

    /// The code for a server SQLSTATE. Unknown states map to `queryFailed`.
    static func code(forSQLState state: String) -> Code {
        switch state {
        case "40001": return .serializationFailure
        case "40P01": return .deadlockDetected
        case "23505": return .uniqueViolation
        case "23514": return .checkViolation
        case "23503": return .foreignKeyViolation
        case "23502": return .notNullViolation
        case "25P02": return .transactionAborted
        case "57014", "55P03": return .timeout
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away.
        case "57P01", "57P02", "57P03": return .connectionFailed
        default:
            return state.hasPrefix("08") ? .connectionFailed : .queryFailed
        }
    }
}
