import Access
import Domain
import Foundation
import Postgres
import Wire

/// Every PostgreSQL statement of reconciliation outside the checks themselves: the runs and their
/// items, the incidents, the reconciliation alerts, and the order feed (tables of migration 0010).
struct ReconcileStore: Sendable {
    let database: PostgresPool

    static func scope(_ templateId: String?) -> String { templateId.map { "template:" + $0 } ?? "all" }

    // MARK: Runs

    static let runColumns: SQL = """
        SELECT id, business_date::text AS business_date, scope, attempt, outcome,
               (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms,
               (extract(epoch FROM judged_until) * 1000)::bigint AS judged_ms, templates, coupons_judged, feed_orders, item_count,
               incidents_opened, checks::text AS checks, self_check, array_to_json(self_check_missed)::text AS missed
          FROM reconcile_run
        """

    static func summary(_ row: PostgresRow, reused: Bool) throws -> ReconcileRunSummary {
        let checks: [ReconcileCheckSummary]
        do {
            checks = try JSONDecoder().decode([ReconcileCheckSummary].self, from: Data(try row.decode("checks", as: String.self).utf8))
        } catch {
            throw ServiceError(.internalError, "reconcile_run.checks: not the stored shape (\(error))")
        }
        let selfCheckText: String? = try row.decode("self_check")
        let selfCheck = try selfCheckText.map { text throws(ServiceError) in
            guard let outcome = SelfCheckOutcome(rawValue: text) else {
                throw ServiceError(.internalError, "reconcile_run.self_check: unknown value '\(text)'")
            }
            return outcome
        }
        return ReconcileRunSummary(
            runId: try row.decode("id"), businessDate: try row.decode("business_date"), scope: try row.decode("scope"),
            attempt: try row.decode("attempt"), outcome: try row.decode("outcome", as: ReconcileOutcome.self),
            startedMilliseconds: try row.decode("started_ms"), finishedMilliseconds: try row.decode("finished_ms"),
            judgedUntilMilliseconds: try row.decode("judged_ms"), templates: try row.decode("templates"),
            couponsJudged: try row.decode("coupons_judged"), feedOrders: try row.decode("feed_orders"), itemCount: try row.decode("item_count"),
            incidentsOpened: try row.decode("incidents_opened"), checks: checks,
            selfCheck: selfCheck,
            selfCheckMissed: try SQLArrays.strings(row, "missed"), reused: reused)
    }

    /// The latest attempt of a day and scope.
    func latestRun(businessDate: String, scope: String) async throws -> ReconcileRunSummary? {
        let rows = try await database.query(
            Self.runColumns + " WHERE business_date = $1::date AND scope = $2 ORDER BY attempt DESC LIMIT 1", [businessDate, scope])
        return try rows.first.map { try Self.summary($0, reused: true) }
    }

    func run(_ runId: Int64) async throws -> ReconcileRunSummary? {
        try await database.query(Self.runColumns + " WHERE id = $1::bigint", [runId]).first.map { try Self.summary($0, reused: false) }
    }

    func runs(businessDate: String) async throws -> [ReconcileRunSummary] {
        try await database.query(Self.runColumns + " WHERE business_date = $1::date ORDER BY id DESC LIMIT 1000", [businessDate]).map {
            try Self.summary($0, reused: false)
        }
    }

    func items(runId: Int64, offset: Int, limit: Int) async throws -> [ReconcileItemView] {
        try await database.query(
            """
            SELECT position, check_name, code, template_id, coupon_id, order_id, expected, actual FROM reconcile_item
             WHERE run_id = $1::bigint AND position > $2::integer ORDER BY position LIMIT $3::integer
            """, [runId, offset, limit]
        ).map { row in
            ReconcileItemView(
                position: try row.decode("position"), check: try row.decode("check_name", as: ReconcileCheck.self), code: try row.decode("code"),
                templateId: try row.decode("template_id"), couponId: try row.decode("coupon_id"), orderId: try row.decode("order_id"),
                expected: try row.decode("expected"), actual: try row.decode("actual"))
        }
    }

    /// What a run writes, in the transaction that ran its checks (so the items are read from the
    /// script's own findings table, never copied through this process).
    struct RunRecord: Sendable {
        var businessDate: String
        var templateId: String?
        var trigger: String
        var startedMilliseconds: Int64
        var timeZone: String
        var outcome: ReconcileChecks.Outcome
        /// MONEY findings decided here (the relative difference), added to the script's.
        var moneyFindings: [ReconcileChecks.Finding]
        var checks: [ReconcileCheckSummary]
        var templates: Int
        var selfCheck: SelfCheck.Result?
        /// Templates whose MONEY difference is above the alarm, with it in basis points.
        var alarms: [(templateId: String, basisPoints: Int64)]
    }

