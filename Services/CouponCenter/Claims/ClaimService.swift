import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// Claims and points exchanges: the one path that issues coupons.
///
/// What a claim goes through, in order (each stage batched with the claims arriving meanwhile):
/// 1. **Validation** of every field (`TemplateRules`), before anything is read.
/// 2. **Stored answer** (`StoredAnswers`): a request id seen before gets its first answer.
/// 3. **Template** from the one-second cache (`TemplateService.forClaim`); EXCHANGE templates only
///    through `exchange`, and only they; a template stopped by its cost ceiling (`CostStops`, in
///    memory) refuses with `COST_CEILING`.
/// 4. **Risk** (`RiskGate`), asked while 5 and 6 run: DENY refuses, REVIEW and silence follow the
///    policy.
/// 5. **Profile** (`WalletStore.profiles`), only for templates whose rules look at segments.
/// 6. **Rules** (rule-engine `claim_check_batch`): status, window, channel, segment, tier, expiry.
/// 7. **Redis reservation under the user's lock** (`StockCounters.reserve`, one script): stock, the
///    day's count, the user's count and the budget; refusals here never reach PostgreSQL.
/// 8. **PostgreSQL write** (`ClaimWriter`, group commit through `claim_coupons`), which decides;
///    a refusal or a failed write gives the reservation back.
/// 9. **Reply**, then the lock is freed off the reply's path.
struct ClaimService: Sendable {
    let templates: TemplateService
    let answers: StoredAnswers
    let risk: RiskGate
    let profiles: Batcher<String, UserProfileView>
    let ruleChecks: Batcher<ClaimCheckRequest, ClaimCheckResponse>
    let ruleEngine: ServiceClient
    let counters: StockCounters
    let writer: ClaimWriter
    let costStops: CostStops
    let timeZone: TimeZone
    let dependencyTimeoutMilliseconds: Int
    let metrics: Metrics

    init(
        templates: TemplateService, answers: StoredAnswers, risk: RiskGate, wallets: WalletStore, ruleEngine: ServiceClient,
        counters: StockCounters, writer: ClaimWriter, costStops: CostStops, timeZone: TimeZone, dependencyTimeoutMilliseconds: Int,
        metrics: Metrics
    ) {
        self.templates = templates
        self.ruleEngine = ruleEngine
        self.answers = answers
        self.risk = risk
        self.counters = counters
        self.writer = writer
        self.costStops = costStops
        self.timeZone = timeZone
        self.dependencyTimeoutMilliseconds = dependencyTimeoutMilliseconds
        self.metrics = metrics
        profiles = BatchedStages.batcher("profiles", metrics) { userIds in try await wallets.profiles(userIds) }
        ruleChecks = BatchedStages.batcher("claim_check", metrics) { checks in
            try await ruleEngine.call(ClaimCheckBatchRequest(checks: checks), timeoutMilliseconds: dependencyTimeoutMilliseconds).results
        }
    }

    /// The batched stages this service owns, in the order a claim passes them.
    var stages: [any LifecycleService] { [profiles, ruleChecks] }

    /// `experimentId`: the claim came through that experiment (ExperimentService), which resolved
    /// the template from the user's arm. The request id's fingerprint then names the experiment, not
    /// the template, which a rollout changes: a retry must match its first try.
    func claim(_ request: ClaimRequest, throughExperiment experimentId: String? = nil) async throws -> ClaimResponse {
        try Self.validateClaimant(userId: request.userId, templateId: request.templateId, deviceId: request.deviceId, ip: request.ip)
        try TemplateRules.identifier(request.channel, field: "channel")
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let target = experimentId.map { "experiment:" + $0 } ?? request.templateId
        let fingerprint = RequestFingerprint(["claim", request.userId, target, request.channel, request.deviceId ?? "", request.ip ?? ""])
        return try await issue(
            .claim, userId: request.userId, templateId: request.templateId, channel: request.channel, deviceId: request.deviceId,
            ip: request.ip, requestId: request.requestId, fingerprint: fingerprint)
    }

