import Access
import Domain
import Foundation
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement about templates: create, read (with live counters), list, pause and
/// resume, and the counts Redis is rebuilt from. Parameters are always bound.
struct TemplateStore: Sendable {
    let database: PostgresPool
    let timeZone: TimeZone
    /// The platform's cost ceiling, in force for templates without their own.
    let defaultCostCeilingBasisPoints: Int32

    /// A template with its live counters and today's issue count (`$2`, the day); callers add the
    /// WHERE or ORDER BY, joined with `+` (SQL is never interpolated).
    static let templateSelect: SQL = """
        SELECT id, name, type, threshold_cents, discount_cents, rate_bp, max_discount_cents,
        (extract(epoch FROM start_time) * 1000)::bigint AS start_ms, (extract(epoch FROM end_time) * 1000)::bigint AS end_ms,
        valid_hours, total_stock, per_user_limit, daily_limit, budget_cents, level, shop_id,
        array_to_json(categories)::text AS categories, stacking, threshold_on_discounted,
        array_to_json(channels)::text AS channels, array_to_json(segments)::text AS segments, points_cost, tiers::text AS tiers,
        status, issued_count, cost_ceiling_bp, cost_action, template_cost_stopped(id, cost_action) AS cost_stopped,
        (SELECT count(*) FROM user_coupon u WHERE u.template_id = t.id AND u.status = 'USED')::integer AS used_count, budget_spent_cents, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
               COALESCE((SELECT issued FROM template_daily_issue WHERE template_id = t.id AND day = $2::date), 0) AS issued_today
          FROM coupon_template t
        """

    /// Inserts the template with its audit row, in one transaction.
    func createTemplate(_ spec: TemplateSpec, by actor: AuditActor) async throws -> TemplateView {
        let id = RandomIdentifier.make(prefix: "T", bytes: 12)
        let tiers = JSONValue.array(
            spec.tiers.map {
                .object([("segment", .string($0.segment)), ("threshold", .integer($0.thresholdCents)), ("discount", .integer($0.discountCents))])
            })
        let parameters: [(any PostgresBindable)?] = [
            id, spec.name, spec.type.rawValue, spec.thresholdCents, spec.discountCents, spec.rateBasisPoints,
            spec.maxDiscountCents, spec.startMilliseconds, spec.endMilliseconds, spec.validHours, Int(spec.totalStock),
            Int(spec.perUserLimit), spec.dailyLimit, spec.budgetCents, spec.level.rawValue, spec.shopId,
            SQLArrays.json(spec.categories), spec.stacking.rawValue, spec.thresholdOnDiscounted, SQLArrays.json(spec.channels),
            SQLArrays.json(spec.segments), Int(spec.pointsCost), tiers.serialized(), spec.costCeilingBasisPoints.map { Int($0) },
            spec.costAction.rawValue,
        ]
        try await database.transaction { transaction in
            let inserted = try await transaction.query(
                """
                INSERT INTO coupon_template AS t (id, name, type, threshold_cents, discount_cents, rate_bp, max_discount_cents,
                    start_time, end_time, valid_hours, total_stock, per_user_limit, daily_limit, budget_cents, level, shop_id,
                    categories, stacking, threshold_on_discounted, channels, segments, points_cost, tiers, cost_ceiling_bp, cost_action)
                VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::integer, $7::bigint, to_timestamp($8::bigint / 1000.0),
                    to_timestamp($9::bigint / 1000.0), $10::integer, $11::integer, $12::integer, $13::integer, $14::bigint, $15, $16,
                    ARRAY(SELECT jsonb_array_elements_text($17::jsonb)), $18, $19::boolean,
                    ARRAY(SELECT jsonb_array_elements_text($20::jsonb)), ARRAY(SELECT jsonb_array_elements_text($21::jsonb)),
                    $22::integer, $23::jsonb, $24::integer, $25)
                RETURNING to_jsonb(t)::text AS row
                """, parameters)
            try await AuditLog.record(
                actor, action: "template.create", target: id, before: nil, after: try inserted.first?.decode("row"), in: transaction)
        }
        guard let view = try await template(id) else { throw ServiceError(.internalError, "template \(id) vanished after insert") }
        return view
    }

    /// Text arrays travel as JSON both ways: bound as JSON text, read back with `array_to_json`.
    func template(_ id: String) async throws -> TemplateView? {
        let today = Timestamp.day(unixMilliseconds(), in: timeZone)
        let rows = try await database.query(Self.templateSelect + " WHERE id = $1", [id, today])
        return try rows.first.map(templateView)
    }

    func listTemplates(limit: Int) async throws -> [TemplateView] {
        let today = Timestamp.day(unixMilliseconds(), in: timeZone)
        let rows = try await database.query(Self.templateSelect + " ORDER BY created_at DESC, id LIMIT $1::integer", [limit, today])
        return try rows.map(templateView)
    }

    /// Sets the status; nil when there is no such template.
    /// Pausing a paused template (or resuming an active one) changes nothing and records nothing.
    func setStatus(_ id: String, _ status: TemplateStatus, by actor: AuditActor) async throws -> TemplateView? {
        let found = try await database.transaction { transaction in
            let before = try await transaction.query(
                "SELECT to_jsonb(t)::text AS row, status FROM coupon_template t WHERE id = $1 FOR UPDATE", [id])
            guard let beforeRow = before.first else { return false }
            guard try beforeRow.decode("status", as: String.self) != status.rawValue else { return true }
            let after = try await transaction.query(
                "UPDATE coupon_template t SET status = $2 WHERE id = $1 RETURNING to_jsonb(t)::text AS row", [id, status.rawValue])
            try await AuditLog.record(
                actor, action: status == .paused ? "template.pause" : "template.resume", target: id, before: try beforeRow.decode("row"),
                after: try after.first?.decode("row"), in: transaction)
            return true
        }
        return found ? try await template(id) : nil
    }

