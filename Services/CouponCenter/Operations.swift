/// Every operation of coupon-center, grouped by flow. The binary handlers (`RPC/`) and the HTTP
/// routes (`HTTP/`) both call these, so the two APIs cannot drift apart.
struct Operations: Sendable {
    let templates: TemplateService
    let claims: ClaimService
    let redemptions: Redemptions
    let refunds: Refunds
    let best: BestOffers
    let wallets: WalletService
    let analytics: AnalyticsService
    let cost: CostService
    let reconcile: ReconcileService
    let experiments: ExperimentService
    let recommend: RecommendService
    let reports: HealthReportService
}