    /// Checks that open incidents; ORDERS items are listed only (their sum is MONEY's business).
    static let incidentChecks: [ReconcileCheck] = [.couponState, .counters, .budget, .money]

    /// Inserts the run, its items, its incidents and alerts; answers the run id and the number of
    /// incidents opened (new or reopened). The unique (day, scope, attempt) key makes a concurrent
    /// start of the same day and scope fail here, and the caller then answers the winner's run.
    func write(_ record: RunRecord, in transaction: PostgresTransaction) async throws -> Int64 {
        let moneyRows = JSONValue.array(
            record.moneyFindings.map { finding in
                .object([
                    ("template_id", finding.templateId.map { .string($0) } ?? .null), ("expected", finding.expected.map { .string($0) } ?? .null),
                    ("actual", finding.actual.map { .string($0) } ?? .null), ("code", .string(finding.code)),
                ])
            })
        _ = try await transaction.query(
            """
            INSERT INTO pg_temp.reconcile_finding (check_name, code, template_id, expected, actual)
            SELECT 'MONEY', x.code, x.template_id, x.expected, x.actual
              FROM jsonb_to_recordset($1::jsonb) AS x(code text, template_id text, expected text, actual text)
            """, [moneyRows.serialized()])
        let scope = Self.scope(record.templateId)
        let checks = String(decoding: try JSONEncoder().encode(record.checks), as: UTF8.self)
        let missed = record.selfCheck.map { SQLArrays.json($0.missed) }
        let incidentChecks = SQLArrays.json(Self.incidentChecks.map(\.rawValue))
        let run = try await transaction.query(
            """
            WITH dirty AS (
                SELECT check_name, COALESCE(template_id, '') AS template_id, count(*)::integer AS items
                  FROM pg_temp.reconcile_finding
                 WHERE check_name IN (SELECT jsonb_array_elements_text($12::jsonb))
                 GROUP BY 1, 2
            )
            INSERT INTO reconcile_run (business_date, scope, attempt, trigger, started_at, finished_at, judged_until, time_zone, outcome,
                                       templates, coupons_judged, feed_orders, item_count, incidents_opened, checks, self_check,
                                       self_check_missed)
            SELECT $1::date, $2, COALESCE((SELECT max(attempt) FROM reconcile_run WHERE business_date = $1::date AND scope = $2), 0) + 1,
                   $3, to_timestamp($4::bigint / 1000.0), greatest(clock_timestamp(), to_timestamp($4::bigint / 1000.0)),
                   to_timestamp($5::bigint / 1000.0), $6,
                   CASE WHEN (SELECT count(*) FROM pg_temp.reconcile_finding) = 0 THEN 'CLEAN' ELSE 'DIFFERENCES' END, $7::integer,
                   $8::bigint, $9::bigint, (SELECT count(*) FROM pg_temp.reconcile_finding)::integer,
                   (SELECT count(*) FROM dirty d
                     WHERE NOT EXISTS (SELECT 1 FROM reconcile_incident i
                                        WHERE i.check_name = d.check_name AND i.template_id = d.template_id
                                          AND i.business_date = $1::date AND i.status <> 'RESOLVED'))::integer,
                   $10::jsonb, $11::text, COALESCE(ARRAY(SELECT jsonb_array_elements_text($13::jsonb)), '{}')
            RETURNING id
            """,
            [
                record.businessDate, scope, record.trigger, record.startedMilliseconds, record.outcome.judgedUntilMilliseconds, record.timeZone,
                record.templates, record.outcome.couponsJudged, record.outcome.feedOrders, checks, record.selfCheck?.outcome.rawValue,
                incidentChecks, missed ?? "[]",
            ])
        let runId: Int64 = try run[0].decode(0)
        _ = try await transaction.query(
            """
            INSERT INTO reconcile_item (run_id, position, check_name, code, template_id, coupon_id, order_id, expected, actual)
            SELECT $1::bigint, row_number() OVER (ORDER BY check_name, template_id, code, coupon_id, order_id), check_name, code,
                   template_id, coupon_id, order_id, left(expected, 200), left(actual, 200)
              FROM pg_temp.reconcile_finding
            """, [runId])
        // Incidents (IncidentTransitions): a dirty (check, template) opens one or reopens a resolved
        // one; ACCEPTED stays; OPEN and ACKNOWLEDGED ones of the run's scope that came out clean are
        // resolved.
        _ = try await transaction.query(
            """
            WITH dirty AS (
                SELECT check_name, COALESCE(template_id, '') AS template_id, count(*)::integer AS items
                  FROM pg_temp.reconcile_finding
                 WHERE check_name IN (SELECT jsonb_array_elements_text($4::jsonb))
                 GROUP BY 1, 2
            ),
            opened AS (
                INSERT INTO reconcile_incident AS i (check_name, template_id, business_date, items, first_run_id, last_run_id)
                SELECT check_name, template_id, $2::date, items, $1::bigint, $1::bigint FROM dirty ORDER BY check_name, template_id
                ON CONFLICT (check_name, template_id, business_date) DO UPDATE
                   SET status = CASE WHEN i.status = 'RESOLVED' THEN 'OPEN' ELSE i.status END,
                       items = CASE WHEN i.status = 'ACCEPTED' THEN i.items ELSE EXCLUDED.items END,
                       last_run_id = EXCLUDED.last_run_id, updated_at = now()
            )
            UPDATE reconcile_incident i SET status = 'RESOLVED', items = 0, last_run_id = $1::bigint, updated_at = now()
             WHERE i.business_date = $2::date AND i.status IN ('OPEN', 'ACKNOWLEDGED')
               AND ($3::text IS NULL OR i.template_id = $3::text)
               AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.check_name = i.check_name AND d.template_id = i.template_id)
            """, [runId, record.businessDate, record.templateId, incidentChecks])
        try await writeAlerts(record, in: transaction)
        return runId
    }

