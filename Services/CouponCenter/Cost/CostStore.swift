import Domain
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement about the cost ratio: the minute buckets, the windows summed from
/// them, the alert rows, the templates that stop issuing, and orders reported without a coupon.
/// What the ratio counts is written down in migration 0008 and the README ("Cost ratio").
struct CostStore: Sendable {
    let database: PostgresPool

    /// Rebuilds `cost_minute` for the minutes since the last rebuild (at most the last 25 hours:
    /// enough for the 24-hour window and the business day) from the ledger's USED and REFUNDED
    /// rows and the orders seen, through the two time indexes of migration 0008; drops minutes
    /// older than two days. Transactions still committing during a rebuild carry a `now()` earlier
    /// than their commit, so each rebuild starts 2 minutes before the previous one's time. One
    /// statement, so the buckets never show half a rebuild. Answers the number of buckets written.
    @discardableResult
    func rebuildMinutes() async throws -> Int {
        let rows = try await database.autocommitQuery(
            """
            WITH since AS (
                SELECT date_trunc('minute', greatest(
                           COALESCE((SELECT rebuilt_through FROM cost_rollup) - interval '2 minutes', now() - interval '25 hours'),
                           now() - interval '25 hours')) AS t
            ),
            events AS (
                SELECT date_trunc('minute', l.created_at) AS minute, l.template_id,
                       CASE WHEN l.event = 'USED' THEN 1 ELSE -1 END AS sign, l.amount_cents AS discount, o.amount_cents AS order_cents
                  FROM coupon_ledger l
                  JOIN user_order o ON o.user_id = l.user_id AND o.order_id = l.order_id
                 WHERE l.event IN ('USED', 'REFUNDED') AND l.created_at >= (SELECT t FROM since)
            ),
            seen AS (
                SELECT date_trunc('minute', ordered_at) AS minute, count(*) AS orders, sum(amount_cents) AS order_cents
                  FROM user_order WHERE ordered_at >= (SELECT t FROM since) GROUP BY 1
            ),
            fresh AS (
                SELECT minute, 'template:' || template_id AS scope, sum(sign)::bigint AS orders,
                       sum(sign * order_cents)::bigint AS order_cents, sum(sign * discount)::bigint AS discount_cents
                  FROM events GROUP BY minute, template_id
                UNION ALL
                SELECT minute, 'platform', sum(orders)::bigint, sum(order_cents)::bigint, sum(discount)::bigint
                  FROM (SELECT minute, orders, order_cents, 0::bigint AS discount FROM seen
                        UNION ALL
                        SELECT minute, 0, 0, sign * discount FROM events) p
                 GROUP BY minute
            ),
            cleared AS (
                DELETE FROM cost_minute c
                 WHERE c.minute >= (SELECT t FROM since)
                   AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.minute = c.minute AND f.scope = c.scope)
            ),
            written AS (
                INSERT INTO cost_minute (minute, scope, orders, order_cents, discount_cents)
                SELECT minute, scope, orders, order_cents, discount_cents FROM fresh
                ON CONFLICT (minute, scope) DO UPDATE
                   SET orders = EXCLUDED.orders, order_cents = EXCLUDED.order_cents, discount_cents = EXCLUDED.discount_cents
            ),
            aged AS (
                DELETE FROM cost_minute WHERE minute < now() - interval '2 days'
            ),
            marked AS (
                INSERT INTO cost_rollup (only_row, rebuilt_through) VALUES (true, now())
                ON CONFLICT (only_row) DO UPDATE SET rebuilt_through = EXCLUDED.rebuilt_through
            )
            SELECT count(*)::bigint FROM fresh
            """, [])
        return Int(try rows.first?.decode(0, as: Int64.self) ?? 0)
    }

