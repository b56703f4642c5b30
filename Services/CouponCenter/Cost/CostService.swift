import Domain
import ServiceKit
import Wire

/// The cost-ratio calls of the API: the windows of a scope, the alerts, orders reported without
/// a coupon, and an evaluation on demand.
struct CostService: Sendable {
    let store: CostStore
    let monitor: CostMonitor

    var settings: CostSettings { monitor.settings }

    func stats(_ request: CostStatsRequest) async throws -> CostStats {
        var ceiling = settings.ceilingBasisPoints
        var scope = ScopeCost.platform
        if let templateId = request.templateId {
            try TemplateRules.identifier(templateId, field: "templateId")
            guard let own = try await store.templateCeiling(templateId) else { throw ServiceError(.templateNotFound, "no template \(templateId)") }
            ceiling = settings.ceiling(template: own)
            scope = ScopeCost.template(templateId)
        }
        let cost = try await store.windows(scope: scope, timeZone: settings.timeZoneName).first?.windows[request.window]
        let window = cost ?? WindowCost(orders: 0, ratio: CostRatio(discountCents: 0, orderAmountCents: 0))
        let warning = settings.warning(ceiling: ceiling)
        return CostStats(
            templateId: request.templateId, window: request.window, orders: window.orders, orderAmountCents: window.ratio.orderAmountCents,
            discountCents: window.ratio.discountCents, ratioBasisPoints: window.ratio.basisPoints, ceilingBasisPoints: ceiling,
            warningBasisPoints: warning, minimumOrders: settings.minimumOrders,
            state: CostJudgement.state(
                window.ratio, orders: window.orders, minimumOrders: settings.minimumOrders, ceiling: ceiling, warning: warning))
    }

    func alerts(_ request: AlertsListRequest) async throws -> AlertList {
        let page = try await Page.read(limit: request.limit, beforeId: request.beforeId, naming: "alert") { rows in
            try await store.alerts(status: request.status, limit: rows, beforeId: request.beforeId)
        }
        return AlertList(alerts: page.items, nextBeforeId: page.hasMore ? page.items.last?.alertId : nil)
    }

    func reportOrder(_ request: OrderReportRequest) async throws -> OrderReportAck {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.userId, field: "userId")
        guard request.amountCents >= 0, request.amountCents <= Money.maximum.cents else {
            throw ServiceError(.invalidMoney, "amount: must be between 0 and \(Money.maximum.yuanText) yuan")
        }
        return OrderReportAck(
            recorded: try await store.recordOrder(orderId: request.orderId, userId: request.userId, amountCents: request.amountCents))
    }

    func evaluate(_: CostEvaluateRequest) async throws -> CostEvaluation { try await monitor.evaluateOnce() }
}
