import Foundation
import TestSupport
import Testing
import Wire

/// couponctl's reconciliation commands against a real cluster, over the binary protocol
/// (reconcile_start … incident_accept): the feed from a file with a line that fails alone, a run
/// with the self-check, its items, and the incidents.
@Suite(.serialized) struct ReconcileCtlTests {
    @Test func feedReconcileAndIncidentsFromTheCommandLine() async throws {
        try await TestCluster.with { cluster in
            let environment = ["COUPON_CENTER_URL": cluster.couponCenterURLs[0], "COUPON_TIME_ZONE": "Asia/Shanghai"]
            func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                try await runTool("couponctl", arguments, environment: environment)
            }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("feed-\(UUID().uuidString).ndjson")
            try
                (#"{"orderId":"o-1","couponId":"c-unknown","discount":5.00,"amount":20.00,"status":"PAID"}"# + "\n"
                + #"{"orderId":"o-2","couponId":"c-2","discount":5.001,"amount":20.00,"status":"PAID"}"# + "\n").write(
                    to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }

            let fed = try await run(["feed", "--file", file.path, "--date", "2026-11-30", "--json"])
            #expect(fed.status == 0, "\(fed.output)")
            let result = try JSONParser.parse(Array(fed.output.utf8))
            #expect(result["stored"] == .number("1"), "\(fed.output)")
            guard case .array(let refused)? = result["refused"] else { throw TestFailure(fed.output) }
            #expect(refused.count == 1)
            #expect(refused.first?["line"] == .number("2"))
            #expect(refused.first?["error"] == .string("INVALID_MONEY"))

            let started = try await run(["reconcile", "start", "--date", "2026-11-30", "--self-check", "--json"])
            #expect(started.status == 0, "\(started.output)")
            let summary = try JSONParser.parse(Array(started.output.utf8))
            #expect(summary["selfCheck"] == .string("PASSED"), "\(started.output)")
            #expect(summary["outcome"] == .string("DIFFERENCES"))
            #expect(summary["incidentsOpened"] == .number("0"))
            guard case .number(let runId)? = summary["runId"] else { throw TestFailure(started.output) }

            let shown = try await run(["reconcile", "run", "--run", runId])
            #expect(shown.status == 0, "\(shown.output)")
            #expect(shown.output.contains("UNKNOWN_COUPON") && shown.output.contains("c-unknown"), "\(shown.output)")
            let runs = try await run(["reconcile", "runs", "--date", "2026-11-30"])
            #expect(runs.output.contains("DIFFERENCES"), "\(runs.output)")

            let incidents = try await run(["incidents", "list", "--json"])
            #expect(try JSONParser.parse(Array(incidents.output.utf8))["incidents"] == .array([]), "\(incidents.output)")
            let unknown = try await run(["incidents", "ack", "--id", "99"])
            #expect(unknown.status == 2)
            #expect(unknown.output.contains("1105 INCIDENT_NOT_FOUND"), "\(unknown.output)")
            let badDay = try await run(["reconcile", "start", "--date", "2026-02-30"])
            #expect(badDay.status == 2)
            #expect(badDay.output.contains("1005 INVALID_ARGUMENT"), "\(badDay.output)")
        }
    }
}

/// Part 3 through the whole cluster: a DISCOUNT coupon reserving 50.00 of a 130.00 budget and used
/// at 8折 on 100.00 costs 20.00 — the 30.00 back lets a third claim through Redis and PostgreSQL —
/// and its refund returns the 20.00 and takes back what the budget has room for (10.00). Budget
/// spent, Redis's counter and the ledger's sum agree throughout (the reconciler's BUDGET and
/// COUNTERS checks).
@Suite(.serialized) struct BudgetGiveBackTests {
    @Test func aRedemptionGivesBackItsUnusedReserveAndARefundReturnsItsCost() async throws {
        try await TestCluster.with(environment: ["COUPON_RECONCILE_MARGIN_SECONDS": "0"]) { cluster in
            let start = TemplateAndClaimAPITests.isoTime(-3600)
            let end = TemplateAndClaimAPITests.isoTime(86_400)
            let created = try await cluster.http(
                "POST", "/api/coupon/template",
                json:
                    #"{"name":"8折 最高减50","type":"DISCOUNT","rate":0.8,"maxDiscount":50,"budget":130,"startTime":"\#(start)","endTime":"\#(end)","totalStock":10}"#
            )
            guard case .string(let templateId)? = created.json?["templateId"] else { throw TestFailure(created.text) }
            func issue(_ user: String) async throws -> (status: Int, json: JSONValue?) {
                let answer = try await cluster.http(
                    "POST", "/api/coupon/issue", json: #"{"userId":"\#(user)","couponType":"\#(templateId)","channel":"app"}"#)
                return (answer.status, answer.json)
            }
            func spent() async throws -> JSONValue? {
                try await cluster.http("GET", "/api/coupon/template/\(templateId)").json?["counters"]?["budgetSpent"]
            }
            let first = try await issue("u-1")
            _ = try await issue("u-2")
            #expect(try await spent() == .number("100.00"))
            let refused = try await issue("u-3")
            #expect(refused.status == 409, "a third reserve of 50.00 is past the 130.00 budget")

            guard case .string(let couponId)? = first.json?["couponId"] else { throw TestFailure("\(String(describing: first.json))") }
            let used = try await cluster.http(
                "POST", "/api/coupon/use", json: #"{"orderId":"o-1","couponId":"\#(couponId)","amount":100,"userId":"u-1"}"#)
            #expect(used.json?["discount"] == .number("20.00"), "\(used.text)")
            #expect(try await spent() == .number("70.00"))
            let third = try await issue("u-3")
            #expect(third.status == 200, "the 30.00 given back lets it through Redis too: \(String(describing: third.json))")
            #expect(try await spent() == .number("120.00"))

            let refunded = try await cluster.http("POST", "/api/coupon/refund", json: #"{"orderId":"o-1","couponId":"\#(couponId)"}"#)
            #expect(refunded.json?["status"] == .string("UNUSED"), "\(refunded.text)")
            #expect(try await spent() == .number("130.00"))

            let day = String(TemplateAndClaimAPITests.isoTime(0).prefix(10))
            let run = try await cluster.http("POST", "/api/admin/reconcile", json: #"{"date":"\#(day)","templateId":"\#(templateId)"}"#)
            #expect(run.status == 200, "\(run.text)")
            guard case .number(let runId)? = run.json?["runId"] else { throw TestFailure(run.text) }
            let items = try await cluster.http("GET", "/api/admin/reconcile/runs/\(runId)")
            guard case .array(let found)? = items.json?["items"] else { throw TestFailure(items.text) }
            #expect(
                !found.contains { [.string("BUDGET"), .string("COUNTERS")].contains($0["check"] ?? .null) }, "\(found)")
        }
    }
}
