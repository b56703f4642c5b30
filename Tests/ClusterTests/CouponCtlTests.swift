import Foundation
import TestSupport
import Testing
import Wire

/// couponctl as an operator runs it: a process talking to a real cluster over the binary protocol.
@Suite(.serialized) struct CouponCtlTests {
    @Test func templatesClaimsWalletsAndPointsFromTheCommandLine() async throws {
        try await TestCluster.with { cluster in
            let environment = ["COUPON_CENTER_URL": cluster.couponCenterURLs[0], "COUPON_TIME_ZONE": "Asia/Shanghai"]
            func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                try await runTool("couponctl", arguments, environment: environment)
            }
            let created = try await run([
                "template", "create", "--name", "满200减30", "--type", "CASH", "--threshold", "200", "--discount", "30",
                "--start", "2026-01-01T00:00:00+08:00", "--end", "2099-01-01T00:00:00+08:00", "--stock", "2", "--json",
            ])
            #expect(created.status == 0, "\(created.output)")
            let template = try JSONParser.parse(Array(created.output.utf8))
            guard case .string(let templateId)? = template["templateId"] else {
                Issue.record("no templateId in \(created.output)")
                return
            }
            #expect(template["threshold"] == .number("200.00"))

            let issued = try await run(["issue", "--user", "alice", "--template", templateId, "--json"])
            #expect(issued.status == 0, "\(issued.output)")
            #expect(try JSONParser.parse(Array(issued.output.utf8))["discount"] == .number("30.00"))

            let wallet = try await run(["wallet", "--user", "alice"])
            #expect(wallet.status == 0)
            #expect(wallet.output.contains("UNUSED") && wallet.output.contains("满200减30"))

            // Refusals exit 2 with the error code; an unreachable service exits 3.
            _ = try await run(["issue", "--user", "bob", "--template", templateId])
            let soldOut = try await run(["issue", "--user", "carol", "--template", templateId])
            #expect(soldOut.status == 2)
            #expect(soldOut.output.contains("1200 SOLD_OUT"), "\(soldOut.output)")
            let invalid = try await run([
                "template", "create", "--name", "x", "--type", "DISCOUNT", "--rate", "1.5", "--start", "2026-01-01T00:00:00Z",
                "--end", "2027-01-01T00:00:00Z", "--stock", "1",
            ])
            #expect(invalid.status == 2)
            #expect(invalid.output.contains("rate"), "\(invalid.output)")

            let paused = try await run(["template", "pause", templateId, "--json"])
            #expect(try JSONParser.parse(Array(paused.output.utf8))["status"] == .string("PAUSED"))
            let list = try await run(["template", "list"])
            #expect(list.output.contains(templateId) && list.output.contains("PAUSED"))

            let points = try await run(["points", "grant", "--user", "alice", "--points", "7", "--json"])
            #expect(try JSONParser.parse(Array(points.output.utf8))["points"] == .number("7"))
            let profile = try await run(["profile", "--user", "alice", "--tags", "VIP", "--json"])
            #expect(try JSONParser.parse(Array(profile.output.utf8))["segments"] == .array([.string("NEW"), .string("VIP")]))

            let down = try await runTool("couponctl", ["template", "list", "--url", "tcp://127.0.0.1:\(try freeLocalPort())", "--timeout-ms", "300"])
            #expect(down.status == 3)
        }
    }
}
