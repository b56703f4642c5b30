import Access
import CouponClient
import Foundation
import Postgres
import TestSupport
import Testing
import Wire

/// Sign-in and roles on the real executables: the binary protocol's refusals on all three
/// services, the first-admin bootstrap, and the lockout counted across two coupon-center
/// processes and a restart (README "Sign-in and roles").
@Suite(.serialized) struct AuthClusterTests {
    static let serviceToken = "cluster-service-token-0123456789"
    static let adminPassword = "first-admin-password-☃-77"

    /// Sign-in on, a service token, and a bootstrap secret file; `body` gets the cluster and an
    /// admin API token made by the bootstrap.
    static func withSignIn(
        couponCenters: Int = 1, environment: [String: String] = [:], _ body: (TestCluster, String, URL) async throws -> Void
    ) async throws {
        let secretFile = FileManager.default.temporaryDirectory.appendingPathComponent("bootstrap-\(UUID().uuidString)")
        try Data("bootstrap-secret-\(UUID().uuidString)\n".utf8).write(to: secretFile)
        defer { try? FileManager.default.removeItem(at: secretFile) }
        // The daily reconciliation runs at start when its time of day has passed: at 23:59 it waits
        // (but for the day's last minute), so the "nothing changed" fingerprints see only the calls.
        let settings = [
            "COUPON_OPERATOR_AUTH": "required", "COUPON_SERVICE_TOKEN": serviceToken, "COUPON_BOOTSTRAP_SECRET_FILE": secretFile.path,
            "COUPON_RECONCILE_AT": "23:59",
        ].merging(environment) { $1 }
        try await TestCluster.with(couponCenters: couponCenters, environment: settings) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let secret = try String(contentsOf: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let wrong = await #expect(throws: ServiceError.self) {
                _ = try await client.call(OperatorBootstrapRequest(secret: secret + "x", username: "admin", password: adminPassword, tokenName: "t"))
            }
            #expect(wrong?.code == .unauthenticated)
            let result = try await client.call(
                OperatorBootstrapRequest(secret: secret, username: "admin", password: adminPassword, tokenName: "bootstrap"))
            #expect(result.admin.role == .admin && result.token.token.hasPrefix("cct_"))
            let again = await #expect(throws: ServiceError.self) {
                _ = try await client.call(OperatorBootstrapRequest(secret: secret, username: "admin2", password: adminPassword, tokenName: "t"))
            }
            #expect(again?.code == .alreadyBootstrapped, "the bootstrap works once")
            try await body(cluster, result.token.token, secretFile)
        }
    }

    /// The error code of the reply to a raw frame of `kind` with an empty body.
    static func refusal(_ client: ServiceClient, _ kind: MessageKind, credential: String?) async throws -> ErrorCode? {
        let frame = FrameCodec.encode(
            Frame(header: FrameHeader(kind: kind, requestId: 7), body: [], credential: credential.map { Array($0.utf8) }))
        let reply = try FrameCodec.decode(try await client.exchange(frame, kind: kind))
        guard reply.isError else { return .ok }
        return try WireBody.decode(ServiceError.self, from: reply.body).code
    }

    @Test func withoutACredentialEveryGuardedKindIsRefusedOnEveryServiceAndNothingChanges() async throws {
        try await Self.withSignIn { cluster, adminToken, _ in
            let timeout = Patience.callMilliseconds
            let services: [UInt16: ServiceClient] = [
                0x01: try cluster.client(),
                0x02: try ServiceClient(service: "rule-engine", urls: [cluster.ruleEngineURL], timeoutMilliseconds: timeout),
                0x03: try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: timeout),
            ]
            defer { for client in services.values { client.close() } }
            let database = try cluster.database.pool()
            defer { Task { await database.close() } }
            let before = try await DatabaseFingerprint.of(database)
            var checked = 0
            for (kind, requirement) in AccessTable.kinds.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where requirement != .open {
                guard let client = services[kind.rawValue >> 8] else { continue }
                for credential in [nil, "cct_unknown-token", "ccs_unknown-session", "not-the-service-token-at-all"] {
                    let code = try await Self.refusal(client, kind, credential: credential)
                    #expect(code == .unauthenticated, "\(kind) with \(credential ?? "no credential") answered \(code.map(\.name) ?? "nothing")")
                }
                checked += 1
            }
            #expect(checked > 40, "only \(checked) guarded kinds were tried")
            let after = try await DatabaseFingerprint.of(database)
            #expect(DatabaseFingerprint.changed(before, after) == [], "a refused frame changed the database")

            // With the right credentials the same kinds get past the door (to the body decoder).
            #expect(try await Self.refusal(services[0x02]!, .discountQuote, credential: Self.serviceToken) == .malformedBody)
            #expect(try await Self.refusal(services[0x01]!, .templateCreate, credential: adminToken) == .malformedBody)
            #expect(try await Self.refusal(services[0x03]!, .riskRulesSet, credential: adminToken) == .malformedBody)
            // The service token may not make admin calls; a viewer token may read risk rules, not set them.
            #expect(try await Self.refusal(services[0x03]!, .riskListAdd, credential: Self.serviceToken) == .roleRequired)
            let admin = try cluster.client(credential: adminToken)
            defer { admin.close() }
            let viewer = try await admin.call(TokenCreateRequest(name: "viewer", role: .viewer)).token
            let risk = try ServiceClient(service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: timeout, credential: viewer)
            defer { risk.close() }
            _ = try await risk.call(GetRiskRulesRequest())
            let set = await #expect(throws: ServiceError.self) { _ = try await risk.call(SetRiskRulesRequest(rules: RiskRules())) }
            #expect(set?.code == .roleRequired)
            // An admin's list change is in risk-control's own audit log; the refused one is not.
            let adminRisk = try ServiceClient(
                service: "risk-control", urls: [cluster.riskControlURL], timeoutMilliseconds: timeout, credential: adminToken)
            defer { adminRisk.close() }
            _ = try await adminRisk.call(AddRiskListEntryRequest(list: .block, subject: .device, value: "dev-bad"))
            let riskAudit = try await database.query("SELECT actor, actor_kind, action, after->>'value' FROM risk_admin_audit")
            #expect(riskAudit.count == 1)
            #expect(try riskAudit.first?.decode(0, as: String.self) == "admin/bootstrap" && riskAudit.first?.decode(1, as: String.self) == "token")
            #expect(try riskAudit.first?.decode(2, as: String.self) == "risk.list_add" && riskAudit.first?.decode(3, as: String.self) == "dev-bad")
            // The internal calls carry the service token: a claim goes through rule-engine and risk-control.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let templateId = try await admin.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "auth", type: .cash, thresholdCents: 0, discountCents: 100, startMilliseconds: now - 60_000,
                        endMilliseconds: now + 86_400_000, totalStock: 10, perUserLimit: 1))
            ).templateId
            let service = try cluster.client(credential: Self.serviceToken)
            defer { service.close() }
            _ = try await service.call(ClaimRequest(userId: "u1", templateId: templateId, channel: "app"))
            let audit = try await admin.call(AuditListRequest(action: "template.create"))
            #expect(audit.entries.count == 1 && audit.entries[0].actor == "admin/bootstrap" && audit.entries[0].actorKind == .token)
        }
    }

    @Test func twentyConcurrentWrongLoginsOnTwoProcessesLockExactlyAtTheCountAndSurviveARestart() async throws {
        let victimPassword = "victim-password-Ωmega-1"
        try await Self.withSignIn(couponCenters: 2, environment: ["COUPON_LOGIN_MAX_FAILURES": "5", "COUPON_LOGIN_LOCK_SECONDS": "3600"]) {
            cluster, adminToken, _ in
            let admin = try cluster.client(credential: adminToken)
            defer { admin.close() }
            _ = try await admin.call(OperatorCreateRequest(username: "victim", password: victimPassword, role: .viewer))
            let outcomes = try await withThrowingTaskGroup(of: ErrorCode.self) { group in
                for attempt in 0..<20 {
                    group.addTask {
                        let answer = try await cluster.http(
                            "POST", "/api/auth/login", json: #"{"username":"victim","password":"wrong-password-\#(attempt)"}"#, to: attempt % 2)
                        return ErrorCode(rawValue: UInt16(answer.code ?? 0))
                    }
                }
                var codes: [ErrorCode] = []
                for try await code in group { codes.append(code) }
                return codes
            }
            #expect(outcomes.filter { $0 == .loginFailed }.count == 4, "\(outcomes.map(\.name))")
            #expect(outcomes.filter { $0 == .accountLocked }.count == 16, "\(outcomes.map(\.name))")
            let database = try cluster.database.pool()
            defer { Task { await database.close() } }
            let row = try await database.query("SELECT failed_logins, locked_until > now() FROM operator_account WHERE username = 'victim'")
            #expect(try row[0].decode(0, as: Int32.self) == 5, "no more failures counted than the count")
            #expect(try row[0].decode(1, as: Bool.self))

            await cluster.couponCenters[0].terminate()
            try await cluster.restartCouponCenter(0)
            let right = JSONValue.object([("username", .string("victim")), ("password", .string(victimPassword))]).serialized()
            let afterRestart = try await cluster.http("POST", "/api/auth/login", json: right, to: 0)
            #expect(afterRestart.status == 429, "still locked after a restart: \(afterRestart.text)")

            // No password in any process's log, nor in any answer.
            let adminSession = try await cluster.http(
                "POST", "/api/auth/login",
                json: JSONValue.object([("username", .string("admin")), ("password", .string(Self.adminPassword))]).serialized())
            #expect(adminSession.status == 200 && !adminSession.text.contains(Self.adminPassword))
            for process in cluster.allProcesses {
                for secret in [victimPassword, Self.adminPassword, adminToken, "wrong-password-"] {
                    #expect(!process.log.contains(secret), "\(process.name)'s log shows a secret")
                }
            }
        }
    }

    @Test func couponctlBootstrapsTheFirstAdminAndSendsItsToken() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secretFile = directory.appendingPathComponent("bootstrap-secret")
        let passwordFile = directory.appendingPathComponent("password")
        let tokenFile = directory.appendingPathComponent("admin-token")
        try Data("ctl-bootstrap-secret-0123456789\n".utf8).write(to: secretFile)
        try Data("\(Self.adminPassword)\n".utf8).write(to: passwordFile)
        let settings = ["COUPON_OPERATOR_AUTH": "required", "COUPON_BOOTSTRAP_SECRET_FILE": secretFile.path]
        try await TestCluster.with(environment: settings) { cluster in
            let environment = ["COUPON_CENTER_URL": cluster.couponCenterURLs[0]]
            func ctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                try await runTool("couponctl", arguments, environment: environment)
            }
            let bootstrap = try await ctl([
                "operator", "bootstrap", "--username", "admin", "--password-file", passwordFile.path, "--bootstrap-secret-file", secretFile.path,
                "--admin-token-file", tokenFile.path,
            ])
            #expect(bootstrap.status == 0, "\(bootstrap.output)")
            let mode = try FileManager.default.attributesOfItem(atPath: tokenFile.path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "the admin token file is the owner's only")
            #expect(!bootstrap.output.contains(Self.adminPassword) && !bootstrap.output.contains("cct_"))

            let anonymous = try await ctl(["template", "list"])
            #expect(anonymous.status == 2 && anonymous.output.contains("1600 UNAUTHENTICATED"), "\(anonymous.output)")
            let listed = try await ctl(["template", "list", "--token-file", tokenFile.path])
            #expect(listed.status == 0, "\(listed.output)")
            let viewerFile = directory.appendingPathComponent("viewer-token")
            let created = try await ctl([
                "token", "create", "--name", "dashboards", "--role", "viewer", "--output-file", viewerFile.path, "--token-file", tokenFile.path,
            ])
            #expect(created.status == 0 && !created.output.contains("cct_"), "\(created.output)")
            let refused = try await ctl(["operator", "list", "--token-file", viewerFile.path])
            #expect(refused.status == 2 && refused.output.contains("1310 ROLE_REQUIRED"), "\(refused.output)")
            let added = try await ctl([
                "operator", "add", "--username", "vera", "--role", "viewer", "--password-file", passwordFile.path, "--token-file", tokenFile.path,
            ])
            #expect(added.status == 0, "\(added.output)")
            let audit = try await ctl(["audit", "--json", "--token-file", tokenFile.path])
            #expect(audit.output.contains("operator.create") && audit.output.contains("token.create") && !audit.output.contains(Self.adminPassword))
            let again = try await ctl([
                "operator", "bootstrap", "--username", "admin2", "--password-file", passwordFile.path, "--bootstrap-secret-file", secretFile.path,
                "--admin-token-file", directory.appendingPathComponent("second").path,
            ])
            #expect(again.status == 2 && again.output.contains("ALREADY_BOOTSTRAPPED"), "\(again.output)")
        }
    }
}
