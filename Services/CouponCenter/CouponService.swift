import CouponClient
import Domain
import Foundation
import Redis
import ServiceKit
import Wire

/// The operations of coupon-center, one method per message. The binary handlers and the HTTP
/// routes both call these, so the two APIs cannot drift apart.
struct CouponService: Sendable {
    let store: CouponStore
    let templates: TemplateCache
    let counters: StockCounters
    let writer: ClaimWriter
    let stages: RemoteStages
    let policy: RiskPolicy
    let dependencyTimeoutMilliseconds: Int
    let logger: Logger
    let metrics: Metrics

    // MARK: Templates

    func createTemplate(_ request: CreateTemplateRequest) async throws -> TemplateView {
        try TemplateRules.validate(request.spec)
        let view = try await store.createTemplate(request.spec)
        // Best effort: without it the first claim rebuilds the counters from PostgreSQL.
        do {
            try await counters.initialize(view)
        } catch {
            logger.warning("could not prime Redis counters", [("template.id", view.templateId), ("error", "\(error)")])
        }
        logger.info("template created", [("template.id", view.templateId), ("template.type", view.spec.type.rawValue)])
        return view
    }

    func template(_ id: String) async throws -> TemplateView {
        try TemplateRules.identifier(id, field: "templateId")
        guard let view = try await store.template(id) else { throw ServiceError(.templateNotFound, "no template \(id)") }
        return view
    }

    func setStatus(_ id: String, _ status: TemplateStatus) async throws -> TemplateView {
        try TemplateRules.identifier(id, field: "templateId")
        guard let view = try await store.setStatus(id, status) else { throw ServiceError(.templateNotFound, "no template \(id)") }
        templates.forget(id)
        logger.info("template \(status == .paused ? "paused" : "resumed")", [("template.id", id)])
        return view
    }

    func listTemplates(_ request: ListTemplatesRequest) async throws -> TemplateList {
        guard (1...1000).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 1000") }
        return TemplateList(templates: try await store.listTemplates(limit: Int(request.limit)))
    }

    // MARK: Claims

    func claim(_ request: ClaimRequest) async throws -> ClaimResponse {
        try validateClaimant(userId: request.userId, templateId: request.templateId, deviceId: request.deviceId, ip: request.ip)
        try TemplateRules.identifier(request.channel, field: "channel")
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let payload = Self.canonicalPayload(["claim", request.userId, request.templateId, request.channel, request.deviceId ?? "", request.ip ?? ""])
        return try await issue(
            operation: "claim", action: .claim, userId: request.userId, templateId: request.templateId, channel: request.channel,
            deviceId: request.deviceId, ip: request.ip, requestId: request.requestId, payload: payload)
    }

    func exchange(_ request: ExchangeRequest) async throws -> ClaimResponse {
        try validateClaimant(userId: request.userId, templateId: request.templateId, deviceId: request.deviceId, ip: request.ip)
        try TemplateRules.identifier(request.requestId, field: "requestId")
        let payload = Self.canonicalPayload(["exchange", request.userId, request.templateId])
        return try await issue(
            operation: "exchange", action: .exchange, userId: request.userId, templateId: request.templateId, channel: "POINTS",
            deviceId: request.deviceId, ip: request.ip, requestId: request.requestId, payload: payload)
    }

