import Access
import Credentials
import Postgres
import Wire

/// Every PostgreSQL statement about operator accounts, sessions, API tokens and the audit log
/// (migration 0012). Changes run in a transaction with their audit row (`AuditLog`); the JSON of a
/// row never includes `password_hash` or `token_hash`.
struct OperatorStore: Sendable {
    let database: PostgresPool

    /// An account as sign-in sees it.
    struct Account: Sendable {
        var username: String
        var role: Role
        var passwordHash: String
        var disabled: Bool
        /// Set while a lockout is in force.
        var lockedUntilMilliseconds: Int64?
    }

    static let accountJSON: SQL = "(to_jsonb(a) - 'password_hash')::text"
    static let tokenJSON: SQL = "(to_jsonb(t) - 'token_hash')::text"
    static let operatorColumns: SQL = """
        a.username, a.role, a.disabled, (extract(epoch FROM a.created_at) * 1000)::bigint AS created_ms,
        CASE WHEN a.locked_until > now() THEN (extract(epoch FROM a.locked_until) * 1000)::bigint END AS locked_ms
        """
    static let tokenColumns: SQL = """
        t.id, t.name, t.role, t.owner, (extract(epoch FROM t.created_at) * 1000)::bigint AS created_ms,
        (extract(epoch FROM t.expires_at) * 1000)::bigint AS expires_ms, (extract(epoch FROM t.revoked_at) * 1000)::bigint AS revoked_ms
        """

    func account(_ username: String) async throws -> Account? {
        let rows = try await database.query(
            """
            SELECT username, role, password_hash, disabled,
                   CASE WHEN locked_until > now() THEN (extract(epoch FROM locked_until) * 1000)::bigint END AS locked_ms
              FROM operator_account WHERE username = $1
            """, [username])
        guard let row = rows.first else { return nil }
        return Account(
            username: try row.decode("username"), role: try row.decode("role", as: Role.self), passwordHash: try row.decode("password_hash"),
            disabled: try row.decode("disabled"), lockedUntilMilliseconds: try row.decode("locked_ms"))
    }

    /// What one failed sign-in did to the account's counter.
    enum FailureOutcome: Sendable, Equatable {
        /// Counted; the account is locked until then when this failure reached the count.
        case counted(lockedUntilMilliseconds: Int64?)
        /// Not counted: the account was locked already (by a concurrent failure) until then.
        case alreadyLocked(untilMilliseconds: Int64)
        case noAccount
    }

    /// Counts one failure under the row's lock, so concurrent failures from every coupon-center
    /// process are counted one each and the lock falls exactly at `maxFailures`. A failure after
    /// the window, or after an ended lock, starts a new count. A locked account counts nothing.
    ///
    /// One UPDATE whose SET reads only the row itself: when a concurrent failure changed the row
    /// first, PostgreSQL re-evaluates the WHERE and every SET expression on the committed version
    /// (READ COMMITTED), so each failure builds on the one before. (Deciding "a new window" in a
    /// CTE read from the statement's snapshot would let concurrent first failures each restart
    /// the count at 1: the lock came one attempt late.)
    func recordFailure(_ username: String, maxFailures: Int, windowSeconds: Int, lockSeconds: Int) async throws -> FailureOutcome {
        let rows = try await database.query(
            """
            UPDATE operator_account SET
                   failed_logins = CASE WHEN failure_window_started_at IS NULL OR locked_until IS NOT NULL
                                             OR failure_window_started_at <= now() - make_interval(secs => $2::integer)
                                        THEN 1 ELSE failed_logins + 1 END,
                   failure_window_started_at = CASE WHEN failure_window_started_at IS NULL OR locked_until IS NOT NULL
                                                         OR failure_window_started_at <= now() - make_interval(secs => $2::integer)
                                                    THEN now() ELSE failure_window_started_at END,
                   locked_until = CASE WHEN (CASE WHEN failure_window_started_at IS NULL OR locked_until IS NOT NULL
                                                       OR failure_window_started_at <= now() - make_interval(secs => $2::integer)
                                                  THEN 1 ELSE failed_logins + 1 END) >= $3::integer
                                       THEN now() + make_interval(secs => $4::integer) END
             WHERE username = $1 AND (locked_until IS NULL OR locked_until <= now())
            RETURNING (extract(epoch FROM locked_until) * 1000)::bigint AS locked_ms
            """, [username, windowSeconds, maxFailures, lockSeconds])
        if let row = rows.first { return .counted(lockedUntilMilliseconds: try row.decode("locked_ms")) }
        guard let account = try await account(username) else { return .noAccount }
        return .alreadyLocked(untilMilliseconds: account.lockedUntilMilliseconds ?? 0)
    }

