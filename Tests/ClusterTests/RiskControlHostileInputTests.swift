import CouponClient
import Foundation
import Postgres
import Redis
import TestSupport
import Testing
import Wire

/// risk-control as a process, over the wire: hostile text is refused and fails alone, the audit
/// keeps being written, risk_rules_set holds the rules file's limits, and what goes wrong inside
/// stays in its log.
@Suite(.serialized) struct RiskControlHostileInputTests {
    /// Only the per-user velocity rule is on (its window is what the last test breaks), high
    /// enough that nothing here reaches it.
    static let rules =
        #"{"userLimitPerWindow": 1000, "deviceLimitPerWindow": 0, "ipLimitPerWindow": 0, "subnetLimitPerWindow": 0, "#
        + #""accountsPerDevicePerDay": 0, "accountsPerIPPerDay": 0, "accountsPerSubnetPerDay": 0, "newAccountHours": 0}"#

    static func withRiskControl(_ body: (TestCluster, ServiceClient) async throws -> Void) async throws {
        let rulesFile = FileManager.default.temporaryDirectory.appendingPathComponent("risk-hostile-\(UUID().uuidString).json")
        try Data(rules.utf8).write(to: rulesFile)
        defer { try? FileManager.default.removeItem(at: rulesFile) }
        try await TestCluster.with(environment: ["RISK_RULES_FILE": rulesFile.path, "RISK_AUDIT_INTERVAL_MS": "50"]) { cluster in
            // Generous: the machine is shared; nothing here is about speed.
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: 30_000)
            defer { risk.close() }
            try await body(cluster, risk)
        }
    }

    static func decision(_ user: String, device: String? = "phone", ip: String? = "203.0.113.20") -> RiskDecisionRequest {
        RiskDecisionRequest(action: .redeem, userId: user, deviceId: device, ip: ip, templateId: "T-hostile", couponType: .cash, amountCents: 900)
    }

    static let hostile: [(text: String, refusal: String)] = [
        ("nul\u{0}device", "deviceId: contains the control character U+0000"),
        (String(repeating: "d", count: 10_000), "deviceId: more than 64 characters"),
        ("", "deviceId: empty"),
    ]

    @Test func hostileDevicesAreRefusedAloneAndTheAuditKeepsGoing() async throws {
        try await Self.withRiskControl { cluster, risk in
            for (text, refusal) in Self.hostile {
                let refused = await #expect(throws: ServiceError.self) { try await risk.call(Self.decision("alone", device: text)) }
                #expect(refused == ServiceError(.invalidArgument, refusal))
            }

            let rounds = 20
            for round in 0..<rounds {
                let (text, refusal) = Self.hostile[round % Self.hostile.count]
                let position = (round * 11) % 41
                var decisions = (0..<40).map { Self.decision("wire-\(round)-\($0)") }
                decisions.insert(Self.decision("hostile-\(round)", device: text), at: position)
                let answers = try await risk.call(RiskDecisionBatchRequest(decisions: decisions))
                try #require(answers.results.count == 41)
                #expect(answers.results[position] == .failed(ServiceError(.invalidArgument, refusal)), "round \(round)")
                var others = answers.results
                others.remove(at: position)
                #expect(others.allSatisfy { $0.decision?.verdict == .allow && $0.error == nil }, "round \(round)")
            }
            // The decisions after the hostile ones are audited too: nothing jams the writer.
            #expect(try await risk.call(Self.decision("after")).verdict == .allow)
            let database = try cluster.database.pool(size: 1)
            let expected = Int64(rounds * 40 + 1)
            var audited: Int64 = 0
            for _ in 0..<600 where audited < expected {
                audited = try await database.query("SELECT count(*) FROM risk_audit WHERE template_id = 'T-hostile'", []).first?.decode(0) ?? 0
                if audited < expected { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(audited == expected)
            let letters: Int64 = try await database.query("SELECT count(*) FROM risk_audit_dead_letter", []).first?.decode(0) ?? -1
            #expect(letters == 0, "validation keeps refused rows out of the audit path altogether")
            await database.close()
        }
    }

    @Test func riskRulesSetRefusesWhatTheRulesFileRefuses() async throws {
        try await Self.withRiskControl { _, risk in
            let before = try await risk.call(GetRiskRulesRequest())
            let fields: [(String, WritableKeyPath<RiskRules, Int32>)] = [
                ("velocityWindowSeconds", \.velocityWindowSeconds), ("userLimitPerWindow", \.userLimitPerWindow),
                ("deviceLimitPerWindow", \.deviceLimitPerWindow), ("ipLimitPerWindow", \.ipLimitPerWindow),
                ("subnetLimitPerWindow", \.subnetLimitPerWindow), ("accountsPerDevicePerDay", \.accountsPerDevicePerDay),
                ("accountsPerIPPerDay", \.accountsPerIPPerDay), ("accountsPerSubnetPerDay", \.accountsPerSubnetPerDay),
                ("newAccountHours", \.newAccountHours), ("failedRedemptionsPerWindow", \.failedRedemptionsPerWindow),
                ("failedRedemptionWindowSeconds", \.failedRedemptionWindowSeconds),
            ]
            var attempts: [(String, RiskRules)] = []
            for (name, path) in fields {
                var rules = before
                rules[keyPath: path] = -1
                attempts.append((name, rules))
            }
            var expensive = before
            expensive.highValueCents = .min
            attempts.append(("highValueCents", expensive))
            var tooNew = before
            tooNew.newAccountHours = .max
            attempts.append(("newAccountHours", tooNew))
            for (name, rules) in attempts {
                let refused = await #expect(throws: ServiceError.self) { try await risk.call(SetRiskRulesRequest(rules: rules)) }
                #expect(refused?.code == .invalidArgument)
                #expect(refused?.message.hasPrefix("\(name):") == true, "\(refused?.message ?? "")")
                #expect(try await risk.call(GetRiskRulesRequest()) == before, "unchanged after \(name)")
            }
            // Windows of Int32.max seconds are allowed, and decisions under them work.
            var widest = before
            widest.velocityWindowSeconds = .max
            widest.failedRedemptionWindowSeconds = .max
            #expect(try await risk.call(SetRiskRulesRequest(rules: widest)) == widest)
            #expect(try await risk.call(Self.decision("widest")).verdict == .allow)
        }
    }

    @Test func whatFailsInsideIsLoggedNotAnswered() async throws {
        try await Self.withRiskControl { cluster, risk in
            // A velocity window that is not a sorted set: the decision script's ZREMRANGEBYSCORE
            // fails with Redis's WRONGTYPE error.
            let redis = RedisPool(config: try cluster.redis.config(poolSize: 1))
            _ = try await redis.command(["SET", "risk:vel:REDEEM:user:broken", "not a window"])
            await redis.close()

            let alone = await #expect(throws: ServiceError.self) { try await risk.call(Self.decision("broken")) }
            #expect(alone == ServiceError(.dependencyUnavailable, "a dependency of risk-control is unavailable"))
            let batch = try await risk.call(RiskDecisionBatchRequest(decisions: [Self.decision("fine"), Self.decision("broken")]))
            #expect(batch.results[0].decision?.verdict == .allow)
            let hidden = ServiceError(.dependencyUnavailable, "a dependency of risk-control is unavailable")
            #expect(batch.results[1] == .failed(hidden))

            let log = cluster.riskControl?.log ?? ""
            let lines = log.split(separator: "\n").filter { $0.contains("WRONGTYPE") }
            #expect(lines.count >= 2, "both failures are in risk-control's log")
            #expect(lines.allSatisfy { $0.contains("request.id") }, "\(lines)")
        }
    }
}