    /// The channel of an exchange: points are spent through the loyalty programme, whatever
    /// front-end the user came through.
    static let exchangeChannel = "POINTS"

    func exchange(_ request: ExchangeRequest) async throws -> ClaimResponse {
        try Self.validateClaimant(userId: request.userId, templateId: request.templateId, deviceId: request.deviceId, ip: request.ip)
        try TemplateRules.identifier(request.requestId, field: "requestId")
        let fingerprint = RequestFingerprint(["exchange", request.userId, request.templateId])
        return try await issue(
            .exchange, userId: request.userId, templateId: request.templateId, channel: Self.exchangeChannel, deviceId: request.deviceId,
            ip: request.ip, requestId: request.requestId, fingerprint: fingerprint)
    }

    /// Whether a claim could take one template now, as far as can be known without claiming it.
    struct Eligibility: Sendable {
        var templateId: String
        /// Absent when the template does not exist.
        var view: TemplateView?
        /// The rule-engine's answer (face value for the user's tier, expiry, budget cost), or the
        /// refusal a claim would meet.
        var outcome: Result<ClaimCheckResponse, ServiceError>
    }

    /// What a claim of each template by `userId` on `channel` would meet now, judged by the claim's
    /// own stages, for every template in one pass (recommendations rank only what passes):
    /// 3. the template (`forClaim`; EXCHANGE is never claimed) and its cost stop; 5. the profile's
    /// segments; 6. the rules, in one rule-engine `claim_check_batch` for all the templates; 7. the
    /// counted limits (`ClaimLimits`) on PostgreSQL's counters, the ones the Redis fast path is
    /// rebuilt from. Risk (4) is not asked: its verdict depends on the claim's own device, address
    /// and moment, and a REVIEW or DENY then is the claim's answer to give.
    func eligibility(userId: String, templateIds: [String], channel: String) async throws -> [Eligibility] {
        let now = unixMilliseconds()
        // In `templateIds` order: each slot is filled by the first stage that decides it.
        var results: [Eligibility?] = []
        var checked: [(index: Int, view: TemplateView)] = []
        for templateId in templateIds {
            let view: TemplateView
            do {
                view = try await templates.forClaim(templateId)
            } catch let refusal as ServiceError where refusal.code == .templateNotFound {
                results.append(Eligibility(templateId: templateId, view: nil, outcome: .failure(refusal)))
                continue
            }
            if view.spec.type == .exchange {
                let refusal = ServiceError(.notExchangeable, "template \(templateId) is bought with points: use /api/coupon/exchange")
                results.append(Eligibility(templateId: templateId, view: view, outcome: .failure(refusal)))
            } else if costStops.refusesClaims(templateId) {
                let refusal = ServiceError(.costCeiling, "template \(templateId) stops issuing while the cost ratio is above its ceiling")
                results.append(Eligibility(templateId: templateId, view: view, outcome: .failure(refusal)))
            } else {
                checked.append((results.count, view))
                results.append(nil)
            }
        }
        guard !checked.isEmpty else { return results.compactMap { $0 } }
        let segments = checked.contains { ClaimRules.needsSegments($0.view.spec) } ? try await profiles.submit(userId).segments : []
        let requests = checked.map {
            ClaimCheckRequest(
                spec: $0.view.spec, status: $0.view.status, channel: channel, userSegments: ClaimRules.needsSegments($0.view.spec) ? segments : [],
                nowMilliseconds: now)
        }
        let answers = try await ruleEngine.call(ClaimCheckBatchRequest(checks: requests), timeoutMilliseconds: dependencyTimeoutMilliseconds)
            .results
        guard answers.count == requests.count else {
            throw ServiceError(.dependencyUnavailable, "rule-engine answered \(answers.count) checks for \(requests.count)")
        }
        let counts = try await counters.store.claimCounts(
            checked.map(\.view.templateId), userId: userId, day: Timestamp.day(now, in: timeZone))
        // One answer per check (the guard above), so every slot left open is filled here.
        for ((index, view), answer) in zip(checked, answers) {
            let outcome: Result<ClaimCheckResponse, ServiceError>
            if let refusal = answer.refusal {
                outcome = .failure(refusal)
            } else if let code = ClaimLimits.refusal(
                view.spec, counts: counts[view.templateId] ?? ClaimLimits.Counts(issued: 0, issuedToday: 0, issuedToUser: 0, budgetSpentCents: 0),
                costCents: answer.budgetCostCents)
            {
                outcome = .failure(Self.refusal(code, templateId: view.templateId))
            } else {
                outcome = .success(answer)
            }
            results[index] = Eligibility(templateId: view.templateId, view: view, outcome: outcome)
        }
        return results.compactMap { $0 }
    }

