import BatchInputs
import Postgres
import ServiceKit
import Synchronization
import Wire

/// Records every decision in `risk_audit` without making the decision wait: decisions are queued
/// and written in batches (one INSERT per batch) every `interval`, or sooner when the queue is
/// large. Past `maxQueued` the oldest are dropped and counted, so a database outage cannot exhaust
/// memory.
///
/// A failure belongs to its row. When PostgreSQL refuses a batch for its data (`PostgresError.refusesValues`: a
/// data exception or a broken constraint) the batch is halved until every refused row stands
/// alone; the accepted rows are written and each refused row goes to `risk_audit_dead_letter`,
/// counted in `risk_audit_dead_letters_total` and logged, so it never holds up what comes after
/// it. Any other failure (the connection, a timeout, a missing table) is the database's, not the
/// rows': the rows not yet written go back to the front of the queue for the next tick.
public final class AuditWriter: Sendable {
    public struct Entry: Sendable {
        public var request: RiskDecisionRequest
        public var decision: RiskDecision
        public var atMilliseconds: Int64

        public init(request: RiskDecisionRequest, decision: RiskDecision, atMilliseconds: Int64) {
            self.request = request
            self.decision = decision
            self.atMilliseconds = atMilliseconds
        }
    }

    private let queue = Mutex<[Entry]>([])
    private let database: PostgresPool
    private let metrics: Metrics
    private let logger: Logger
    private let maxBatch = 1000
    private let maxQueued = 100_000

    public init(database: PostgresPool, metrics: Metrics, logger: Logger) {
        self.database = database
        self.metrics = metrics
        self.logger = logger
        metrics.describe("risk_audit_written_total", type: "counter", help: "Decisions written to risk_audit")
        metrics.describe("risk_audit_dropped_total", type: "counter", help: "Decisions dropped because the audit queue was full")
        metrics.describe(
            "risk_audit_dead_letters_total", type: "counter", help: "Decisions PostgreSQL refused, kept in risk_audit_dead_letter")
        metrics.describe("risk_audit_lost_total", type: "counter", help: "Refused decisions the dead-letter table refused too")
    }

    /// The audit read back for reports (`risk_audit_summary`): what was not allowed in the period,
    /// per verdict and reason (a decision without a reason counts under `NONE`), over the
    /// (verdict, decided_at) index. Decisions still queued here are not in it yet.
    public func summary(_ request: RiskAuditSummaryRequest) async throws -> RiskAuditSummary {
        guard request.fromMilliseconds >= 0, request.fromMilliseconds < request.toMilliseconds,
            request.toMilliseconds <= 253_402_300_799_999, request.toMilliseconds - request.fromMilliseconds <= 400 * 86_400_000
        else {
            throw ServiceError(.invalidArgument, "the period: from before to, within 400 days, between 1970 and 9999")
        }
        let period: [(any PostgresBindable)?] = [request.fromMilliseconds, request.toMilliseconds]
        let totals = try await database.query(
            """
            SELECT count(*)::bigint, count(*) FILTER (WHERE verdict = 'DENY')::bigint, count(*) FILTER (WHERE verdict = 'REVIEW')::bigint
              FROM risk_audit WHERE decided_at >= to_timestamp($1::bigint / 1000.0) AND decided_at < to_timestamp($2::bigint / 1000.0)
            """, period)
        let rows = try await database.query(
            """
            SELECT a.verdict, r.reason, count(*)::bigint AS decisions
              FROM risk_audit a
             CROSS JOIN LATERAL unnest(CASE WHEN cardinality(a.reasons) = 0 THEN ARRAY['NONE'] ELSE a.reasons END) AS r (reason)
             WHERE a.verdict IN ('DENY', 'REVIEW')
               AND a.decided_at >= to_timestamp($1::bigint / 1000.0) AND a.decided_at < to_timestamp($2::bigint / 1000.0)
             GROUP BY a.verdict, r.reason ORDER BY a.verdict, r.reason LIMIT 1000
            """, period)
        guard let total = totals.first else { throw ServiceError(.internalError, "the audit count answered no row") }
        return RiskAuditSummary(
            decisions: try total.decode(0), denied: try total.decode(1), reviewed: try total.decode(2),
            byReason: try rows.map {
                RiskReasonCount(
                    verdict: try $0.decode("verdict", as: RiskVerdict.self), reason: try $0.decode("reason"), decisions: try $0.decode("decisions"))
            })
    }

    public func record(_ request: RiskDecisionRequest, _ decision: RiskDecision, at milliseconds: Int64) {
        record(Entry(request: request, decision: decision, atMilliseconds: milliseconds))
    }

    public func record(_ entry: Entry) {
        let dropped = queue.withLock { queue -> Int in
            queue.append(entry)
            guard queue.count > maxQueued else { return 0 }
            let excess = queue.count - maxQueued
            queue.removeFirst(excess)
            return excess
        }
        if dropped > 0 { metrics.increment("risk_audit_dropped_total", by: Int64(dropped)) }
    }

