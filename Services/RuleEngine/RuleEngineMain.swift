import Domain
import ServiceKit
import Wire

/// rule-engine: eligibility, discount maths, stacking and best combination. Stateless: it keeps
/// nothing durable, so any number of replicas can serve behind one NNG address list.
@main
struct RuleEngineMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let settings = loadConfiguration(
            program: "rule-engine", summary: "coupon rules, discounts and best combinations over NNG",
            options: RPCServiceSettings.options(service: "rule-engine", listenEnv: "RULE_ENGINE_URL", defaultListen: "tcp://127.0.0.1:7101"),
            build: RPCServiceSettings.init)
        await ServiceMain.run(service: "rule-engine", settings: settings) { router, _, _ in
            RuleEngineRoutes.register(on: &router)
            return ServiceParts()
        }
    }
}
