import BatchInputs
import Postgres
import ServiceKit
import Wire

/// Group commit for redemptions: concurrent uses are written together by `redeem_coupons`
/// (migration 0006) in one statement, each answered after it commits. A batch refused for one
/// redemption's data is written again one by one (`ItemIsolation`).
struct RedemptionWriter: Sendable {
    /// One redemption ready to be written: the element of `redeem_coupons`.
    struct UseWrite: Sendable {
        var couponId: String
        var orderId: String
        var amountCents: Int64
        var appliedCents: Int64
        var requestId: String?
        var fingerprint: RequestFingerprint
        var response: JSONValue

        /// The element `redeem_coupons` reads as a `redeem_input` (migration 0006).
        func json(index: Int) -> JSONValue {
            .batchInput { (field: RedeemInputField) in
                switch field {
                case .idx: .integer(index)
                case .couponId: .string(couponId)
                case .orderId: .string(orderId)
                case .amount: .integer(amountCents)
                case .applied: .integer(appliedCents)
                case .requestId: requestId.map { .string($0) } ?? .null
                case .payload: .string(fingerprint.text)
                case .response: response
                }
            }
        }
    }

    /// What writing one use did: whether the coupon was used by it, and how much of the template's
    /// budget its redemption gave back in PostgreSQL (migration 0010: a rate coupon's unused reserve).
    struct UseOutcome: Sendable, Equatable {
        var used: Bool
        var budgetBackCents: Int64
    }

    let batcher: Batcher<UseWrite, UseOutcome>

    init(database: PostgresPool, lanes: Int, maxBatch: Int, logger: Logger, metrics: Metrics) {
        batcher = Batcher(name: "use_write", lanes: lanes, maxBatch: maxBatch, metrics: metrics) { uses in
            await ItemIsolation.write(uses, what: "redemption", logger: logger) { batch in
                try await Self.commit(batch, database: database, logger: logger)
            }
        }
    }

    /// Whether the coupon was used by this write (false: another order, revocation or expiry won).
    func write(_ use: UseWrite) async throws -> UseOutcome { try await batcher.submit(use) }

    /// How long a batch whose outcome is unknown keeps trying to read it, as for claims
    /// (`ClaimWriter.resolvePatience`); after that the uses answer an error and the client retries.
    static let resolvePatience = Duration.seconds(3)

    /// `redeem_coupons`; when the connection dies under it, the outcome is found out by reading:
    /// running it again would find the coupons used (by this very batch) and answer "not used".
    private static func commit(_ uses: [UseWrite], database: PostgresPool, logger: Logger) async throws -> [UseOutcome] {
        do {
            return try await redeem(uses, database: database)
        } catch let error as PostgresError where error.code == .connectionFailed && !error.failedBeforeSending {
            // (A connection that could not be opened sent nothing: that error answers at once.)
            logger.warning(
                "redemption batch outcome unknown; reading its coupons on the primary",
                [("batch.size", String(uses.count)), ("error", error.description)])
            // How much budget was given back is not known then: Redis keeps counting it (too much, never too little).
            return try await resolveUnknownOutcome(uses, database: database).map { UseOutcome(used: $0, budgetBackCents: 0) }
        }
    }

    /// Each coupon's row, read on a connection to the primary (after a failover, the new one).
    /// The batch is one statement, so it committed whole or not at all: a coupon of the batch still
    /// unused means it did not, and nothing is written again here (the client's retry with its
    /// request id may be doing that by now); the uses answer an error. Otherwise each use was
    /// applied when its coupon is used by its order, and lost (another order, revoked, expired)
    /// when not.
    private static func resolveUnknownOutcome(_ uses: [UseWrite], database: PostgresPool) async throws -> [Bool] {
        let ids = JSONValue.array(uses.map { .string($0.couponId) }).serialized()
        let rows = try await database.untilReachable(patience: resolvePatience) {
            try await database.query(
                "SELECT id, status, order_id FROM user_coupon WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))", [ids])
        }
        var states: [String: (status: String, orderId: String?)] = [:]
        for row in rows { states[try row.decode(0)] = (try row.decode(1), try row.decode(2)) }
        guard !uses.contains(where: { states[$0.couponId]?.status == "UNUSED" }) else {
            throw ServiceError(
                .dependencyUnavailable, "the redemption was not written (the connection to PostgreSQL broke); retry with the same request id")
        }
        return uses.map { use in states[use.couponId].map { $0.status == "USED" && $0.orderId == use.orderId } ?? false }
    }

    /// `redeem_coupons` as one statement that PostgreSQL commits as it ends, so the coupon rows it
    /// locks are free again without a round trip back to this process.
    private static func redeem(_ uses: [UseWrite], database: PostgresPool) async throws -> [UseOutcome] {
        let batch = JSONValue.array(uses.enumerated().map { index, use in use.json(index: index) }).serialized()
        let rows = try await database.autocommitQuery("SELECT idx, used, budget_back FROM redeem_coupons($1::jsonb)", [batch])
        var outcomes = Array(repeating: UseOutcome(used: false, budgetBackCents: 0), count: uses.count)
        for row in rows {
            let index: Int = try row.decode(0)
            if outcomes.indices.contains(index) {
                outcomes[index] = UseOutcome(used: try row.decode(1), budgetBackCents: try row.decode(2, as: Int64?.self) ?? 0)
            }
        }
        return outcomes
    }
}