    /// Writes what is queued; returns how many rows reached `risk_audit`. Stops at the first
    /// failure that is not about the rows, leaving what is unwritten queued in order.
    @discardableResult
    public func flush() async -> Int {
        var written = 0
        while true {
            let batch = queue.withLock { queue -> [Entry] in
                let batch = Array(queue.prefix(maxBatch))
                queue.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return written }
            // A stack of the parts still to write; the last one is next, so rows keep their order.
            var pending: [ArraySlice<Entry>] = [batch[...]]
            while let part = pending.popLast() {
                do {
                    try await insert(part)
                    written += part.count
                    metrics.increment("risk_audit_written_total", by: Int64(part.count))
                } catch let error as PostgresError where error.refusesValues {
                    if part.count == 1, let entry = part.first {
                        do {
                            try await deadLetter(entry, refusal: error)
                        } catch {
                            requeue([part] + pending.reversed(), after: error)
                            return written
                        }
                    } else {
                        let middle = part.startIndex + part.count / 2
                        pending.append(part[middle...])
                        pending.append(part[..<middle])
                    }
                } catch {
                    requeue([part] + pending.reversed(), after: error)
                    return written
                }
            }
        }
    }

    /// The row as JSON: the batch element `risk_audit_input` reads, and the form it is kept in when
    /// PostgreSQL refuses it.
    static func json(_ entry: Entry) -> JSONValue {
        .batchInput { (field: AuditInputField) in
            switch field {
            case .decidedAtMs: .integer(entry.atMilliseconds)
            case .action: .string(entry.request.action.rawValue)
            case .userId: .string(entry.request.userId)
            case .deviceId: entry.request.deviceId.map { .string($0) } ?? .null
            case .ip: entry.request.ip.map { .string($0) } ?? .null
            case .templateId: .string(entry.request.templateId)
            case .couponType: .string(entry.request.couponType.rawValue)
            case .amountCents: .integer(entry.request.amountCents)
            case .verdict: .string(entry.decision.verdict.rawValue)
            case .score: .integer(entry.decision.score)
            case .reasons: .array(entry.decision.reasons.map { .string($0) })
            }
        }
    }

    private func insert(_ entries: ArraySlice<Entry>) async throws {
        let rows = JSONValue.array(entries.map(Self.json))
        try await database.execute(
            """
            INSERT INTO risk_audit (decided_at, action, user_id, device_id, ip, template_id, coupon_type, amount_cents, verdict, score, reasons)
            SELECT to_timestamp(r.decided_at_ms / 1000.0), r.action, r.user_id, r.device_id, r.ip, r.template_id, r.coupon_type,
                   r.amount_cents, r.verdict, r.score, coalesce(r.reasons, '{}')
              FROM jsonb_populate_recordset(NULL::risk_audit_input, $1::jsonb) AS r
            """, [rows.serialized()])
    }

    /// Keeps a refused row. The payload is the row's JSON as bytea: PostgreSQL takes any bytes
    /// there, whatever the database encoding, so this insert cannot be refused for what the row
    /// holds (the serializer writes U+0000 as the six characters `\u0000`, so
    /// `convert_from(payload, 'UTF8')` reads it back as text). If it is refused all the same, the
    /// row is counted as lost and logged rather than allowed to block the queue.
    private func deadLetter(_ entry: Entry, refusal: PostgresError) async throws {
        let payload = Self.json(entry).bytes
        do {
            try await database.execute(
                "INSERT INTO risk_audit_dead_letter (payload, error, sql_state) VALUES ($1::bytea, $2, $3)",
                [payload, refusal.message, refusal.sqlState])
            metrics.increment("risk_audit_dead_letters_total")
            logger.warning(
                "audit row refused by PostgreSQL; kept in risk_audit_dead_letter",
                [("error", refusal.description), ("audit.decided_at_ms", String(entry.atMilliseconds))])
        } catch let error as PostgresError where error.refusesValues {
            metrics.increment("risk_audit_lost_total")
            logger.error(
                "audit row refused by PostgreSQL and by the dead-letter table; dropped",
                [("error", refusal.description), ("dead_letter.error", error.description), ("audit.payload_bytes", String(payload.count))])
        }
    }

    private func requeue(_ parts: [ArraySlice<Entry>], after error: any Error) {
        let unwritten = parts.flatMap { $0 }
        queue.withLock { $0.insert(contentsOf: unwritten, at: 0) }
        logger.warning("audit write failed; will retry", [("error", "\(error)"), ("audit.queued", String(unwritten.count))])
    }
}

/// Flushes the audit queue every `intervalMilliseconds`, and once more on shutdown.
public struct AuditService: LifecycleService {
    public let name = "risk-audit"
    let writer: AuditWriter
    let intervalMilliseconds: Int
    private let stop = StopSignal()

    public init(writer: AuditWriter, intervalMilliseconds: Int) {
        self.writer = writer
        self.intervalMilliseconds = intervalMilliseconds
    }

    public func run() async throws {
        while await stop.sleep(for: .milliseconds(intervalMilliseconds)) {
            await writer.flush()
        }
        await writer.flush()
    }

    public func shutdown() async { stop.fire() }
}
