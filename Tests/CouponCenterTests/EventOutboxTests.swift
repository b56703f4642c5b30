import Foundation
import Messaging
import Postgres
import ServiceKit
import Signatures
import TestSupport
import Testing
import Wire

@testable import CouponCenter

/// Migration 0007 and the delivery in process, over the test PostgreSQL: the ledger's trigger
/// writes one event per ledger row in the writer's transaction; the dispatcher and deliverers get
/// each to PUB and to every webhook, retrying one that fails and dead-lettering one that never
/// takes an event without holding the others back.
@Suite(.serialized) struct EventOutboxTests {
    static func withMigratedDatabase(_ body: (PostgresPool) async throws -> Void) async throws {
        try await TestDatabase.withFresh(prefix: "events", poolSize: 4) { _, pool in
            _ = try await PostgresMigrator.apply(CouponMigrations.all, to: pool)
            try await pool.execute(
                """
                INSERT INTO coupon_template (id, name, type, discount_cents, start_time, end_time, total_stock)
                VALUES ('tpl-events', 'events', 'CASH', 500, now() - interval '1 hour', now() + interval '1 day', 100000)
                """)
            try await body(pool)
        }
    }

    /// `count` coupons and their ISSUED ledger rows, the ledger rows in one statement (as a
    /// group-commit batch writes them); numbered from `first`.
    static func issue(_ count: Int, from first: Int = 1, on database: some PostgresQueryable) async throws {
        try await database.execute(
            """
            INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, channel, expires_at)
            SELECT 'c-' || g, 'u-' || g, 'tpl-events', 'CASH', 0, 500, 'app', now() + interval '1 day'
              FROM generate_series($1::integer, $2::integer) g
            """, [first, first + count - 1])
        try await database.execute(
            """
            INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, to_status, amount_cents)
            SELECT 'c-' || g, 'tpl-events', 'u-' || g, 'ISSUED', 'UNUSED', 1250 FROM generate_series($1::integer, $2::integer) g
            """, [first, first + count - 1])
    }

    static func count(_ sql: SQL, on database: some PostgresQueryable) async throws -> Int64 {
        try await database.query(sql)[0].decode(0, as: Int64.self)
    }

    @Test func eachLedgerRowIsOneEventWrittenInItsTransaction() async throws {
        try await Self.withMigratedDatabase { database in
            try await database.transaction { transaction in
                try await Self.issue(50, on: transaction)
                // Inside the writer's transaction already, before any commit.
                #expect(try await Self.count("SELECT count(*) FROM event_outbox", on: transaction) == 50)
            }
            #expect(try await Self.count("SELECT count(*) FROM event_outbox", on: database) == 50)
            #expect(try await Self.count("SELECT count(DISTINCT event_id) FROM event_outbox", on: database) == 50)
            let unmatched = try await Self.count(
                """
                SELECT count(*) FROM coupon_ledger l
                 WHERE (SELECT count(*) FROM event_outbox o WHERE (o.payload->>'ledgerId')::bigint = l.id
                          AND o.kind = 'coupon.issued' AND o.payload->>'couponId' = l.coupon_id AND o.occurred_at = l.created_at) <> 1
                """, on: database)
            #expect(unmatched == 0)
            // The outbox keeps the ledger's order: ids rise with ledger ids.
            let disordered = try await Self.count(
                """
                SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY (payload->>'ledgerId')::bigint) AS previous FROM event_outbox) o
                 WHERE previous > id
                """, on: database)
            #expect(disordered == 0)
        }
    }

    struct Abandoned: Error {}

