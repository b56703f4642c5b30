import Postgres
import Wire

/// A session the checks can run in: a pooled transaction (the real run) or a connection inside
/// an explicit BEGIN … ROLLBACK (the self-check). Both can send simple-protocol scripts.
protocol ReconcileSession: PostgresQueryable {
    func runScript(_ sql: SQL) async throws
}

extension PostgresTransaction: ReconcileSession {}
extension PostgresConnection: ReconcileSession {}

/// Runs Scripts/reconcile_checks.sql inside a caller's transaction and reads what it found. The
/// real run and the self-check both come through here, so the self-check proves the very SQL the
/// daily run relies on.
///
/// The script is sent as one simple-protocol statement (`runScript`): never prepared, so nothing
/// cached can point it at the wrong tables; in the self-check, temporary tables named like the real
/// ones stand in front of them. Every statement here that is prepared names only `pg_temp` tables
/// (dropped at the end of each transaction, which invalidates any plan that used them).
enum ReconcileChecks {
    /// The script's input and output tables, dropped with the transaction.
    static let workTables: SQL = """
        CREATE TEMP TABLE reconcile_params (
            business_date date NOT NULL, day_start timestamptz NOT NULL, day_end timestamptz NOT NULL,
            judged_until timestamptz NOT NULL, settled_before timestamptz NOT NULL, template_id text, redis jsonb NOT NULL,
            feed_present boolean NOT NULL DEFAULT false) ON COMMIT DROP;
        CREATE TEMP TABLE reconcile_finding (
            check_name text NOT NULL, code text NOT NULL, template_id text, coupon_id text, order_id text, expected text, actual text)
            ON COMMIT DROP;
        CREATE TEMP TABLE reconcile_figure (template_id text NOT NULL, name text NOT NULL, value bigint) ON COMMIT DROP;
        CREATE TEMP TABLE reconcile_money (template_id text NOT NULL, ledger_cents text NOT NULL, feed_cents text NOT NULL, orders bigint NOT NULL)
            ON COMMIT DROP;
        """

    static let script = SQL(unsafeSQL: String(decoding: PackageResources.reconcile_checks_sql, as: UTF8.self))

    /// What one execution of the script is about.
    struct Day: Sendable {
        var businessDate: String
        var timeZone: String
        var marginSeconds: Int
        var templateId: String?
        /// Per template: `issued`, `spent`, `day` as Redis showed them (absent: not judged).
        var redis: [String: [String: Int64]]
    }

    struct Finding: Sendable, Equatable, Hashable {
        var check: ReconcileCheck
        var code: String
        var templateId: String?
        var couponId: String?
        var orderId: String?
        var expected: String?
        var actual: String?
    }

    struct Money: Sendable {
        var templateId: String
        /// nil when the sum does not fit an Int64 (the feed is hostile or broken).
        var ledgerCents: Int64?
        var feedCents: Int64?
        var orders: Int64
    }

    struct Outcome: Sendable {
        var findings: [Finding]
        var money: [Money]
        var couponsJudged: Int64
        var feedOrders: Int64
        var judgedUntilMilliseconds: Int64
    }

    /// Creates the work tables, once per transaction (the self-check runs the script twice in one).
    static func prepare(_ transaction: some ReconcileSession) async throws {
        try await transaction.runScript(workTables)
    }

    /// Fills the parameters and runs the script.

    static func run(_ day: Day, in transaction: some ReconcileSession, script: SQL = ReconcileChecks.script) async throws -> Outcome {
        let redis = JSONValue.object(
            day.redis.sorted { $0.key < $1.key }.map { template, counters in
                (template, .object(counters.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) }))
            })
        _ = try await transaction.query("DELETE FROM pg_temp.reconcile_params", [])
        let bounds = try await transaction.query(
            """
            INSERT INTO pg_temp.reconcile_params (business_date, day_start, day_end, judged_until, settled_before, template_id, redis)
            SELECT $1::date, $1::date::timestamp AT TIME ZONE $2, ($1::date + 1)::timestamp AT TIME ZONE $2,
                   least(($1::date + 1)::timestamp AT TIME ZONE $2, now() - make_interval(secs => $3::integer)),
                   now() - make_interval(secs => $3::integer), $4::text, $5::jsonb
            RETURNING (extract(epoch FROM judged_until) * 1000)::bigint
            """, [day.businessDate, day.timeZone, day.marginSeconds, day.templateId, redis.serialized()])
        try await transaction.runScript(script)
        let findings = try await transaction.query(
            """
            SELECT check_name, code, template_id, coupon_id, order_id, expected, actual FROM pg_temp.reconcile_finding
             ORDER BY check_name, template_id, code, coupon_id, order_id
            """, [])
        let money = try await transaction.query(
            "SELECT template_id, ledger_cents, feed_cents, orders FROM pg_temp.reconcile_money ORDER BY template_id", [])
        let counts = try await transaction.query(
            """
            SELECT (SELECT count(*) FROM pg_temp.reconcile_coupons)::bigint,
                   (SELECT COALESCE(sum(orders), 0) FROM pg_temp.reconcile_money)::bigint
            """, [])
        return Outcome(
            findings: try findings.map { row in
                Finding(
                    check: try row.decode("check_name", as: ReconcileCheck.self), code: try row.decode("code"),
                    templateId: try row.decode("template_id"), couponId: try row.decode("coupon_id"), orderId: try row.decode("order_id"),
                    expected: try row.decode("expected"), actual: try row.decode("actual"))
            },
            money: try money.map { row in
                Money(
                    templateId: try row.decode("template_id"), ledgerCents: Int64(try row.decode("ledger_cents", as: String.self)),
                    feedCents: Int64(try row.decode("feed_cents", as: String.self)), orders: try row.decode("orders"))
            },
            couponsJudged: try counts[0].decode(0), feedOrders: try counts[0].decode(1),
            judgedUntilMilliseconds: try bounds[0].decode(0))
    }
}
