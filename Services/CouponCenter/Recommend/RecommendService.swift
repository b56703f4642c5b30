import Domain
import Foundation
import ServiceKit
import Wire

/// Personalised offers (README "Recommendations"). What a recommendation goes through:
/// 1. **Validation** of the user, channel, amount and limit.
/// 2. **Eligibility** of every template whose window has not ended, by the claim's own checks
///    (`ClaimService.eligibility`): a refusal drops the template with the claim's code.
/// 3. **Features** from the ledger (`RecommendStore.features`) and the segment they give
///    (`RecommendRules.segment`).
/// 4. **Windows closed**: the user's earlier decisions get their outcome (`closeWindows`), and the
///    user's decision count seeds this decision's draws.
/// 5. **Policy**: v0 (the seed's rules), or v1 (Thompson sampling over the arms present plus NONE,
///    on the segment's closed decisions) unless the user is in the holdout, who gets v0.
/// 6. **Log**: the decision with its propensity, the candidates and the arm v0 would have chosen.
/// 7. **Ranking**: the chosen arm's templates first, each with its reasons; the offer is the first
///    (none when the arm is NONE).
struct RecommendService: Sendable {
    let store: RecommendStore
    let claims: ClaimService
    let settings: RecommendSettings

    /// Templates looked at per recommendation (the newest whose window is open).
    static let templatesLooked = 200

    func recommend(_ request: RecommendRequest) async throws -> Recommendation {
        try TemplateRules.identifier(request.userId, field: "userId")
        try TemplateRules.identifier(request.channel, field: "channel")
        guard request.amountCents >= 0, request.amountCents <= Money.maximum.cents else {
            throw ServiceError(.invalidMoney, "amount: between 0 and \(Money.maximum.yuanText)")
        }
        guard (1...50).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 50") }
        let now = unixMilliseconds()
        let templateIds = try await store.openTemplateIds(nowMilliseconds: now, limit: Self.templatesLooked)
        let checked = try await claims.eligibility(userId: request.userId, templateIds: templateIds, channel: request.channel)
        var eligible: [RankedTemplate] = []
        var dropped: [DroppedTemplate] = []
        for entry in checked {
            switch (entry.outcome, entry.view) {
            case (.success(let check), let view?):
                eligible.append(
                    RankedTemplate(
                        templateId: entry.templateId, name: view.spec.name, type: view.spec.type, thresholdCents: check.thresholdCents,
                        discountCents: check.discountCents,
                        expectedDiscountCents: RecommendRules.expectedDiscount(
                            type: view.spec.type, thresholdCents: check.thresholdCents, discountCents: check.discountCents,
                            rateBasisPoints: view.spec.rateBasisPoints, maxDiscountCents: view.spec.maxDiscountCents, amountCents: request.amountCents
                        ),
                        reasons: []))
            case (.failure(let refusal), _):
                dropped.append(DroppedTemplate(templateId: entry.templateId, code: refusal.code, message: refusal.message))
            case (.success, nil):
                dropped.append(DroppedTemplate(templateId: entry.templateId, code: .templateNotFound, message: "no template \(entry.templateId)"))
            }
        }
        let features = try await store.features(request.userId)
        let segment = RecommendRules.segment(features)
        let sequence = try await store.closeWindows(
            userId: request.userId, nowMilliseconds: now, attributionSeconds: settings.attributionSeconds)

        let policy = request.policy ?? settings.policy
        let holdout = policy == .v1 && RecommendRules.holdoutBucket(request.userId) < settings.holdoutBasisPoints
        let ruleArm = RecommendRules.ruleArm(segment: segment, ranked: eligible)
        let candidates = RecommendRules.candidates(eligible)
        let arm: OfferArm
        let propensity: Double
        let why: String
        if policy == .v1 && !holdout {
            let records = try await store.records(segment: segment)[segment] ?? [:]
            var random = SeededRandom(seed: RecommendRules.decisionSeed(settings.seed, userId: request.userId, sequence: sequence))
            guard let choice = ThompsonSampling.choose(candidates, records: records, random: &random, draws: settings.draws) else {
                throw ServiceError(.internalError, "Thompson sampling had no arm (NONE is always one)")
            }
            (arm, propensity) = (choice.arm, choice.propensity)
            let record = records[arm] ?? ArmRecord(arm: arm, trials: 0, successes: 0)
            why =
                "v1 drew \(arm.rawValue) (\(record.successes) of \(record.trials) earlier offers converted in this segment; "
                + "chosen with probability \(String(format: "%.3g", propensity)))"
        } else {
            (arm, propensity) = (ruleArm, 1)
            why = holdout ? "holdout, served by v0: \(Self.ruleReason(segment, ruleArm))" : "v0: \(Self.ruleReason(segment, ruleArm))"
        }
        let ordered = RecommendRules.order(eligible, first: arm == .none ? nil : arm)
        let offer = arm == .none ? nil : ordered.first
        let decisionId = try await store.record(
            userId: request.userId, segment: segment, policy: holdout ? .v0 : policy, holdout: holdout, arm: arm, ruleArm: ruleArm,
            propensity: propensity, candidates: candidates, templateId: offer?.templateId, decidedMilliseconds: now)
        let ranked = ordered.prefix(Int(request.limit)).map { template in
            var shown = template
            let fit = RecommendRules.arm(template.type) == arm ? why : "\(why); \(template.type.rawValue) is not the chosen arm"
            shown.reasons = RecommendRules.reasons(
                template, segment: segment, features: features, amountCents: request.amountCents, policyReason: fit)
            return shown
        }
        return Recommendation(
            decisionId: decisionId, userId: request.userId, segment: segment, policy: holdout ? .v0 : policy, holdout: holdout, arm: arm,
            propensity: propensity, offer: offer?.templateId, ranked: Array(ranked), dropped: dropped, features: features)
    }