    func templateView(_ row: PostgresRow) throws -> TemplateView {
        func strings(_ column: String) throws -> [String] { try SQLArrays.strings(row, column) }
        var tiers: [Tier] = []
        if case .array(let values) = try JSONParser.parse(Array(try row.decode("tiers", as: String.self).utf8)) {
            for value in values {
                guard case .string(let segment)? = value["segment"], case .number(let threshold)? = value["threshold"],
                    case .number(let discount)? = value["discount"], let thresholdCents = Int64(threshold), let discountCents = Int64(discount)
                else { continue }
                tiers.append(Tier(segment: segment, thresholdCents: thresholdCents, discountCents: discountCents))
            }
        }
        let spec = TemplateSpec(
            name: try row.decode("name"), type: try row.decode("type", as: CouponType.self),
            thresholdCents: try row.decode("threshold_cents"), discountCents: try row.decode("discount_cents"),
            rateBasisPoints: try row.decode("rate_bp", as: Int32?.self), maxDiscountCents: try row.decode("max_discount_cents"),
            startMilliseconds: try row.decode("start_ms"), endMilliseconds: try row.decode("end_ms"),
            validHours: try row.decode("valid_hours", as: Int32?.self), totalStock: try row.decode("total_stock"),
            perUserLimit: try row.decode("per_user_limit"), dailyLimit: try row.decode("daily_limit", as: Int32?.self),
            budgetCents: try row.decode("budget_cents"), level: try row.decode("level", as: ScopeLevel.self),
            shopId: try row.decode("shop_id"), categories: try strings("categories"),
            stacking: try row.decode("stacking", as: StackingMode.self),
            thresholdOnDiscounted: try row.decode("threshold_on_discounted"), channels: try strings("channels"),
            segments: try strings("segments"), pointsCost: try row.decode("points_cost"), tiers: tiers,
            costCeilingBasisPoints: try row.decode("cost_ceiling_bp", as: Int32?.self), costAction: try row.decode("cost_action", as: CostAction.self)
        )
        return TemplateView(
            templateId: try row.decode("id"), spec: spec, status: try row.decode("status", as: TemplateStatus.self),
            issued: try row.decode("issued_count"), issuedToday: try row.decode("issued_today"), used: try row.decode("used_count"),
            budgetSpentCents: try row.decode("budget_spent_cents"), createdMilliseconds: try row.decode("created_ms"),
            costCeilingBasisPoints: spec.costCeilingBasisPoints ?? defaultCostCeilingBasisPoints,
            worstCaseRatioBasisPoints: CostRatio.worstCase(spec).basisPointsRoundedUp, costStopped: try row.decode("cost_stopped"))
    }

    // MARK: Counters, for rebuilding Redis

    struct TemplateCounters {
        var issued: Int64
        var spent: Int64
    }

    func counters(_ templateId: String) async throws -> TemplateCounters? {
        let rows = try await database.query(
            "SELECT issued_count, budget_spent_cents FROM coupon_template WHERE id = $1", [templateId])
        guard let row = rows.first else { return nil }
        return TemplateCounters(issued: Int64(try row.decode(0, as: Int.self)), spent: try row.decode(1))
    }

    func issuedOnDay(_ templateId: String, day: String) async throws -> Int64 {
        let rows = try await database.query(
            "SELECT issued FROM template_daily_issue WHERE template_id = $1 AND day = $2::date", [templateId, day])
        return Int64(try rows.first?.decode(0, as: Int.self) ?? 0)
    }

    /// The counters a claim's limits are judged on, for many templates and one user at once: the
    /// same rows `counters`, `issuedOnDay` and `issuedToUser` read (a template without a row is
    /// absent from the answer).
    func claimCounts(_ templateIds: [String], userId: String, day: String) async throws -> [String: ClaimLimits.Counts] {
        let rows = try await database.query(
            """
            SELECT t.id, t.issued_count::bigint AS issued, t.budget_spent_cents,
                   coalesce(d.issued, 0)::bigint AS issued_today, coalesce(u.issued, 0)::bigint AS issued_to_user
              FROM coupon_template t
              LEFT JOIN template_daily_issue d ON d.template_id = t.id AND d.day = $3::date
              LEFT JOIN user_template_issue u ON u.template_id = t.id AND u.user_id = $2
             WHERE t.id IN (SELECT jsonb_array_elements_text($1::jsonb))
            """, [SQLArrays.json(templateIds), userId, day])
        var counts: [String: ClaimLimits.Counts] = [:]
        for row in rows {
            counts[try row.decode("id")] = ClaimLimits.Counts(
                issued: try row.decode("issued"), issuedToday: try row.decode("issued_today"), issuedToUser: try row.decode("issued_to_user"),
                budgetSpentCents: try row.decode("budget_spent_cents"))
        }
        return counts
    }

    func issuedToUser(_ templateId: String, userId: String) async throws -> Int64 {
        let rows = try await database.query(
            "SELECT issued FROM user_template_issue WHERE template_id = $1 AND user_id = $2", [templateId, userId])
        return Int64(try rows.first?.decode(0, as: Int.self) ?? 0)
    }

}
