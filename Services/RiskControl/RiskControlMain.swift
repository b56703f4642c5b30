import ServiceKit

/// risk-control: ALLOW / REVIEW / DENY decisions for claims, redemptions and exchanges.
@main
struct RiskControlMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let settings = loadConfiguration(
            program: "risk-control", summary: "fraud and abuse decisions over NNG",
            options: RPCServiceSettings.options(listenEnv: "RISK_CONTROL_URL", defaultListen: "tcp://127.0.0.1:7102"),
            build: RPCServiceSettings.init)
        await ServiceMain.run(service: "risk-control", settings: settings) { _, _, _ in ServiceParts() }
    }
}
