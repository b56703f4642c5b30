import Domain
import Foundation
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement of the recommendations (migration 0013): the templates worth
/// checking, the user's features read from the ledger, the decision log (written once per
/// decision, its outcome once when its window closes) and the per-segment records policy v1 and
/// the offline evaluation read.
struct RecommendStore: Sendable {
    let database: PostgresPool

    /// Templates whose claim window has not ended, newest first: the ones a claim could still
    /// take. Paused or sold-out ones are among them, to be listed as dropped with their reason.
    func openTemplateIds(nowMilliseconds: Int64, limit: Int) async throws -> [String] {
        try await database.query(
            """
            SELECT id FROM coupon_template
             WHERE end_time > to_timestamp($1::bigint / 1000.0)
             ORDER BY created_at DESC, id LIMIT $2::integer
            """, [nowMilliseconds, limit]
        ).map { try $0.decode(0) }
    }

    /// The user's features from the ledger: every order (user_order has the orders with and without
    /// a coupon), the orders that used one and their depth, the last 30 days, the operator's tags,
    /// and claims and uses by coupon type.
    func features(_ userId: String) async throws -> UserFeatures {
        let rows = try await database.query(
            """
            SELECT (SELECT count(*) FROM user_order o WHERE o.user_id = $1)::bigint AS orders,
                   (SELECT count(*) FROM user_order o WHERE o.user_id = $1 AND o.ordered_at > now() - interval '30 days')::bigint AS recent,
                   (SELECT count(DISTINCT c.order_id) FROM user_coupon c WHERE c.user_id = $1 AND c.status = 'USED')::bigint AS coupon_orders,
                   (SELECT (sum(c.applied_cents)::numeric * 10000 / nullif(sum(c.order_amount_cents), 0))::bigint
                      FROM user_coupon c WHERE c.user_id = $1 AND c.status = 'USED') AS depth_bp,
                   coalesce((SELECT array_to_json(p.tags)::text FROM user_profile p WHERE p.user_id = $1), '[]') AS tags,
                   (SELECT coalesce(json_agg(json_build_object('type', t.type, 'claims', t.claims, 'uses', t.uses) ORDER BY t.type), '[]')::text
                      FROM (SELECT c.type, count(*) AS claims, count(*) FILTER (WHERE c.status = 'USED') AS uses
                              FROM user_coupon c WHERE c.user_id = $1 GROUP BY c.type) t) AS by_type
            """, [userId])
        guard let row = rows.first else { throw ServiceError(.internalError, "the features query answered no row") }
        var byType: [TypeUse] = []
        for entry in try Self.jsonArray(try row.decode("by_type"), column: "by_type") {
            guard case .string(let typeText)? = entry["type"], let type = CouponType(rawValue: typeText),
                case .number(let claimsText)? = entry["claims"], let claims = Int64(claimsText),
                case .number(let usesText)? = entry["uses"], let uses = Int64(usesText)
            else { throw ServiceError(.internalError, "user_coupon type counts: an entry is not {type, claims, uses}") }
            byType.append(TypeUse(type: type, claims: claims, uses: uses))
        }
        return UserFeatures(
            orders: try row.decode("orders"), couponOrders: try row.decode("coupon_orders"),
            averageDepthBasisPoints: try row.decode("depth_bp", as: Int64?.self), ordersLast30Days: try row.decode("recent"),
            tags: try SQLArrays.strings(row, "tags"), byType: byType)
    }

    static func jsonArray(_ text: String, column: String) throws -> [JSONValue] {
        guard case .array(let entries) = try JSONParser.parse(Array(text.utf8)) else {
            throw ServiceError(.internalError, "\(column): not a JSON array")
        }
        return entries
    }

    /// Closes the windows that end now: every open decision of `userId` (a new decision starts
    /// theirs), and any decision older than the attribution window (at most 1,000 per call, the
    /// user's first), judging each outcome from the ledger once. Answers how many decisions the
    /// user had before this one (the seed of its draws). `converted IS NULL` in the UPDATE makes a
    /// concurrent closer skip rows closed meanwhile (READ COMMITTED rechecks it on the new row).
    func closeWindows(userId: String, nowMilliseconds: Int64, attributionSeconds: Int64) async throws -> Int64 {
        _ = try await database.autocommitQuery(
            """
            WITH closing AS (
                SELECT d.id, LEAST(to_timestamp($2::bigint / 1000.0), d.decided_at + make_interval(secs => $3::bigint)) AS closes
                  FROM recommendation_decision d
                 WHERE d.converted IS NULL
                   AND (d.user_id = $1 OR d.decided_at + make_interval(secs => $3::bigint) <= to_timestamp($2::bigint / 1000.0))
                 ORDER BY (d.user_id = $1) DESC, d.id
                 LIMIT 1000
            )
            UPDATE recommendation_decision d
               SET closed_at = c.closes,
                   converted = CASE
                       WHEN d.arm = 'NONE' THEN EXISTS (
                           SELECT 1 FROM user_order o
                            WHERE o.user_id = d.user_id AND o.ordered_at >= d.decided_at AND o.ordered_at < c.closes
                              AND NOT EXISTS (SELECT 1 FROM user_coupon u WHERE u.user_id = o.user_id AND u.order_id = o.order_id))
                       ELSE EXISTS (
                           SELECT 1 FROM user_coupon u
                            WHERE u.user_id = d.user_id AND u.template_id = d.template_id AND u.status = 'USED'
                              AND u.claimed_at >= d.decided_at AND u.claimed_at < c.closes)
                   END
              FROM closing c
             WHERE d.id = c.id AND d.converted IS NULL
            """, [userId, nowMilliseconds, attributionSeconds])
        let rows = try await database.query("SELECT count(*)::bigint FROM recommendation_decision WHERE user_id = $1", [userId])
        return try rows.first?.decode(0, as: Int64.self) ?? 0
    }

