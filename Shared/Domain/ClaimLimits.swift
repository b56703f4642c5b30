import Wire

/// The counted limits of a claim, judged from counts read beforehand: what a read-only question
/// ("could this user claim it now?") needs, such as a recommendation. The claim itself enforces the
/// same limits in one atomic step, in the same order (Scripts/claim_reserve.lua in Redis, then
/// `claim_coupons` in PostgreSQL, which decides); this answers what those would answer for the
/// counts given, and a claim racing between the read and the claim can still be refused.
public enum ClaimLimits {
    public struct Counts: Sendable, Equatable {
        /// Coupons issued of the template, ever.
        public var issued: Int64
        /// Coupons issued of the template on the business day of the claim.
        public var issuedToday: Int64
        /// Coupons of the template issued to the user, ever (the per-user limit counts claims).
        public var issuedToUser: Int64
        public var budgetSpentCents: Int64

        public init(issued: Int64, issuedToday: Int64, issuedToUser: Int64, budgetSpentCents: Int64) {
            self.issued = issued
            self.issuedToday = issuedToday
            self.issuedToUser = issuedToUser
            self.budgetSpentCents = budgetSpentCents
        }
    }

    /// Stock, then the day's limit, then the user's, then the budget (with `costCents`, what the
    /// coupon can cost at most: `ClaimCheckResponse.budgetCostCents`); nil when all leave room.
    public static func refusal(_ spec: TemplateSpec, counts: Counts, costCents: Int64) -> ErrorCode? {
        if counts.issued >= Int64(spec.totalStock) { return .soldOut }
        if let daily = spec.dailyLimit, counts.issuedToday >= Int64(daily) { return .dailyLimitReached }
        if counts.issuedToUser >= Int64(spec.perUserLimit) { return .perUserLimitReached }
        if let budget = spec.budgetCents {
            let (total, overflow) = counts.budgetSpentCents.addingReportingOverflow(costCents)
            if overflow || total > budget { return .budgetExhausted }
        }
        return nil
    }
}
