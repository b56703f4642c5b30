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
