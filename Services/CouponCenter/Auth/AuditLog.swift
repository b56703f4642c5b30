import Access
import Postgres
import Wire

/// Writes the audit row of an operator action, inside the transaction of the change it records, so
/// a change without its row (or a row without its change) cannot be committed. `before` and
/// `after` are JSON object text from PostgreSQL's `to_jsonb` of the row, with the secret columns
/// removed by the caller's SQL; nil for "no row" (a creation has no before).
enum AuditLog {
    static func record(
        _ actor: AuditActor, action: String, target: String, before: String?, after: String?, in transaction: PostgresTransaction
    ) async throws {
        try await transaction.execute(
            """
            INSERT INTO operator_audit (actor, actor_kind, action, target, before, after, request_id)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
            """,
            [
                clamped(actor.name, to: 64), actor.kind.rawValue, action, clamped(target, to: 200), before, after,
                actor.requestId.map { clamped($0, to: 128) },
            ])
    }

    /// The first `limit` code points: the columns' CHECKs count with char_length.
    static func clamped(_ text: String, to limit: Int) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: text.unicodeScalars.prefix(limit))
        return String(scalars)
    }
}
