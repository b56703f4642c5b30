import ServiceKit
import Wire

/// The experiment messages of the binary protocol (0x0130–0x0138), over the same service as the
/// HTTP routes. Claims through an experiment arrive as `experiment_claim` (0x0138).
enum ExperimentHandlers {
    static func register(on router: inout RPCRouter, _ experiments: ExperimentService) {
        router.register(CreateExperimentRequest.self) { request, context in try await experiments.create(request, by: context.actor) }
        router.register(GetExperimentRequest.self) { request, _ in try await experiments.experiment(request.experimentId).view }
        router.register(ListExperimentsRequest.self) { request, _ in try await experiments.list(request) }
        router.register(StartExperimentRequest.self) { request, context in
            try await experiments.start(request.experimentId, by: context.actor)
        }
        router.register(StopExperimentRequest.self) { request, context in
            try await experiments.stop(request.experimentId, by: context.actor)
        }
        router.register(RolloutExperimentRequest.self) { request, context in try await experiments.rollout(request, by: context.actor) }
        router.register(ExperimentResultsRequest.self) { request, _ in try await experiments.results(request) }
        router.register(ExperimentAssignmentRequest.self) { request, _ in try await experiments.assignment(request) }
        router.register(ExperimentClaimRequest.self) { request, _ in try await experiments.claim(request) }
    }
}
