import Domain
import ServiceKit
import Wire

/// The experiment API over HTTP/JSON (README "Experiments"), answered by the same
/// `ExperimentService` as the binary messages. Claims through an experiment are
/// `POST /api/coupon/issue` with `experimentId` (CouponRoutes).
struct ExperimentRoutes {
    let experiments: ExperimentService
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("POST", "/api/admin/experiments") { call in
                let view = try await experiments.create(
                    CreateExperimentRequest(spec: try CouponJSON.experimentSpec(try call.jsonObject())), by: call.actor)
                return .json(json.experiment(view))
            },
            HTTPRoute("GET", "/api/admin/experiments") { call in
                let list = try await experiments.list(
                    ListExperimentsRequest(limit: try CouponRoutes.number(call.query["limit"], field: "limit") ?? 100))
                return .json([("experiments", .array(list.experiments.map { .object(json.experiment($0)) }))])
            },
            HTTPRoute("GET", "/api/admin/experiments/{id}") { call in
                .json(json.experiment(try await experiments.experiment(call.pathParameters["id"] ?? "").view))
            },
            HTTPRoute("POST", "/api/admin/experiments/{id}/start") { call in
                .json(json.experiment(try await experiments.start(call.pathParameters["id"] ?? "", by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/experiments/{id}/stop") { call in
                .json(json.experiment(try await experiments.stop(call.pathParameters["id"] ?? "", by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/experiments/{id}/rollout") { call in
                // The body is optional: `{"arm": "…"}` names the arm, no body rolls out the winner.
                var arm: String?
                if !call.request.body.isEmpty { arm = try JSONFields(try call.jsonObject(), allowed: ["arm"]).optionalString("arm") }
                return .json(
                    json.experiment(
                        try await experiments.rollout(
                            RolloutExperimentRequest(experimentId: call.pathParameters["id"] ?? "", arm: arm), by: call.actor)))
            },
            HTTPRoute("GET", "/api/admin/experiments/{id}/results") { call in
                .json(json.experimentResults(try await experiments.results(ExperimentResultsRequest(experimentId: call.pathParameters["id"] ?? ""))))
            },
            HTTPRoute("GET", "/api/coupon/experiments/{id}/assignment") { call in
                guard let userId = call.query["userId"], !userId.isEmpty else { throw ServiceError(.invalidArgument, "userId: required") }
                let assignment = try await experiments.assignment(
                    ExperimentAssignmentRequest(experimentId: call.pathParameters["id"] ?? "", userId: userId))
                return .json(json.assignment(assignment))
            },
        ]
    }
}