    static func validateClaimant(userId: String, templateId: String, deviceId: String?, ip: String?) throws(ServiceError) {
        try TemplateRules.identifier(userId, field: "userId")
        try TemplateRules.identifier(templateId, field: "templateId")
        if let deviceId { try TemplateRules.identifier(deviceId, field: "deviceId") }
        if let ip { try TemplateRules.identifier(ip, field: "ip") }
    }

    private func issue(
        _ operation: IdempotentOperation, userId: String, templateId: String, channel: String, deviceId: String?, ip: String?,
        requestId: String?, fingerprint: RequestFingerprint
    ) async throws -> ClaimResponse {
        if let answer = try await answers.previous(operation, requestId: requestId, fingerprint: fingerprint, as: ClaimResponse.self) {
            return answer
        }
        let view = try await templates.forClaim(templateId)
        if operation == .exchange && view.spec.type != .exchange {
            throw ServiceError(.notExchangeable, "template \(templateId) is \(view.spec.type.rawValue), not EXCHANGE")
        }
        if operation == .claim && view.spec.type == .exchange {
            throw ServiceError(.notExchangeable, "template \(templateId) is bought with points: use /api/coupon/exchange")
        }
        if costStops.refusesClaims(templateId) {
            throw ServiceError(.costCeiling, "template \(templateId) stops issuing while the cost ratio is above its ceiling")
        }
        let now = unixMilliseconds()
        async let riskAnswer: Void = risk.check(
            RiskDecisionRequest(
                action: operation == .exchange ? .exchange : .claim, userId: userId, deviceId: deviceId, ip: ip, templateId: templateId,
                couponType: view.spec.type, amountCents: view.spec.discountCents))
        let segments = ClaimRules.needsSegments(view.spec) ? try await profiles.submit(userId).segments : []
        let check = try await ruleChecks.submit(
            ClaimCheckRequest(spec: view.spec, status: view.status, channel: channel, userSegments: segments, nowMilliseconds: now))
        try await riskAnswer
        if let refusal = check.refusal { throw refusal }

        let response = ClaimResponse(
            couponId: RandomIdentifier.timeOrdered(prefix: "C", nowMilliseconds: now), templateId: templateId,
            expiresMilliseconds: check.expiresMilliseconds, thresholdCents: check.thresholdCents, discountCents: check.discountCents)
        let record = ClaimRecord(
            couponId: response.couponId, userId: userId, templateId: templateId, channel: channel, day: Timestamp.day(now, in: timeZone),
            type: view.spec.type, thresholdCents: check.thresholdCents, discountCents: check.discountCents,
            rateBasisPoints: view.spec.rateBasisPoints, maxDiscountCents: view.spec.maxDiscountCents, segment: check.segment,
            budgetCostCents: check.budgetCostCents, claimedMilliseconds: now, expiresMilliseconds: check.expiresMilliseconds,
            pointsCost: Int64(view.spec.pointsCost), requestId: requestId, operation: operation, fingerprint: fingerprint,
            response: response.storedForm)
        do {
            return try await reserveAndWrite(record, response: response, spec: view.spec)
        } catch let refusal as ServiceError where requestId != nil && Self.limitCodes.contains(refusal.code) {
            // A retry that raced its first attempt (both passed the check above) finds the limits
            // taken by that attempt: it still gets the first answer.
            if let answer = try await answers.previous(operation, requestId: requestId, fingerprint: fingerprint, as: ClaimResponse.self) {
                return answer
            }
            throw refusal
        }
    }

