import CouponClient
import Foundation
import ServiceKit
import Wire

/// The one place claims, exchanges and redemptions ask risk-control. Decisions are batched
/// (`risk_decide_batch`); DENY refuses, REVIEW and an unanswered call follow the `RiskPolicy`;
/// reports after an action are best effort.
struct RiskGate: Sendable {
    private let decisions: Batcher<RiskDecisionRequest, RiskDecision>
    private let riskControl: ServiceClient
    private let policy: RiskPolicy
    private let timeoutMilliseconds: Int
    private let logger: Logger
    private let metrics: Metrics

    init(riskControl: ServiceClient, policy: RiskPolicy, timeoutMilliseconds: Int, logger: Logger, metrics: Metrics) {
        self.riskControl = riskControl
        self.policy = policy
        self.timeoutMilliseconds = timeoutMilliseconds
        self.logger = logger
        self.metrics = metrics
        decisions = Batcher(name: "risk_decide", lanes: BatchedStages.lanes, maxBatch: BatchedStages.maxBatch, metrics: metrics) { requests in
            do {
                let answer = try await riskControl.call(RiskDecisionBatchRequest(decisions: requests), timeoutMilliseconds: timeoutMilliseconds)
                guard answer.results.count == requests.count else {
                    throw ServiceError(.internalError, "risk-control answered \(answer.results.count) of \(requests.count) decisions")
                }
                // Each decision is its own: one refused request fails alone.
                return answer.results.map { outcome in
                    if let decision = outcome.decision { return .success(decision) }
                    return .failure(outcome.error ?? ServiceError(.internalError, "risk-control answered neither a decision nor an error"))
                }
            } catch {
                return requests.map { _ in .failure(error) }
            }
        }
    }

    /// Asks risk-control; returns when the action may go on, throws when it may not.
    func check(_ request: RiskDecisionRequest) async throws {
        let decision: RiskDecision
        do {
            decision = try await decisions.submit(request)
        } catch let error as ServiceError where error.code == .invalidArgument {
            // risk-control refused the request itself: the caller's input, not an outage.
            throw error
        } catch {
            metrics.increment("risk_unavailable_total", [("action", request.action.rawValue)])
            if policy.failClosed(for: request.couponType) {
                throw ServiceError(.dependencyUnavailable, "risk-control did not answer and \(request.couponType.rawValue) coupons fail closed")
            }
            logger.warning("risk-control unavailable; allowed and flagged", [("user.id", request.userId), ("template.id", request.templateId)])
            return
        }
        switch decision.verdict {
        case .allow: return
        case .deny:
            throw ServiceError(.riskDenied, "refused by risk control (\(decision.reasons.joined(separator: ", ")))")
        case .review:
            if policy.refuseOnReview(for: request.couponType) {
                throw ServiceError(.riskReview, "held for review by risk control (\(decision.reasons.joined(separator: ", ")))")
            }
            logger.info("risk review; allowed and flagged", [("user.id", request.userId), ("reasons", decision.reasons.joined(separator: ","))])
        }
    }

    /// Tells risk-control how an action ended; best effort (a lost report only weakens a rule).
    func report(_ report: RiskReportRequest) async {
        do {
            _ = try await riskControl.call(report, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            logger.debug("risk report not delivered", [("error", "\(error)")])
        }
    }

    /// Its batched stage, a service of the process.
    var stages: [any LifecycleService] { [decisions] }
}

/// What coupon-center does when risk-control says REVIEW or does not answer (Shared/DESIGN.md §1:
/// refuse FREE coupons on review; fail closed for FREE and EXCHANGE, open and flagged for the rest).
struct RiskPolicy: Sendable {
    var refuseReviewFor: Set<CouponType>
    var failClosedFor: Set<CouponType>

    func refuseOnReview(for type: CouponType) -> Bool { refuseReviewFor.contains(type) }
    func failClosed(for type: CouponType) -> Bool { failClosedFor.contains(type) }

    static func parse(_ text: String, flag: String) throws(ConfigError) -> Set<CouponType> {
        var types = Set<CouponType>()
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).uppercased() }) where !name.isEmpty {
            guard let type = CouponType(rawValue: name) else { throw ConfigError("--\(flag): '\(name)' is not a coupon type") }
            types.insert(type)
        }
        return types
    }
}
