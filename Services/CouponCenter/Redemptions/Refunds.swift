import Domain
import Postgres
import ServiceKit
import Wire

/// Refund: the order that used a coupon gives it back, once. The status change, its ledger row and
/// the counters are `refund_coupon()` (migration 5), one statement.
struct Refunds: Sendable {
    let database: PostgresPool
    let metrics: Metrics

    func refund(_ request: RefundRequest) async throws -> RefundResponse {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.couponId, field: "couponId")
        let refunded = try await database.autocommitQuery("SELECT refund_coupon($1, $2)", [request.couponId, request.orderId])
        if let text = try refunded.first?.decode(0, as: String?.self) {
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

    private static func status(_ text: String) throws(ServiceError) -> CouponStatus {
        guard let status = CouponStatus(rawValue: text) else {
            throw ServiceError(.internalError, "user_coupon.status: unknown value '\(text)'")
        }
        return status
    }
}