    /// A successful sign-in: resets the counter and starts a session, unless the account was
    /// locked or disabled meanwhile (nil then). Returns the session's expiry.
    func startSession(_ username: String, sessionIdDigest: String, ttlSeconds: Int) async throws -> (role: Role, expiresMilliseconds: Int64)? {
        try await database.transaction { transaction in
            let reset = try await transaction.query(
                """
                UPDATE operator_account SET failed_logins = 0, failure_window_started_at = NULL, locked_until = NULL
                 WHERE username = $1 AND NOT disabled AND (locked_until IS NULL OR locked_until <= now())
                RETURNING role
                """, [username])
            guard let row = reset.first else { return nil }
            let session = try await transaction.query(
                """
                INSERT INTO operator_session (id_hash, username, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3::integer))
                RETURNING (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms
                """, [sessionIdDigest, username, ttlSeconds])
            guard let expires = session.first else { throw ServiceError(.internalError, "the session insert returned no row") }
            return (try row.decode("role", as: Role.self), try expires.decode("expires_ms", as: Int64.self))
        }
    }

    func sessionExpiry(_ sessionIdDigest: String) async throws -> Int64? {
        let rows = try await database.query(
            "SELECT (extract(epoch FROM expires_at) * 1000)::bigint AS expires_ms FROM operator_session WHERE id_hash = $1", [sessionIdDigest])
        return try rows.first?.decode("expires_ms")
    }

    func endSession(_ sessionIdDigest: String) async throws -> Bool {
        try await database.execute("DELETE FROM operator_session WHERE id_hash = $1", [sessionIdDigest]) == 1
    }

    // MARK: Operators

    func createOperator(_ username: String, role: Role, passwordHash: String, by actor: AuditActor) async throws -> OperatorView {
        try await database.transaction { transaction in
            let rows = try await transaction.query(
                "INSERT INTO operator_account AS a (username, role, password_hash) VALUES ($1, $2, $3) ON CONFLICT (username) DO NOTHING RETURNING "
                    + Self.operatorColumns + ", " + Self.accountJSON + " AS after",
                [username, role.rawValue, passwordHash])
            guard let row = rows.first else { throw ServiceError(.operatorExists, "an operator named \(username) exists") }
            try await AuditLog.record(
                actor, action: "operator.create", target: username, before: nil, after: try row.decode("after"), in: transaction)
            return try Self.operatorView(row)
        }
    }

    func listOperators() async throws -> [OperatorView] {
        try await database.query("SELECT " + Self.operatorColumns + " FROM operator_account a ORDER BY username").map(Self.operatorView)
    }

    /// Changes one account under its row lock, with the audit row, in one transaction. `change`
    /// runs the UPDATE (and whatever else the change needs: ending sessions, revoking tokens).
    /// Refuses a change that would leave no enabled admin.
    func changeOperator(
        _ username: String, action: String, by actor: AuditActor,
        _ change: @Sendable (PostgresTransaction) async throws -> Void
    ) async throws -> OperatorView {
        try await database.transaction { transaction in
            // Every admin row is locked (in username order, the same for every caller) so two
            // concurrent demotions cannot both see "another admin is left".
            _ = try await transaction.query("SELECT username FROM operator_account WHERE role = 'admin' ORDER BY username FOR UPDATE")
            let before = try await transaction.query(
                "SELECT " + Self.accountJSON + " AS row FROM operator_account a WHERE username = $1 FOR UPDATE", [username])
            guard let beforeRow = before.first else { throw ServiceError(.operatorNotFound, "no operator \(username)") }
            try await change(transaction)
            let admins = try await transaction.query("SELECT count(*)::integer AS n FROM operator_account WHERE role = 'admin' AND NOT disabled")
            guard try admins.first?.decode("n", as: Int32.self) ?? 0 > 0 else {
                throw ServiceError(.invalidArgument, "\(action) of \(username) would leave no enabled admin")
            }
            let after = try await transaction.query(
                "SELECT " + Self.operatorColumns + ", " + Self.accountJSON + " AS row FROM operator_account a WHERE username = $1", [username])
            guard let afterRow = after.first else { throw ServiceError(.internalError, "operator \(username) vanished") }
            try await AuditLog.record(
                actor, action: action, target: username, before: try beforeRow.decode("row"), after: try afterRow.decode("row"), in: transaction)
            return try Self.operatorView(afterRow)
        }
    }

    /// Ends every session of an operator (disabled, or a new password).
    static func endSessions(of username: String, in transaction: PostgresTransaction) async throws {
        try await transaction.execute("DELETE FROM operator_session WHERE username = $1", [username])
    }

    static func operatorView(_ row: PostgresRow) throws -> OperatorView {
        OperatorView(
            username: try row.decode("username"), role: try row.decode("role", as: Role.self), disabled: try row.decode("disabled"),
            createdMilliseconds: try row.decode("created_ms"), lockedUntilMilliseconds: try row.decode("locked_ms"))
    }

    // MARK: Tokens

