import Postgres
import Wire

/// risk-control's audit of admin changes (`risk_admin_audit`, migration 1004): one row per change
/// of the rules or a list, written after the change, with the state before and after as JSON
/// object text. A change nobody could name (sign-in switched off) is recorded as `unauthenticated`.
public struct AdminAudit: Sendable {
    public struct Actor: Sendable {
        public var name: String
        /// `session`, `token`, `service` or `cli`, as coupon-center's audit writes it.
        public var kind: String
        public var requestId: String?

        public init(name: String, kind: String, requestId: String?) {
            self.name = name
            self.kind = kind
            self.requestId = requestId
        }
    }

    let database: PostgresPool

    public init(database: PostgresPool) { self.database = database }

    public func record(_ actor: Actor, action: String, target: String, before: JSONValue?, after: JSONValue?) async throws {
        func clamped(_ text: String, _ limit: Int) -> String {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: text.unicodeScalars.prefix(limit))
            return String(scalars)
        }
        try await database.execute(
            """
            INSERT INTO risk_admin_audit (actor, actor_kind, action, target, before, after, request_id)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
            """,
            [
                clamped(actor.name, 64), actor.kind, action, clamped(target, 200), before?.serialized(), after?.serialized(),
                actor.requestId.map { clamped($0, 128) },
            ])
    }
}
