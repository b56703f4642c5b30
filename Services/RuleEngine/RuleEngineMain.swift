import Credentials
import Domain
import ServiceKit
import Wire

/// rule-engine's settings: where it listens, and the service token its callers must send (it
/// knows no operators; every call it serves is coupon-center's).
struct RuleEngineConfiguration: Sendable {
    var rpc: RPCServiceSettings
    var access: AccessSettings

    static let options =
        RPCServiceSettings.options(service: "rule-engine", listenEnv: "RULE_ENGINE_URL", defaultListen: "tcp://127.0.0.1:7101")
        + AccessSettings.options

    init(_ values: ConfigValues) throws(ConfigError) {
        rpc = try RPCServiceSettings(values)
        access = try AccessSettings(values)
    }
}

/// rule-engine: eligibility, discount maths, stacking and best combination. Stateless: it keeps
/// nothing durable, so any number of replicas can serve behind one NNG address list.
@main
struct RuleEngineMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let configuration = loadConfiguration(
            program: "rule-engine", summary: "coupon rules, discounts and best combinations over NNG",
            options: RuleEngineConfiguration.options, build: RuleEngineConfiguration.init)
        await ServiceMain.run(service: "rule-engine", settings: configuration.rpc) { router, _, _ in
            let gatekeeper = Gatekeeper(settings: configuration.access, store: nil)
            router.admission = { kind, credential in try await gatekeeper.admit(kind: kind, credential: credential) }
            RuleEngineRoutes.register(on: &router)
            return ServiceParts()
        }
    }
}
