import CouponClient
import Domain
import Foundation
import Postgres
import Redis
import ServiceKit
import Wire

/// Redemption, refund and best combination. PostgreSQL holds the line: a coupon moves UNUSED → USED
/// only by a conditional update that one order can win, and back only by the order that used it.
struct Redemptions: Sendable {
    let database: PostgresPool
    let ruleEngine: ServiceClient
    let riskControl: CouponService
    let dependencyTimeoutMilliseconds: Int
    let metrics: Metrics
    /// Concurrent redemptions share their coupon reads, their quotes from rule-engine and their
    /// write transaction (group commit), as claims do.
    private let couponReads: Batcher<String, HeldCoupon?>
    private let quotes: Batcher<DiscountQuoteRequest, DiscountQuote>
    private let writes: Batcher<UseWrite, Bool>

    init(
        database: PostgresPool, ruleEngine: ServiceClient, riskControl: CouponService, dependencyTimeoutMilliseconds: Int, writers: Int,
        maxBatch: Int, metrics: Metrics
    ) {
        self.database = database
        self.ruleEngine = ruleEngine
        self.riskControl = riskControl
        self.dependencyTimeoutMilliseconds = dependencyTimeoutMilliseconds
        self.metrics = metrics
        couponReads = RemoteStages.batcher("coupon_read", metrics) { ids in try await Self.couponTerms(ids, database: database) }
        quotes = RemoteStages.batcher("discount_quote", metrics) { quotes in
            try await ruleEngine.call(DiscountQuoteBatchRequest(quotes: quotes), timeoutMilliseconds: dependencyTimeoutMilliseconds).results
        }
        writes = Batcher(name: "use_write", lanes: writers, maxBatch: maxBatch, metrics: metrics) { uses in
            await Self.write(uses, database: database)
        }
    }

    /// Closes the batched stages and waits for what they hold (shutdown).
    func drain() async {
        await couponReads.shutdown()
        await quotes.shutdown()
        await writes.shutdown()
    }

    // MARK: Use

    /// Outcomes that look like someone trying coupon ids: risk-control counts them per user and IP.
    static let probingCodes: Set<ErrorCode> = [.couponNotFound, .couponAlreadyUsed, .couponExpired, .notOwner]

    func use(_ request: UseRequest) async throws -> UseResponse {
        do {
            return try await redeem(request)
        } catch let error as ServiceError where Self.probingCodes.contains(error.code) {
            await riskControl.reportRisk(
                RiskReportRequest(action: .redeem, userId: request.userId, deviceId: request.deviceId, ip: request.ip, code: error.code))
            throw error
        }
    }

    private func redeem(_ request: UseRequest) async throws -> UseResponse {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.couponId, field: "couponId")
        if let userId = request.userId { try TemplateRules.identifier(userId, field: "userId") }
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let order = try Self.order(amountCents: request.amountCents, items: request.items)
        let payload = CouponService.canonicalPayload(
            [request.orderId, request.couponId, String(request.amountCents), request.userId ?? ""]
                + request.items.flatMap { [$0.sku, $0.category, $0.shopId, String($0.amountCents)] })
        if let requestId = request.requestId, let stored = try await storedUse(requestId: requestId) {
            guard stored.payload == payload else {
                throw ServiceError(.idempotencyKeyReused, "requestId \(requestId) was used before with a different request")
            }
            return stored.response
        }

        guard let coupon = try await couponReads.submit(request.couponId), request.userId == nil || request.userId == coupon.userId else {
            // Someone else's coupon looks exactly like a missing one.
            throw ServiceError(.couponNotFound, "no coupon \(request.couponId)")
        }
        if coupon.terms.status == .used {
            if coupon.orderId == request.orderId, let applied = coupon.appliedCents, let amount = coupon.orderAmountCents {
                return UseResponse(orderId: request.orderId, couponId: request.couponId, discountCents: applied, payableCents: amount - applied)
            }
            throw ServiceError(.couponAlreadyUsed, "coupon \(request.couponId) is used by another order")
        }
        let now = unixMilliseconds()
        async let quoteCall = quotes.submit(DiscountQuoteRequest(coupon: coupon.terms, order: order, nowMilliseconds: now))
        async let riskCall: Void = riskControl.decideRisk(
            RiskDecisionRequest(
                action: .redeem, userId: request.userId ?? coupon.userId, deviceId: request.deviceId, ip: request.ip,
                templateId: coupon.templateId,
                couponType: coupon.terms.type, amountCents: request.amountCents))
        let quote = try await quoteCall
        try await riskCall
        if let refusal = quote.refusal { throw refusal }

