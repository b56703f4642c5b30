import CouponClient
import Foundation
import Postgres
import Testing
import TestSupport
import Wire

/// risk-control in the claim path: its rules refuse abuse, its admin calls change them without a
/// restart, its decisions are audited, and coupon-center's failure policy holds when it is gone.
@Suite(.serialized) struct RiskControlClusterTests {
    static func template(_ client: ServiceClient, type: CouponType = .cash, stock: Int32 = 1000) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var spec = TemplateSpec(
            name: "risk \(type.rawValue)", type: type, thresholdCents: 0, discountCents: type == .cash ? 500 : 0,
            startMilliseconds: now - 60_000, endMilliseconds: now + 86_400_000, totalStock: stock, perUserLimit: 5)
        if type == .free { spec.maxDiscountCents = 5_000 }
        return try await client.call(CreateTemplateRequest(spec: spec)).templateId
    }

    @Test func oneDeviceWithFiftyAccountsGetsOnlyTheConfiguredNumber() async throws {
        let rulesFile = FileManager.default.temporaryDirectory.appendingPathComponent("risk-rules-\(UUID().uuidString).json")
        try Data(#"{"accountsPerDevicePerDay": 3, "newAccountHours": 0}"#.utf8).write(to: rulesFile)
        defer { try? FileManager.default.removeItem(at: rulesFile) }
        try await TestCluster.with(environment: ["RISK_RULES_FILE": rulesFile.path, "RISK_AUDIT_INTERVAL_MS": "50"]) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let templateId = try await Self.template(client)
            var issued = 0
            var denied = 0
            for account in 0..<50 {
                do {
                    _ = try await client.call(
                        ClaimRequest(userId: "farm-\(account)", templateId: templateId, channel: "app", deviceId: "phone-1", ip: "203.0.113.7"))
                    issued += 1
                } catch let error as ServiceError {
                    #expect(error.code == .riskDenied, "\(error)")
                    denied += 1
                }
            }
            #expect(issued == 3)
            #expect(denied == 47)

            // The rules change without a restart: the file, then an admin call.
            try Data(#"{"accountsPerDevicePerDay": 5, "newAccountHours": 0}"#.utf8).write(to: rulesFile)
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL])
            defer { risk.close() }
            #expect(try await risk.call(ReloadRiskRulesRequest()).accountsPerDevicePerDay == 5)
            for account in 3..<10 {
                _ = try? await client.call(
                    ClaimRequest(userId: "farm-\(account)", templateId: templateId, channel: "app", deviceId: "phone-1", ip: "203.0.113.7"))
            }
            var rules = try await risk.call(GetRiskRulesRequest())
            rules.accountsPerDevicePerDay = 0  // off
            _ = try await risk.call(SetRiskRulesRequest(rules: rules))
            _ = try await client.call(ClaimRequest(userId: "farm-40", templateId: templateId, channel: "app", deviceId: "phone-1"))

            // A block-listed device is refused whoever uses it; an allow-listed user passes.
            _ = try await risk.call(AddRiskListEntryRequest(list: .block, subject: .device, value: "stolen-phone", ttlSeconds: 3600))
            let blocked = await #expect(throws: ServiceError.self) {
                try await client.call(ClaimRequest(userId: "someone", templateId: templateId, channel: "app", deviceId: "stolen-phone"))
            }
            #expect(blocked?.code == .riskDenied)
            _ = try await risk.call(AddRiskListEntryRequest(list: .allow, subject: .user, value: "vip-tester"))
            _ = try await client.call(ClaimRequest(userId: "vip-tester", templateId: templateId, channel: "app", deviceId: "stolen-phone"))
            #expect(try await risk.call(GetRiskListRequest(list: .block, subject: .device)).entries.map(\.value) == ["stolen-phone"])

            // Every decision is audited, off the decision path.
            let database = try cluster.database.pool()
            var audited: Int64 = 0
            for _ in 0..<50 where audited < 50 {
                try await Task.sleep(for: .milliseconds(100))
                audited = try await database.query("SELECT count(*)::bigint FROM risk_audit")[0].decode(0)
            }
            #expect(audited >= 50)
            let deviceDenials = try await database.query(
                "SELECT count(*)::bigint FROM risk_audit WHERE verdict = 'DENY' AND 'DEVICE_ACCOUNTS' = ANY(reasons)")[0].decode(0, as: Int64.self)
            // 47 at the first limit, then farm-5…9 above the reloaded limit of 5.
            #expect(deviceDenials == 47 + 5)
            await database.close()
        }
    }

    @Test func withRiskControlDownFreeAndExchangeFailClosedAndTheRestFailOpen() async throws {
        try await TestCluster.with(environment: ["COUPON_DEPENDENCY_TIMEOUT_MS": "300"]) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let cash = try await Self.template(client, type: .cash)
            let free = try await Self.template(client, type: .free)
            await cluster.riskControl?.killNow()
            _ = try await client.call(ClaimRequest(userId: "u1", templateId: cash, channel: "app"))
            let closed = await #expect(throws: ServiceError.self) {
                try await client.call(ClaimRequest(userId: "u1", templateId: free, channel: "app"))
            }
            #expect(closed?.code == .dependencyUnavailable)
        }
    }

    @Test func newAccountsAskingForFreeCouponsAreHeldForReview() async throws {
        // The built-in thresholds (an empty rules file keeps every default).
        let rulesFile = FileManager.default.temporaryDirectory.appendingPathComponent("risk-defaults-\(UUID().uuidString).json")
        try Data("{}".utf8).write(to: rulesFile)
        defer { try? FileManager.default.removeItem(at: rulesFile) }
        try await TestCluster.with(environment: ["RISK_RULES_FILE": rulesFile.path]) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let free = try await Self.template(client, type: .free)
            let cash = try await Self.template(client, type: .cash)
            // A brand-new account: a FREE coupon goes to review, which the default policy refuses.
            let review = await #expect(throws: ServiceError.self) {
                try await client.call(ClaimRequest(userId: "fresh", templateId: free, channel: "app"))
            }
            #expect(review?.code == .riskReview)
            // A small CASH coupon is fine for the same account.
            _ = try await client.call(ClaimRequest(userId: "fresh", templateId: cash, channel: "app"))
        }
    }
}
