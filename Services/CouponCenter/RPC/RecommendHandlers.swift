import ServiceKit
import Wire

/// The recommendation messages of the binary protocol (0x0139–0x013B), over the same service as
/// the HTTP routes.
enum RecommendHandlers {
    static func register(on router: inout RPCRouter, _ recommend: RecommendService) {
        router.register(RecommendRequest.self) { request, _ in try await recommend.recommend(request) }
        router.register(RecommendLogRequest.self) { request, _ in try await recommend.log(request) }
        router.register(RecommendEvaluateRequest.self) { request, _ in try await recommend.evaluate(request) }
    }
}
