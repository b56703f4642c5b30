import Postgres
import Wire

/// The reconciler proves that it can see faults: in ONE transaction that is always rolled back,
/// temporary tables named like the real ones (pg_temp is searched first) receive a scratch template
/// with 20 coupons over a fixed past day; the checks must find nothing there; then four known faults
/// are planted and the same checks must find and name each. A miss is `RECONCILER_BLIND`.
///
/// Real data is never touched: every statement that writes names `pg_temp` explicitly, the checks
/// are scoped to the scratch template, the Redis figures are passed in (no Redis is read or
/// written), and the transaction ends with ROLLBACK whatever happens.
enum SelfCheck {
    static let templateId = "reconciler-self-check"
    /// A day long past, so no safety margin ever hides the scratch events.
    static let businessDate = "2001-02-03"

    /// The faults planted, each with the finding that names it.
    static let faults: [(name: String, finding: (ReconcileCheck, String, String?))] = [
        ("deleted ledger row", (.couponState, "MISSING_LEDGER", "self-check-1")),
        ("duplicated USED row", (.couponState, "DUPLICATED_EVENT", "self-check-5")),
        ("Redis counter +5", (.counters, "REDIS_ISSUED_MISMATCH", nil)),
        ("row changed behind the ledger", (.couponState, "STATUS_MISMATCH", "self-check-3")),
    ]

    struct Result: Sendable, Equatable {
        /// The faults not found, and anything the checks reported on the clean scratch day (which
        /// is as wrong: a reconciler that cries wolf hides the real faults). Empty: PASSED.
        var missed: [String]

        var outcome: SelfCheckOutcome { missed.isEmpty ? .passed : .blind }
    }

    static let scratchTables: SQL = """
        CREATE TEMP TABLE coupon_template (LIKE public.coupon_template INCLUDING DEFAULTS) ON COMMIT DROP;
        CREATE TEMP TABLE user_coupon (LIKE public.user_coupon INCLUDING DEFAULTS) ON COMMIT DROP;
        CREATE TEMP TABLE coupon_ledger (LIKE public.coupon_ledger INCLUDING DEFAULTS) ON COMMIT DROP;
        CREATE TEMP TABLE template_daily_issue (LIKE public.template_daily_issue INCLUDING DEFAULTS) ON COMMIT DROP;
        CREATE TEMP TABLE order_feed (LIKE public.order_feed INCLUDING DEFAULTS) ON COMMIT DROP;
        """

    /// The scratch day, read from pg_temp.reconcile_params: 20 CASH coupons of 3.00, claimed ten
    /// minutes apart; 5…10 used an hour after their claim, 9 refunded an hour later; the feed holds
    /// the six orders. Counters, budget and Redis figures agree.
    static let scratchDay: SQL = """
        INSERT INTO pg_temp.coupon_template (id, name, type, threshold_cents, discount_cents, start_time, end_time, total_stock,
                                             issued_count, budget_spent_cents)
        SELECT 'reconciler-self-check', 'reconciler self-check', 'CASH', 1000, 300, p.day_start - interval '1 day',
               p.day_end + interval '30 days', 100, 20, 6000
          FROM pg_temp.reconcile_params p;
        INSERT INTO pg_temp.user_coupon (id, user_id, template_id, status, type, threshold_cents, discount_cents, channel, claimed_at,
                                         expires_at, order_id, order_amount_cents, applied_cents, used_at)
        SELECT 'self-check-' || i, 'self-check-user', 'reconciler-self-check', CASE WHEN i BETWEEN 5 AND 10 AND i <> 9 THEN 'USED' ELSE 'UNUSED' END,
               'CASH', 1000, 300, 'self-check', p.day_start + i * interval '10 minutes', p.day_end + interval '30 days',
               CASE WHEN i BETWEEN 5 AND 10 AND i <> 9 THEN 'self-check-order-' || i END,
               CASE WHEN i BETWEEN 5 AND 10 AND i <> 9 THEN 1000 END, CASE WHEN i BETWEEN 5 AND 10 AND i <> 9 THEN 300 END,
               CASE WHEN i BETWEEN 5 AND 10 AND i <> 9 THEN p.day_start + i * interval '10 minutes' + interval '1 hour' END
          FROM pg_temp.reconcile_params p, generate_series(1, 20) i;
        INSERT INTO pg_temp.coupon_ledger (id, coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents,
                                           budget_delta_cents, created_at)
        SELECT i, 'self-check-' || i, 'reconciler-self-check', 'self-check-user', 'ISSUED', NULL, 'UNUSED', NULL, 300, NULL,
               p.day_start + i * interval '10 minutes'
          FROM pg_temp.reconcile_params p, generate_series(1, 20) i
        UNION ALL
        SELECT 100 + i, 'self-check-' || i, 'reconciler-self-check', 'self-check-user', 'USED', 'UNUSED', 'USED', 'self-check-order-' || i,
               300, 0, p.day_start + i * interval '10 minutes' + interval '1 hour'
          FROM pg_temp.reconcile_params p, generate_series(5, 10) i
        UNION ALL
        SELECT 209, 'self-check-9', 'reconciler-self-check', 'self-check-user', 'REFUNDED', 'USED', 'UNUSED', 'self-check-order-9', 300, 0,
               p.day_start + interval '90 minutes' + interval '2 hours'
          FROM pg_temp.reconcile_params p;
        INSERT INTO pg_temp.template_daily_issue (template_id, day, issued, daily_limit)
        SELECT 'reconciler-self-check', p.business_date, 20, 2147483647 FROM pg_temp.reconcile_params p;
        INSERT INTO pg_temp.order_feed (business_date, order_id, coupon_id, discount_cents, amount_cents, status)
        SELECT p.business_date, 'self-check-order-' || i, 'self-check-' || i, 300, 1000, CASE WHEN i = 9 THEN 'REFUNDED' ELSE 'PAID' END
          FROM pg_temp.reconcile_params p, generate_series(5, 10) i;
        """

