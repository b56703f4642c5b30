import Domain
import ServiceKit
import Wire

/// rule-engine's calls. One registration shared by `RuleEngineMain` and the rule-engine fuzzer
/// (Tests/Fuzz/RuleEngineFuzzer.swift), so the frames fuzzed are served by the very handlers that
/// serve in production. Every handler is pure: a bad item is refused in its own answer, and only a
/// request that is absurd as a whole (too many checks, quotes or coupons) is an error reply.
enum RuleEngineRoutes {
    static func register(on router: inout RPCRouter) {
        router.register(ClaimCheckRequest.self) { request, _ in ClaimRules.check(request) }
        router.register(ClaimCheckBatchRequest.self) { request, _ in try ClaimRules.check(request) }
        router.register(DiscountQuoteRequest.self) { request, _ in Discounts.quote(request) }
        router.register(DiscountQuoteBatchRequest.self) { request, _ in try Discounts.quote(request) }
        router.register(BestCombinationRequest.self) { request, _ in try BestCombinations.respond(to: request) }
    }
}
