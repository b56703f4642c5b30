import CouponClient
import Domain
import Postgres
import ServiceKit
import Wire

/// Redemption at checkout. PostgreSQL holds the line: a coupon moves UNUSED → USED only by a
/// conditional update that one order can win, and back only by the order that used it (`Refunds`).
///
/// What a redemption goes through, in order (each stage batched with the redemptions arriving
/// meanwhile):
/// 1. **Validation** of every field and of the order (`OrderValidation`).
/// 2. **Stored answer** (`StoredAnswers`): a request id seen before gets its first answer.
/// 3. **The coupon** (`CouponReads`): someone else's looks exactly like a missing one; a coupon the
///    same order already used answers as that use did (idempotent on order and coupon).
/// 4. **Quote** from rule-engine (`discount_quote_batch`) and **risk** (`RiskGate`), at once.
/// 5. **PostgreSQL write** (`RedemptionWriter`, group commit through `redeem_coupons`); a coupon
///    another order won meanwhile is explained from its row as it is now.
/// Failures that look like someone trying coupon ids are reported to risk-control.
struct Redemptions: Sendable {
    let answers: StoredAnswers
    let risk: RiskGate
    let reads: CouponReads
    let writer: RedemptionWriter
    /// Redis's copy of the budget spent, lowered after a redemption gave budget back.
    let counters: StockCounters
    let metrics: Metrics
    private let couponReads: Batcher<String, CouponReads.HeldCoupon?>
    private let quotes: Batcher<DiscountQuoteRequest, DiscountQuote>

    init(
        database: PostgresPool, ruleEngine: ServiceClient, answers: StoredAnswers, risk: RiskGate, counters: StockCounters,
        dependencyTimeoutMilliseconds: Int, writers: Int, maxBatch: Int, logger: Logger, metrics: Metrics
    ) {
        self.answers = answers
        self.counters = counters
        self.risk = risk
        self.metrics = metrics
        reads = CouponReads(database: database)
        writer = RedemptionWriter(database: database, lanes: writers, maxBatch: maxBatch, logger: logger, metrics: metrics)
        couponReads = BatchedStages.batcher("coupon_read", metrics) { ids in try await CouponReads.couponTerms(ids, database: database) }
        quotes = BatchedStages.batcher("discount_quote", metrics) { quotes in
            try await ruleEngine.call(DiscountQuoteBatchRequest(quotes: quotes), timeoutMilliseconds: dependencyTimeoutMilliseconds).results
        }
    }

    /// The batched stages, in the order a redemption passes them.
    var stages: [any LifecycleService] { [couponReads, quotes, writer.batcher] }

    /// Outcomes that look like someone trying coupon ids: risk-control counts them per user and IP.
    static let probingCodes: Set<ErrorCode> = [.couponNotFound, .couponAlreadyUsed, .couponExpired, .notOwner]

    func use(_ request: UseRequest) async throws -> UseResponse {
        try Self.validate(request)
        do {
            return try await redeem(request)
        } catch let error as ServiceError where Self.probingCodes.contains(error.code) {
            await risk.report(
                RiskReportRequest(action: .redeem, userId: request.userId, deviceId: request.deviceId, ip: request.ip, code: error.code))
            throw error
        }
    }