    /// Refusals a retry can meet because its own first attempt succeeded meanwhile.
    static let limitCodes: Set<ErrorCode> = [.soldOut, .perUserLimitReached, .dailyLimitReached, .budgetExhausted, .rateLimited, .insufficientPoints]

    /// Reserve in Redis under the user's claim lock (one user's claims on one template go one at a
    /// time; the lock expires by itself if we die), write in PostgreSQL, then free the lock, giving
    /// the reservation back if PostgreSQL said no.
    private func reserveAndWrite(_ record: ClaimRecord, response: ClaimResponse, spec: TemplateSpec) async throws -> ClaimResponse {
        let (templateId, userId, day, cost) = (record.templateId, record.userId, record.day, record.budgetCostCents)
        let token = RandomIdentifier.make(prefix: "L", bytes: 12)
        let reservation: StockCounters.Reservation
        do {
            reservation = try await counters.reserve(
                templateId: templateId, spec: spec, day: day, userId: userId, cost: cost, token: token, lockTTL: .seconds(5),
                lockWait: .milliseconds(max(50, dependencyTimeoutMilliseconds * 4)))
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError(.dependencyUnavailable, "Redis is unavailable")
        }
        let generation: String
        switch reservation {
        case .reserved(let reserved): generation = reserved
        case .refused(let code): throw Self.refusal(code, templateId: templateId)
        case .busy: throw ServiceError(.rateLimited, "another claim by \(userId) on \(templateId) is in progress")
        }
        func giveBack() async {
            await counters.release(
                templateId: templateId, day: day, userId: userId, token: token, giveBack: generation, cost: cost,
                hasDailyLimit: spec.dailyLimit != nil)
        }
        let outcome: ClaimOutcome
        do {
            outcome = try await writer.write(record)
        } catch {
            await giveBack()
            throw error
        }
        switch outcome {
        case .issued(let pointsLeft):
            // The coupon is written: answer now; the lock is freed off the reply's path.
            counters.unlockLater(templateId: templateId, day: day, userId: userId, token: token)
            var answer = response
            answer.pointsLeft = pointsLeft
            metrics.increment("coupons_issued_total", [("operation", record.operation.rawValue)])
            return answer
        case .refused(let code):
            if code != .insufficientPoints { await counters.forget(templateId: templateId, day: day, userId: userId, because: code) }
            await giveBack()
            throw Self.refusal(code, templateId: templateId)
        case .duplicateRequest:
            await giveBack()
            guard
                let answer = try await answers.previous(
                    record.operation, requestId: record.requestId, fingerprint: record.fingerprint, as: ClaimResponse.self)
            else { throw ServiceError(.internalError, "request id collided but no answer is stored") }
            return answer
        }
    }

    static func refusal(_ code: ErrorCode, templateId: String) -> ServiceError {
        switch code {
        case .soldOut: ServiceError(code, "template \(templateId) has no stock left")
        case .perUserLimitReached: ServiceError(code, "the user already holds the most coupons of \(templateId) allowed")
        case .dailyLimitReached: ServiceError(code, "today's limit for \(templateId) is reached")
        case .budgetExhausted: ServiceError(code, "the budget of \(templateId) is spent")
        case .templatePaused: ServiceError(code, "template \(templateId) is paused")
        case .templateNotFound: ServiceError(code, "no template \(templateId)")
        case .insufficientPoints: ServiceError(code, "not enough points for \(templateId)")
        default: ServiceError(code, "claim refused")
        }
    }
}
