import Domain
import Postgres
import ServiceKit
import Wire

/// Refund: the order that used a coupon gives it back, once. The status change, its ledger row and
/// the counters are `refund_coupon()` (migration 0010's version), one statement. A coupon usable
/// again takes its budget reserve again: Redis's budget counter is raised by the most that can be
/// before the statement and brought down to what it took after, so Redis never counts less than
/// PostgreSQL (it may count more for a moment, which only refuses a claim early).
struct Refunds: Sendable {
    let database: PostgresPool
    let counters: StockCounters
    let metrics: Metrics

    func refund(_ request: RefundRequest) async throws -> RefundResponse {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.couponId, field: "couponId")
        let raised = try await raiseRedisBudget(request)
        // A failed statement leaves the raise: too much, never too little.
        let refunded = try await database.autocommitQuery("SELECT refund_coupon($1, $2)", [request.couponId, request.orderId])
        let refundedTo = try refunded.first?.decode(0, as: String?.self)
        if let raised { await settleRedisBudget(request, raised: raised, refunded: refundedTo != nil) }
        if let text = refundedTo {
            metrics.increment("coupons_refunded_total")
            return RefundResponse(couponId: request.couponId, status: try Self.status(text))
        }
        // Not used by that order now. A retry of a refund that went through answers as the refund
        // did, whatever happened to the coupon since (another order may use it meanwhile): the
        // status the refund left, from its ledger row. Anything else does not match.
        let rows = try await database.query(
            """
            SELECT (SELECT l.to_status FROM coupon_ledger l
                     WHERE l.coupon_id = c.id AND l.order_id = $2 AND l.event = 'REFUNDED' ORDER BY l.id DESC LIMIT 1)
              FROM user_coupon c WHERE c.id = $1
            """, [request.couponId, request.orderId])
        guard let row = rows.first else { throw ServiceError(.couponNotFound, "no coupon \(request.couponId)") }
        if let refundedTo = try row.decode(0, as: String?.self) {
            return RefundResponse(couponId: request.couponId, status: try Self.status(refundedTo))
        }
        throw ServiceError(.refundNotMatching, "order \(request.orderId) did not use coupon \(request.couponId)")
    }

    /// Raises Redis's budget spent by the coupon's whole reserve (the most the refund can take
    /// back) while the order holds the coupon; the template, amount and generation raised.
    private func raiseRedisBudget(_ request: RefundRequest) async throws -> (templateId: String, cents: Int64, generation: String)? {
        let held = try await database.query(
            """
            SELECT template_id, coupon_budget_reserve(type, discount_cents, max_discount_cents) FROM user_coupon
             WHERE id = $1 AND status = 'USED' AND order_id = $2
            """, [request.couponId, request.orderId])
        guard let row = held.first, let reserve = try row.decode(1, as: Int64?.self), reserve > 0 else { return nil }
        let templateId: String = try row.decode(0)
        guard let generation = await counters.generation(templateId) else { return nil }
        await counters.adjustSpent(templateId: templateId, byCents: reserve, generation: generation)
        return (templateId, reserve, generation)
    }

    /// Brings the raise down to what the refund's REFUNDED row says it changed (nothing, when this
    /// call refunded nothing). Unread, the raise stays.
    private func settleRedisBudget(_ request: RefundRequest, raised: (templateId: String, cents: Int64, generation: String), refunded: Bool) async {
        var change: Int64 = 0
        if refunded {
            guard
                let rows = try? await database.query(
                    """
                    SELECT budget_delta_cents FROM coupon_ledger
                     WHERE coupon_id = $1 AND order_id = $2 AND event = 'REFUNDED' ORDER BY id DESC LIMIT 1
                    """, [request.couponId, request.orderId]),
                let delta = try? rows.first?.decode(0, as: Int64?.self)
            else { return }
            change = delta
        }
        await counters.adjustSpent(templateId: raised.templateId, byCents: change - raised.cents, generation: raised.generation)
    }

    private static func status(_ text: String) throws(ServiceError) -> CouponStatus {
        guard let status = CouponStatus(rawValue: text) else {
            throw ServiceError(.internalError, "user_coupon.status: unknown value '\(text)'")
        }
        return status
    }
}
