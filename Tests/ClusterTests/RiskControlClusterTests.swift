import CouponClient
import Foundation
import Postgres
import TestSupport
import Testing
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
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: Patience.callMilliseconds)
            defer { risk.close() }
            #expect(try await risk.call(ReloadRiskRulesRequest()).accountsPerDevicePerDay == 5)
            // Two more accounts fit under the new limit of 5; farm-5…9 do not. Any other failure
            // (a timeout) would skew the audit counts below, so it fails here, by name.
            var issuedAfterReload: [Int] = []
            for account in 3..<10 {
                do {
                    _ = try await client.call(
                        ClaimRequest(userId: "farm-\(account)", templateId: templateId, channel: "app", deviceId: "phone-1", ip: "203.0.113.7"))
                    issuedAfterReload.append(account)
                } catch let error as ServiceError {
                    #expect(error.code == .riskDenied, "farm-\(account): \(error)")
                }
            }
            #expect(issuedAfterReload == [3, 4])
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
            // The audit is written in the background, so wait for the last decision's row (the
            // allow-listed user's) before counting: rows written since are all in.
            try await Patience.waitUntil("the last decision in risk_audit", every: .milliseconds(100)) {
                try await database.query("SELECT count(*)::bigint FROM risk_audit WHERE user_id = 'vip-tester'")[0]
                    .decode(0, as: Int64.self) > 0
            }
            let audited = try await database.query("SELECT count(*)::bigint FROM risk_audit")[0].decode(0, as: Int64.self)
            #expect(audited >= 50)
            let deviceDenials = try await database.query(
                "SELECT count(*)::bigint FROM risk_audit WHERE verdict = 'DENY' AND 'DEVICE_ACCOUNTS' = ANY(reasons)")[0].decode(0, as: Int64.self)
            // 47 at the first limit, then farm-5…9 above the reloaded limit of 5.
            #expect(deviceDenials == 47 + 5)
            await database.close()
        }
    }

    @Test func aBatchOverTheWireIsDecidedInOrderAndAudited() async throws {
        let rulesFile = FileManager.default.temporaryDirectory.appendingPathComponent("risk-batch-\(UUID().uuidString).json")
        try Data(#"{"accountsPerDevicePerDay": 3, "newAccountHours": 0}"#.utf8).write(to: rulesFile)
        defer { try? FileManager.default.removeItem(at: rulesFile) }
        try await TestCluster.with(environment: ["RISK_RULES_FILE": rulesFile.path, "RISK_AUDIT_INTERVAL_MS": "50"]) { cluster in
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: Patience.callMilliseconds)
            defer { risk.close() }
            func decision(_ user: String) -> RiskDecisionRequest {
                RiskDecisionRequest(
                    action: .claim, userId: user, deviceId: "batch-phone", ip: "203.0.113.9", templateId: "T-batch", couponType: .cash,
                    amountCents: 500)
            }
            // Six accounts on one device, and an invalid request in the middle.
            let users = ["batch-0", "batch-1", "", "batch-2", "batch-3", "batch-4", "batch-5"]
            let answers = try await risk.call(RiskDecisionBatchRequest(decisions: users.map(decision)))
            try #require(answers.results.count == users.count)
            #expect(answers.results.map { $0.decision?.verdict } == [.allow, .allow, nil, .allow, .deny, .deny, .deny])
            #expect(answers.results[4...].allSatisfy { $0.decision?.reasons == ["DEVICE_ACCOUNTS"] && $0.error == nil })
            #expect(answers.results[2] == .failed(ServiceError(.invalidArgument, "userId: empty")))
            // The single call still works and sees what the batch counted.
            #expect(try await risk.call(decision("batch-6")).reasons == ["DEVICE_ACCOUNTS"])
            #expect(try await risk.call(decision("batch-1")).verdict == .allow)

            let tooMany = RiskDecisionBatchRequest(
                decisions: (0...RiskDecisionBatchRequest.maxDecisions).map { decision("many-\($0)") })
            let refused = await #expect(throws: ServiceError.self) { try await risk.call(tooMany) }
            #expect(refused?.code == .invalidArgument)

            // Every decided request of the batch is audited like a single decision; the invalid one is not.
            let database = try cluster.database.pool()
            var rows: [(user: String, verdict: String, reasons: String)] = []
            try await Patience.waitUntil("the batch's 8 decisions in risk_audit", every: .milliseconds(100)) {
                rows = try await database.query(
                    """
                    SELECT user_id, verdict, array_to_string(reasons, ',') FROM risk_audit
                     WHERE device_id = 'batch-phone' AND ip = '203.0.113.9' AND template_id = 'T-batch' ORDER BY id
                    """
                ).map { (try $0.decode(0), try $0.decode(1), try $0.decode(2)) }
                return rows.count >= 8
            }
            let expected = [
                ("batch-0", "ALLOW", ""), ("batch-1", "ALLOW", ""), ("batch-2", "ALLOW", ""), ("batch-3", "DENY", "DEVICE_ACCOUNTS"),
                ("batch-4", "DENY", "DEVICE_ACCOUNTS"), ("batch-5", "DENY", "DEVICE_ACCOUNTS"), ("batch-6", "DENY", "DEVICE_ACCOUNTS"),
                ("batch-1", "ALLOW", ""),
            ]
            #expect(rows.map(\.user) == expected.map(\.0))
            #expect(rows.map(\.verdict) == expected.map(\.1))
            #expect(rows.map(\.reasons) == expected.map(\.2))
            let refusedAudited: Int64 = try await database.query("SELECT count(*)::bigint FROM risk_audit WHERE user_id LIKE 'many-%'")[0].decode(0)
            #expect(refusedAudited == 0, "a refused batch decides nothing")
            await database.close()
        }
    }

    @Test func withRiskControlDownFreeAndExchangeFailClosedAndTheRestFailOpen() async throws {
        // Short enough that the calls to the dead risk-control give up soon, long enough that
        // rule-engine's answers still come in time on a loaded machine.
        let dependencyTimeout = Patience.milliseconds(3_000)
        try await TestCluster.with(environment: ["COUPON_DEPENDENCY_TIMEOUT_MS": String(dependencyTimeout)]) { cluster in
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
