import ServiceKit
import Wire

/// Reconciliation over the binary protocol (0x0124–0x012A): the same `ReconcileService` as the
/// HTTP routes.
enum ReconcileHandlers {
    static func register(on router: inout RPCRouter, _ reconcile: ReconcileService) {
        router.register(ReconcileStartRequest.self) { request, _ in try await reconcile.start(request) }
        router.register(ReconcileRunGetRequest.self) { request, _ in try await reconcile.run(request) }
        router.register(ReconcileRunsListRequest.self) { request, _ in try await reconcile.runs(request) }
        router.register(FeedSubmitRequest.self) { request, _ in try await reconcile.submitFeed(request) }
        router.register(IncidentsListRequest.self) { request, _ in try await reconcile.incidents(request) }
        router.register(IncidentAckRequest.self) { request, context in try await reconcile.acknowledge(request, by: context.actor) }
        router.register(IncidentAcceptRequest.self) { request, context in try await reconcile.accept(request, by: context.actor) }
    }
}
