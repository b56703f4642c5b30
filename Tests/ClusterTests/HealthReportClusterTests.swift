import CouponClient
import Foundation
import Postgres
import TestSupport
import Testing
import Wire

/// The health report over a seeded period (issue 13 part 3): the period is the last hour, the
/// previous one the hour before; rows the ledger wrote now are moved back 90 minutes to stand for
/// the previous hour. Each section must show the figures seeded: one template's use rate from 2 of
/// 10 to 6 of 10 (difference +0.4 with its interval), risk control's BLOCKED_DEVICE denials from 1
/// to 3, the incident, the alert and the experiment decided in the period, and nothing from the
/// hour before in the last three.
@Suite(.serialized) struct HealthReportClusterTests {
    @Test func aSeededPeriodShowsEachSectionWithItsFigures() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let database = try cluster.database.pool()
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "满100减20", type: .cash, thresholdCents: 10_000, discountCents: 2_000, startMilliseconds: now - 86_400_000,
                        endMilliseconds: now + 86_400_000, totalStock: 1_000, perUserLimit: 10))
            ).templateId

            // Use rates: 10 claims, 2 used, moved to the previous hour; then 10 claims, 6 used.
            func claimAndUse(_ prefix: String, uses: Int) async throws -> [String] {
                var coupons: [String] = []
                for index in 0..<10 {
                    let user = "\(prefix)-\(index)"
                    let coupon = try await client.call(ClaimRequest(userId: user, templateId: template, channel: "app")).couponId
                    if index < uses {
                        _ = try await client.call(
                            UseRequest(orderId: "o-\(user)", couponId: coupon, amountCents: 20_000, userId: user, items: []))
                    }
                    coupons.append(coupon)
                }
                return coupons
            }
            let earlier = try await claimAndUse("before", uses: 2)
            _ = try await database.query(
                "UPDATE user_coupon SET claimed_at = claimed_at - interval '90 minutes' WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                [JSONValue.array(earlier.map { .string($0) }).serialized()])
            _ = try await claimAndUse("now", uses: 6)

            // Fraud: a block-listed device, denied once an hour and a half ago and three times now.
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: Patience.callMilliseconds)
            defer { risk.close() }
            _ = try await risk.call(AddRiskListEntryRequest(list: .block, subject: .device, value: "bad-phone", ttlSeconds: 3_600))
            func deny(_ user: String) async throws {
                await #expect(throws: ServiceError.self) {
                    try await client.call(ClaimRequest(userId: user, templateId: template, channel: "app", deviceId: "bad-phone"))
                }
            }
            func audited() async throws -> Int64 {
                try await database.query("SELECT count(*)::bigint FROM risk_audit WHERE device_id = 'bad-phone'", [])[0].decode(0)
            }
            try await deny("fraud-0")
            try await Patience.waitUntil("the first denial audited") { try await audited() == 1 }
            _ = try await database.query("UPDATE risk_audit SET decided_at = decided_at - interval '90 minutes' WHERE device_id = 'bad-phone'", [])
            for index in 1...3 { try await deny("fraud-\(index)") }
            try await Patience.waitUntil("the three denials audited") { try await audited() == 4 }

            // An incident and an alert now, and one of each in the previous hour (not in the report).
            // The run is a month back: the daily job reconciles yesterday in this cluster itself.
            let runs = try await database.query(
                """
                INSERT INTO reconcile_run (business_date, scope, attempt, trigger, started_at, finished_at, judged_until, time_zone, outcome,
                                           templates, coupons_judged, feed_orders, item_count, incidents_opened, checks)
                VALUES (current_date - 30, 'all', 1, 'ON_DEMAND', now(), now(), now(), 'Asia/Shanghai', 'DIFFERENCES', 1, 20, 0, 2, 2, '[]')
                RETURNING id
                """, [])
            let run: Int64 = try runs[0].decode(0)
            let incidents = try await database.query(
                """
                INSERT INTO reconcile_incident (check_name, template_id, business_date, items, first_run_id, last_run_id, opened_at, updated_at)
                VALUES ('COUNTERS', $1, current_date - 30, 1, $2::bigint, $2::bigint, now(), now()),
                       ('BUDGET', $1, current_date - 30, 1, $2::bigint, $2::bigint, now() - interval '90 minutes', now())
                RETURNING id
                """, [template, run])
            let currentIncident: Int64 = try incidents[0].decode(0)
            let alerts = try await database.query(
                """
                INSERT INTO alert (kind, scope, cost_window, value_bp, threshold_bp, first_seen_at, last_seen_at)
                VALUES ('COST_RATIO_CEILING', 'template:health-test', '1H', 2000, 800, now(), now()),
                       ('COST_RATIO_WARNING', 'template:health-old', '1H', 700, 640, now() - interval '90 minutes', now())
                RETURNING id
                """, [])
            let currentAlert: Int64 = try alerts[0].decode(0)
            let oldAlert: Int64 = try alerts[1].decode(0)

            // An experiment decided now (stopped), and one still running (not decided).
            func experiment(_ name: String) async throws -> String {
                try await client.call(
                    CreateExperimentRequest(
                        spec: ExperimentSpec(
                            name: name, hypothesis: "",
                            arms: [
                                ExperimentArmSpec(name: "control", templateId: template, weightBuckets: 5_000),
                                ExperimentArmSpec(name: "other", templateId: template, weightBuckets: 5_000),
                            ], minLiftBasisPoints: 1_200))
                ).experimentId
            }
            let decided = try await experiment("decided")
            let running = try await experiment("running")
            _ = try await client.call(StartExperimentRequest(experimentId: decided))
            _ = try await client.call(StopExperimentRequest(experimentId: decided))
            _ = try await client.call(StartExperimentRequest(experimentId: running))

            let to = Int64(Date().timeIntervalSince1970 * 1000) + 60_000
            let from = to - 3_600_000
            let report = try await client.call(HealthReportRequest(fromMilliseconds: from, toMilliseconds: to))
            #expect(report.previousFromMilliseconds == from - 3_600_000)

            let change = try #require(report.useRates.first { $0.templateId == template }, "\(report.useRates)")
            #expect(change.previousClaims == 10 && change.previousUses == 2 && change.claims == 10 && change.uses == 6, "\(change)")
            let test = try #require(change.change)
            #expect(abs(test.difference - 0.4) < 1e-12)
            // Wald interval of the difference: 0.4 ± 1.959964 × √(0.2·0.8/10 + 0.6·0.4/10) = 0.4 ± 0.392 (0.00800, 0.79200).
            #expect(abs(test.differenceLow - 0.0080) < 1e-3 && abs(test.differenceHigh - 0.7920) < 1e-3, "\(test)")
            #expect(test.pValue < 0.1, "\(test)")

            let fraud = try #require(report.fraud, "\(report.fraudProblem ?? "")")
            let blocked = try #require(fraud.first { $0.verdict == .deny && $0.reason == "BLOCKED_DEVICE" }, "\(fraud)")
            #expect(blocked.previous == 1 && blocked.current == 3, "\(blocked)")

            #expect(report.incidents.map(\.incidentId) == [currentIncident], "\(report.incidents)")
            #expect(report.alerts.contains { $0.alertId == currentAlert } && !report.alerts.contains { $0.alertId == oldAlert }, "\(report.alerts)")
            #expect(report.experiments.map(\.experimentId) == [decided], "\(report.experiments)")

            // Over HTTP (the offset's '+' unencoded arrives as a space and is still read), and refusals.
            func iso(_ milliseconds: Int64) -> String {
                let formatter = ISO8601DateFormatter()
                formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3_600)
                return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            }
            let shown = try await cluster.http("GET", "/api/admin/health-report?from=\(iso(from - 1_000))&to=\(iso(to))")
            #expect(shown.status == 200, "\(shown.text)")
            guard case .array(let rates)? = shown.json?["useRates"], case .array(let trends)? = shown.json?["fraud"] else {
                Issue.record("no sections: \(shown.text)")
                return
            }
            #expect(rates.contains { $0["templateId"] == .string(template) && $0["useRate"] == .number("0.6") }, "\(shown.text)")
            #expect(!trends.isEmpty)
            for query in [
                "from=\(iso(to))&to=\(iso(from))", "from=2026-11-01T00:00:00&to=2026-11-02T00:00:00%2B08:00",
                "from=2025-01-01T00:00:00%2B08:00&to=2026-11-02T00:00:00%2B08:00", "to=\(iso(to))",
            ] {
                let bad = try await cluster.http("GET", "/api/admin/health-report?\(query)")
                #expect(bad.status == 400, "\(query): \(bad.text)")
            }

            // couponctl report.
            let environment = ["COUPON_CENTER_URL": cluster.couponCenterURLs[0], "COUPON_TIME_ZONE": "Asia/Shanghai"]
            let ctl = try await runTool("couponctl", ["report", "--from", iso(from), "--to", iso(to)], environment: environment)
            #expect(ctl.status == 0 && ctl.output.contains("BLOCKED_DEVICE") && ctl.output.contains("experiments decided: 1"), "\(ctl.output)")
        }
    }
}
