import Domain
import Foundation
import Postgres
import Redis
import ServiceKit
import TestSupport
import Testing
import Wire

@testable import CouponCenter

/// A business day laid out straight in PostgreSQL, as the claim, redemption and refund paths would
/// have written it: `coupons` CASH coupons of 5.00 over `templates` templates, claimed in the first
/// half of the day; every third used six hours after its claim (order amount 20.00), those also
/// divisible by 7 refunded an hour later; template counters, day counters and budgets agree, and
/// (with `feed`) the order feed holds every used coupon's order, PAID or REFUNDED.
struct ReconcileDay {
    static let date = "2026-11-30"
    let prefix: String
    let templates: Int
    let coupons: Int

    func templateId(_ number: Int) -> String { "\(prefix)-t\(number)" }
    func couponId(_ number: Int) -> String { "\(prefix)-c\(number)" }

    /// Coupons of template `number` (1-based), as the fixture deals them out.
    func issued(_ number: Int) -> Int { (1...coupons).count { 1 + $0 % templates == number } }
    func used(_ number: Int) -> Int { (1...coupons).count { 1 + $0 % templates == number && $0 % 3 == 0 } }

    func write(_ database: PostgresPool, feed: Bool, zone: String = "Asia/Shanghai") async throws {
        _ = try await database.autocommitQuery(
            """
            WITH b AS (
                SELECT $1::date AS d, ($1::date)::timestamp AT TIME ZONE $2 AS day_start, $3::integer AS templates, $4::integer AS coupons,
                       $5::text AS prefix, $6::boolean AS feed
            ),
            templates AS (
                INSERT INTO coupon_template (id, name, type, threshold_cents, discount_cents, start_time, end_time, total_stock,
                                             issued_count, budget_spent_cents)
                SELECT b.prefix || '-t' || g, 'reconciled ' || g, 'CASH', 1000, 500, b.day_start - interval '30 days',
                       b.day_start + interval '365 days', b.coupons, n.issued, n.issued * 500
                  FROM b CROSS JOIN generate_series(1, b.templates) g
                 CROSS JOIN LATERAL (SELECT count(*) AS issued FROM generate_series(1, b.coupons) i WHERE 1 + i % b.templates = g) n
                RETURNING id
            ),
            coupons AS (
                SELECT b.prefix || '-c' || i AS id, b.prefix || '-t' || (1 + i % b.templates) AS template_id, 'u' || (i % 997) AS user_id,
                       b.day_start + make_interval(secs => i * 43200.0 / b.coupons) AS claimed_at, i % 3 = 0 AS used,
                       i % 21 = 0 AS refunded, b.prefix || '-o' || i AS order_id
                  FROM b, generate_series(1, b.coupons) i
            ),
            rows AS (
                INSERT INTO user_coupon (id, user_id, template_id, status, type, threshold_cents, discount_cents, channel, claimed_at, expires_at,
                                         order_id, order_amount_cents, applied_cents, used_at)
                SELECT c.id, c.user_id, c.template_id, CASE WHEN c.used AND NOT c.refunded THEN 'USED' ELSE 'UNUSED' END, 'CASH', 1000, 500,
                       'app', c.claimed_at, c.claimed_at + interval '400 days',
                       CASE WHEN c.used AND NOT c.refunded THEN c.order_id END, CASE WHEN c.used AND NOT c.refunded THEN 2000 END,
                       CASE WHEN c.used AND NOT c.refunded THEN 500 END,
                       CASE WHEN c.used AND NOT c.refunded THEN c.claimed_at + interval '6 hours' END
                  FROM coupons c WHERE EXISTS (SELECT 1 FROM templates)
                RETURNING id
            ),
            ledger AS (
                INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents,
                                           budget_delta_cents, created_at)
                SELECT e.id, e.template_id, e.user_id, e.event, e.from_status, e.to_status, e.order_id, e.amount, e.delta, e.at FROM (
                    SELECT c.id, c.template_id, c.user_id, 'ISSUED', NULL, 'UNUSED', NULL, 500::bigint, NULL::bigint, c.claimed_at, 1
                      FROM coupons c
                    UNION ALL
                    SELECT c.id, c.template_id, c.user_id, 'USED', 'UNUSED', 'USED', c.order_id, 500, 0, c.claimed_at + interval '6 hours', 2
                      FROM coupons c WHERE c.used
                    UNION ALL
                    SELECT c.id, c.template_id, c.user_id, 'REFUNDED', 'USED', 'UNUSED', c.order_id, 500, 0, c.claimed_at + interval '7 hours', 3
                      FROM coupons c WHERE c.refunded
                    ) e (id, template_id, user_id, event, from_status, to_status, order_id, amount, delta, at, step)
                 WHERE EXISTS (SELECT 1 FROM rows)
                 ORDER BY e.at, e.step
                RETURNING template_id
            ),
            days AS (
                INSERT INTO template_daily_issue (template_id, day, issued, daily_limit)
                SELECT template_id, (SELECT d FROM b), count(*), 2147483647 FROM coupons WHERE EXISTS (SELECT 1 FROM templates)
                 GROUP BY template_id
            )
            INSERT INTO order_feed (business_date, order_id, coupon_id, discount_cents, amount_cents, status)
            SELECT (SELECT d FROM b), c.order_id, c.id, 500, 2000, CASE WHEN c.refunded THEN 'REFUNDED' ELSE 'PAID' END
              FROM coupons c WHERE c.used AND (SELECT feed FROM b) AND EXISTS (SELECT 1 FROM rows)
            """, [Self.date, zone, templates, coupons, prefix, feed])
    }