    /// RECONCILE_MONEY per template and day, RECONCILER_BLIND for the self-check: fired (or kept)
    /// while the difference stands, resolved by a run that finds it gone.
    private func writeAlerts(_ record: RunRecord, in transaction: PostgresTransaction) async throws {
        let dayScope = "reconcile:" + record.businessDate
        let alarmed = JSONValue.array(
            record.alarms.map { .object([("scope", .string(dayScope + ":" + $0.templateId)), ("value", .integer($0.basisPoints))]) })
        _ = try await transaction.query(
            """
            WITH alarmed AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(scope text, value bigint)),
            fired AS (
                INSERT INTO alert (kind, scope, cost_window, value_bp, threshold_bp)
                SELECT 'RECONCILE_MONEY', scope, 'DAY', value, 10 FROM alarmed ORDER BY scope
                ON CONFLICT (kind, scope) WHERE status = 'FIRING' DO UPDATE SET value_bp = EXCLUDED.value_bp, last_seen_at = now()
            )
            UPDATE alert a SET status = 'RESOLVED', resolved_at = now(), last_seen_at = now()
             WHERE a.kind = 'RECONCILE_MONEY' AND a.status = 'FIRING' AND a.scope LIKE $2 || ':%'
               AND ($3::text IS NULL OR a.scope = $2 || ':' || $3::text)
               AND NOT EXISTS (SELECT 1 FROM alarmed x WHERE x.scope = a.scope)
            """, [alarmed.serialized(), dayScope, record.templateId])
        guard let selfCheck = record.selfCheck else { return }
        if selfCheck.missed.isEmpty {
            _ = try await transaction.query(
                """
                UPDATE alert SET status = 'RESOLVED', resolved_at = now(), last_seen_at = now()
                 WHERE kind = 'RECONCILER_BLIND' AND status = 'FIRING' AND scope = 'reconcile:self-check'
                """, [])
        } else {
            _ = try await transaction.query(
                """
                INSERT INTO alert (kind, scope, cost_window, value_bp, threshold_bp)
                VALUES ('RECONCILER_BLIND', 'reconcile:self-check', 'DAY', $1::bigint, 0)
                ON CONFLICT (kind, scope) WHERE status = 'FIRING' DO UPDATE SET value_bp = EXCLUDED.value_bp, last_seen_at = now()
                """, [Int64(selfCheck.missed.count)])
        }
    }

    // MARK: Incidents

    static let incidentColumns: SQL = """
        SELECT id, check_name, template_id, business_date::text AS business_date, status, items, first_run_id, last_run_id, note,
               (extract(epoch FROM opened_at) * 1000)::bigint AS opened_ms, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms
          FROM reconcile_incident
        """

    static func incident(_ row: PostgresRow) throws -> IncidentView {
        IncidentView(
            incidentId: try row.decode("id"), check: try row.decode("check_name", as: ReconcileCheck.self), templateId: try row.decode("template_id"),
            businessDate: try row.decode("business_date"), status: try row.decode("status", as: IncidentStatus.self), items: try row.decode("items"),
            firstRunId: try row.decode("first_run_id"), lastRunId: try row.decode("last_run_id"), note: try row.decode("note"),
            openedMilliseconds: try row.decode("opened_ms"), updatedMilliseconds: try row.decode("updated_ms"))
    }