    static func ruleReason(_ segment: String, _ arm: OfferArm) -> String {
        switch (segment, arm) {
        case (RecommendRules.priceSensitive, .cash): "满减 (CASH) for the price-sensitive"
        case (RecommendRules.qualitySeeking, .discount): "折扣 (DISCOUNT) for the quality-seeking"
        case (_, .none): "nothing claimable to offer"
        default: "\(arm.rawValue), the largest expected discount"
        }
    }

    func log(_ request: RecommendLogRequest) async throws -> RecommendLog {
        let page = try await Page.read(limit: request.limit, beforeId: request.beforeId, naming: "decision") { rows in
            // Windows past the attribution time closed first, so their outcomes show.
            _ = try await store.closeWindows(userId: "", nowMilliseconds: unixMilliseconds(), attributionSeconds: settings.attributionSeconds)
            return try await store.log(limit: rows, beforeId: request.beforeId).map(\.decision)
        }
        return RecommendLog(decisions: page.items, nextBeforeId: page.hasMore ? page.items.last?.decisionId : nil)
    }

    /// What `policy` would have earned on the latest closed decisions (inverse propensity scoring):
    /// v0's probability of a logged arm is 1 when it is the arm v0 chose then, else 0; v1's is
    /// Thompson sampling's share of draws on today's posteriors of the decision's segment,
    /// restricted to the decision's candidates (seeded by the decision id, so it is repeatable).
    func evaluate(_ request: RecommendEvaluateRequest) async throws -> PolicyEvaluation {
        guard (1...100_000).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 100000") }
        _ = try await store.closeWindows(userId: "", nowMilliseconds: unixMilliseconds(), attributionSeconds: settings.attributionSeconds)
        let decisions = try await store.closed(limit: Int(request.limit))
        let records = request.policy == .v1 ? try await store.records(segment: nil) : [:]
        let samples = decisions.map { logged in
            let decision = logged.decision
            let target: Double
            switch request.policy {
            case .v0: target = logged.ruleArm == decision.arm ? 1 : 0
            case .v1:
                var random = SeededRandom(seed: RecommendRules.decisionSeed(settings.seed, userId: decision.userId, sequence: -decision.decisionId))
                target =
                    ThompsonSampling.probabilities(
                        decision.candidates, records: records[decision.segment] ?? [:], random: &random, draws: settings.draws
                    )
                    .first { $0.arm == decision.arm }?.probability ?? 0
            }
            return OfflineEvaluation.Sample(
                reward: decision.converted == true ? 1 : 0, loggedPropensity: decision.propensity, targetProbability: target)
        }
        let estimate = OfflineEvaluation.estimate(samples)
        return PolicyEvaluation(
            policy: request.policy, decisions: Int64(samples.count), loggedValue: estimate?.logged, ipsValue: estimate?.ips,
            selfNormalizedValue: estimate?.selfNormalized, effectiveSampleSize: estimate?.effectiveSampleSize)
    }
}