    /// Redis's counters as the claim path keeps them, equal to the truth.
    func writeRedis(_ redis: RedisPool) async throws {
        for number in 1...templates {
            let keys = StockCounters.Keys(templateId: templateId(number), day: Self.date, userId: "")
            _ = try await redis.command(["SET", keys.issued, String(issued(number)), "EX", "3600"])
            _ = try await redis.command(["SET", keys.spent, String(issued(number) * 500), "EX", "3600"])
        }
    }
}

extension InProcessCouponCenter {
    /// `POST /api/admin/reconcile`, expecting success.
    func reconcile(_ body: String) async throws -> JSONValue {
        let answer = try await call("POST", "/api/admin/reconcile", body)
        #expect(answer.status == 200, "\(answer.json)")
        return answer.json
    }

    /// Every item of a run, following the pages.
    func items(_ run: JSONValue) async throws -> [JSONValue] {
        guard case .number(let id)? = run["runId"] else { throw TestFailure("no runId in \(run)") }
        var items: [JSONValue] = []
        var offset: JSONValue = .integer(0)
        while case .number(let next) = offset {
            let page = try await call("GET", "/api/admin/reconcile/runs/\(id)?limit=50&offset=\(next)")
            #expect(page.status == 200, "\(page.json)")
            guard case .array(let some)? = page.json["items"] else { throw TestFailure("no items in \(page.json)") }
            items += some
            offset = page.json["nextOffset"] ?? .null
        }
        return items
    }

    func count(_ sql: SQL) async throws -> Int64 { try await database.query(sql, [])[0].decode(0) }
}

extension JSONValue {
    /// The element at `index` of an array (nil for anything else).
    subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }
}

func redisForTests() throws -> RedisPool {
    RedisPool(config: try RedisConfig(url: try requiredEnvironment("TEST_REDIS_URL"), poolSize: 1))
}

func uniquePrefix(_ name: String) -> String { name + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36) }

