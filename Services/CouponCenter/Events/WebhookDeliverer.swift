import Foundation
import Messaging
import Postgres
import ServiceKit
import Wire

/// Delivers one webhook's queued events: each process runs one of these per configured webhook,
/// so a webhook that is slow or down holds back only its own deliveries.
///
/// A round takes up to `concurrency` due deliveries (`FOR UPDATE SKIP LOCKED`, in the order they
/// fell due) and, in the same statement, leases them: their next attempt moves past the POST's
/// timeout, so no other process takes them meanwhile, and one killed mid-POST leaves them to be
/// taken again when the lease ends. The POSTs then run concurrently, outside any transaction, and
/// one statement records every outcome: 2xx is DELIVERED; anything else (a status, a refused
/// connection, a timeout) is retried after `RetryPolicy`'s back-off, or DEAD once it gave up.
/// A dead delivery is counted and logged and blocks nothing behind it.
struct WebhookDeliverer: LifecycleService {
    let name = "webhook-delivery"
    let webhook: EventSettings.Webhook
    let database: PostgresPool
    let secret: [UInt8]
    let timeoutMilliseconds: Int
    let retry: RetryPolicy
    let concurrency: Int
    let pollInterval: Duration
    let logger: Logger
    let metrics: Metrics
    private let stop = StopSignal()
    /// The webhook as metrics and logs name it: its URL without a password.
    let label: String

    static let lagCheckInterval: Duration = .seconds(5)

    init(
        webhook: EventSettings.Webhook, database: PostgresPool, secret: [UInt8], timeoutMilliseconds: Int, retry: RetryPolicy,
        concurrency: Int, pollInterval: Duration, logger: Logger, metrics: Metrics
    ) {
        self.webhook = webhook
        self.database = database
        self.secret = secret
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retry = retry
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.logger = logger
        self.metrics = metrics
        self.label = redacted(webhook.url)
        metrics.describe("webhook_delivered_total", type: "counter", help: "events a webhook answered 2xx for, by webhook")
        metrics.describe("webhook_retried_total", type: "counter", help: "failed webhook POSTs scheduled for another attempt, by webhook")
        metrics.describe("webhook_dead_lettered_total", type: "counter", help: "webhook deliveries given up (DEAD), by webhook")
        metrics.describe(
            "webhook_delivery_lag_milliseconds", type: "gauge", help: "age of the oldest event a webhook has not yet received, by webhook")
    }

    /// One leased delivery: what to POST.
    struct Delivery: Sendable {
        var outboxId: Int64
        var eventId: String
        var attempts: Int
        var document: [UInt8]
        var ageMilliseconds: Int64
    }

    enum Outcome: Sendable {
        case delivered
        case failed(String)
    }

    func run() async throws {
        var nextLagCheck = ContinuousClock.now
        while !stop.isFired {
            var taken = 0
            do {
                taken = try await deliverOnce()
                if ContinuousClock.now >= nextLagCheck {
                    try await observeLag()
                    nextLagCheck = ContinuousClock.now + Self.lagCheckInterval
                }
            } catch {
                logger.warning("webhook delivery round failed; retrying", [("webhook", label), ("error", "\(error)")])
            }
            if taken < concurrency {
                guard await stop.sleep(for: pollInterval) else { break }
            }
        }
    }

    func shutdown() async { stop.fire() }

    /// The lease: longer than a POST can take, so an attempt in flight is never taken twice by
    /// live processes.
    var leaseMilliseconds: Int { timeoutMilliseconds * 2 + 1_000 }

