import Access
import Domain
import ServiceKit
import Wire

/// The experiment calls of the API, and the experiment's entry point of a claim.
///
/// What a claim through an experiment goes through (then it is an ordinary claim):
/// 1. **Validation** of the claim's fields, so that an invalid claim records no exposure.
/// 2. **Experiment**: RUNNING or ROLLED_OUT, else `EXPERIMENT_NOT_RUNNING`.
/// 3. **Assignment** (`ExperimentBuckets`): the user's arm from the hash, or the rollout arm.
/// 4. **Exposure**, recorded once (`ExperimentStore.recordExposure`); a user exposed before keeps
///    the arm recorded then, unless the experiment is rolled out (then everyone claims the winner).
/// 5. **Claim** of the arm's template through `ClaimService`, whose request-id fingerprint names
///    the experiment, not the template, so a retry after a rollout still gets its first answer.
struct ExperimentService: Sendable {
    let store: ExperimentStore
    let claims: ClaimService

    func create(_ request: CreateExperimentRequest, by actor: AuditActor) async throws -> ExperimentView {
        try ExperimentRules.validate(request.spec)
        let id = RandomIdentifier.make(prefix: "X", bytes: 12)
        return try await store.create(request.spec, id: id, salt: RandomIdentifier.make(prefix: "", bytes: 16), by: actor).view
    }

    func experiment(_ id: String) async throws -> ExperimentStore.Stored {
        try TemplateRules.identifier(id, field: "experimentId")
        guard let stored = try await store.experiment(id) else { throw ServiceError(.experimentNotFound, "no experiment \(id)") }
        return stored
    }

    func list(_ request: ListExperimentsRequest) async throws -> ExperimentList {
        guard (1...1000).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 1000") }
        return ExperimentList(experiments: try await store.list(limit: Int(request.limit)))
    }

    func start(_ id: String, by actor: AuditActor) async throws -> ExperimentView {
        try await move(id, from: [.draft], to: .running, action: "experiment.start", by: actor, refusal: "only a DRAFT experiment starts")
    }

    func stop(_ id: String, by actor: AuditActor) async throws -> ExperimentView {
        try await move(id, from: [.running], to: .stopped, action: "experiment.stop", by: actor, refusal: "only a RUNNING experiment stops")
    }

    /// To the named arm, or with none to the winner of the results (which must say ROLL_OUT).
    func rollout(_ request: RolloutExperimentRequest, by actor: AuditActor) async throws -> ExperimentView {
        let stored = try await experiment(request.experimentId)
        let arm: String
        if let named = request.arm {
            try TemplateRules.identifier(named, field: "arm")
            guard stored.view.spec.arms.contains(where: { $0.name == named }) else {
                throw ServiceError(.experimentArmNotFound, "experiment \(request.experimentId) has no arm \(named)")
            }
            arm = named
        } else {
            let results = try await results(of: stored)
            guard results.verdict == .rollOut, let winner = results.winner else {
                throw ServiceError(
                    .experimentNoWinner,
                    "the results say \(results.verdict.rawValue), not ROLL_OUT: name the arm to roll out anyway (\(results.reasons.first ?? ""))")
            }
            arm = winner
        }
        return try await move(
            request.experimentId, from: [.running, .stopped], to: .rolledOut, rolloutArm: arm, action: "experiment.rollout", by: actor,
            refusal: "only a RUNNING or STOPPED experiment rolls out")
    }

    private func move(
        _ id: String, from: [ExperimentStatus], to: ExperimentStatus, rolloutArm: String? = nil, action: String, by actor: AuditActor,
        refusal: String
    ) async throws -> ExperimentView {
        _ = try await experiment(id)
        if try await store.transition(id, from: from, to: to, rolloutArm: rolloutArm, action: action, by: actor) {
            return try await experiment(id).view
        }
        let now = try await experiment(id).view
        if now.status == .rolledOut { throw ServiceError(.experimentRolledOut, "experiment \(id) is rolled out to \(now.rolloutArm ?? "?") already") }
        throw ServiceError(.experimentStatusConflict, "experiment \(id) is \(now.status.rawValue): \(refusal)")
    }

    func results(_ request: ExperimentResultsRequest) async throws -> ExperimentResults {
        try await results(of: try await experiment(request.experimentId))
    }

    private func results(of stored: ExperimentStore.Stored) async throws -> ExperimentResults {
        let view = stored.view
        let counts = try await store.armCounts(view.experimentId, arms: view.spec.arms)
        return ExperimentAnalysis.results(experimentId: view.experimentId, status: view.status, spec: view.spec, counts: counts)
    }

    func assignment(_ request: ExperimentAssignmentRequest) async throws -> ExperimentAssignment {
        try TemplateRules.identifier(request.userId, field: "userId")
        let stored = try await experiment(request.experimentId)
        let (arm, bucket) = try ExperimentBuckets.assignment(stored.view, salt: stored.salt, userId: request.userId)
        return ExperimentAssignment(
            experimentId: request.experimentId, userId: request.userId, arm: arm.name, templateId: arm.templateId, bucket: bucket,
            rolledOut: stored.view.rolloutArm != nil)
    }

    /// A claim through an experiment (`experiment_claim`, and `POST /api/coupon/issue` with
    /// `experimentId`).
    func claim(_ request: ExperimentClaimRequest) async throws -> ClaimResponse {
        let experimentId = request.experimentId
        // The claim's own fields first: an invalid claim must not count as an exposure.
        try TemplateRules.identifier(experimentId, field: "experimentId")
        try ClaimService.validateClaimant(userId: request.userId, templateId: experimentId, deviceId: request.deviceId, ip: request.ip)
        try TemplateRules.identifier(request.channel, field: "channel")
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let stored = try await experiment(experimentId)
        guard stored.view.status == .running || stored.view.status == .rolledOut else {
            throw ServiceError(.experimentNotRunning, "experiment \(experimentId) is \(stored.view.status.rawValue): it takes no claims")
        }
        let (assigned, _) = try ExperimentBuckets.assignment(stored.view, salt: stored.salt, userId: request.userId)
        let recorded = try await store.recordExposure(experimentId: experimentId, userId: request.userId, arm: assigned.name)
        // Before a rollout the recorded arm is the hash's arm (weights never change); after it,
        // everyone claims the winner, whatever arm they were first exposed in.
        let armName = stored.view.rolloutArm ?? recorded
        guard let arm = stored.view.spec.arms.first(where: { $0.name == armName }) else {
            throw ServiceError(.internalError, "experiment \(experimentId): the recorded arm \(armName) is not one of its arms")
        }
        let claim = ClaimRequest(
            userId: request.userId, templateId: arm.templateId, channel: request.channel, deviceId: request.deviceId, ip: request.ip,
            requestId: request.requestId)
        return try await claims.claim(claim, throughExperiment: experimentId)
    }
}