    /// The three windows of every scope with buckets in them (or of one scope), with the
    /// template's own ceiling for template scopes. The last hour and the last 24 hours are the last
    /// 60 and 1,440 whole minutes, the current one included; the business day starts at midnight
    /// in `timeZone` (an IANA name PostgreSQL knows).
    func windows(scope: String?, timeZone: String) async throws -> [ScopeCost] {
        let rows = try await database.query(
            """
            WITH bounds AS (
                SELECT date_trunc('minute', now()) - interval '59 minutes' AS hour_start,
                       date_trunc('minute', now()) - interval '1439 minutes' AS day24_start,
                       date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1 AS business_start
            ),
            sums AS (
                SELECT c.scope,
                       COALESCE(sum(c.orders) FILTER (WHERE c.minute >= b.hour_start), 0)::bigint AS hour_orders,
                       COALESCE(sum(c.order_cents) FILTER (WHERE c.minute >= b.hour_start), 0)::bigint AS hour_amount,
                       COALESCE(sum(c.discount_cents) FILTER (WHERE c.minute >= b.hour_start), 0)::bigint AS hour_discount,
                       COALESCE(sum(c.orders) FILTER (WHERE c.minute >= b.day24_start), 0)::bigint AS day24_orders,
                       COALESCE(sum(c.order_cents) FILTER (WHERE c.minute >= b.day24_start), 0)::bigint AS day24_amount,
                       COALESCE(sum(c.discount_cents) FILTER (WHERE c.minute >= b.day24_start), 0)::bigint AS day24_discount,
                       COALESCE(sum(c.orders) FILTER (WHERE c.minute >= b.business_start), 0)::bigint AS business_orders,
                       COALESCE(sum(c.order_cents) FILTER (WHERE c.minute >= b.business_start), 0)::bigint AS business_amount,
                       COALESCE(sum(c.discount_cents) FILTER (WHERE c.minute >= b.business_start), 0)::bigint AS business_discount
                  FROM cost_minute c CROSS JOIN bounds b
                 WHERE c.minute >= least(b.day24_start, b.business_start) AND ($2::text IS NULL OR c.scope = $2::text)
                 GROUP BY c.scope
            )
            SELECT s.*, t.cost_ceiling_bp
              FROM sums s
              LEFT JOIN coupon_template t ON s.scope LIKE 'template:%' AND t.id = substr(s.scope, 10)
             ORDER BY s.scope
            """, [timeZone, scope])
        return try rows.map { row in
            func window(_ prefix: String) throws -> WindowCost {
                WindowCost(
                    orders: try row.decode("\(prefix)_orders"),
                    ratio: CostRatio(discountCents: try row.decode("\(prefix)_discount"), orderAmountCents: try row.decode("\(prefix)_amount")))
            }
            return ScopeCost(
                scope: try row.decode("scope"), templateCeilingBasisPoints: try row.decode("cost_ceiling_bp", as: Int32?.self),
                windows: [.lastHour: try window("hour"), .last24Hours: try window("day24"), .businessDay: try window("business")])
        }
    }

    /// The template's own ceiling; nil when there is no such template (the outer optional).
    func templateCeiling(_ templateId: String) async throws -> Int32?? {
        let rows = try await database.query("SELECT cost_ceiling_bp FROM coupon_template WHERE id = $1", [templateId])
        guard let row = rows.first else { return nil }
        return .some(try row.decode(0, as: Int32?.self))
    }

    // MARK: Alerts

    func firingAlerts() async throws -> [FiringAlert] {
        // The cost-ratio kinds only: the reconciler's alerts (migration 0010) are its own to resolve.
        try await database.query(
            "SELECT id, kind, scope, calm_evaluations FROM alert WHERE status = 'FIRING' AND kind LIKE 'COST_RATIO_%' ORDER BY id", []
        ).map {
            FiringAlert(
                alertId: try $0.decode("id"), kind: try $0.decode("kind", as: AlertKind.self), scope: try $0.decode("scope"),
                calmEvaluations: try $0.decode("calm_evaluations"))
        }
    }

