import BatchInputs
import Postgres
import ServiceKit
import Wire

/// One claim ready to be written: everything `claim_coupons` needs (migration 0006 defines the function).
struct ClaimRecord: Sendable {
    var couponId: String
    var userId: String
    var templateId: String
    var channel: String
    var day: String
    var type: CouponType
    var thresholdCents: Int64
    var discountCents: Int64
    var rateBasisPoints: Int32?
    var maxDiscountCents: Int64?
    var segment: String?
    var budgetCostCents: Int64
    var claimedMilliseconds: Int64
    var expiresMilliseconds: Int64
    var pointsCost: Int64
    var requestId: String?
    var operation: IdempotentOperation
    var fingerprint: RequestFingerprint
    var response: JSONValue

    /// The element `claim_coupons` reads as a `claim_input` (migration 0006).
    func json(index: Int) -> JSONValue {
        func optional(_ value: (some BinaryInteger)?) -> JSONValue { value.map { .integer($0) } ?? .null }
        return .batchInput { (field: ClaimInputField) in
            switch field {
            case .idx: .integer(index)
            case .couponId: .string(couponId)
            case .userId: .string(userId)
            case .templateId: .string(templateId)
            case .channel: .string(channel)
            case .day: .string(day)
            case .type: .string(type.rawValue)
            case .threshold: .integer(thresholdCents)
            case .discount: .integer(discountCents)
            case .rate: optional(rateBasisPoints)
            case .maxDiscount: optional(maxDiscountCents)
            case .segment: segment.map { .string($0) } ?? .null
            case .budgetCost: .integer(budgetCostCents)
            case .claimedAt: .integer(claimedMilliseconds)
            case .expiresAt: .integer(expiresMilliseconds)
            case .pointsCost: .integer(pointsCost)
            case .requestId: requestId.map { .string($0) } ?? .null
            case .operation: .string(operation.rawValue)
            case .payload: .string(fingerprint.text)
            case .response: response
            }
        }
    }
}

/// What the database said about one claim.
enum ClaimOutcome: Sendable, Equatable {
    case issued(pointsLeft: Int64?)
    case refused(ErrorCode)
    /// Another request with the same request id was written first.
    case duplicateRequest
}

/// Group commit: concurrent claims are written together, many in one transaction, each answered
/// only after that transaction commits. A few lanes (each with its own connection) write batches
/// in parallel; a claim that arrives while every lane is busy joins the next batch. One fsync then
/// covers a whole batch, which is how durable claims per second can exceed one transaction per claim.
struct ClaimWriter: Sendable {
    let batcher: Batcher<ClaimRecord, ClaimOutcome>

    init(database: PostgresPool, lanes: Int, maxBatch: Int, logger: Logger, metrics: Metrics) {
        batcher = Batcher(name: "claim_write", lanes: lanes, maxBatch: maxBatch, metrics: metrics) { records in
            await ItemIsolation.write(records, what: "claim", logger: logger) { batch in
                try await Self.commit(batch, database: database, logger: logger)
            }
        }
    }

    /// Queues one claim and waits until its batch has committed (or failed).
    func write(_ record: ClaimRecord) async throws -> ClaimOutcome {
        try await batcher.submit(record)
    }

    /// How long a batch whose outcome is unknown keeps trying to read it. Shorter than the claim
    /// lock ClaimService holds in Redis (5 s): past that a retry of the same request may already be
    /// on its way, and an answer we give after it would race it. Beyond this (a failover of a dead
    /// node takes longer) the claims answer an error, and the client retries with its request id.
    static let resolvePatience = Duration.seconds(3)

    /// `claim_coupons` over one batch; when the connection dies under it, the outcome is found
    /// out by reading, never by writing again.
    private static func commit(_ batch: [ClaimRecord], database: PostgresPool, logger: Logger) async throws -> [ClaimOutcome] {
        do {
            return try await claim(batch, database: database)
        } catch let error as PostgresError where error.code == .connectionFailed && !error.failedBeforeSending {
            // (A connection that could not be opened sent nothing: that error answers at once.)
            logger.warning(
                "claim batch outcome unknown; reading its coupons on the primary",
                [("batch.size", String(batch.count)), ("error", error.description)])
            return try await resolveUnknownOutcome(batch, database: database)
        }
    }

    /// A batch is one statement, so it committed whole or not at all; whether its coupons exist
    /// (their ids are ours, chosen before the write) says which. Read on a connection to the
    /// primary (after a failover, the new one). Found: the claims are issued, as the batch would
    /// have answered. Not found: nothing was written, and it is not written again here, since
    /// the client's retry with its request id may be writing it by now; the claims answer an error.
    private static func resolveUnknownOutcome(_ batch: [ClaimRecord], database: PostgresPool) async throws -> [ClaimOutcome] {
        let ids = JSONValue.array(batch.map { .string($0.couponId) }).serialized()
        let rows = try await database.untilReachable(patience: resolvePatience) {
            try await database.query("SELECT id FROM user_coupon WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))", [ids])
        }
        var written = Set<String>()
        for row in rows { written.insert(try row.decode(0)) }
        guard batch.allSatisfy({ written.contains($0.couponId) }) else {
            throw ServiceError(
                .dependencyUnavailable, "the claim was not written (the connection to PostgreSQL broke); retry with the same request id")
        }
        // Points left are in the stored answer only: replay it when there is one to replay.
        return batch.map { $0.pointsCost > 0 && $0.requestId != nil ? .duplicateRequest : .issued(pointsLeft: nil) }
    }

    /// `claim_coupons` over one batch: an outcome per claim, in the order given.
    private static func claim(_ batch: [ClaimRecord], database: PostgresPool) async throws -> [ClaimOutcome] {
        // One lock order for every batch: template, then user.
        let order = batch.indices.sorted { (batch[$0].templateId, batch[$0].userId) < (batch[$1].templateId, batch[$1].userId) }
        let claims = JSONValue.array(order.enumerated().map { position, index in batch[index].json(index: position) })
        // One statement, committed by the server as it ends: the template rows it locks are
        // released there, not after a round trip back to this process.
        let rows = try await database.autocommitQuery("SELECT idx, outcome, points_left FROM claim_coupons($1::jsonb)", [claims.serialized()])
        var outcomes: [Int: ClaimOutcome] = [:]
        for row in rows {
            let position: Int = try row.decode(0)
            let outcome: String = try row.decode(1)
            guard order.indices.contains(position) else { continue }
            switch outcome {
            case "OK": outcomes[order[position]] = .issued(pointsLeft: try row.decode(2))
            case "DUPLICATE_REQUEST": outcomes[order[position]] = .duplicateRequest
            default: outcomes[order[position]] = .refused(try Self.code(forOutcome: outcome))
            }
        }
        return try batch.indices.map { index in
            guard let outcome = outcomes[index] else { throw ServiceError(.internalError, "claim \(index) missing from its batch's answer") }
            return outcome
        }
    }

    static func code(forOutcome outcome: String) throws(ServiceError) -> ErrorCode {
        switch outcome {
        case "SOLD_OUT": .soldOut
        case "BUDGET_EXHAUSTED": .budgetExhausted
        case "TEMPLATE_PAUSED": .templatePaused
        case "TEMPLATE_NOT_FOUND": .templateNotFound
        case "PER_USER_LIMIT": .perUserLimitReached
        case "DAILY_LIMIT": .dailyLimitReached
        case "INSUFFICIENT_POINTS": .insufficientPoints
        default: throw ServiceError(.internalError, "claim_coupons answered an unknown outcome '\(outcome)'")
        }
    }
}
