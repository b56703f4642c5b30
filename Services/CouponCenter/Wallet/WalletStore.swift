import Domain
import Foundation
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement about a user's side: profiles (segments), points and the wallet.
struct WalletStore: Sendable {
    let database: PostgresPool
    let highFrequencyOrders: Int32

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
            """, [SQLArrays.json(userIds)])
        var found: [String: UserProfileView] = [:]
        for row in rows {
            let userId: String = try row.decode("user_id")
            let tags = try SQLArrays.strings(row, "tags")
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
            """, [userId, SQLArrays.json(tags)])
        return try await profile(userId)
    }

    // MARK: Points

    enum GrantOutcome {
        case granted(PointsBalance)
        /// The request id was used before: its stored record.
        case seenBefore(StoredAnswers.Record)
    }

    /// Adds points and, with a request id, records the answer in the same transaction: the record
    /// is inserted first, so a concurrent retry waits on its key and then finds it.
    func grantPoints(_ userId: String, _ points: Int64, requestId: String?, fingerprint: RequestFingerprint) async throws -> GrantOutcome {
        try await database.transaction { transaction in
            if let requestId {
                let claimed = try await transaction.execute(
                    """
                    INSERT INTO idempotency_record (operation, request_id, payload, response) VALUES ('points_grant', $1, $2, '{}')
                    ON CONFLICT DO NOTHING
                    """, [requestId, fingerprint.text])
                if claimed == 0 {
                    let rows = try await transaction.query(
                        "SELECT payload, response::text FROM idempotency_record WHERE operation = 'points_grant' AND request_id = $1",
                        [requestId])
                    return .seenBefore(StoredAnswers.Record(fingerprint: try rows[0].decode(0), response: try rows[0].decode(1)))
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
            let balance = PointsBalance(userId: userId, points: try rows[0].decode(0, as: Int64.self))
            if let requestId {
                try await transaction.execute(
                    "UPDATE idempotency_record SET response = $2::jsonb WHERE operation = 'points_grant' AND request_id = $1",
                    [requestId, balance.storedForm.serialized()])
            }
            return .granted(balance)
        }
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
            let categories = try SQLArrays.strings(row, "categories")
            return CouponView(
                couponId: try row.decode("id"), templateId: try row.decode("template_id"), templateName: try row.decode("name"),
                type: try row.decode("type", as: CouponType.self),
                status: try row.decode("effective_status", as: CouponStatus.self),
                thresholdCents: try row.decode("threshold_cents"), discountCents: try row.decode("discount_cents"),
                rateBasisPoints: try row.decode("rate_bp", as: Int32?.self), maxDiscountCents: try row.decode("max_discount_cents"),
                level: try row.decode("level", as: ScopeLevel.self), shopId: try row.decode("shop_id"),
                categories: categories, stacking: try row.decode("stacking", as: StackingMode.self),
                claimedMilliseconds: try row.decode("claimed_ms"), expiresMilliseconds: try row.decode("expires_ms"),
                orderId: try row.decode("order_id"))
        }
    }
}