    /// Writes one change; false when it found nothing to change (another leader's write got there
    /// first, which the lock makes rare and the partial unique index makes harmless).
    func apply(_ change: AlertChange) async throws -> Bool {
        switch change {
        case .fire(let kind, let scope, let window, let value, let threshold):
            return try await database.execute(
                """
                INSERT INTO alert (kind, scope, cost_window, value_bp, threshold_bp) VALUES ($1, $2, $3, $4::bigint, $5::integer)
                ON CONFLICT (kind, scope) WHERE status = 'FIRING' DO NOTHING
                """, [kind.rawValue, scope, window.rawValue, value, Int(threshold)]) == 1
        case .keep(let alertId, let window, let value, let threshold, let calm):
            return try await database.execute(
                """
                UPDATE alert SET cost_window = COALESCE($2, cost_window), value_bp = COALESCE($3::bigint, value_bp),
                       threshold_bp = $4::integer, calm_evaluations = $5::integer, last_seen_at = now()
                 WHERE id = $1::bigint AND status = 'FIRING'
                """, [alertId, window?.rawValue, value, Int(threshold), Int(calm)]) == 1
        case .resolve(let alertId, let window, let value, let threshold):
            return try await database.execute(
                """
                UPDATE alert SET status = 'RESOLVED', cost_window = COALESCE($2, cost_window), value_bp = COALESCE($3::bigint, value_bp),
                       threshold_bp = $4::integer, calm_evaluations = 0, last_seen_at = now(), resolved_at = now()
                 WHERE id = $1::bigint AND status = 'FIRING'
                """, [alertId, window?.rawValue, value, Int(threshold)]) == 1
        }
    }

    /// The templates that refuse claims now (`template_cost_stopped`), and how many alerts of each
    /// kind fire.
    func stops() async throws -> (templates: Set<String>, firing: [AlertKind: Int]) {
        let stopped = try await database.query(
            "SELECT id FROM coupon_template WHERE cost_action = 'STOP_ISSUANCE' AND template_cost_stopped(id, cost_action)", [])
        let counts = try await database.query("SELECT kind, count(*)::bigint FROM alert WHERE status = 'FIRING' GROUP BY kind", [])
        var firing: [AlertKind: Int] = [:]
        for row in counts { firing[try row.decode(0, as: AlertKind.self)] = Int(try row.decode(1, as: Int64.self)) }
        return (Set(try stopped.map { try $0.decode(0, as: String.self) }), firing)
    }

    /// Newest first, `limit` + 1 read to tell whether there is a next page.
    func alerts(status: AlertStatus?, limit: Int, beforeId: Int64?) async throws -> [AlertView] {
        let rows = try await database.query(
            """
            SELECT id, kind, scope, cost_window, value_bp, threshold_bp, status,
                   (extract(epoch FROM first_seen_at) * 1000)::bigint AS first_ms, (extract(epoch FROM last_seen_at) * 1000)::bigint AS last_ms,
                   (extract(epoch FROM resolved_at) * 1000)::bigint AS resolved_ms
              FROM alert
             WHERE ($1::text IS NULL OR status = $1::text) AND ($2::bigint IS NULL OR id < $2::bigint)
             ORDER BY id DESC LIMIT $3::integer
            """, [status?.rawValue, beforeId, limit])
        return try rows.map {
            AlertView(
                alertId: try $0.decode("id"), kind: try $0.decode("kind", as: AlertKind.self), scope: try $0.decode("scope"),
                window: try $0.decode("cost_window", as: CostWindow.self), valueBasisPoints: try $0.decode("value_bp"),
                thresholdBasisPoints: try $0.decode("threshold_bp"), status: try $0.decode("status", as: AlertStatus.self),
                firstSeenMilliseconds: try $0.decode("first_ms"), lastSeenMilliseconds: try $0.decode("last_ms"),
                resolvedMilliseconds: try $0.decode("resolved_ms"))
        }
    }

    // MARK: Orders

    /// Records an order without coupon, as a redemption records its order: once per user and
    /// order id, counted in the user's profile. True when it was new.
    func recordOrder(orderId: String, userId: String, amountCents: Int64) async throws -> Bool {
        let rows = try await database.autocommitQuery(
            """
            WITH orders AS (
                INSERT INTO user_order (user_id, order_id, amount_cents) VALUES ($1, $2, $3::bigint)
                ON CONFLICT DO NOTHING
                RETURNING user_id
            ),
            profiles AS (
                INSERT INTO user_profile AS p (user_id, order_count, last_order_at)
                SELECT user_id, 1, now() FROM orders
                ON CONFLICT (user_id) DO UPDATE SET order_count = p.order_count + 1, last_order_at = now()
            )
            SELECT count(*)::bigint FROM orders
            """, [userId, orderId, amountCents])
        return try rows.first?.decode(0, as: Int64.self) == 1
    }
}