    /// One round; how many deliveries it attempted.
    func deliverOnce() async throws -> Int {
        let deliveries = try await lease()
        guard !deliveries.isEmpty else { return 0 }
        let outcomes = await withTaskGroup(of: (Delivery, Outcome).self) { group in
            for delivery in deliveries {
                group.addTask { (delivery, await self.post(delivery)) }
            }
            var outcomes: [(Delivery, Outcome)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        try await record(outcomes)
        return deliveries.count
    }

    private func lease() async throws -> [Delivery] {
        let rows = try await database.autocommitQuery(
            """
            WITH due AS (
                SELECT outbox_id FROM webhook_delivery
                 WHERE webhook_url = $1 AND state = 'PENDING' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, outbox_id LIMIT $2::integer FOR UPDATE SKIP LOCKED)
            UPDATE webhook_delivery d
               SET attempts = d.attempts + 1, next_attempt_at = now() + $3::integer * interval '1 millisecond'
              FROM due, event_outbox o
             WHERE d.webhook_url = $1 AND d.outbox_id = due.outbox_id AND o.id = d.outbox_id
            RETURNING d.outbox_id, o.event_id::text AS event_id, d.attempts, event_outbox_document(o) AS document,
                      floor(EXTRACT(EPOCH FROM now() - o.occurred_at) * 1000)::bigint AS age
            """, [webhook.url, concurrency, leaseMilliseconds])
        return try rows.map { row in
            Delivery(
                outboxId: try row.decode("outbox_id", as: Int64.self), eventId: try row.decode("event_id", as: String.self),
                attempts: try row.decode("attempts", as: Int.self), document: Array(try row.decode("document", as: String.self).utf8),
                ageMilliseconds: try row.decode("age", as: Int64.self))
        }
    }

    func post(_ delivery: Delivery) async -> Outcome {
        let headers: [(String, String)]
        do {
            headers = try WebhookSignature.headers(
                eventId: delivery.eventId, body: delivery.document, secret: secret, timestamp: Self.unixSeconds())
        } catch {
            return .failed("\(error)")
        }
        let answer: HTTPClientAnswer
        do {
            answer = try await HTTPClient.post(
                to: webhook.target, headers: headers, body: delivery.document, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            return .failed(error.description)
        }
        return (200...299).contains(answer.status) ? .delivered : .failed("answered HTTP \(answer.status)")
    }

    /// Now, in whole Unix seconds (the signature's timestamp).
    static func unixSeconds() -> Int64 {
        Int64(exactly: Date().timeIntervalSince1970.rounded(.down)) ?? 0
    }

    /// The keys of `webhook_attempt_result` (migration 0007), in its attribute order.
    enum ResultKey: String, CaseIterable {
        case outboxId, attempts, state, delayMs, error
    }

    private func record(_ outcomes: [(Delivery, Outcome)]) async throws {
        var results: [JSONValue] = []
        var delivered = 0
        var retried = 0
        var dead: [(Delivery, String)] = []
        for (delivery, outcome) in outcomes {
            let state: String
            var delay = 0
            var error: String?
            switch outcome {
            case .delivered:
                state = "DELIVERED"
                delivered += 1
            case .failed(let reason):
                error = String(reason.prefix(500))
                switch retry.afterFailure(attempts: delivery.attempts, ageMilliseconds: delivery.ageMilliseconds) {
                case .retry(let milliseconds):
                    state = "PENDING"
                    delay = milliseconds
                    retried += 1
                case .deadLetter(let why):
                    state = "DEAD"
                    dead.append((delivery, "\(why); last: \(reason)"))
                }
            }
            results.append(
                .object([
                    (ResultKey.outboxId.rawValue, .number(String(delivery.outboxId))),
                    (ResultKey.attempts.rawValue, .number(String(delivery.attempts))),
                    (ResultKey.state.rawValue, .string(state)), (ResultKey.delayMs.rawValue, .number(String(delay))),
                    (ResultKey.error.rawValue, error.map { .string($0) } ?? .null),
                ]))
        }
        _ = try await database.autocommitQuery(
            """
            UPDATE webhook_delivery d
               SET state = r.state, last_error = r.error,
                   next_attempt_at = CASE WHEN r.state = 'PENDING' THEN now() + r."delayMs" * interval '1 millisecond' ELSE d.next_attempt_at END,
                   finished_at = CASE WHEN r.state = 'PENDING' THEN NULL ELSE now() END
              FROM jsonb_populate_recordset(NULL::webhook_attempt_result, $2::jsonb) AS r
             WHERE d.webhook_url = $1 AND d.outbox_id = r."outboxId" AND d.state = 'PENDING'
               AND (r.state = 'DELIVERED' OR d.attempts = r.attempts)
            """, [webhook.url, JSONValue.array(results).serialized()])
        let labels = [("webhook", label)]
        metrics.increment("webhook_delivered_total", labels, by: Int64(delivered))
        metrics.increment("webhook_retried_total", labels, by: Int64(retried))
        metrics.increment("webhook_dead_lettered_total", labels, by: Int64(dead.count))
        for (delivery, why) in dead {
            logger.error(
                "webhook delivery dead-lettered",
                [("webhook", label), ("event.id", delivery.eventId), ("attempts", String(delivery.attempts)), ("error", why)])
        }
    }

    private func observeLag() async throws {
        let rows = try await database.query(
            """
            SELECT COALESCE(floor(EXTRACT(EPOCH FROM now() - min(o.occurred_at)) * 1000)::bigint, 0) AS lag
              FROM webhook_delivery d JOIN event_outbox o ON o.id = d.outbox_id
             WHERE d.webhook_url = $1 AND d.state = 'PENDING'
            """, [webhook.url])
        metrics.set("webhook_delivery_lag_milliseconds", [("webhook", label)], to: max(0, try rows.first?.decode("lag", as: Int64.self) ?? 0))
    }
}
