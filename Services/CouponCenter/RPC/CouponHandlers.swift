import ServiceKit
import Wire

/// The binary protocol: every operation of the HTTP API, the same service methods.
enum CouponHandlers {
    static func register(on router: inout RPCRouter, _ operations: Operations) {
        let (templates, claims, wallets, analytics) = (operations.templates, operations.claims, operations.wallets, operations.analytics)
        router.register(CreateTemplateRequest.self) { request, context in try await templates.create(request, by: context.actor) }
        router.register(GetTemplateRequest.self) { request, _ in try await templates.template(request.templateId) }
        router.register(PauseTemplateRequest.self) { request, context in
            try await templates.setStatus(request.templateId, .paused, by: context.actor)
        }
        router.register(ResumeTemplateRequest.self) { request, context in
            try await templates.setStatus(request.templateId, .active, by: context.actor)
        }
        router.register(ListTemplatesRequest.self) { request, _ in try await templates.list(request) }
        router.register(ClaimRequest.self) { request, _ in try await claims.claim(request) }
        router.register(ExchangeRequest.self) { request, _ in try await claims.exchange(request) }
        router.register(UseRequest.self) { request, _ in try await operations.redemptions.use(request) }
        router.register(RefundRequest.self) { request, _ in try await operations.refunds.refund(request) }
        router.register(BestRequest.self) { request, _ in try await operations.best.best(request) }
        router.register(GrantPointsRequest.self) { request, _ in try await wallets.grantPoints(request) }
        router.register(WalletRequest.self) { request, _ in try await wallets.wallet(request) }
        router.register(SetProfileRequest.self) { request, _ in try await wallets.setProfile(request) }
        router.register(ExposureRequest.self) { request, _ in try await analytics.recordExposure(request) }
        router.register(StatsRequest.self) { request, _ in try await analytics.stats(request) }
        router.register(CostStatsRequest.self) { request, _ in try await operations.cost.stats(request) }
        router.register(AlertsListRequest.self) { request, _ in try await operations.cost.alerts(request) }
        router.register(OrderReportRequest.self) { request, _ in try await operations.cost.reportOrder(request) }
        router.register(CostEvaluateRequest.self) { request, _ in try await operations.cost.evaluate(request) }
        ExperimentHandlers.register(on: &router, operations.experiments)
        RecommendHandlers.register(on: &router, operations.recommend)
        router.register(HealthReportRequest.self) { request, _ in try await operations.reports.report(request) }
    }
}