    private static func validate(_ request: UseRequest) throws(ServiceError) {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.couponId, field: "couponId")
        if let userId = request.userId { try TemplateRules.identifier(userId, field: "userId") }
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        if let deviceId = request.deviceId { try TemplateRules.identifier(deviceId, field: "deviceId") }
        if let ip = request.ip { try TemplateRules.identifier(ip, field: "ip") }
    }

    private func redeem(_ request: UseRequest) async throws -> UseResponse {
        let order = try OrderValidation.order(amountCents: request.amountCents, items: request.items)
        let fingerprint = RequestFingerprint(
            [request.orderId, request.couponId, String(request.amountCents), request.userId ?? ""]
                + request.items.flatMap { [$0.sku, $0.category, $0.shopId, String($0.amountCents)] })
        if let answer = try await answers.previous(.use, requestId: request.requestId, fingerprint: fingerprint, as: UseResponse.self) {
            return answer
        }

        guard let coupon = try await couponReads.submit(request.couponId), request.userId == nil || request.userId == coupon.userId else {
            // Someone else's coupon looks exactly like a missing one.
            throw ServiceError(.couponNotFound, "no coupon \(request.couponId)")
        }
        if coupon.terms.status == .used {
            if let earlier = coupon.use(by: request.orderId) { return earlier }
            throw ServiceError(.couponAlreadyUsed, "coupon \(request.couponId) is used by another order")
        }
        let now = unixMilliseconds()
        async let quoteCall = quotes.submit(DiscountQuoteRequest(coupon: coupon.terms, order: order, nowMilliseconds: now))
        async let riskCall: Void = risk.check(
            RiskDecisionRequest(
                action: .redeem, userId: request.userId ?? coupon.userId, deviceId: request.deviceId, ip: request.ip,
                templateId: coupon.templateId, couponType: coupon.terms.type, amountCents: request.amountCents))
        let quote = try await quoteCall
        try await riskCall
        if let refusal = quote.refusal { throw refusal }

        let response = UseResponse(
            orderId: request.orderId, couponId: request.couponId, discountCents: quote.discountCents, payableCents: quote.payableCents)
        // Redis's budget counter is lowered after the commit only if it was not rebuilt meanwhile
        // (a rebuild reads PostgreSQL, which has the give-back already): the generation before.
        let generation =
            coupon.terms.mayGiveBackBudget(appliedCents: quote.discountCents) ? await counters.generation(coupon.templateId) : nil
        let used: Bool
        do {
            let outcome = try await writer.write(
                RedemptionWriter.UseWrite(
                    couponId: request.couponId, orderId: request.orderId, amountCents: request.amountCents, appliedCents: quote.discountCents,
                    requestId: request.requestId, fingerprint: fingerprint, response: response.storedForm))
            used = outcome.used
            if outcome.budgetBackCents > 0, let generation {
                await counters.adjustSpent(templateId: coupon.templateId, byCents: -outcome.budgetBackCents, generation: generation)
            }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // The same request id was written meanwhile (a retry racing its first attempt): answer
            // as that first attempt was answered, or refuse a different request.
            guard let answer = try await answers.previous(.use, requestId: request.requestId, fingerprint: fingerprint, as: UseResponse.self)
            else { throw ServiceError(.internalError, "request id collided but no answer is stored") }
            return answer
        }
        if used {
            metrics.increment("coupons_used_total")
            return response
        }
        // Someone else won the race, or time ran out: say which, from the row as it is now.
        guard let now = try await reads.couponTerms(request.couponId) else { throw ServiceError(.couponNotFound, "no coupon \(request.couponId)") }
        if let earlier = now.use(by: request.orderId) { return earlier }
        switch now.terms.status {
        case .used: throw ServiceError(.couponAlreadyUsed, "coupon \(request.couponId) is used by another order")
        case .revoked: throw ServiceError(.couponRevoked, "coupon \(request.couponId) was revoked")
        default: throw ServiceError(.couponExpired, "coupon \(request.couponId) has expired")
        }
    }
}

extension CouponTerms {
    /// Whether redeeming this coupon for `appliedCents` can give budget back (migration 0010): its
    /// reserve (face value, or a rate coupon's cap) is more than the discount.
    func mayGiveBackBudget(appliedCents: Int64) -> Bool {
        let reserve = type == .cash || type == .exchange ? discountCents : maxDiscountCents ?? 0
        return reserve > appliedCents
    }
}

extension CouponReads.HeldCoupon {
    /// The answer `orderId`'s use of this coupon got, when that order is the one using it now.
    func use(by orderId: String) -> UseResponse? {
        guard terms.status == .used, self.orderId == orderId, let applied = appliedCents, let amount = orderAmountCents else { return nil }
        return UseResponse(orderId: orderId, couponId: terms.couponId, discountCents: applied, payableCents: amount - applied)
    }
}