    @Test func aRolledBackChangeLeavesNoEvent() async throws {
        try await Self.withMigratedDatabase { database in
            await #expect(throws: Abandoned.self) {
                try await database.transaction { transaction in
                    try await Self.issue(20, on: transaction)
                    throw Abandoned()
                }
            }
            let ledgerRows = try await Self.count("SELECT count(*) FROM coupon_ledger", on: database)
            let events = try await Self.count("SELECT count(*) FROM event_outbox", on: database)
            #expect(ledgerRows == 0)
            #expect(events == 0)
        }
    }

    @Test func theDocumentIsThePayloadUnderTheEnvelope() async throws {
        try await Self.withMigratedDatabase { database in
            try await Self.issue(1, on: database)
            let row = try await database.query(
                "SELECT o.id, o.event_id::text, event_outbox_document(o) FROM event_outbox o")[0]
            let document = try JSONParser.parse(Array(try row.decode(2, as: String.self).utf8))
            #expect(document["eventId"] == .string(try row.decode(1, as: String.self)))
            #expect(document["kind"] == .string("coupon.issued"))
            #expect(document["sequence"] == .number(String(try row.decode(0, as: Int64.self))))
            #expect(document["couponId"] == .string("c-1"))
            #expect(document["templateId"] == .string("tpl-events"))
            #expect(document["userId"] == .string("u-1"))
            #expect(document["orderId"] == .null)
            #expect(document["amount"] == .number("12.50"))
            #expect(document["toStatus"] == .string("UNUSED"))
            guard case .string(let occurred)? = document["occurredAt"] else {
                Issue.record("no occurredAt in \(document)")
                return
            }
            #expect(occurred.utf8.count == 24 && occurred.hasSuffix("Z") && ISO8601DateFormatter.withFractions.date(from: occurred) != nil)
        }
    }

    @Test func aNewSourceIsOneTrigger() async throws {
        try await Self.withMigratedDatabase { database in
            try await database.runScript(
                """
                CREATE TABLE demo_alert (id bigserial PRIMARY KEY, message text NOT NULL);
                CREATE TRIGGER demo_alert_events AFTER INSERT ON demo_alert REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_capture('alert.raised');
                INSERT INTO demo_alert (message) VALUES ('cost ratio over ceiling'), ('second');
                """)
            let rows = try await database.query("SELECT kind, payload->>'message' FROM event_outbox ORDER BY payload->>'message'")
            #expect(try rows.map { try $0.decode(0, as: String.self) } == ["alert.raised", "alert.raised"])
            #expect(try rows.map { try $0.decode(1, as: String.self) } == ["cost ratio over ceiling", "second"])
        }
    }

    /// Migration 0009: a firing alert is an event, its resolution another; the evaluation's
    /// updates of a firing alert in between are not.
    @Test func anAlertFiringAndResolvingAreEventsAndItsRefreshesAreNot() async throws {
        try await Self.withMigratedDatabase { database in
            try await database.execute(
                """
                INSERT INTO alert (kind, scope, cost_window, value_bp, threshold_bp) VALUES ('COST_RATIO_CEILING', 'platform', '1H', 818, 800)
                """)
            try await database.execute("UPDATE alert SET value_bp = 820, calm_evaluations = 1, last_seen_at = now()")
            try await database.execute("UPDATE alert SET status = 'RESOLVED', resolved_at = now(), calm_evaluations = 0")
            // Already resolved: updating it again is no second resolution.
            try await database.execute("UPDATE alert SET last_seen_at = now()")
            let rows = try await database.query("SELECT kind, payload->>'status', payload->>'scope' FROM event_outbox ORDER BY id")
            #expect(try rows.map { try $0.decode(0, as: String.self) } == ["alert.fired", "alert.resolved"])
            #expect(try rows.map { try $0.decode(1, as: String.self) } == ["FIRING", "RESOLVED"])
            #expect(try rows.map { try $0.decode(2, as: String.self) } == ["platform", "platform"])
        }
    }

    @Test func theAttemptResultTypeHasTheKeysTheDelivererWrites() async throws {
        try await Self.withMigratedDatabase { database in
            let rows = try await database.query(
                """
                SELECT a.attname FROM pg_attribute a JOIN pg_type t ON t.typrelid = a.attrelid
                 WHERE t.typname = 'webhook_attempt_result' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
                """)
            #expect(try rows.map { try $0.decode(0, as: String.self) } == WebhookDeliverer.ResultKey.allCases.map(\.rawValue))
        }
    }

    @Test func eventsPastTheirRetentionArePrunedUnlessAWebhookStillWaitsForThem() async throws {
        try await Self.withMigratedDatabase { database in
            try await Self.issue(30, on: database)
            let ids = try await database.query("SELECT id FROM event_outbox ORDER BY id").map { try $0.decode(0, as: Int64.self) }
            // The first 20 are past a week, the last 10 recent; all dispatched. The oldest still has
            // a PENDING delivery, the second a DELIVERED one.
            try await database.execute(
                """
                UPDATE event_outbox SET dispatched_at = now(),
                       occurred_at = CASE WHEN id <= $1 THEN now() - interval '200 hours' ELSE now() END
                """, [ids[19]])
            try await database.execute(
                "INSERT INTO webhook_delivery (webhook_url, outbox_id, state) VALUES ('http://a/', $1, 'PENDING'), ('http://a/', $2, 'DELIVERED')",
                [ids[0], ids[1]])
            let metrics = Metrics()
            let dispatcher = EventDispatcher(
                database: database, publisher: nil, webhookURLs: [], batchSize: 10, pollInterval: .milliseconds(10), retentionHours: 168,
                logger: Logger(service: "events-test", level: .warning), metrics: metrics)
            // Windows of 7 ids: the held event keeps its place in each, the others go.
            let pruned = try await dispatcher.prune(batch: 7, maxBatches: 10)
            #expect(pruned.deleted == 19 && !pruned.more)
            let left = try await database.query("SELECT id FROM event_outbox ORDER BY id").map { try $0.decode(0, as: Int64.self) }
            #expect(left == [ids[0]] + ids[20...])
            let deliveries = try await database.query("SELECT outbox_id, state FROM webhook_delivery")
            #expect(deliveries.count == 1)
            #expect(try deliveries[0].decode(0, as: Int64.self) == ids[0])
            #expect(metrics.counter("events_pruned_total") == 19)
            let again = try await dispatcher.prune(batch: 7, maxBatches: 1)
            #expect(again.deleted == 0 && !again.more)
        }
    }

    // MARK: Delivery in process

    static let secret = "in-process-secret"

    static func settings(webhooks: [String], events: String?, maxAttempts: Int = 25) throws -> EventSettings {
        var environment = [
            "COUPON_WEBHOOK_URLS": webhooks.joined(separator: ","), "COUPON_WEBHOOK_SECRET": secret,
            "COUPON_WEBHOOK_RETRY_BASE_MS": "20", "COUPON_WEBHOOK_RETRY_MAX_MS": "200", "COUPON_EVENTS_POLL_MS": "20",
            "COUPON_WEBHOOK_MAX_ATTEMPTS": String(maxAttempts), "COUPON_EVENTS_BATCH": "64",
            "COUPON_WEBHOOK_TIMEOUT_MS": String(Patience.milliseconds(5_000)),
        ]
        if let events { environment["COUPON_EVENTS_URL"] = events }
        return try EventRulesTests.settings(environment)
    }

    /// Runs the receivers and the delivery services beside `body`, and stops them after it.
    static func running(
        _ receivers: [WebhookReceiver], _ services: [any LifecycleService], _ body: () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for receiver in receivers { group.addTask { await receiver.serve() } }
            for service in services { group.addTask { try await service.run() } }
            var failure: (any Error)?
            do {
                try await body()
            } catch {
                failure = error
            }
            for service in services { await service.shutdown() }
            for receiver in receivers { await receiver.stop() }
            try await group.waitForAll()
            if let failure { throw failure }
        }
    }

    @Test func everyEventReachesEveryWebhookAndThePublisherAFailingWebhookIncluded() async throws {
        try await Self.withMigratedDatabase { database in
            let healthy = try WebhookReceiver()
            let flaky = try WebhookReceiver(failFirst: 40)
            let settings = try Self.settings(webhooks: [healthy.url, flaky.url], events: "tcp://127.0.0.1:0")
            let metrics = Metrics()
            let services = try EventDelivery.services(
                settings, database: database, logger: Logger(service: "events-test", level: .warning), metrics: metrics)
            let publisher = try #require((services.first as? EventDispatcher)?.publisher)
            let subscriber = try Subscriber(urls: [publisher.url], prefixes: ["coupon."])
            defer { subscriber.close() }
            try await Self.running([healthy, flaky], services) {
                // One event first, republished until the subscriber is connected (PUB keeps
                // nothing for a subscriber that is not there yet).
                try await Self.issue(1, on: database)
                var first: EventMessage?
                try await Patience.waitUntil("the subscriber receiving the first event") {
                    if let bytes = try await subscriber.receive(timeoutMilliseconds: 50) {
                        first = EventMessage.decode(bytes)
                        return true
                    }
                    try await database.execute("UPDATE event_outbox SET dispatched_at = NULL")
                    return false
                }
                #expect(first?.kind == "coupon.issued")
                // Then the storm: 300 events in statements of 30.
                for batch in 0..<10 { try await Self.issue(30, from: 2 + batch * 30, on: database) }
                let expected = Set(try await database.query("SELECT event_id::text FROM event_outbox").map { try $0.decode(0, as: String.self) })
                #expect(expected.count == 301)
                let firstId = try first.map { try JSONParser.parse($0.document)["eventId"] }
                var published = Set<String>()
                var sequences: [Int64] = []
                let progress = ProgressWatch()
                while published.count < 300 && !progress.stalled() {
                    guard let bytes = try await subscriber.receive(timeoutMilliseconds: 100), let message = EventMessage.decode(bytes) else {
                        continue
                    }
                    let document = try JSONParser.parse(message.document)
                    // Copies of the first event, republished above, may still be arriving.
                    guard case .string(let id)? = document["eventId"], document["eventId"] != firstId else { continue }
                    if case .number(let text)? = document["sequence"], let sequence = Int64(text) { sequences.append(sequence) }
                    if published.insert(id).inserted { progress.advanced() }
                }
                #expect(published.isSubset(of: expected))
                #expect(sequences == sequences.sorted() && sequences.count == 300, "one dispatcher publishes each event once, in id order")
                #expect(published.count >= 300, "the subscriber, connected throughout, missed published events")
                for receiver in [healthy, flaky] {
                    try await Patience.waitUntil("every event at \(receiver.url)") { receiver.eventIds == expected }
                }
                #expect(flaky.refusedCount >= 40)
                #expect(metrics.counter("webhook_retried_total", [("webhook", flaky.url)]) >= 40)
                for receipt in healthy.receipts.prefix(20) + flaky.receipts.suffix(20) {
                    let document = try JSONParser.parse(receipt.body)
                    #expect(document["eventId"] == .string(receipt.eventId))
                    let material = Array("\(receipt.timestamp).".utf8) + receipt.body
                    #expect(receipt.signature == "sha256=" + (try HMACSHA256.hex(material, key: Array(Self.secret.utf8))))
                }
                try await Patience.waitUntil("every delivery recorded DELIVERED") {
                    try await Self.count("SELECT count(*) FROM webhook_delivery WHERE state = 'DELIVERED'", on: database) == 602
                }
            }
        }
    }

    @Test func anEventAWebhookNeverTakesIsDeadLetteredAndHoldsNothingBack() async throws {
        try await Self.withMigratedDatabase { database in
            try await Self.issue(1, on: database)
            let poison = try await database.query("SELECT event_id::text FROM event_outbox")[0].decode(0, as: String.self)
            let receiver = try WebhookReceiver(failEvents: [poison])
            let settings = try Self.settings(webhooks: [receiver.url], events: nil, maxAttempts: 3)
            let metrics = Metrics()
            let services = try EventDelivery.services(
                settings, database: database, logger: Logger(service: "events-test", level: .error), metrics: metrics)
            try await Self.running([receiver], services) {
                try await Self.issue(40, from: 2, on: database)
                try await Patience.waitUntil("the poison event dead-lettered and the rest delivered") {
                    let dead = try await Self.count("SELECT count(*) FROM webhook_delivery WHERE state = 'DEAD'", on: database)
                    let delivered = try await Self.count("SELECT count(*) FROM webhook_delivery WHERE state = 'DELIVERED'", on: database)
                    return dead == 1 && delivered == 40
                }
                let dead = try await database.query(
                    "SELECT o.event_id::text, d.attempts, d.last_error FROM webhook_delivery d JOIN event_outbox o ON o.id = d.outbox_id WHERE d.state = 'DEAD'"
                )
                #expect(try dead[0].decode(0, as: String.self) == poison)
                #expect(try dead[0].decode(1, as: Int.self) == 3)
                #expect(try dead[0].decode(2, as: String.self).contains("500"))
                #expect(metrics.counter("webhook_dead_lettered_total", [("webhook", receiver.url)]) == 1)
                #expect(receiver.eventIds.count == 40 && !receiver.eventIds.contains(poison))
            }
        }
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
