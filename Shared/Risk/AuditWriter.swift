import Postgres
import ServiceKit
import Synchronization
import Wire

/// Records every decision in `risk_audit` without making the decision wait: decisions are queued
/// and written in batches (one INSERT per batch) every `interval`, or sooner when the queue is
/// large. If PostgreSQL is down the batch is kept and retried; past `maxQueued` the oldest are
/// dropped and counted, so a database outage cannot exhaust memory.
final class AuditWriter: Sendable {
    struct Entry: Sendable {
        var request: RiskDecisionRequest
        var decision: RiskDecision
        var atMilliseconds: Int64
    }

    private let queue = Mutex<[Entry]>([])
    private let database: PostgresPool
    private let metrics: Metrics
    private let logger: Logger
    private let maxBatch = 1000
    private let maxQueued = 100_000

    init(database: PostgresPool, metrics: Metrics, logger: Logger) {
        self.database = database
        self.metrics = metrics
        self.logger = logger
    }

    func record(_ request: RiskDecisionRequest, _ decision: RiskDecision, at milliseconds: Int64) {
        let dropped = queue.withLock { queue -> Int in
            queue.append(Entry(request: request, decision: decision, atMilliseconds: milliseconds))
            guard queue.count > maxQueued else { return 0 }
            let excess = queue.count - maxQueued
            queue.removeFirst(excess)
            return excess
        }
        if dropped > 0 { metrics.increment("risk_audit_dropped_total", by: Int64(dropped)) }
    }

    /// Writes what is queued; returns how many rows were written.
    @discardableResult
    func flush() async -> Int {
        var written = 0
        while true {
            let batch = queue.withLock { queue -> [Entry] in
                let batch = Array(queue.prefix(maxBatch))
                queue.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return written }
            let rows = JSONValue.array(batch.map { entry in
                .object([
                    ("decided_at_ms", .integer(entry.atMilliseconds)), ("action", .string(entry.request.action.rawValue)),
                    ("user_id", .string(entry.request.userId)), ("device_id", entry.request.deviceId.map { .string($0) } ?? .null),
                    ("ip", entry.request.ip.map { .string($0) } ?? .null), ("template_id", .string(entry.request.templateId)),
                    ("coupon_type", .string(entry.request.couponType.rawValue)), ("amount_cents", .integer(entry.request.amountCents)),
                    ("verdict", .string(entry.decision.verdict.rawValue)), ("score", .integer(entry.decision.score)),
                    ("reasons", .array(entry.decision.reasons.map { .string($0) })),
                ])
            })
            do {
                try await database.execute(
                    """
                    INSERT INTO risk_audit (decided_at, action, user_id, device_id, ip, template_id, coupon_type, amount_cents, verdict, score, reasons)
                    SELECT to_timestamp(r.decided_at_ms / 1000.0), r.action, r.user_id, r.device_id, r.ip, r.template_id, r.coupon_type,
                           r.amount_cents, r.verdict, r.score, ARRAY(SELECT jsonb_array_elements_text(r.reasons))
                      FROM jsonb_to_recordset($1::jsonb) AS r(decided_at_ms bigint, action text, user_id text, device_id text, ip text,
                           template_id text, coupon_type text, amount_cents bigint, verdict text, score integer, reasons jsonb)
                    """, [rows.serialized()])
                written += batch.count
                metrics.increment("risk_audit_written_total", by: Int64(batch.count))
            } catch {
                // Put the batch back in front and try again on the next tick.
                queue.withLock { $0.insert(contentsOf: batch, at: 0) }
                logger.warning("audit write failed; will retry", [("error", "\(error)"), ("audit.queued", String(batch.count))])
                return written
            }
        }
    }
}

/// Flushes the audit queue every `intervalMilliseconds`, and once more on shutdown.
struct AuditService: LifecycleService {
    let name = "risk-audit"
    let writer: AuditWriter
    let intervalMilliseconds: Int
    private let stop = StopSignal()

    init(writer: AuditWriter, intervalMilliseconds: Int) {
        self.writer = writer
        self.intervalMilliseconds = intervalMilliseconds
    }

    func run() async throws {
        while await stop.sleep(for: .milliseconds(intervalMilliseconds)) {
            await writer.flush()
        }
        await writer.flush()
    }

    func shutdown() async { stop.fire() }
}
