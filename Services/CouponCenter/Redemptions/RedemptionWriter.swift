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
            await ItemIsolation.write(uses, what: "redemption", logger: logger) { batch in try await Self.redeem(batch, database: database) }
        }
    }

    /// Whether the coupon was used by this write (false: another order, revocation or expiry won).
    func write(_ use: UseWrite) async throws -> Bool { try await batcher.submit(use) }

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
