import Postgres
import ServiceKit
import Synchronization
import Wire

/// One claim ready to be written: everything `claim_coupons` needs (see migration 0002).
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
    var operation: String
    var payload: String
    var response: JSONValue

    func json(index: Int) -> JSONValue {
        func optional(_ value: (some BinaryInteger)?) -> JSONValue { value.map { .integer($0) } ?? .null }
        return .object([
            ("idx", .integer(index)), ("couponId", .string(couponId)), ("userId", .string(userId)), ("templateId", .string(templateId)),
            ("channel", .string(channel)), ("day", .string(day)), ("type", .string(type.rawValue)), ("threshold", .integer(thresholdCents)),
            ("discount", .integer(discountCents)), ("rate", optional(rateBasisPoints)), ("maxDiscount", optional(maxDiscountCents)),
            ("segment", segment.map { .string($0) } ?? .null), ("budgetCost", .integer(budgetCostCents)),
            ("claimedAt", .integer(claimedMilliseconds)), ("expiresAt", .integer(expiresMilliseconds)), ("pointsCost", .integer(pointsCost)),
            ("requestId", requestId.map { .string($0) } ?? .null), ("operation", .string(operation)), ("payload", .string(payload)),
            ("response", response),
        ])
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
final class ClaimWriter: Sendable {
    private struct Pending {
        var record: ClaimRecord
        var continuation: CheckedContinuation<ClaimOutcome, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var idleLanes: [CheckedContinuation<[Pending]?, Never>] = []
        var closed = false
    }

    private let database: PostgresPool
    private let maxBatch: Int
    private let lanes: Int
    private let metrics: Metrics
    private let state = Mutex(State())

    init(database: PostgresPool, lanes: Int, maxBatch: Int, metrics: Metrics) {
        self.database = database
        self.lanes = lanes
        self.maxBatch = maxBatch
        self.metrics = metrics
        metrics.describe("claim_batch_size", type: "histogram", help: "Claims per group-commit transaction (bucket bounds read as counts)")
    }

    /// Queues one claim and waits until its batch has committed (or failed).
    func write(_ record: ClaimRecord) async throws -> ClaimOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let handOff: (CheckedContinuation<[Pending]?, Never>, [Pending])? = state.withLock { state in
                guard !state.closed else {
                    continuation.resume(throwing: ServiceError(.shuttingDown, "coupon-center is shutting down"))
                    return nil
                }
                state.pending.append(Pending(record: record, continuation: continuation))
                guard let lane = state.idleLanes.popLast() else { return nil }
                let batch = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(batch.count)
                return (lane, batch)
            }
            if let (lane, batch) = handOff { lane.resume(returning: batch) }
        }
    }

    /// Runs the lanes until `close()`; claims still queued then are written before returning.
    func run() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<lanes {
                group.addTask {
                    while let batch = await self.nextBatch() {
                        await self.commit(batch)
                    }
                }
            }
        }
    }

    func close() {
        let lanes = state.withLock { state in
            state.closed = true
            defer { state.idleLanes.removeAll() }
            return state.idleLanes
        }
        for lane in lanes { lane.resume(returning: nil) }
    }

    private func nextBatch() async -> [Pending]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[Pending]?, Never>) in
            let ready: [Pending]?? = state.withLock { state in
                if !state.pending.isEmpty {
                    let batch = Array(state.pending.prefix(maxBatch))
                    state.pending.removeFirst(batch.count)
                    return .some(batch)
                }
                if state.closed { return .some(nil) }
                state.idleLanes.append(continuation)
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func commit(_ batch: [Pending]) async {
        // One lock order for every batch: template, then user.
        let ordered = batch.sorted { ($0.record.templateId, $0.record.userId) < ($1.record.templateId, $1.record.userId) }
        let claims = JSONValue.array(ordered.enumerated().map { index, pending in pending.record.json(index: index) })
        metrics.observe("claim_batch_size", microseconds: Int64(batch.count))
        do {
            let rows = try await database.transaction { transaction in
                try await transaction.query(
                    "SELECT idx, outcome, points_left FROM claim_coupons($1::jsonb)", [claims.serialized()])
            }
            var outcomes: [Int: ClaimOutcome] = [:]
            for row in rows {
                let index: Int = try row.decode(0)
                let outcome: String = try row.decode(1)
                switch outcome {
                case "OK": outcomes[index] = .issued(pointsLeft: try row.decode(2))
                case "DUPLICATE_REQUEST": outcomes[index] = .duplicateRequest
                default: outcomes[index] = .refused(Self.code(forOutcome: outcome))
                }
            }
            for (index, pending) in ordered.enumerated() {
                if let outcome = outcomes[index] {
                    pending.continuation.resume(returning: outcome)
                } else {
                    pending.continuation.resume(throwing: ServiceError(.internalError, "claim \(index) missing from its batch's answer"))
                }
            }
        } catch {
            let failure = ServiceError(.dependencyUnavailable, "PostgreSQL did not take the claim: \(error)")
            for pending in ordered { pending.continuation.resume(throwing: failure) }
        }
    }

    static func code(forOutcome outcome: String) -> ErrorCode {
        switch outcome {
        case "SOLD_OUT": .soldOut
        case "BUDGET_EXHAUSTED": .budgetExhausted
        case "TEMPLATE_PAUSED": .templatePaused
        case "TEMPLATE_NOT_FOUND": .templateNotFound
        case "PER_USER_LIMIT": .perUserLimitReached
        case "DAILY_LIMIT": .dailyLimitReached
        case "INSUFFICIENT_POINTS": .insufficientPoints
        default: .internalError
        }
    }
}

/// The group-commit writer as a part of the process: started with the others, closed (after the
/// front doors) on shutdown so queued claims still get written.
struct ClaimWriterService: LifecycleService {
    let name = "claim-writer"
    let writer: ClaimWriter
    func run() async throws { await writer.run() }
    func shutdown() async { writer.close() }
}
