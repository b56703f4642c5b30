import Postgres
import ServiceKit
import Wire

/// The statements behind the seed's metrics: exposures (the claim rate's denominator) and a
/// template's claim rate, use rate, ROI and cost ratio.
struct AnalyticsStore: Sendable {
    let database: PostgresPool

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

}