    /// Three of the four faults (the fourth, Redis +5, is in the figures the second run is given).
    static let plantedFaults: SQL = """
        DELETE FROM pg_temp.coupon_ledger WHERE id = 1;
        INSERT INTO pg_temp.coupon_ledger (id, coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents,
                                           budget_delta_cents, created_at)
        SELECT 1000, coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents, budget_delta_cents,
               created_at + interval '1 minute'
          FROM pg_temp.coupon_ledger WHERE id = 105;
        UPDATE pg_temp.user_coupon SET status = 'REVOKED' WHERE id = 'self-check-3';
        """

    /// `script` is the real checks; a test passes a crippled one to see a blind self-check.
    static func run(database: PostgresPool, timeZone: String, script: SQL = ReconcileChecks.script) async throws -> Result {
        var day = ReconcileChecks.Day(
            businessDate: businessDate, timeZone: timeZone, marginSeconds: 0, templateId: templateId,
            redis: [templateId: ["issued": 20, "spent": 6000, "day": 20]])
        let rolledBack = try await database.withConnection { connection in
            try await connection.runScript("BEGIN")
            do {
                let result = try await Self.check(&day, script: script, connection: connection)
                try await connection.runScript("ROLLBACK")
                return result
            } catch {
                try? await connection.runScript("ROLLBACK")
                throw error
            }
        }
        return rolledBack
    }

    private static func check(_ day: inout ReconcileChecks.Day, script: SQL, connection: PostgresConnection) async throws -> Result {
        try await connection.runScript(ReconcileChecks.workTables + "\n" + scratchTables)
        // The parameters first: the scratch day is laid out from their day bounds.
        let clean = try await ReconcileChecks.run(day, in: connection, script: script)
        try await connection.runScript(scratchDay)
        let cleanAgain = try await ReconcileChecks.run(day, in: connection, script: script)
        try await connection.runScript(plantedFaults)
        day.redis[templateId]?["issued"] = 25
        let planted = try await ReconcileChecks.run(day, in: connection, script: script)
        let missed = faults.filter { fault in
            !planted.findings.contains { found in
                found.check == fault.finding.0 && found.code == fault.finding.1
                    && (fault.finding.2 == nil || found.couponId == fault.finding.2)
            }
        }.map(\.name)
        let noise = (clean.findings + cleanAgain.findings).map { "clean day reported \($0.check.rawValue) \($0.code)" }
        return Result(missed: missed + Array(Set(noise)).sorted())
    }
}