/// Reconciliation through the HTTP routes, in process, over the test PostgreSQL and Redis.
@Suite struct ReconcileTests {
    /// The acceptance's clean day (Deploy/bench runs it with RECONCILE_DAY_COUPONS=100000).
    @Test func aCleanDayReconcilesWithNoItemsAndNoIncidentsAndTheSelfCheckTouchesNothing() async throws {
        let coupons = Int(ProcessInfo.processInfo.environment["RECONCILE_DAY_COUPONS"] ?? "") ?? 10_000
        try await InProcessCouponCenter.with { center in
            let day = ReconcileDay(prefix: uniquePrefix("clean"), templates: 20, coupons: coupons)
            try await day.write(center.database, feed: true)
            let redis = try redisForTests()
            try await day.writeRedis(redis)
            let before = try await center.count("SELECT (SELECT count(*) FROM coupon_ledger) + (SELECT count(*) FROM event_outbox)")

            let run = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","selfCheck":true}"#)
            #expect(run["outcome"] == .string("CLEAN"), "\(run)")
            #expect(run["itemCount"] == .integer(0))
            #expect(run["incidentsOpened"] == .integer(0))
            #expect(run["couponsJudged"] == .integer(coupons))
            #expect(run["feedOrders"] == .integer((1...20).map(day.used).reduce(0, +)))
            #expect(run["templates"] == .integer(20))
            #expect(run["selfCheck"] == .string("PASSED"), "\(run)")
            #expect(run["selfCheckMissed"] == .array([]))
            #expect(run["reused"] == .bool(false))
            // Printed for Deploy/bench beside a baseline (one scan of the day's ledger and coupons), never asserted.
            let scanStarted = ContinuousClock.now
            _ = try await center.database.query(
                "SELECT (SELECT count(*) FROM coupon_ledger), (SELECT count(*) FROM user_coupon), (SELECT count(*) FROM order_feed)", [])
            let scan = (ContinuousClock.now - scanStarted).wholeMilliseconds
            if case .number(let milliseconds)? = run["milliseconds"] {
                print(
                    "reconcile: a clean day of \(coupons) coupons over 20 templates, with the self-check, in \(milliseconds) ms; baseline: counting the ledger, coupons and feed once, \(scan) ms"
                )
            }

            // Nothing real was written by the checks or the self-check: no ledger row, no event.
            #expect(try await center.count("SELECT (SELECT count(*) FROM coupon_ledger) + (SELECT count(*) FROM event_outbox)") == before)
            #expect(try await center.count("SELECT count(*) FROM reconcile_incident") == 0)
            #expect(try await center.items(run).isEmpty)
            let incidents = try await center.call("GET", "/api/admin/incidents")
            #expect(incidents.json["incidents"] == .array([]))

            // The same day and scope again is the same run; `rerun` is a second attempt.
            let again = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)"}"#)
            #expect(again["runId"] == run["runId"])
            #expect(again["reused"] == .bool(true))
            let rerun = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","rerun":true}"#)
            #expect(rerun["attempt"] == .integer(2))
            #expect(rerun["outcome"] == .string("CLEAN"))
            let runs = try await center.call("GET", "/api/admin/reconcile/runs?date=\(ReconcileDay.date)")
            guard case .array(let listed)? = runs.json["runs"] else { throw TestFailure("no runs: \(runs.json)") }
            #expect(listed.map { $0["attempt"] } == [.integer(2), .integer(1)])
        }
    }

    /// Each planted fault, on a template of its own, found and named by a run of that template.
    @Test func eachPlantedFaultIsFoundAndNamedAndOpensAnIncident() async throws {
        try await InProcessCouponCenter.with { center in
            let day = ReconcileDay(prefix: uniquePrefix("fault"), templates: 4, coupons: 400)
            try await day.write(center.database, feed: true)
            let redis = try redisForTests()
            try await day.writeRedis(redis)
            _ = try await center.database.query("ALTER TABLE coupon_ledger DISABLE TRIGGER coupon_ledger_no_update", [])
            // Coupon n belongs to template 1 + n % 4: c4 → t1 (unused), c9 → t2 (used), c10 → t3 (unused); t4 takes Redis +5.
            _ = try await center.database.query("DELETE FROM coupon_ledger WHERE coupon_id = $1", [day.couponId(4)])
            _ = try await center.database.query(
                """
                INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents,
                                           budget_delta_cents, created_at)
                SELECT coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents, budget_delta_cents,
                       created_at + interval '1 minute'
                  FROM coupon_ledger WHERE coupon_id = $1 AND event = 'USED'
                """, [day.couponId(9)])
            _ = try await center.database.query("UPDATE user_coupon SET status = 'EXPIRED' WHERE id = $1", [day.couponId(10)])
            let redisKeys = StockCounters.Keys(templateId: day.templateId(4), day: ReconcileDay.date, userId: "")
            _ = try await redis.command(["INCRBY", redisKeys.issued, "5"])

            let expected: [(template: Int, check: String, code: String, coupon: String?)] = [
                (1, "COUPON_STATE", "MISSING_LEDGER", day.couponId(4)),
                (2, "COUPON_STATE", "DUPLICATED_EVENT", day.couponId(9)),
                (3, "COUPON_STATE", "STATUS_MISMATCH", day.couponId(10)),
                (4, "COUNTERS", "REDIS_ISSUED_MISMATCH", nil),
            ]
            for fault in expected {
                let run = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(day.templateId(fault.template))"}"#)
                #expect(run["outcome"] == .string("DIFFERENCES"), "\(fault.code): \(run)")
                let items = try await center.items(run)
                let found = items.contains {
                    $0["check"] == .string(fault.check) && $0["code"] == .string(fault.code)
                        && (fault.coupon.map { .string($0) } ?? JSONValue.null) == ($0["couponId"] ?? .null)
                }
                #expect(found, "\(fault.code) not among \(items)")
                #expect(run["incidentsOpened"] != .integer(0), "\(fault.code): \(run)")
            }
            let redisItem = try await center.items(
                try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(day.templateId(4))"}"#))
            #expect(redisItem.first?["expected"] == .string(String(day.issued(4))))
            #expect(redisItem.first?["actual"] == .string(String(day.issued(4) + 5)))

            // The incidents: one per check and template (the deleted ISSUED row also shows in t1's
            // counters and budget), as events too.
            let open = try await center.call("GET", "/api/admin/incidents?status=open")
            guard case .array(let incidents)? = open.json["incidents"] else { throw TestFailure("\(open.json)") }
            #expect(
                Set(incidents.compactMap { incident in incident["check"]?.text.map { "\($0) \(incident["templateId"]?.text ?? "")" } }) == [
                    "COUPON_STATE \(day.templateId(1))", "COUNTERS \(day.templateId(1))", "BUDGET \(day.templateId(1))",
                    "COUPON_STATE \(day.templateId(2))", "COUPON_STATE \(day.templateId(3))", "COUNTERS \(day.templateId(4))",
                ], "\(incidents)")
            #expect(try await center.count("SELECT count(*) FROM event_outbox WHERE kind = 'incident.opened'") == 6)

            // ack → ACKNOWLEDGED; the row put back → a later run resolves it; then it takes no action.
            guard let statusIncident = incidents.first(where: { $0["templateId"] == .string(day.templateId(3)) }),
                case .number(let statusId)? = statusIncident["incidentId"]
            else { throw TestFailure("no incident for template 3: \(incidents)") }
            let acknowledged = try await center.call("POST", "/api/admin/incidents/\(statusId)/ack")
            #expect(acknowledged.json["status"] == .string("ACKNOWLEDGED"), "\(acknowledged.json)")
            _ = try await center.database.query("UPDATE user_coupon SET status = 'UNUSED' WHERE id = $1", [day.couponId(10)])
            let clean = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(day.templateId(3))","rerun":true}"#)
            #expect(clean["outcome"] == .string("CLEAN"), "\(clean)")
            let resolved = try await center.call("GET", "/api/admin/incidents?status=resolved")
            #expect(resolved.json["incidents"]?[0]?["incidentId"] == .number(statusId), "\(resolved.json)")
            let late = try await center.call("POST", "/api/admin/incidents/\(statusId)/accept", #"{"note":"too late"}"#)
            #expect(late.status == 409)
            #expect(late.json.code == Int(ErrorCode.incidentState.rawValue))
            #expect(
                try await center.count("SELECT count(*) FROM event_outbox WHERE kind IN ('incident.acknowledged', 'incident.resolved')") == 2)

            // The same fault again reopens it.
            _ = try await center.database.query("UPDATE user_coupon SET status = 'EXPIRED' WHERE id = $1", [day.couponId(10)])
            let dirty = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(day.templateId(3))","rerun":true}"#)
            #expect(dirty["incidentsOpened"] == .integer(1), "\(dirty)")
            let reopened = try await center.call("GET", "/api/admin/incidents?status=open")
            guard case .array(let openAgain)? = reopened.json["incidents"] else { throw TestFailure("\(reopened.json)") }
            #expect(openAgain.contains { $0["incidentId"] == .number(statusId) }, "\(reopened.json)")
            #expect(try await center.count("SELECT count(*) FROM event_outbox WHERE kind = 'incident.opened'") == 7)

            // Unknown ids and bad input.
            #expect(try await center.call("POST", "/api/admin/incidents/999999/ack").json.code == Int(ErrorCode.incidentNotFound.rawValue))
            #expect(try await center.call("GET", "/api/admin/reconcile/runs/999999").json.code == Int(ErrorCode.reconcileRunNotFound.rawValue))
            for body in [#"{"date":"2026-02-30"}"#, #"{"date":"2999-01-01"}"#, #"{"date":"2026-11-30","templateId":"nope"}"#, #"{"date":1}"#] {
                let refused = try await center.call("POST", "/api/admin/reconcile", body)
                #expect([400, 404, 409].contains(refused.status), "\(body): \(refused.json)")
            }
        }
    }

    /// The feed through its endpoint: one order's discount off by a cent is listed without alarm;
    /// 2 of 1,000 orders missing is a 0.2% difference: an alarm, an alert and an incident.
    @Test func feedDifferencesAreListedAndAlarmedAboveATenthOfAPercent() async throws {
        try await InProcessCouponCenter.with { center in
            let day = ReconcileDay(prefix: uniquePrefix("feed"), templates: 1, coupons: 3_000)
            try await day.write(center.database, feed: false)
            let orders = try await center.database.query(
                """
                SELECT l.order_id, l.coupon_id, EXISTS (SELECT 1 FROM coupon_ledger r WHERE r.coupon_id = l.coupon_id AND r.event = 'REFUNDED')
                  FROM coupon_ledger l WHERE l.template_id = $1 AND l.event = 'USED' ORDER BY l.id
                """, [day.templateId(1)])
            #expect(orders.count == 1_000)
            func line(_ index: Int, discount: String = "5.00") throws -> String {
                let row = orders[index]
                let refunded: Bool = try row.decode(2)
                return
                    #"{"orderId":"\#(try row.decode(0, as: String.self))","couponId":"\#(try row.decode(1, as: String.self))","discount":\#(discount),"amount":20.00,"status":"\#(refunded ? "REFUNDED" : "PAID")"}"#
            }
            func post(_ lines: [String]) async throws -> JSONValue {
                var refused: [JSONValue] = []
                for start in stride(from: 0, to: lines.count, by: 400) {
                    let body = lines[start..<min(start + 400, lines.count)].joined(separator: "\n")
                    let answer = try await center.call("POST", "/api/admin/reconcile/feed?date=\(ReconcileDay.date)", body)
                    #expect(answer.status == 200, "\(answer.json)")
                    if case .array(let some)? = answer.json["refused"] { refused += some }
                }
                return .array(refused)
            }
            // Which orders are paid (a refunded one counts no money either side).
            let paid = try orders.indices.filter { !(try orders[$0].decode(2, as: Bool.self)) }
            let (offByACent, missing) = (paid[10], Set(paid[20...21]))

            // First the whole feed, one line off by a cent.
            var lines = try orders.indices.map { try line($0, discount: $0 == offByACent ? "4.99" : "5.00") }
            #expect(try await post(lines) == .array([]))
            let template = day.templateId(1)
            let small = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(template)"}"#)
            let smallItems = try await center.items(small)
            #expect(smallItems.map { $0["code"] } == [.string("DISCOUNT_MISMATCH")], "\(smallItems)")
            #expect(smallItems.first?["orderId"] == .string(try orders[offByACent].decode(0, as: String.self)))
            #expect(smallItems.first?["expected"] == .string("500"))
            #expect(smallItems.first?["actual"] == .string("499"))
            #expect(small["incidentsOpened"] == .integer(0), "\(small)")
            let money = small["checks"].flatMap { checks -> JSONValue? in
                guard case .array(let all) = checks else { return nil }
                return all.first { $0["check"] == .string("MONEY") }
            }
            #expect(money?["alarm"] == .bool(false), "\(small)")
            #expect(money?["difference"] == .number("0.00"))

            // Posting again changes nothing; the corrected line replaces the stored one.
            lines[offByACent] = try line(offByACent)
            let repost = try await center.call("POST", "/api/admin/reconcile/feed?date=\(ReconcileDay.date)", lines[0..<400].joined(separator: "\n"))
            #expect(repost.json["unchanged"] == .integer(offByACent < 400 ? 399 : 400), "\(repost.json)")
            #expect(repost.json["replaced"] == .integer(offByACent < 400 ? 1 : 0))

            // Then two orders gone from the order system's view.
            _ = try await center.database.query(
                "DELETE FROM order_feed WHERE business_date = $1::date AND order_id IN ($2, $3)",
                [ReconcileDay.date, try orders[paid[20]].decode(0, as: String.self), try orders[paid[21]].decode(0, as: String.self)])
            _ = try await post(lines.enumerated().filter { !missing.contains($0.offset) }.map(\.element))
            let large = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(template)","rerun":true}"#)
            let largeItems = try await center.items(large)
            #expect(largeItems.count { $0["code"] == .string("REDEMPTION_WITHOUT_ORDER") } == 2, "\(largeItems)")
            #expect(largeItems.contains { $0["check"] == .string("MONEY") && $0["code"] == .string("MONEY_DIFFERENCE") }, "\(largeItems)")
            #expect(large["incidentsOpened"] == .integer(1), "\(large)")
            let alerts = try await center.call("GET", "/api/admin/alerts?status=firing")
            guard case .array(let firing)? = alerts.json["alerts"] else { throw TestFailure("\(alerts.json)") }
            #expect(
                firing.contains { $0["kind"] == .string("RECONCILE_MONEY") && $0["scope"] == .string("reconcile:\(ReconcileDay.date):\(template)") })

            // An operator accepts the money incident; a later dirty run leaves it accepted.
            let incidents = try await center.call("GET", "/api/admin/incidents?status=open")
            guard case .number(let moneyId)? = incidents.json["incidents"]?[0]?["incidentId"] else { throw TestFailure("\(incidents.json)") }
            #expect(incidents.json["incidents"]?[0]?["check"] == .string("MONEY"))
            let accepted = try await center.call("POST", "/api/admin/incidents/\(moneyId)/accept", #"{"note":"two orders lost by the order system"}"#)
            #expect(accepted.json["status"] == .string("ACCEPTED"), "\(accepted.json)")
            _ = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(template)","rerun":true}"#)
            let still = try await center.call("GET", "/api/admin/incidents?status=accepted")
            #expect(still.json["incidents"]?[0]?["incidentId"] == .number(moneyId))

            // The lost orders come back: the alarm resolves.
            _ = try await post(missing.sorted().map { try line($0) })
            let whole = try await center.reconcile(#"{"date":"\#(ReconcileDay.date)","templateId":"\#(template)","rerun":true}"#)
            #expect(whole["outcome"] == .string("CLEAN"), "\(whole)")
            let after = try await center.call("GET", "/api/admin/alerts?status=firing")
            #expect(after.json["alerts"] == .array([]), "\(after.json)")

            // A bad line fails alone.
            let mixed = try await center.call(
                "POST", "/api/admin/reconcile/feed?date=\(ReconcileDay.date)",
                #"{"orderId":"x-1","couponId":"c","discount":1.001,"amount":2,"status":"PAID"}"# + "\n"
                    + #"{"orderId":"x-2","discount":0,"amount":2,"status":"PAID"}"#)
            #expect(mixed.json["stored"] == .integer(1), "\(mixed.json)")
            #expect(mixed.json["refused"]?[0]?["line"] == .integer(1))
            #expect(mixed.json["refused"]?[0]?["code"] == .integer(ErrorCode.invalidMoney.rawValue))
        }
    }

    /// A fault at 23:30 (and one at 00:15) local time belongs to that local day, not to the UTC day
    /// nor the next: Asia/Shanghai's 00:15 is the day before in UTC.
    @Test func aFaultLateOrEarlyInTheLocalDayBelongsToThatLocalDay() async throws {
        try await InProcessCouponCenter.with { center in
            let template = uniquePrefix("zone")
            _ = try await center.database.query(
                """
                WITH t AS (
                    INSERT INTO coupon_template (id, name, type, threshold_cents, discount_cents, start_time, end_time, total_stock,
                                                 issued_count, budget_spent_cents)
                    VALUES ($1, 'zone', 'CASH', 1000, 500, '2026-01-01T00:00:00+08:00', '2027-01-01T00:00:00+08:00', 10, 2, 1000)
                    RETURNING id
                ),
                c AS (
                    INSERT INTO user_coupon (id, user_id, template_id, status, type, threshold_cents, discount_cents, channel, claimed_at, expires_at)
                    SELECT $1 || x.suffix, 'u', (SELECT id FROM t), 'REVOKED', 'CASH', 1000, 500, 'app', x.at, x.at + interval '30 days'
                      FROM (VALUES ('-late', '2026-11-30T23:30:00+08:00'::timestamptz), ('-early', '2026-11-30T00:15:00+08:00'::timestamptz)) x(suffix, at)
                    RETURNING id, claimed_at
                ),
                l AS (
                    INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents, created_at)
                    SELECT id, $1, 'u', 'ISSUED', NULL, 'UNUSED', 500, claimed_at FROM c
                )
                INSERT INTO template_daily_issue (template_id, day, issued, daily_limit)
                SELECT (SELECT id FROM t), '2026-11-30', 2, 2147483647
                """, [template])
            let onTheDay = try await center.items(try await center.reconcile(#"{"date":"2026-11-30","templateId":"\#(template)"}"#))
            #expect(
                Set(onTheDay.filter { $0["code"] == .string("STATUS_MISMATCH") }.compactMap { $0["couponId"]?.text })
                    == [template + "-late", template + "-early"], "\(onTheDay)")
            for other in ["2026-11-29", "2026-12-01"] {
                let items = try await center.items(try await center.reconcile(#"{"date":"\#(other)","templateId":"\#(template)"}"#))
                #expect(!items.contains { $0["check"] == .string("COUPON_STATE") }, "\(other): \(items)")
            }
        }
    }

    /// A self-check whose checks miss faults says which: the script without its COUPON_STATE part
    /// misses three of the four.
    @Test func aBlindSelfCheckNamesTheFaultsItMissed() async throws {
        try await InProcessCouponCenter.with { center in
            let passed = try await SelfCheck.run(database: center.database, timeZone: "Asia/Shanghai")
            #expect(passed.missed == [])
            let text = String(decoding: PackageResources.reconcile_checks_sql, as: UTF8.self)
            guard let start = text.range(of: "-- COUPON_STATE"), let end = text.range(of: "-- COUNTERS") else {
                throw TestFailure("the script's sections moved")
            }
            let blind = SQL(unsafeSQL: String(text[..<start.lowerBound]) + String(text[end.lowerBound...]))
            let missed = try await SelfCheck.run(database: center.database, timeZone: "Asia/Shanghai", script: blind)
            #expect(missed.missed == ["deleted ledger row", "duplicated USED row", "row changed behind the ledger"], "\(missed)")
            #expect(missed.outcome == .blind)
            #expect(try await center.count("SELECT count(*) FROM coupon_template WHERE id = 'reconciler-self-check'") == 0)
        }
    }

    /// Part 3: a rate coupon's reserve given back at redemption, a refund's cost returned, and the
    /// reconciler's BUDGET check holding budget spent equal to the ledger's sum throughout.
    @Test func aDiscountCouponSpendsWhatItCostAndARefundReturnsIt() async throws {
        try await InProcessCouponCenter.with { center in
            let template = uniquePrefix("budget")
            _ = try await center.database.query(
                """
                WITH t AS (
                    INSERT INTO coupon_template (id, name, type, rate_bp, max_discount_cents, start_time, end_time, total_stock, budget_cents,
                                                 issued_count, budget_spent_cents)
                    VALUES ($1, '8折 max 50', 'DISCOUNT', 8000, 5000, '2026-01-01T00:00:00+08:00', '2036-01-01T00:00:00+08:00', 10, 10000, 2, 10000)
                    RETURNING id
                ),
                c AS (
                    INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, rate_bp, max_discount_cents, channel,
                                             claimed_at, expires_at)
                    SELECT $1 || x, 'u', (SELECT id FROM t), 'DISCOUNT', 0, 0, 8000, 5000, 'app', now() - interval '1 hour',
                           now() + interval '30 days'
                      FROM unnest(ARRAY['-a', '-b']) x
                    RETURNING id
                )
                INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents)
                SELECT id, $1, 'u', 'ISSUED', NULL, 'UNUSED', 0 FROM c
                """, [template])
            func spent() async throws -> Int64 {
                try await center.database.query("SELECT budget_spent_cents FROM coupon_template WHERE id = $1", [template])[0].decode(0)
            }
            // 8折 on 100.00 is 20.00 off: 30.00 of the 50.00 reserved comes back.
            let uses =
                #"[{"idx":0,"couponId":"\#(template)-a","orderId":"o-a","amount":10000,"applied":2000,"payload":"p","response":{}},{"idx":1,"couponId":"\#(template)-b","orderId":"o-b","amount":10000,"applied":2000,"payload":"p","response":{}}]"#
            let redeemed = try await center.database.autocommitQuery(
                "SELECT idx, used, template_id, budget_back FROM redeem_coupons($1::jsonb)", [uses])
            #expect(try redeemed.map { try $0.decode(1, as: Bool.self) } == [true, true])
            #expect(try redeemed.map { try $0.decode(3, as: Int64.self) } == [3_000, 3_000])
            #expect(try await spent() == 4_000)
            let deltas = try await center.database.query(
                "SELECT budget_delta_cents FROM coupon_ledger WHERE template_id = $1 AND event = 'USED' ORDER BY id", [template])
            #expect(try deltas.map { try $0.decode(0, as: Int64.self) } == [-3_000, -3_000])

            // Refunded while valid: the 20.00 comes back and the coupon holds its 50.00 again.
            #expect(
                try await center.database.autocommitQuery("SELECT refund_coupon($1, 'o-a')", [template + "-a"])[0].decode(0, as: String.self)
                    == "UNUSED")
            #expect(try await spent() == 7_000)
            // Refunded after its expiry: the coupon is done, everything it held comes back.
            _ = try await center.database.query("UPDATE user_coupon SET expires_at = now() - interval '1 minute' WHERE id = $1", [template + "-b"])
            #expect(
                try await center.database.autocommitQuery("SELECT refund_coupon($1, 'o-b')", [template + "-b"])[0].decode(0, as: String.self)
                    == "EXPIRED")
            #expect(try await spent() == 5_000)

            let run = try await center.reconcile(
                #"{"date":"\#(Timestamp.day(unixMilliseconds(), in: TimeZone(identifier: "Asia/Shanghai")!))","templateId":"\#(template)"}"#)
            let items = try await center.items(run)
            #expect(!items.contains { $0["check"] == .string("BUDGET") }, "\(items)")
            // And the check can fail: a budget moved behind the ledger's back is a BUDGET item.
            _ = try await center.database.query("UPDATE coupon_template SET budget_spent_cents = budget_spent_cents - 1 WHERE id = $1", [template])
            let moved = try await center.items(
                try await center.reconcile(
                    #"{"date":"\#(Timestamp.day(unixMilliseconds(), in: TimeZone(identifier: "Asia/Shanghai")!))","templateId":"\#(template)","rerun":true}"#
                ))
            #expect(
                moved.contains { $0["code"] == .string("BUDGET_MISMATCH") && $0["expected"] == .string("5000") && $0["actual"] == .string("4999") },
                "\(moved)")
        }
    }

    /// A blind self-check through a whole run: a critical RECONCILER_BLIND alert fires (an event
    /// too), the run says which faults were missed, and a later passing self-check resolves it. The
    /// daily job runs the day before once, with the self-check, as its leader.
    @Test func aBlindRunAlertsAndThePassingDailyRunResolvesIt() async throws {
        try await InProcessCouponCenter.with { center in
            let zone = try #require(TimeZone(identifier: "Asia/Shanghai"))
            let text = String(decoding: PackageResources.reconcile_checks_sql, as: UTF8.self)
            guard let start = text.range(of: "-- COUPON_STATE"), let end = text.range(of: "-- COUNTERS") else {
                throw TestFailure("the script's sections moved")
            }
            var blind = ReconcileService(
                store: ReconcileStore(database: center.database), redis: try redisForTests(),
                settings: ReconcileSettings(dailyAtMinutes: 120, marginSeconds: 300, timeZone: zone),
                logger: Logger(service: "coupon-center", level: .error), metrics: Metrics())
            blind.selfCheckScript = SQL(unsafeSQL: String(text[..<start.lowerBound]) + String(text[end.lowerBound...]))
            let run = try await blind.start(ReconcileStartRequest(businessDate: "2026-11-27", selfCheck: true))
            #expect(run.selfCheck == .blind)
            #expect(run.selfCheckMissed == ["deleted ledger row", "duplicated USED row", "row changed behind the ledger"])
            let firing = try await center.call("GET", "/api/admin/alerts?status=firing")
            #expect(firing.json["alerts"]?[0]?["kind"] == .string("RECONCILER_BLIND"), "\(firing.json)")
            #expect(firing.json["alerts"]?[0]?["scope"] == .string("reconcile:self-check"))
            #expect(try await center.count("SELECT count(*) FROM event_outbox WHERE kind = 'alert.fired'") == 1)

            // 2026-11-29 10:00 local: the day before is due, once.
            var sighted = blind
            sighted.selfCheckScript = ReconcileChecks.script
            let job = ReconcileJob(service: sighted, locks: RedisLock(pool: try redisForTests()), logger: sighted.logger)
            let morning: Int64 = 1_795_917_600_000
            #expect(Timestamp.formatISO8601(morning, in: zone) == "2026-11-29T10:00:00.000+08:00")
            let daily = try #require(try await job.runDue(now: morning))
            #expect(daily.businessDate == "2026-11-28")
            #expect(daily.selfCheck == .passed)
            #expect(daily.attempt == 1)
            #expect(try await job.runDue(now: morning) == nil, "a day with a run is not run again")
            #expect(try await job.runDue(now: morning - 9 * 3_600_000) == nil, "01:00 is before COUPON_RECONCILE_AT")
            let resolved = try await center.call("GET", "/api/admin/alerts?status=resolved")
            #expect(resolved.json["alerts"]?[0]?["kind"] == .string("RECONCILER_BLIND"), "\(resolved.json)")
        }
    }
}

/// When the daily job looks and which day it reconciles, in the configured zone.
@Suite struct ReconcileScheduleTests {
    let settings = ReconcileSettings(dailyAtMinutes: 120, marginSeconds: 300, timeZone: TimeZone(identifier: "Asia/Shanghai")!)

    @Test func theDayBeforeIsDueOnceTheLocalRunTimeHasPassed() {
        // 2026-11-30 01:59:59 and 02:00:00 in Shanghai (17:59:59 and 18:00:00 UTC the day before).
        let before: Int64 = 1_795_975_199_000
        #expect(settings.dueDay(before) == nil)
        #expect(settings.dueDay(before + 1_000) == "2026-11-29")
        #expect(settings.dueDay(before + 1_000 + 21 * 3_600_000) == "2026-11-29")
        #expect(settings.untilNextLook(before) == .seconds(1))
        #expect(settings.untilNextLook(before + 1_000) == .seconds(3_600))
    }

    @Test(arguments: [("02:00", 120), ("00:00", 0), ("23:59", 1_439)] as [(String, Int)])
    func runTimesAreHoursAndMinutes(text: String, minutes: Int) {
        #expect(ReconcileSettings.minutesOfDay(text) == minutes)
    }

    @Test(arguments: ["24:00", "2:00", "02:60", "0200", "", "02:00:00", "ab:cd"])
    func otherRunTimesAreRefused(text: String) {
        #expect(ReconcileSettings.minutesOfDay(text) == nil)
    }
}
