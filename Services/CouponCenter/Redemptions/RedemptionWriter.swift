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

    let batcher: Batcher<UseWrite, Bool>

    init(database: PostgresPool, lanes: Int, maxBatch: Int, logger: Logger, metrics: Metrics) {
        batcher = Batcher(name: "use_write", lanes: lanes, maxBatch: maxBatch, metrics: metrics) { uses in
            await ItemIsolation.write(uses, what: "redemption", logger: logger) { batch in try await Self.commit(batch, database: database) }
        }
    }

    /// Whether the coupon was used by this write (false: another order, revocation or expiry won).
    func write(_ use: UseWrite) async throws -> Bool { try await batcher.submit(use) }

    /// How long a batch whose outcome is unknown waits for a primary to answer the question.
    static let resolvePatience = Duration.seconds(30)

    /// `redeem_coupons`; when the connection dies under it, the outcome is found out by reading:
    /// running it again would find the coupons used (by this very batch) and answer "not used".
    private static func commit(_ uses: [UseWrite], database: PostgresPool) async throws -> [Bool] {
        do {
            return try await redeem(uses, database: database)
        } catch let error as PostgresError where error.code == .connectionFailed {
            return try await resolveUnknownOutcome(uses, database: database)
        }
    }

    /// Each coupon's row, read on a connection to the primary (after a failover, the new one),
    /// says what happened: used by this use's order (done), still unused (not applied: only these
    /// are written again), or used elsewhere, revoked, expired (this use lost). A write that dies
    /// again is read again.
    private static func resolveUnknownOutcome(_ uses: [UseWrite], database: PostgresPool) async throws -> [Bool] {
        try await database.untilReachable(patience: resolvePatience) {
            let ids = JSONValue.array(uses.map { .string($0.couponId) }).serialized()
            let rows = try await database.query(
                "SELECT id, status, order_id FROM user_coupon WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))", [ids])
            var states: [String: (status: String, orderId: String?)] = [:]
            for row in rows { states[try row.decode(0)] = (try row.decode(1), try row.decode(2)) }
            var used = uses.map { use in states[use.couponId].map { $0.status == "USED" && $0.orderId == use.orderId } ?? false }
            let unapplied = uses.indices.filter { states[uses[$0].couponId]?.status == "UNUSED" }
            if !unapplied.isEmpty {
                let retried = try await redeem(unapplied.map { uses[$0] }, database: database)
                for (index, result) in zip(unapplied, retried) { used[index] = result }
            }
            return used
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
}
