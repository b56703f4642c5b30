import CouponClient
import Domain
import Postgres
import ServiceKit
import Wire

/// Best combination for an order: the user's usable coupons (at most `walletLimit`, soonest to
/// expire first) priced together by rule-engine.
struct BestOffers: Sendable {
    let database: PostgresPool
    let ruleEngine: ServiceClient
    let dependencyTimeoutMilliseconds: Int

    /// Coupons considered at most: the ones expiring soonest.
    static let walletLimit = 200

    func best(_ request: BestRequest) async throws -> BestCombination {
        try TemplateRules.identifier(request.userId, field: "userId")
        let order = try OrderValidation.order(amountCents: request.amountCents, items: request.items)
        let coupons = try await CouponReads(database: database).usable(userId: request.userId, limit: Self.walletLimit)
        return try await ruleEngine.call(
            BestCombinationRequest(coupons: coupons, order: order, nowMilliseconds: unixMilliseconds()),
            timeoutMilliseconds: dependencyTimeoutMilliseconds)
    }
}
