import Access
import Postgres
import Signatures
import Wire

/// Finds who a session id or API token belongs to, in PostgreSQL (migration 0012). Only digests
/// are looked up: the presented secret is hashed with SHA-256 and never stored or logged. Shared by
/// coupon-center and risk-control, which checks its admin calls against the same tables.
public struct CredentialStore: Sendable {
    let database: any PostgresQueryable
    /// A session unused for this long ends even before its expiry.
    let sessionIdleSeconds: Int

    public init(database: any PostgresQueryable, sessionIdleSeconds: Int) {
        self.database = database
        self.sessionIdleSeconds = sessionIdleSeconds
    }

    /// The digest under which a secret is stored.
    public static func digest(_ secret: String) -> String { SHA256Digest.hex(secret) }

    /// The CSRF token of a session: derived from its id, so nothing more is stored, and useless
    /// without the cookie it is derived from.
    public static func csrfToken(sessionId: String) -> String { SHA256Digest.hex("csrf:" + sessionId) }

    /// The principal of a session id or API token, or nil when it is unknown, expired, idle too
    /// long, revoked, or belongs to a disabled operator.
    public func principal(for credential: String) async throws -> Principal? {
        switch CredentialText.kind(of: credential) {
        case .session: return try await session(credential)
        case .apiToken: return try await apiToken(credential)
        case .other: return nil
        }
    }

    private func session(_ sessionId: String) async throws -> Principal? {
        // Touching last_seen_at on every use is what makes the idle timeout slide.
        let rows = try await database.query(
            """
            UPDATE operator_session s SET last_seen_at = now()
              FROM operator_account a
             WHERE s.id_hash = $1 AND a.username = s.username AND NOT a.disabled
               AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
            RETURNING a.username, a.role
            """, [Self.digest(sessionId), sessionIdleSeconds])
        guard let row = rows.first else { return nil }
        return Principal(
            name: try row.decode("username"), kind: .session, role: try row.decode("role", as: Role.self), account: try row.decode("username"),
            csrfToken: Self.csrfToken(sessionId: sessionId))
    }

    private func apiToken(_ token: String) async throws -> Principal? {
        let rows = try await database.query(
            """
            SELECT t.name, t.role, a.role AS owner_role, t.owner FROM api_token t JOIN operator_account a ON a.username = t.owner
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT a.disabled
            """, [Self.digest(token)])
        guard let row = rows.first else { return nil }
        // The audit log names the owner and the token: "admin/deploy-script".
        let owner: String = try row.decode("owner")
        let name: String = try row.decode("name")
        // A token never outranks its owner: demoting the operator demotes their tokens.
        let role = min(try row.decode("role", as: Role.self), try row.decode("owner_role", as: Role.self))
        var label = String.UnicodeScalarView()
        label.append(contentsOf: "\(owner)/\(name)".unicodeScalars.prefix(64))
        return Principal(name: String(label), kind: .token, role: role, account: owner)
    }
}