    /// A request's fields as one text, escaped so different field lists never give the same text:
    /// what a request id is compared against when it comes back.
    static func canonicalPayload(_ fields: [String]) -> String {
        var out: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "|")) }
            for byte in field.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "|") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func validateClaimant(userId: String, templateId: String, deviceId: String?, ip: String?) throws(ServiceError) {
        try TemplateRules.identifier(userId, field: "userId")
        try TemplateRules.identifier(templateId, field: "templateId")
        if let deviceId { try TemplateRules.identifier(deviceId, field: "deviceId") }
        if let ip { try TemplateRules.identifier(ip, field: "ip") }
    }

    /// Claim and exchange share one path: idempotency, risk, rules, Redis reservation under the
    /// user's lock, then the group-committed PostgreSQL write that decides.
    private func issue(
        operation: String, action: RiskAction, userId: String, templateId: String, channel: String, deviceId: String?, ip: String?,
        requestId: String?, payload: String
    ) async throws -> ClaimResponse {
        if let requestId, let answer = try await previousAnswer(operation: operation, requestId: requestId, payload: payload) {
            return answer
        }
        try TemplateRules.identifier(templateId, field: "templateId")
        guard let view = try await templates.template(templateId, load: { try await store.template(templateId) }) else {
            throw ServiceError(.templateNotFound, "no template \(templateId)")
        }
        if action == .exchange && view.spec.type != .exchange {
            throw ServiceError(.notExchangeable, "template \(templateId) is \(view.spec.type.rawValue), not EXCHANGE")
        }
        if action == .claim && view.spec.type == .exchange {
            throw ServiceError(.notExchangeable, "template \(templateId) is bought with points: use /api/coupon/exchange")
        }
        let now = unixMilliseconds()
        // Risk-control is asked while the profile is read and the rules are checked.
        async let riskAnswer = decideRisk(
            RiskDecisionRequest(
                action: action, userId: userId, deviceId: deviceId, ip: ip, templateId: templateId, couponType: view.spec.type,
                amountCents: view.spec.discountCents))
        // The profile is read only when the template's rules look at segments.
        let segments = ClaimRules.needsSegments(view.spec) ? try await stages.profiles.submit(userId).segments : []
        let check = try await stages.ruleChecks.submit(
            ClaimCheckRequest(spec: view.spec, status: view.status, channel: channel, userSegments: segments, nowMilliseconds: now))
        try await riskAnswer
        if let refusal = check.refusal { throw refusal }

        let day = Timestamp.day(now, in: store.timeZone)
        let record = ClaimRecord(
            couponId: RandomIdentifier.timeOrdered(prefix: "C", nowMilliseconds: now), userId: userId, templateId: templateId, channel: channel,
            day: day, type: view.spec.type, thresholdCents: check.thresholdCents, discountCents: check.discountCents,
            rateBasisPoints: view.spec.rateBasisPoints, maxDiscountCents: view.spec.maxDiscountCents, segment: check.segment,
            budgetCostCents: check.budgetCostCents, claimedMilliseconds: now, expiresMilliseconds: check.expiresMilliseconds, pointsCost: Int64(view.spec.pointsCost),
            requestId: requestId, operation: operation, payload: payload, response: .null)
        let response = ClaimResponse(
            couponId: record.couponId, templateId: templateId, expiresMilliseconds: record.expiresMilliseconds,
            thresholdCents: record.thresholdCents, discountCents: record.discountCents)
        var finalRecord = record
        finalRecord.response = Self.storedJSON(response)

        do {
            return try await reserveAndWrite(finalRecord, response: response, spec: view.spec, operation: operation, payload: payload)
        } catch let refusal as ServiceError where requestId != nil && Self.limitCodes.contains(refusal.code) {
            // A retry that raced its first attempt (both passed the check above) finds the limits
            // taken by that attempt: it still gets the first answer.
            if let requestId, let answer = try await previousAnswer(operation: operation, requestId: requestId, payload: payload) {
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
    private func reserveAndWrite(
        _ record: ClaimRecord, response: ClaimResponse, spec: TemplateSpec, operation: String, payload: String
    ) async throws -> ClaimResponse {
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
            throw ServiceError(.dependencyUnavailable, "Redis is unavailable: \(error)")
        }
        let generation: String
        switch reservation {
        case .reserved(let reserved): generation = reserved
        case .refused(let code): throw Self.refusal(code, templateId: templateId)
        case .busy: throw ServiceError(.rateLimited, "another claim by \(userId) on \(templateId) is in progress")
        }
        func unlock(givingBack: Bool) async {
            await counters.release(
                templateId: templateId, day: day, userId: userId, token: token, giveBack: givingBack ? generation : nil, cost: cost,
                hasDailyLimit: spec.dailyLimit != nil)
        }
        let outcome: ClaimOutcome
        do {
            outcome = try await writer.write(record)
        } catch {
            await unlock(givingBack: true)
            throw error
        }
        switch outcome {
        case .issued(let pointsLeft):
            // The coupon is written: answer now and free the lock on the side (it expires anyway).
            Task { await unlock(givingBack: false) }
            var answer = response
            answer.pointsLeft = pointsLeft
            metrics.increment("coupons_issued_total", [("operation", operation)])
            return answer
        case .refused(let code):
            if code != .insufficientPoints { await counters.forget(templateId: templateId, day: day, userId: userId, because: code) }
            await unlock(givingBack: true)
            throw Self.refusal(code, templateId: templateId)
        case .duplicateRequest:
            await unlock(givingBack: true)
            guard let requestId = record.requestId,
                let answer = try await previousAnswer(operation: operation, requestId: requestId, payload: payload)
            else { throw ServiceError(.internalError, "request id collided but no answer is stored") }
            return answer
        }
    }

    /// The first answer to a request id, or a 409 when the id came with another payload.
    private func previousAnswer(operation: String, requestId: String, payload: String) async throws -> ClaimResponse? {
        guard let stored = try await stages.storedAnswers.submit(CouponStore.AnswerKey(operation: operation, requestId: requestId)) else {
            return nil
        }
        guard stored.payload == payload else {
            throw ServiceError(.idempotencyKeyReused, "requestId \(requestId) was used before with a different request")
        }
        return try Self.claimResponse(fromStored: stored.response)
    }

    static func storedJSON(_ response: ClaimResponse) -> JSONValue {
        .object([
            ("couponId", .string(response.couponId)), ("templateId", .string(response.templateId)),
            ("expiresAt", .integer(response.expiresMilliseconds)), ("threshold", .integer(response.thresholdCents)),
            ("discount", .integer(response.discountCents)),
        ])
    }

    static func claimResponse(fromStored text: String) throws -> ClaimResponse {
        let value = try JSONParser.parse(Array(text.utf8))
        guard case .string(let couponId)? = value["couponId"], case .string(let templateId)? = value["templateId"],
            case .number(let expires)? = value["expiresAt"], let expiresMilliseconds = Int64(expires),
            case .number(let threshold)? = value["threshold"], let thresholdCents = Int64(threshold),
            case .number(let discount)? = value["discount"], let discountCents = Int64(discount)
        else { throw ServiceError(.internalError, "stored answer is unreadable") }
        var pointsLeft: Int64?
        if case .number(let points)? = value["pointsLeft"] { pointsLeft = Int64(points) }
        return ClaimResponse(
            couponId: couponId, templateId: templateId, expiresMilliseconds: expiresMilliseconds, thresholdCents: thresholdCents,
            discountCents: discountCents, pointsLeft: pointsLeft)
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

    /// Asks risk-control; DENY refuses, REVIEW and an unanswered call follow the policy.
    func decideRisk(_ request: RiskDecisionRequest) async throws {
        let decision: RiskDecision
        do {
            decision = try await stages.riskDecisions.submit(request)
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
    func reportRisk(_ report: RiskReportRequest) async {
        do {
            _ = try await stages.riskControl.call(report, timeoutMilliseconds: dependencyTimeoutMilliseconds)
        } catch {
            logger.debug("risk report not delivered", [("error", "\(error)")])
        }
    }

    // MARK: Exposures and stats

    func recordExposure(_ request: ExposureRequest) async throws -> ExposureAck {
        try TemplateRules.identifier(request.userId, field: "userId")
        try TemplateRules.identifier(request.templateId, field: "templateId")
        guard try await store.recordExposure(templateId: request.templateId, userId: request.userId) else {
            throw ServiceError(.templateNotFound, "no template \(request.templateId)")
        }
        return ExposureAck(recorded: true)
    }

    func stats(_ request: StatsRequest) async throws -> TemplateStats {
        try TemplateRules.identifier(request.templateId, field: "templateId")
        guard let stats = try await store.stats(request.templateId) else {
            throw ServiceError(.templateNotFound, "no template \(request.templateId)")
        }
        return stats
    }

    // MARK: Wallet, profiles, points

    func wallet(_ request: WalletRequest) async throws -> Wallet {
        try TemplateRules.identifier(request.userId, field: "userId")
        return Wallet(userId: request.userId, coupons: try await store.wallet(request.userId, status: request.status))
    }

    func setProfile(_ request: SetProfileRequest) async throws -> UserProfileView {
        try TemplateRules.identifier(request.userId, field: "userId")
        try TemplateRules.identifiers(request.tags, field: "tags")
        return try await store.setTags(request.userId, request.tags)
    }

    func grantPoints(_ request: GrantPointsRequest) async throws -> PointsBalance {
        try TemplateRules.identifier(request.userId, field: "userId")
        guard request.points > 0, request.points <= 1_000_000_000 else {
            throw ServiceError(.invalidArgument, "points: a whole number from 1 to 1000000000")
        }
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let payload = Self.canonicalPayload([request.userId, String(request.points)])
        switch try await store.grantPoints(request.userId, request.points, requestId: request.requestId, payload: payload) {
        case .granted(let balance):
            return PointsBalance(userId: request.userId, points: balance)
        case .seenBefore(let stored):
            guard stored.payload == payload else {
                throw ServiceError(.idempotencyKeyReused, "requestId \(request.requestId ?? "") was used before with a different request")
            }
            guard case .number(let points)? = try JSONParser.parse(Array(stored.response.utf8))["points"], let balance = Int64(points) else {
                throw ServiceError(.internalError, "stored answer is unreadable")
            }
            return PointsBalance(userId: request.userId, points: balance)
        }
    }
}

/// What coupon-center does when risk-control says REVIEW or does not answer (DESIGN: refuse FREE
/// coupons on review; fail closed for FREE and EXCHANGE, open and flagged for the rest).
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