    func incidents(status: IncidentStatus?, limit: Int, beforeId: Int64?) async throws -> [IncidentView] {
        try await database.query(
            Self.incidentColumns + """
                 WHERE ($1::text IS NULL OR status = $1::text) AND ($2::bigint IS NULL OR id < $2::bigint)
                 ORDER BY id DESC LIMIT $3::integer
                """, [status?.rawValue, beforeId, limit]
        ).map(Self.incident)
    }

    /// An operator's step (`IncidentTransitions.acknowledge` or `.accept`), decided on the row as
    /// it is under its lock.
    /// A change of status, with its audit row (`action`, by `actor`) in the same transaction; a
    /// step that leaves the status as it is changes nothing and records nothing.
    func changeIncident(
        _ incidentId: Int64, action: String, by actor: AuditActor, _ step: @Sendable (IncidentStatus) throws -> (IncidentStatus, note: String?)
    ) async throws -> IncidentView {
        try await database.transaction { transaction in
            guard let row = try await transaction.query(Self.incidentColumns + " WHERE id = $1::bigint FOR UPDATE", [incidentId]).first else {
                throw ServiceError(.incidentNotFound, "no incident \(incidentId)")
            }
            let current = try Self.incident(row)
            let (next, note) = try step(current.status)
            guard next != current.status else { return current }
            let before: String? = try await transaction.query(Self.incidentJSON, [incidentId]).first?.decode("row")
            let changed = try await transaction.query(
                """
                UPDATE reconcile_incident SET status = $2, note = COALESCE($3, note), updated_at = now() WHERE id = $1::bigint
                RETURNING id
                """, [incidentId, next.rawValue, note])
            guard !changed.isEmpty else { throw ServiceError(.incidentNotFound, "no incident \(incidentId)") }
            let after: String? = try await transaction.query(Self.incidentJSON, [incidentId]).first?.decode("row")
            try await AuditLog.record(actor, action: action, target: String(incidentId), before: before, after: after, in: transaction)
            return try Self.incident(try await transaction.query(Self.incidentColumns + " WHERE id = $1::bigint", [incidentId])[0])
        }
    }

    static let incidentJSON: SQL = "SELECT to_jsonb(i)::text AS row FROM reconcile_incident i WHERE id = $1::bigint"

    // MARK: Order feed

    /// Stores a day's feed lines: a new order is inserted, a line equal to the stored one changes
    /// nothing, a different line replaces it (the order system's latest view). One statement.
    func storeFeed(businessDate: String, lines: [OrderFeedLine]) async throws -> (stored: Int, replaced: Int, unchanged: Int) {
        guard !lines.isEmpty else { return (0, 0, 0) }
        let batch = JSONValue.array(
            lines.map { line in
                .object([
                    ("orderId", .string(line.orderId)), ("couponId", line.couponId.map { .string($0) } ?? .null),
                    ("discount", .integer(line.discountCents)), ("amount", .integer(line.amountCents)), ("status", .string(line.status.rawValue)),
                ])
            })
        let rows = try await database.autocommitQuery(
            """
            WITH lines AS (
                SELECT * FROM jsonb_to_recordset($2::jsonb) AS x("orderId" text, "couponId" text, discount bigint, amount bigint, status text)
            ),
            written AS (
                INSERT INTO order_feed AS f (business_date, order_id, coupon_id, discount_cents, amount_cents, status)
                SELECT $1::date, "orderId", "couponId", discount, amount, status FROM lines ORDER BY "orderId"
                ON CONFLICT (business_date, order_id) DO UPDATE
                   SET coupon_id = EXCLUDED.coupon_id, discount_cents = EXCLUDED.discount_cents, amount_cents = EXCLUDED.amount_cents,
                       status = EXCLUDED.status, received_at = now()
                 WHERE (f.coupon_id, f.discount_cents, f.amount_cents, f.status)
                       IS DISTINCT FROM (EXCLUDED.coupon_id, EXCLUDED.discount_cents, EXCLUDED.amount_cents, EXCLUDED.status)
                RETURNING xmax = 0 AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted)::bigint, count(*) FILTER (WHERE NOT inserted)::bigint FROM written
            """, [businessDate, batch.serialized()])
        let stored = Int(try rows[0].decode(0, as: Int64.self))
        let replaced = Int(try rows[0].decode(1, as: Int64.self))
        return (stored, replaced, lines.count - stored - replaced)
    }

    /// The templates a run covers, and whether the named one exists.
    func templateIds(_ templateId: String?) async throws -> [String] {
        try await database.query("SELECT id FROM coupon_template WHERE $1::text IS NULL OR id = $1::text ORDER BY id", [templateId]).map {
            try $0.decode(0)
        }
    }
}
