import Postgres
import ServiceKit
import Wire

/// Coupons as redemption and best combination read them: their terms (what rule-engine prices)
/// and who holds them, which order used them and for how much.
struct CouponReads: Sendable {
    let database: PostgresPool

    struct HeldCoupon: Sendable {
        var terms: CouponTerms
        var userId: String
        var templateId: String
        var orderId: String?
        var appliedCents: Int64?
        var orderAmountCents: Int64?
    }

    /// A held coupon with its template's terms; callers add the WHERE, joined with `+` (SQL is never
    /// interpolated).
    static let termsSelect: SQL = """
        SELECT c.id, c.type, c.status, c.threshold_cents, c.discount_cents, c.rate_bp, c.max_discount_cents, t.level, t.shop_id,
        array_to_json(t.categories)::text AS categories, t.stacking, t.threshold_on_discounted,
        (extract(epoch FROM c.expires_at) * 1000)::bigint AS expires_ms, c.user_id, c.template_id, c.order_id, c.applied_cents,
        c.order_amount_cents
          FROM user_coupon c JOIN coupon_template t ON t.id = c.template_id
        """

    /// A user's coupons that can still be used, soonest to expire first.
    func usable(userId: String, limit: Int) async throws -> [CouponTerms] {
        let rows = try await database.query(
            Self.termsSelect + " WHERE c.user_id = $1 AND c.status = 'UNUSED' AND c.expires_at > now() ORDER BY c.expires_at, c.id LIMIT $2::integer",
            [userId, limit])
        return try rows.map { try Self.held($0).terms }
    }

    func couponTerms(_ couponId: String) async throws -> HeldCoupon? {
        try await Self.couponTerms([couponId], database: database)[0]
    }

    /// Several coupons in one query, in the order asked (nil: no such coupon).
    static func couponTerms(_ couponIds: [String], database: PostgresPool) async throws -> [HeldCoupon?] {
        let rows = try await database.query(
            Self.termsSelect + " WHERE c.id IN (SELECT jsonb_array_elements_text($1::jsonb))", [SQLArrays.json(couponIds)])
        var found: [String: HeldCoupon] = [:]
        for row in rows {
            let coupon = try Self.held(row)
            found[coupon.terms.couponId] = coupon
        }
        return couponIds.map { found[$0] }
    }

    static func held(_ row: PostgresRow) throws -> HeldCoupon {
        let terms = CouponTerms(
            couponId: try row.decode("id"), type: try row.decode("type", as: CouponType.self),
            status: try row.decode("status", as: CouponStatus.self), thresholdCents: try row.decode("threshold_cents"),
            discountCents: try row.decode("discount_cents"), rateBasisPoints: try row.decode("rate_bp", as: Int32?.self),
            maxDiscountCents: try row.decode("max_discount_cents"), level: try row.decode("level", as: ScopeLevel.self),
            shopId: try row.decode("shop_id"), categories: try SQLArrays.strings(row, "categories"),
            stacking: try row.decode("stacking", as: StackingMode.self),
            thresholdOnDiscounted: try row.decode("threshold_on_discounted"), expiresMilliseconds: try row.decode("expires_ms"))
        return HeldCoupon(
            terms: terms, userId: try row.decode("user_id"), templateId: try row.decode("template_id"), orderId: try row.decode("order_id"),
            appliedCents: try row.decode("applied_cents"), orderAmountCents: try row.decode("order_amount_cents"))
    }
}
