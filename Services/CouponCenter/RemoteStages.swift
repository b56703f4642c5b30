import CouponClient
import ServiceKit
import Wire

/// The per-claim calls to other processes, batched: profiles from PostgreSQL, eligibility from
/// rule-engine, decisions from risk-control. Claims that arrive while a call is in flight share the
/// next one, so under load a claim costs a fraction of a round trip at each stage (DESIGN section 7:
/// the whole cluster has to keep up with `pgbench -N` on two cores).
struct RemoteStages: Sendable {
    let profiles: Batcher<String, UserProfileView>
    let ruleChecks: Batcher<ClaimCheckRequest, ClaimCheckResponse>
    let riskDecisions: Batcher<RiskDecisionRequest, RiskDecision>
    /// For the calls that are not batched (reports after a redemption).
    let riskControl: ServiceClient

    /// Items per batch at most; well under the limits of the batch messages.
    static let maxBatch = 256
    /// Batches in flight per stage: two, so one is on the wire while the next one gathers.
    static let lanes = 1

    init(store: CouponStore, ruleEngine: ServiceClient, riskControl: ServiceClient, timeoutMilliseconds: Int, metrics: Metrics) {
        self.riskControl = riskControl
        profiles = Batcher(
            name: "profiles", lanes: Self.lanes, maxBatch: Self.maxBatch, metrics: metrics,
            process: Batcher.everyItem { userIds in try await store.profiles(userIds) })
        ruleChecks = Batcher(
            name: "claim_check", lanes: Self.lanes, maxBatch: Self.maxBatch, metrics: metrics,
            process: Batcher.everyItem { checks in
                let answer = try await ruleEngine.call(ClaimCheckBatchRequest(checks: checks), timeoutMilliseconds: timeoutMilliseconds)
                guard answer.results.count == checks.count else {
                    throw ServiceError(.internalError, "rule-engine answered \(answer.results.count) of \(checks.count) claim checks")
                }
                return answer.results
            })
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

    /// Closes every stage and waits for what they hold (shutdown).
    func drain() async {
        profiles.close()
        ruleChecks.close()
        riskDecisions.close()
        await profiles.drain()
        await ruleChecks.drain()
        await riskDecisions.drain()
    }
}
