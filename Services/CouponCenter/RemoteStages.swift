import CouponClient
import ServiceKit
import Wire

/// The per-claim calls to other processes, batched: profiles and stored answers to request ids
/// from PostgreSQL, eligibility from rule-engine, decisions from risk-control. Claims that arrive
/// while a call is in flight share the next one, so under load a claim costs a fraction of a round
/// trip at each stage (DESIGN section 7: the whole cluster has to keep up with `pgbench -N` on two
/// cores).
struct RemoteStages: Sendable {
    let profiles: Batcher<String, UserProfileView>
    let storedAnswers: Batcher<CouponStore.AnswerKey, CouponStore.StoredAnswer?>
    let ruleChecks: Batcher<ClaimCheckRequest, ClaimCheckResponse>
    let riskDecisions: Batcher<RiskDecisionRequest, RiskDecision>
    /// For the calls that are not batched (reports after a redemption).
    let riskControl: ServiceClient

    /// Items per batch at most; well under the limits of the batch messages.
    static let maxBatch = 256
    /// Batches in flight per stage: one, so the claims arriving meanwhile gather into the next.
    static let lanes = 1

    init(store: CouponStore, ruleEngine: ServiceClient, riskControl: ServiceClient, timeoutMilliseconds: Int, metrics: Metrics) {
        self.riskControl = riskControl
        profiles = Self.batcher("profiles", metrics) { userIds in try await store.profiles(userIds) }
        storedAnswers = Self.batcher("stored_answers", metrics) { keys in try await store.storedAnswers(keys) }
        ruleChecks = Self.batcher("claim_check", metrics) { checks in
            try await ruleEngine.call(ClaimCheckBatchRequest(checks: checks), timeoutMilliseconds: timeoutMilliseconds).results
        }
        riskDecisions = Batcher(name: "risk_decide", lanes: Self.lanes, maxBatch: Self.maxBatch, metrics: metrics) { requests in
            do {
                let answer = try await riskControl.call(RiskDecisionBatchRequest(decisions: requests), timeoutMilliseconds: timeoutMilliseconds)
                guard answer.results.count == requests.count else {
                    throw ServiceError(.internalError, "risk-control answered \(answer.results.count) of \(requests.count) decisions")
                }
                return answer.results.map { outcome in
                    if let decision = outcome.decision { return .success(decision) }
                    return .failure(outcome.error ?? ServiceError(.internalError, "risk-control answered neither a decision nor an error"))
                }
            } catch {
                return requests.map { _ in .failure(error) }
            }
        }
    }

    /// A stage whose batch call answers every item or fails as a whole (a query, a batch message):
    /// `call` must answer as many items as it was given, in order.
    static func batcher<Item: Sendable, Output: Sendable>(
        _ name: String, _ metrics: Metrics, call: @escaping @Sendable ([Item]) async throws -> [Output]
    ) -> Batcher<Item, Output> {
        Batcher(
            name: name, lanes: lanes, maxBatch: maxBatch, metrics: metrics,
            process: Batcher.everyItem { items in
                let answers = try await call(items)
                guard answers.count == items.count else {
                    throw ServiceError(.internalError, "\(name): \(answers.count) answers for \(items.count) items")
                }
                return answers
            })
    }

    /// Closes every stage and waits for what they hold (shutdown).
    func drain() async {
        await profiles.shutdown()
        await storedAnswers.shutdown()
        await ruleChecks.shutdown()
        await riskDecisions.shutdown()
    }
}
