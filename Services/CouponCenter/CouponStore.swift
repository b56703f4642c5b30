import Domain
import Foundation
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement coupon-center runs for templates, profiles, points and wallets.
/// Parameters are always bound; arrays travel as JSON text and are unpacked by the server.
struct CouponStore: Sendable {
    let database: PostgresPool
    let timeZone: TimeZone
    let highFrequencyOrders: Int32

    // MARK: Templates

    static let templateColumns = """
        id, name, type, threshold_cents, discount_cents, rate_bp, max_discount_cents,
        (extract(epoch FROM start_time) * 1000)::bigint AS start_ms, (extract(epoch FROM end_time) * 1000)::bigint AS end_ms,
        valid_hours, total_stock, per_user_limit, daily_limit, budget_cents, level, shop_id,
        array_to_json(categories)::text AS categories, stacking, threshold_on_discounted,
        array_to_json(channels)::text AS channels, array_to_json(segments)::text AS segments, points_cost, tiers::text AS tiers,
        status, issued_count,
        (SELECT count(*) FROM user_coupon u WHERE u.template_id = t.id AND u.status = 'USED')::integer AS used_count, budget_spent_cents, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
        """

    func createTemplate(_ spec: TemplateSpec) async throws -> TemplateView {
        let id = RandomIdentifier.make(prefix: "T", bytes: 12)
        let tiers = JSONValue.array(spec.tiers.map {
            .object([("segment", .string($0.segment)), ("threshold", .integer($0.thresholdCents)), ("discount", .integer($0.discountCents))])
        })
        try await database.execute(
            """
            INSERT INTO coupon_template (id, name, type, threshold_cents, discount_cents, rate_bp, max_discount_cents,
                start_time, end_time, valid_hours, total_stock, per_user_limit, daily_limit, budget_cents, level, shop_id,
                categories, stacking, threshold_on_discounted, channels, segments, points_cost, tiers)
            VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::integer, $7::bigint, to_timestamp($8::bigint / 1000.0),
                to_timestamp($9::bigint / 1000.0), $10::integer, $11::integer, $12::integer, $13::integer, $14::bigint, $15, $16,
                ARRAY(SELECT jsonb_array_elements_text($17::jsonb)), $18, $19::boolean,
                ARRAY(SELECT jsonb_array_elements_text($20::jsonb)), ARRAY(SELECT jsonb_array_elements_text($21::jsonb)),
                $22::integer, $23::jsonb)
            """,
            [
                id, spec.name, spec.type.rawValue, spec.thresholdCents, spec.discountCents, spec.rateBasisPoints,
                spec.maxDiscountCents, spec.startMilliseconds, spec.endMilliseconds, spec.validHours, Int(spec.totalStock),
                Int(spec.perUserLimit), spec.dailyLimit, spec.budgetCents, spec.level.rawValue, spec.shopId,
                Self.jsonArray(spec.categories), spec.stacking.rawValue, spec.thresholdOnDiscounted, Self.jsonArray(spec.channels),
                Self.jsonArray(spec.segments), Int(spec.pointsCost), tiers.serialized(),
            ])
        guard let view = try await template(id) else { throw ServiceError(.internalError, "template \(id) vanished after insert") }
        return view
    }

    /// Text arrays travel as JSON both ways: bound as JSON text, read back with `array_to_json`.
    static func jsonArray(_ values: [String]) -> String { JSONValue.array(values.map { .string($0) }).serialized() }