        let response = UseResponse(
            orderId: request.orderId, couponId: request.couponId, discountCents: quote.discountCents, payableCents: quote.payableCents)
        let used: Bool
        do {
            used = try await writes.submit(
                UseWrite(
                    couponId: request.couponId, orderId: request.orderId, amountCents: request.amountCents, appliedCents: quote.discountCents,
                    requestId: request.requestId, payload: payload, response: Self.storedJSON(response)))
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // The same request id was written meanwhile (a retry racing its first attempt): answer
            // as that first attempt was answered, or refuse a different payload.
            guard let requestId = request.requestId, let stored = try await storedUse(requestId: requestId) else { throw error }
            guard stored.payload == payload else {
                throw ServiceError(.idempotencyKeyReused, "requestId \(requestId) was used before with a different request")
            }
            return stored.response
        }
        let outcome: UseOutcome = used ? .used : .lost
        switch outcome {
        case .used:
            metrics.increment("coupons_used_total")
            return response
        case .lost:
            // Someone else won the race, or time ran out: say which, from the row as it is now.
            guard let now = try await couponTerms(request.couponId) else { throw ServiceError(.couponNotFound, "no coupon \(request.couponId)") }
            if now.terms.status == .used, now.orderId == request.orderId, let applied = now.appliedCents, let amount = now.orderAmountCents {
                return UseResponse(orderId: request.orderId, couponId: request.couponId, discountCents: applied, payableCents: amount - applied)
            }
            switch now.terms.status {
            case .used: throw ServiceError(.couponAlreadyUsed, "coupon \(request.couponId) is used by another order")
            case .revoked: throw ServiceError(.couponRevoked, "coupon \(request.couponId) was revoked")
            default: throw ServiceError(.couponExpired, "coupon \(request.couponId) has expired")
            }
        }
    }

    private enum UseOutcome: Sendable { case used, lost }

    /// One redemption ready to be written: the element of `redeem_coupons` (migration 5).
    struct UseWrite: Sendable {
        var couponId: String
        var orderId: String
        var amountCents: Int64
        var appliedCents: Int64
        var requestId: String?
        var payload: String
        var response: JSONValue

        func json(index: Int) -> JSONValue {
            .object([
                ("idx", .integer(index)), ("couponId", .string(couponId)), ("orderId", .string(orderId)), ("amount", .integer(amountCents)),
                ("applied", .integer(appliedCents)), ("requestId", requestId.map { .string($0) } ?? .null), ("payload", .string(payload)),
                ("response", response),
            ])
        }
    }

    /// One transaction for the whole batch; whether each coupon was used. When a constraint fails
    /// the batch (a request id another process stored meanwhile), each redemption is written alone.
    private static func write(_ uses: [UseWrite], database: PostgresPool) async -> [Result<Bool, any Error>] {
        do {
            return try await redeem(uses, database: database).map { .success($0) }
        } catch let error as PostgresError where [.uniqueViolation, .checkViolation, .foreignKeyViolation].contains(error.code) && uses.count > 1 {
            var results: [Result<Bool, any Error>] = []
            for use in uses {
                do {
                    results.append(.success(try await redeem([use], database: database)[0]))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        } catch {
            return uses.map { _ in .failure(error) }
        }
    }

    /// `redeem_coupons` as one statement that PostgreSQL commits as it ends, so the coupon rows it
    /// locks are free again without a round trip back to this process.
    private static func redeem(_ uses: [UseWrite], database: PostgresPool) async throws -> [Bool] {
        let batch = JSONValue.array(uses.enumerated().map { index, use in use.json(index: index) }).serialized()
        let rows = try await database.autocommitQuery("SELECT idx, used FROM redeem_coupons($1::jsonb)", [batch])
        var used = Array(repeating: false, count: uses.count)
        for row in rows {
            let index: Int = try row.decode(0)
            if used.indices.contains(index) { used[index] = try row.decode(1) }
        }
        return used
    }

    static func order(amountCents: Int64, items: [OrderItem]) throws(ServiceError) -> OrderSummary {
        guard amountCents >= 0, amountCents <= Money.maximum.cents else { throw ServiceError(.invalidMoney, "amount: out of range") }
        guard items.count <= 500 else { throw ServiceError(.invalidArgument, "items: at most 500") }
        var total: Int64 = 0
        for (index, item) in items.enumerated() {
            try TemplateRules.identifier(item.sku, field: "items[\(index)].sku")
            try TemplateRules.identifier(item.category, field: "items[\(index)].category")
            try TemplateRules.identifier(item.shopId, field: "items[\(index)].shopId")
            guard item.amountCents >= 0, item.amountCents <= Money.maximum.cents else {
                throw ServiceError(.invalidMoney, "items[\(index)].amount: out of range")
            }
            total += item.amountCents
        }
        if !items.isEmpty && total != amountCents {
            throw ServiceError(
                .invalidArgument, "items: they add up to \(Money(cents: total).yuanText), the amount is \(Money(cents: amountCents).yuanText)")
        }
        return OrderSummary(amountCents: amountCents, items: items)
    }

    private struct StoredUse {
        var payload: String
        var response: UseResponse
    }

    private func storedUse(requestId: String) async throws -> StoredUse? {
        guard let stored = try await riskControl.stages.storedAnswers.submit(CouponStore.AnswerKey(operation: "use", requestId: requestId))
        else { return nil }
        let value = try JSONParser.parse(Array(stored.response.utf8))
        guard case .string(let orderId)? = value["orderId"], case .string(let couponId)? = value["couponId"],
            case .number(let discount)? = value["discount"], let discountCents = Int64(discount),
            case .number(let payable)? = value["payable"], let payableCents = Int64(payable)
        else { throw ServiceError(.internalError, "stored answer is unreadable") }
        return StoredUse(
            payload: stored.payload,
            response: UseResponse(orderId: orderId, couponId: couponId, discountCents: discountCents, payableCents: payableCents))
    }

    static func storedJSON(_ response: UseResponse) -> JSONValue {
        .object([
            ("orderId", .string(response.orderId)), ("couponId", .string(response.couponId)),
            ("discount", .integer(response.discountCents)), ("payable", .integer(response.payableCents)),
        ])
    }

    // MARK: Refund

    func refund(_ request: RefundRequest) async throws -> RefundResponse {
        try TemplateRules.identifier(request.orderId, field: "orderId")
        try TemplateRules.identifier(request.couponId, field: "couponId")
        let refunded = try await database.autocommitQuery("SELECT refund_coupon($1, $2)", [request.couponId, request.orderId])
        let status = try refunded.first?.decode(0, as: String?.self).flatMap(CouponStatus.init(rawValue:))
        if let status {
            metrics.increment("coupons_refunded_total")
            return RefundResponse(couponId: request.couponId, status: status)
        }
        // Not used by that order now. A retry of a refund that went through answers the same; anything
        // else is a refund that does not match.
        let rows = try await database.query(
            """
            SELECT c.status, (SELECT l.event FROM coupon_ledger l WHERE l.coupon_id = c.id AND l.order_id = $2 ORDER BY l.id DESC LIMIT 1)
              FROM user_coupon c WHERE c.id = $1
            """, [request.couponId, request.orderId])
        guard let row = rows.first else { throw ServiceError(.couponNotFound, "no coupon \(request.couponId)") }
        let current = CouponStatus(rawValue: try row.decode(0, as: String.self)) ?? .unused
        if try row.decode(1, as: String?.self) == "REFUNDED" {
            return RefundResponse(couponId: request.couponId, status: current)
        }
        throw ServiceError(.refundNotMatching, "order \(request.orderId) did not use coupon \(request.couponId)")
    }

    // MARK: Best combination

    func best(_ request: BestRequest) async throws -> BestCombination {
        try TemplateRules.identifier(request.userId, field: "userId")
        let order = try Self.order(amountCents: request.amountCents, items: request.items)
        let rows = try await database.query(
            """
            SELECT \(Self.termsColumns) FROM user_coupon c JOIN coupon_template t ON t.id = c.template_id
             WHERE c.user_id = $1 AND c.status = 'UNUSED' AND c.expires_at > now()
             ORDER BY c.expires_at, c.id LIMIT 200
            """, [request.userId])
        let coupons = try rows.map { try Self.held($0).terms }
        return try await ruleEngine.call(
            BestCombinationRequest(coupons: coupons, order: order, nowMilliseconds: unixMilliseconds()),
            timeoutMilliseconds: dependencyTimeoutMilliseconds)
    }

    // MARK: Reading coupons

    struct HeldCoupon: Sendable {
        var terms: CouponTerms
        var userId: String
        var templateId: String
        var orderId: String?
        var appliedCents: Int64?
        var orderAmountCents: Int64?
    }

    static let termsColumns = """
        c.id, c.type, c.status, c.threshold_cents, c.discount_cents, c.rate_bp, c.max_discount_cents, t.level, t.shop_id,
        array_to_json(t.categories)::text AS categories, t.stacking, t.threshold_on_discounted,
        (extract(epoch FROM c.expires_at) * 1000)::bigint AS expires_ms, c.user_id, c.template_id, c.order_id, c.applied_cents,
        c.order_amount_cents
        """

    func couponTerms(_ couponId: String) async throws -> HeldCoupon? {
        try await Self.couponTerms([couponId], database: database)[0]
    }

    /// Several coupons in one query, in the order asked (nil: no such coupon).
    static func couponTerms(_ couponIds: [String], database: PostgresPool) async throws -> [HeldCoupon?] {
        let rows = try await database.query(
            """
            SELECT \(Self.termsColumns) FROM user_coupon c JOIN coupon_template t ON t.id = c.template_id
             WHERE c.id IN (SELECT jsonb_array_elements_text($1::jsonb))
            """, [CouponStore.jsonArray(couponIds)])
        var found: [String: HeldCoupon] = [:]
        for row in rows {
            let coupon = try Self.held(row)
            found[coupon.terms.couponId] = coupon
        }
        return couponIds.map { found[$0] }
    }

    static func held(_ row: PostgresRow) throws -> HeldCoupon {
        let terms = CouponTerms(
            couponId: try row.decode("id"), type: CouponType(rawValue: try row.decode("type")) ?? .cash,
            status: CouponStatus(rawValue: try row.decode("status")) ?? .unused, thresholdCents: try row.decode("threshold_cents"),
            discountCents: try row.decode("discount_cents"), rateBasisPoints: try row.decode("rate_bp", as: Int32?.self),
            maxDiscountCents: try row.decode("max_discount_cents"), level: ScopeLevel(rawValue: try row.decode("level")) ?? .platform,
            shopId: try row.decode("shop_id"), categories: try CouponStore.stringArray(row, "categories"),
            stacking: StackingMode(rawValue: try row.decode("stacking")) ?? .stackable,
            thresholdOnDiscounted: try row.decode("threshold_on_discounted"), expiresMilliseconds: try row.decode("expires_ms"))
        return HeldCoupon(
            terms: terms, userId: try row.decode("user_id"), templateId: try row.decode("template_id"), orderId: try row.decode("order_id"),
            appliedCents: try row.decode("applied_cents"), orderAmountCents: try row.decode("order_amount_cents"))
    }
}

/// Marks coupons past their expiry EXPIRED, with ledger rows, in batches. Several coupon-center
/// processes run it; the Redis lock makes one of them the leader for each sweep. (Redemption does
/// not wait for it: it refuses an expired coupon by time.)
struct ExpiryJob: LifecycleService {
    let name = "expiry-job"
    let database: PostgresPool
    let locks: RedisLock
    let intervalSeconds: Int
    let logger: Logger
    let metrics: Metrics
    private let stop = StopSignal()

    init(database: PostgresPool, locks: RedisLock, intervalSeconds: Int, logger: Logger, metrics: Metrics) {
        self.database = database
        self.locks = locks
        self.intervalSeconds = intervalSeconds
        self.logger = logger
        self.metrics = metrics
    }

    func run() async throws {
        while await stop.sleep(for: .seconds(intervalSeconds)) {
            do {
                let expired = try await sweepOnce()
                if expired > 0 { logger.info("expired coupons", [("coupons.expired", String(expired))]) }
            } catch {
                logger.warning("expiry sweep failed", [("error", "\(error)")])
            }
        }
    }

    func shutdown() async { stop.fire() }

    /// One sweep if this process wins the leader lock; the number of coupons it expired.
    func sweepOnce(batch: Int = 1000) async throws -> Int {
        guard let lease = try await locks.tryAcquire(key: "lock:job:expiry", ttl: .seconds(60)) else { return 0 }
        var total = 0
        do {
            while true {
                let count = try await database.execute(
                    """
                    WITH expired AS (
                        UPDATE user_coupon SET status = 'EXPIRED'
                         WHERE id IN (SELECT id FROM user_coupon WHERE status = 'UNUSED' AND expires_at <= now()
                                       ORDER BY expires_at LIMIT $1::integer FOR UPDATE SKIP LOCKED)
                        RETURNING id, template_id, user_id)
                    INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status)
                    SELECT id, template_id, user_id, 'EXPIRED', 'UNUSED', 'EXPIRED' FROM expired
                    """, [batch])
                total += count
                guard count == batch else { break }
            }
        } catch {
            _ = try? await locks.release(lease)
            throw error
        }
        _ = try? await locks.release(lease)
        metrics.increment("coupons_expired_total", by: Int64(total))
        return total
    }
}
