import Messaging
import Postgres
import ServiceKit
import Wire

/// Moves events out of the outbox: takes undispatched events in id order, a batch per
/// transaction, with `FOR UPDATE SKIP LOCKED` so every coupon-center process takes its own; then,
/// still in that transaction, publishes each on the PUB socket (when configured), queues one
/// webhook delivery per configured webhook, and marks them dispatched.
///
/// At least once: the publishing happens before COMMIT, so a process killed in between has
/// published events that are still undispatched, and the next transaction (here or in another
/// process) publishes them again, with the same event ids. PUB itself drops what no subscriber is
/// connected for (see README "Events"); the webhook rows are what make delivery durable.
struct EventDispatcher: LifecycleService {
    let name = "event-dispatcher"
    let database: PostgresPool
    let publisher: Publisher?
    let webhookURLs: [String]
    let batchSize: Int
    let pollInterval: Duration
    let retentionHours: Int
    let logger: Logger
    let metrics: Metrics
    private let stop = StopSignal()

    init(
        database: PostgresPool, publisher: Publisher?, webhookURLs: [String], batchSize: Int, pollInterval: Duration, retentionHours: Int,
        logger: Logger, metrics: Metrics
    ) {
        self.database = database
        self.publisher = publisher
        self.webhookURLs = webhookURLs
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.retentionHours = retentionHours
        self.logger = logger
        self.metrics = metrics
        metrics.describe("events_dispatched_total", type: "counter", help: "outbox events this process dispatched (published, webhooks queued)")
        metrics.describe("events_published_total", type: "counter", help: "events this process sent on its PUB socket, redeliveries included")
        metrics.describe("events_written", type: "gauge", help: "events written to the outbox by every process (its id sequence)")
        metrics.describe(
            "events_dispatch_lag_milliseconds", type: "gauge", help: "age of the oldest event not yet dispatched (0 when none waits)")
        metrics.describe("events_pruned_total", type: "counter", help: "events past their retention this process deleted, with their deliveries")
    }

    static let pruneInterval: Duration = .seconds(60)

    func run() async throws {
        var nextPrune = ContinuousClock.now
        while !stop.isFired {
            var dispatched = 0
            do {
                dispatched = try await dispatchOnce()
                try await observeLag()
                if retentionHours > 0, ContinuousClock.now >= nextPrune {
                    nextPrune = ContinuousClock.now + Self.pruneInterval
                    let (pruned, more) = try await prune()
                    // A backlog is pruned a few batches per turn, between dispatches.
                    if more { nextPrune = ContinuousClock.now }
                    if pruned > 0 { logger.debug("pruned events past their retention", [("events.pruned", String(pruned))]) }
                }
            } catch {
                logger.warning("event dispatch failed; retrying", [("error", "\(error)")])
            }
            // A full batch means more are waiting: go again at once.
            if dispatched < batchSize {
                guard await stop.sleep(for: pollInterval) else { break }
            }
        }
        publisher?.close()
    }

    func shutdown() async { stop.fire() }

    /// One batch; the number of events dispatched.
    func dispatchOnce() async throws -> Int {
        let webhooks = JSONValue.array(webhookURLs.map { .string($0) }).serialized()
        let count = try await database.transaction { transaction in
            // Taking and marking in one statement: each row is written once, not locked and then
            // updated. RETURNING keeps no order, hence the sort before publishing.
            let rows = try await transaction.query(
                """
                UPDATE event_outbox o SET dispatched_at = now()
                 WHERE o.id IN (SELECT id FROM event_outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT $1::integer FOR UPDATE SKIP LOCKED)
                RETURNING o.id, o.kind, event_outbox_document(o) AS document
                """, [batchSize])
            guard !rows.isEmpty else { return 0 }
            var events: [(id: Int64, message: EventMessage)] = try rows.map { row in
                (
                    try row.decode("id", as: Int64.self),
                    EventMessage(kind: try row.decode("kind", as: String.self), document: Array(try row.decode("document", as: String.self).utf8))
                )
            }
            events.sort { $0.id < $1.id }
            if let publisher {
                for event in events { try publisher.publish(event.message.encoded()) }
            }
            if !webhookURLs.isEmpty {
                try await transaction.execute(
                    """
                    INSERT INTO webhook_delivery (webhook_url, outbox_id)
                    SELECT w.url, e.id FROM unnest($1::bigint[]) AS e(id) CROSS JOIN jsonb_array_elements_text($2::jsonb) AS w(url)
                    ORDER BY e.id
                    ON CONFLICT DO NOTHING
                    """, [Self.bigintArray(events.map(\.id)), webhooks])
            }
            return events.count
        }
        metrics.increment("events_dispatched_total", by: Int64(count))
        if publisher != nil { metrics.increment("events_published_total", by: Int64(count)) }
        return count
    }

    /// Deletes dispatched events older than the retention that no webhook still waits for (their
    /// delivery rows go with them, ON DELETE CASCADE), oldest first, up to `maxBatches` batches.
    /// A batch looks only at the `batch` lowest ids, so it costs the same however large the outbox
    /// is; an event still held by a PENDING delivery (dead-lettered within a day) only takes up its
    /// place in the window. Returns how many it deleted and whether there may be more to delete.
    func prune(batch: Int = 5_000, maxBatches: Int = 4) async throws -> (deleted: Int, more: Bool) {
        var total = 0
        for _ in 0..<maxBatches {
            let deleted = try await database.execute(
                """
                WITH oldest AS (SELECT id, occurred_at, dispatched_at FROM event_outbox ORDER BY id LIMIT $2::integer)
                DELETE FROM event_outbox o USING oldest
                 WHERE o.id = oldest.id AND oldest.dispatched_at IS NOT NULL
                   AND oldest.occurred_at < now() - $1::integer * interval '1 hour'
                   AND NOT EXISTS (SELECT 1 FROM webhook_delivery d WHERE d.outbox_id = oldest.id AND d.state = 'PENDING')
                """, [retentionHours, batch])
            total += deleted
            guard deleted > 0 else {
                metrics.increment("events_pruned_total", by: Int64(total))
                return (total, false)
            }
        }
        metrics.increment("events_pruned_total", by: Int64(total))
        return (total, true)
    }

    private func observeLag() async throws {
        let rows = try await database.query(
            """
            SELECT COALESCE((SELECT floor(EXTRACT(EPOCH FROM now() - occurred_at) * 1000)::bigint FROM event_outbox
                              WHERE dispatched_at IS NULL ORDER BY id LIMIT 1), 0) AS lag,
                   (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_outbox_id_seq) AS written
            """)
        guard let row = rows.first else { return }
        metrics.set("events_dispatch_lag_milliseconds", to: max(0, try row.decode("lag", as: Int64.self)))
        metrics.set("events_written", to: try row.decode("written", as: Int64.self))
    }

    /// A PostgreSQL array literal of integers: digits and commas only, nothing from input.
    static func bigintArray(_ values: [Int64]) -> String {
        "{" + values.map(String.init).joined(separator: ",") + "}"
    }
}