    static func stringArray(_ row: PostgresRow, _ column: String) throws -> [String] {
        guard case .array(let values) = try JSONParser.parse(Array(try row.decode(column, as: String.self).utf8)) else { return [] }
        return values.compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    func template(_ id: String) async throws -> TemplateView? {
        let today = Timestamp.day(unixMilliseconds(), in: timeZone)
        let rows = try await database.query(
            """
            SELECT \(Self.templateColumns),
                   COALESCE((SELECT issued FROM template_daily_issue WHERE template_id = t.id AND day = $2::date), 0) AS issued_today
              FROM coupon_template t WHERE id = $1
            """, [id, today])
        return try rows.first.map(Self.templateView)
    }

    func listTemplates(limit: Int) async throws -> [TemplateView] {
        let today = Timestamp.day(unixMilliseconds(), in: timeZone)
        let rows = try await database.query(
            """
            SELECT \(Self.templateColumns),
                   COALESCE((SELECT issued FROM template_daily_issue WHERE template_id = t.id AND day = $2::date), 0) AS issued_today
              FROM coupon_template t ORDER BY created_at DESC, id LIMIT $1::integer
            """, [limit, today])
        return try rows.map(Self.templateView)
    }

    /// Sets the status; nil when there is no such template.
    func setStatus(_ id: String, _ status: TemplateStatus) async throws -> TemplateView? {
        guard try await database.execute("UPDATE coupon_template SET status = $2 WHERE id = $1", [id, status.rawValue]) == 1 else {
            return nil
        }
        return try await template(id)
    }

    static func templateView(_ row: PostgresRow) throws -> TemplateView {
        func strings(_ column: String) throws -> [String] { try Self.stringArray(row, column) }
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
            name: try row.decode("name"), type: CouponType(rawValue: try row.decode("type")) ?? .cash,
            thresholdCents: try row.decode("threshold_cents"), discountCents: try row.decode("discount_cents"),
            rateBasisPoints: try row.decode("rate_bp", as: Int32?.self), maxDiscountCents: try row.decode("max_discount_cents"),
            startMilliseconds: try row.decode("start_ms"), endMilliseconds: try row.decode("end_ms"),
            validHours: try row.decode("valid_hours", as: Int32?.self), totalStock: try row.decode("total_stock"),
            perUserLimit: try row.decode("per_user_limit"), dailyLimit: try row.decode("daily_limit", as: Int32?.self),
            budgetCents: try row.decode("budget_cents"), level: ScopeLevel(rawValue: try row.decode("level")) ?? .platform,
            shopId: try row.decode("shop_id"), categories: try strings("categories"),
            stacking: StackingMode(rawValue: try row.decode("stacking")) ?? .stackable,
            thresholdOnDiscounted: try row.decode("threshold_on_discounted"), channels: try strings("channels"),
            segments: try strings("segments"), pointsCost: try row.decode("points_cost"), tiers: tiers)
        return TemplateView(
            templateId: try row.decode("id"), spec: spec, status: TemplateStatus(rawValue: try row.decode("status")) ?? .paused,
            issued: try row.decode("issued_count"), issuedToday: try row.decode("issued_today"), used: try row.decode("used_count"),
            budgetSpentCents: try row.decode("budget_spent_cents"), createdMilliseconds: try row.decode("created_ms"))
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

    func issuedToUser(_ templateId: String, userId: String) async throws -> Int64 {
        let rows = try await database.query(
            "SELECT issued FROM user_template_issue WHERE template_id = $1 AND user_id = $2", [templateId, userId])
        return Int64(try rows.first?.decode(0, as: Int.self) ?? 0)
    }

    // MARK: Profiles

    func profile(_ userId: String) async throws -> UserProfileView {
        try await profiles([userId])[0]
    }

    /// The profiles of several users in one query, in the order asked; a user without a row has the
    /// empty profile. Claims read their users' profiles through this in batches.
    func profiles(_ userIds: [String]) async throws -> [UserProfileView] {
        let rows = try await database.query(
            """
            SELECT p.user_id, array_to_json(tags)::text AS tags, order_count,
                   (SELECT count(*) FROM user_order o WHERE o.user_id = p.user_id AND o.ordered_at > now() - interval '30 days')::integer AS recent,
                   (extract(epoch FROM last_order_at) * 1000)::bigint AS last_ms
              FROM user_profile p WHERE user_id IN (SELECT jsonb_array_elements_text($1::jsonb))
            """, [Self.jsonArray(userIds)])
        var found: [String: UserProfileView] = [:]
        for row in rows {
            let userId: String = try row.decode("user_id")
            let tags = try Self.stringArray(row, "tags")
            let orderCount: Int32 = try row.decode("order_count")
            let recent: Int32 = try row.decode("recent")
            found[userId] = UserProfileView(
                userId: userId, tags: tags, orderCount: orderCount, ordersLast30Days: recent, lastOrderMilliseconds: try row.decode("last_ms"),
                segments: Segments.of(orderCount: orderCount, ordersLast30Days: recent, tags: tags, highFrequencyOrders: highFrequencyOrders))
        }
        return userIds.map { userId in
            found[userId]
                ?? UserProfileView(
                    userId: userId, tags: [], orderCount: 0, ordersLast30Days: 0, lastOrderMilliseconds: nil,
                    segments: Segments.of(orderCount: 0, ordersLast30Days: 0, tags: [], highFrequencyOrders: highFrequencyOrders))
        }
    }

    func setTags(_ userId: String, _ tags: [String]) async throws -> UserProfileView {
        try await database.execute(
            """
            INSERT INTO user_profile (user_id, tags) VALUES ($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))
            ON CONFLICT (user_id) DO UPDATE SET tags = EXCLUDED.tags
            """, [userId, Self.jsonArray(tags)])
        return try await profile(userId)
    }

    // MARK: Points

    enum GrantOutcome {
        case granted(balance: Int64)
        /// The request id was used before: its stored answer.
        case seenBefore(StoredAnswer)
    }

    /// Adds points and, with a request id, records the answer in the same transaction: the record
    /// is inserted first, so a concurrent retry waits on its key and then finds it.
    func grantPoints(_ userId: String, _ points: Int64, requestId: String?, payload: String) async throws -> GrantOutcome {
        try await database.transaction { transaction in
            if let requestId {
                let claimed = try await transaction.execute(
                    """
                    INSERT INTO idempotency_record (operation, request_id, payload, response) VALUES ('points_grant', $1, $2, '{}')
                    ON CONFLICT DO NOTHING
                    """, [requestId, payload])
                if claimed == 0 {
                    let rows = try await transaction.query(
                        "SELECT payload, response::text FROM idempotency_record WHERE operation = 'points_grant' AND request_id = $1",
                        [requestId])
                    return .seenBefore(StoredAnswer(payload: try rows[0].decode(0), response: try rows[0].decode(1)))
                }
            }
            let rows = try await transaction.query(
                """
                INSERT INTO user_points (user_id, points) VALUES ($1, $2::bigint)
                ON CONFLICT (user_id) DO UPDATE SET points = user_points.points + EXCLUDED.points
                RETURNING points
                """, [userId, points])
            try await transaction.execute(
                "INSERT INTO points_ledger (user_id, delta, reason) VALUES ($1, $2::bigint, 'GRANT')", [userId, points])
            let balance = try rows[0].decode(0, as: Int64.self)
            if let requestId {
                try await transaction.execute(
                    "UPDATE idempotency_record SET response = $2::jsonb WHERE operation = 'points_grant' AND request_id = $1",
                    [requestId, JSONValue.object([("points", .integer(balance))]).serialized()])
            }
            return .granted(balance: balance)
        }
    }

    // MARK: Idempotency

    struct StoredAnswer: Sendable {
        var payload: String
        var response: String
    }

    /// Which stored answer: the operation and the caller's request id.
    struct AnswerKey: Sendable, Hashable {
        var operation: String
        var requestId: String
    }

    /// The stored answers of several request ids in one query, in the order asked (nil: none).
    /// Claims and redemptions carrying request ids look theirs up through this in batches.
    func storedAnswers(_ keys: [AnswerKey]) async throws -> [StoredAnswer?] {
        let wanted = JSONValue.array(keys.map { .object([("operation", .string($0.operation)), ("requestId", .string($0.requestId))]) })
        let rows = try await database.query(
            """
            SELECT r.operation, r.request_id, r.payload, r.response::text FROM idempotency_record r
              JOIN jsonb_to_recordset($1::jsonb) AS k(operation text, "requestId" text)
                ON r.operation = k.operation AND r.request_id = k."requestId"
            """, [wanted.serialized()])
        var found: [AnswerKey: StoredAnswer] = [:]
        for row in rows {
            found[AnswerKey(operation: try row.decode(0), requestId: try row.decode(1))] =
                StoredAnswer(payload: try row.decode(2), response: try row.decode(3))
        }
        return keys.map { found[$0] }
    }

    // MARK: Exposures and stats

    func recordExposure(templateId: String, userId: String) async throws -> Bool {
        try await database.execute(
            "INSERT INTO coupon_exposure (template_id, user_id) SELECT id, $2 FROM coupon_template WHERE id = $1",
            [templateId, userId]) == 1
    }

    func stats(_ templateId: String) async throws -> TemplateStats? {
        let rows = try await database.query(
            """
            SELECT t.issued_count::bigint,
                   (SELECT count(*) FROM coupon_exposure e WHERE e.template_id = t.id)::bigint,
                   (SELECT count(*) FROM user_coupon c WHERE c.template_id = t.id AND c.status = 'USED')::bigint,
                   (SELECT coalesce(sum(order_amount_cents), 0) FROM user_coupon c WHERE c.template_id = t.id AND c.status = 'USED')::bigint,
                   (SELECT coalesce(sum(applied_cents), 0) FROM user_coupon c WHERE c.template_id = t.id AND c.status = 'USED')::bigint
              FROM coupon_template t WHERE t.id = $1
            """, [templateId])
        guard let row = rows.first else { return nil }
        let claims: Int64 = try row.decode(0)
        let exposures: Int64 = try row.decode(1)
        let uses: Int64 = try row.decode(2)
        let orderAmount: Int64 = try row.decode(3)
        let discount: Int64 = try row.decode(4)
        func ratio(_ numerator: Int64, _ denominator: Int64) -> Double? {
            denominator == 0 ? nil : Double(numerator) / Double(denominator)
        }
        return TemplateStats(
            templateId: templateId, exposures: exposures, claims: claims, uses: uses, orderAmountCents: orderAmount,
            discountAmountCents: discount, claimRate: ratio(claims, exposures), useRate: ratio(uses, claims),
            roi: ratio(orderAmount - discount, discount), costRatio: ratio(discount, orderAmount))
    }

    // MARK: Wallet

    func wallet(_ userId: String, status: CouponStatus?) async throws -> [CouponView] {
        // A coupon past its expiry counts as EXPIRED here even before the expiry job marks it.
        let rows = try await database.query(
            """
            SELECT c.id, c.template_id, t.name, c.type, c.threshold_cents, c.discount_cents, c.rate_bp, c.max_discount_cents,
                   t.level, t.shop_id, array_to_json(t.categories)::text AS categories, t.stacking,
                   (extract(epoch FROM c.claimed_at) * 1000)::bigint AS claimed_ms, (extract(epoch FROM c.expires_at) * 1000)::bigint AS expires_ms,
                   c.order_id,
                   CASE WHEN c.status = 'UNUSED' AND c.expires_at <= now() THEN 'EXPIRED' ELSE c.status END AS effective_status
              FROM user_coupon c JOIN coupon_template t ON t.id = c.template_id
             WHERE c.user_id = $1
               AND ($2::text IS NULL OR (CASE WHEN c.status = 'UNUSED' AND c.expires_at <= now() THEN 'EXPIRED' ELSE c.status END) = $2)
             ORDER BY c.expires_at, c.id
             LIMIT 1000
            """, [userId, status?.rawValue])
        return try rows.map { row in
            let categories = try Self.stringArray(row, "categories")
            return CouponView(
                couponId: try row.decode("id"), templateId: try row.decode("template_id"), templateName: try row.decode("name"),
                type: CouponType(rawValue: try row.decode("type")) ?? .cash,
                status: CouponStatus(rawValue: try row.decode("effective_status")) ?? .unused,
                thresholdCents: try row.decode("threshold_cents"), discountCents: try row.decode("discount_cents"),
                rateBasisPoints: try row.decode("rate_bp", as: Int32?.self), maxDiscountCents: try row.decode("max_discount_cents"),
                level: ScopeLevel(rawValue: try row.decode("level")) ?? .platform, shopId: try row.decode("shop_id"),
                categories: categories, stacking: StackingMode(rawValue: try row.decode("stacking")) ?? .stackable,
                claimedMilliseconds: try row.decode("claimed_ms"), expiresMilliseconds: try row.decode("expires_ms"),
                orderId: try row.decode("order_id"))
        }
    }
}