    func createToken(
        name: String, role: Role, ttlDays: Int64?, owner: String, tokenDigest: String, by actor: AuditActor,
        in transaction: PostgresTransaction? = nil
    ) async throws -> TokenView {
        let insert: @Sendable (PostgresTransaction) async throws -> TokenView = { transaction in
            let rows = try await transaction.query(
                """
                INSERT INTO api_token AS t (name, role, token_hash, owner, expires_at)
                VALUES ($1, $2, $3, $4, CASE WHEN $5::integer IS NULL THEN NULL ELSE now() + make_interval(days => $5::integer) END)
                RETURNING
                """ + " " + Self.tokenColumns + ", " + Self.tokenJSON + " AS after",
                [name, role.rawValue, tokenDigest, owner, ttlDays.map { Int($0) }])
            guard let row = rows.first else { throw ServiceError(.internalError, "the token insert returned no row") }
            let view = try Self.tokenView(row)
            try await AuditLog.record(
                actor, action: "token.create", target: String(view.id), before: nil, after: try row.decode("after"), in: transaction)
            return view
        }
        if let transaction { return try await insert(transaction) }
        return try await database.transaction { try await insert($0) }
    }

    func listTokens() async throws -> [TokenView] {
        try await database.query("SELECT " + Self.tokenColumns + " FROM api_token t ORDER BY id").map(Self.tokenView)
    }

    /// Revokes a token; revoking a revoked one changes nothing and writes no audit row.
    func revokeToken(_ id: Int64, by actor: AuditActor) async throws -> TokenView {
        try await database.transaction { transaction in
            let before = try await transaction.query(
                "SELECT " + Self.tokenJSON + " AS row, t.revoked_at IS NOT NULL AS revoked FROM api_token t WHERE id = $1 FOR UPDATE", [id])
            guard let beforeRow = before.first else { throw ServiceError(.tokenNotFound, "no API token \(id)") }
            if try !beforeRow.decode("revoked", as: Bool.self) {
                try await transaction.execute("UPDATE api_token SET revoked_at = now() WHERE id = $1", [id])
            }
            let after = try await transaction.query(
                "SELECT " + Self.tokenColumns + ", " + Self.tokenJSON + " AS row FROM api_token t WHERE id = $1", [id])
            guard let afterRow = after.first else { throw ServiceError(.internalError, "token \(id) vanished") }
            if try !beforeRow.decode("revoked", as: Bool.self) {
                try await AuditLog.record(
                    actor, action: "token.revoke", target: String(id), before: try beforeRow.decode("row"), after: try afterRow.decode("row"),
                    in: transaction)
            }
            return try Self.tokenView(afterRow)
        }
    }

    static func tokenView(_ row: PostgresRow) throws -> TokenView {
        TokenView(
            id: try row.decode("id"), name: try row.decode("name"), role: try row.decode("role", as: Role.self), createdBy: try row.decode("owner"),
            createdMilliseconds: try row.decode("created_ms"), expiresMilliseconds: try row.decode("expires_ms"),
            revokedMilliseconds: try row.decode("revoked_ms"))
    }

    // MARK: Audit

    /// Entries newest first, at most `rows`, matching the request's filters.
    func audit(_ request: AuditListRequest, rows: Int) async throws -> [AuditEntry] {
        try await database.query(
            """
            SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, actor, actor_kind, action, target,
                   COALESCE(before::text, 'null') AS before, COALESCE(after::text, 'null') AS after, request_id
              FROM operator_audit
             WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
               AND ($3::bigint IS NULL OR at >= to_timestamp($3::bigint / 1000.0)) AND ($4::bigint IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5::integer
            """, [request.actor, request.action, request.sinceMilliseconds, request.beforeId, rows]
        ).map { row in
            AuditEntry(
                id: try row.decode("id"), atMilliseconds: try row.decode("at_ms"), actor: try row.decode("actor"),
                actorKind: try row.decode("actor_kind", as: ActorKind.self), action: try row.decode("action"), target: try row.decode("target"),
                before: try row.decode("before"), after: try row.decode("after"), requestId: try row.decode("request_id"))
        }
    }

    // MARK: Bootstrap

    /// The first admin and its token, only while no operator exists. The table lock (which
    /// conflicts with itself and with inserts) makes "none exists, then insert" one step for
    /// every concurrent caller.
    func bootstrap(
        username: String, passwordHash: String, tokenName: String, tokenDigest: String, actor: AuditActor
    ) async throws -> (OperatorView, TokenView) {
        try await database.transaction { transaction in
            try await transaction.execute("LOCK TABLE operator_account IN SHARE ROW EXCLUSIVE MODE")
            let existing = try await transaction.query("SELECT count(*)::integer AS n FROM operator_account")
            guard try existing.first?.decode("n", as: Int32.self) == 0 else {
                throw ServiceError(.alreadyBootstrapped, "an operator exists already: the first-admin bootstrap works on an empty cluster only")
            }
            let rows = try await transaction.query(
                "INSERT INTO operator_account AS a (username, role, password_hash) VALUES ($1, 'admin', $2) RETURNING " + Self.operatorColumns + ", "
                    + Self.accountJSON + " AS after", [username, passwordHash])
            guard let row = rows.first else { throw ServiceError(.internalError, "the admin insert returned no row") }
            try await AuditLog.record(
                actor, action: "operator.create", target: username, before: nil, after: try row.decode("after"), in: transaction)
            let token = try await createToken(
                name: tokenName, role: .admin, ttlDays: nil, owner: username, tokenDigest: tokenDigest, by: actor, in: transaction)
            return (try Self.operatorView(row), token)
        }
    }
}
