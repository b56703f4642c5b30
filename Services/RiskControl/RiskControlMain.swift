import ServiceKit
import Wire

/// risk-control: ALLOW / REVIEW / DENY decisions for claims, redemptions and exchanges.
@main
struct RiskControlMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let settings = loadConfiguration(
            program: "risk-control", summary: "fraud and abuse decisions over NNG",
            options: RPCServiceSettings.options(listenEnv: "RISK_CONTROL_URL", defaultListen: "tcp://127.0.0.1:7102"),
            build: RPCServiceSettings.init)
        await ServiceMain.run(service: "risk-control", settings: settings) { router, _, metrics in
            let engine = RiskEngine(metrics: metrics)
            router.register(RiskDecisionRequest.self) { request, _ in engine.decide(request) }
            return ServiceParts()
        }
    }
}

/// Scores a request against the configured rules. No rule is configured yet (the velocity, device,
/// block-list and new-account rules are the risk-control issue's), so every request is allowed with
/// score 0; decisions are still counted per verdict so the call path is observable end to end.
struct RiskEngine: Sendable {
    let metrics: Metrics

    func decide(_ request: RiskDecisionRequest) -> RiskDecision {
        let decision = RiskDecision(verdict: .allow, score: 0, reasons: [])
        metrics.increment("risk_decisions_total", [("action", request.action.rawValue), ("verdict", decision.verdict.rawValue)])
        return decision
    }
}