    /// Closed decisions per arm under `segment`, or under every segment: the posteriors' counts.
    func records(segment: String?) async throws -> [String: [OfferArm: ArmRecord]] {
        let rows = try await database.query(
            """
            SELECT segment, arm, count(*)::bigint AS trials, count(*) FILTER (WHERE converted)::bigint AS successes
              FROM recommendation_decision
             WHERE converted IS NOT NULL AND ($1::text IS NULL OR segment = $1)
             GROUP BY segment, arm
            """, [segment])
        var records: [String: [OfferArm: ArmRecord]] = [:]
        for row in rows {
            let arm = try row.decode("arm", as: OfferArm.self)
            records[try row.decode("segment"), default: [:]][arm] = ArmRecord(
                arm: arm, trials: try row.decode("trials"), successes: try row.decode("successes"))
        }
        return records
    }

    /// One decision, as it was taken; answers its id.
    func record(
        userId: String, segment: String, policy: RecommendPolicy, holdout: Bool, arm: OfferArm, ruleArm: OfferArm, propensity: Double,
        candidates: [OfferArm], templateId: String?, decidedMilliseconds: Int64
    ) async throws -> Int64 {
        let rows = try await database.autocommitQuery(
            """
            INSERT INTO recommendation_decision
                   (user_id, segment, policy, holdout, arm, rule_arm, propensity, candidates, template_id, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7::double precision, ARRAY(SELECT jsonb_array_elements_text($8::jsonb)), $9,
                    to_timestamp($10::bigint / 1000.0))
            RETURNING id
            """,
            [
                userId, segment, policy.rawValue, holdout, arm.rawValue, ruleArm.rawValue, "\(propensity)",
                SQLArrays.json(candidates.map(\.rawValue)), templateId, decidedMilliseconds,
            ])
        guard let id = try rows.first?.decode(0, as: Int64.self) else { throw ServiceError(.internalError, "the decision insert answered no id") }
        return id
    }

    static let decisionSelect: SQL = """
        SELECT id, user_id, segment, policy, holdout, arm, rule_arm, propensity::text AS propensity,
               array_to_json(candidates)::text AS candidates, template_id, (extract(epoch FROM decided_at) * 1000)::bigint AS decided_ms,
               converted
          FROM recommendation_decision
        """

    /// A logged decision, with the arm v0 would have chosen (what evaluating v0 offline needs).
    struct Logged: Sendable {
        var decision: LoggedDecision
        var ruleArm: OfferArm
    }

    /// Newest first, before `beforeId` when given.
    func log(limit: Int, beforeId: Int64?) async throws -> [Logged] {
        try await database.query(
            Self.decisionSelect + " WHERE ($2::bigint IS NULL OR id < $2::bigint) ORDER BY id DESC LIMIT $1::integer", [limit, beforeId]
        ).map(Self.logged)
    }

    /// The latest `limit` decisions whose outcome is known.
    func closed(limit: Int) async throws -> [Logged] {
        try await database.query(Self.decisionSelect + " WHERE converted IS NOT NULL ORDER BY id DESC LIMIT $1::integer", [limit]).map(
            Self.logged)
    }

    static func logged(_ row: PostgresRow) throws -> Logged {
        let propensityText: String = try row.decode("propensity")
        guard let propensity = Double(propensityText), propensity > 0, propensity <= 1 else {
            throw ServiceError(.internalError, "recommendation_decision.propensity \(propensityText) is not in (0, 1]")
        }
        var candidates: [OfferArm] = []
        for name in try SQLArrays.strings(row, "candidates") {
            guard let arm = OfferArm(rawValue: name) else {
                throw ServiceError(.internalError, "recommendation_decision.candidates: unknown arm \(name)")
            }
            candidates.append(arm)
        }
        let decision = LoggedDecision(
            decisionId: try row.decode("id"), userId: try row.decode("user_id"), segment: try row.decode("segment"),
            policy: try row.decode("policy", as: RecommendPolicy.self), holdout: try row.decode("holdout"),
            arm: try row.decode("arm", as: OfferArm.self),
            propensity: propensity, candidates: candidates, templateId: try row.decode("template_id", as: String?.self),
            decidedMilliseconds: try row.decode("decided_ms"), converted: try row.decode("converted", as: Bool?.self))
        return Logged(decision: decision, ruleArm: try row.decode("rule_arm", as: OfferArm.self))
    }
}
