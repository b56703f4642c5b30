import Access
import Foundation
import Postgres
import TestSupport
import Testing
import Wire

@testable import CouponCenter

/// Sign-in, roles, CSRF, lockout and the audit log through coupon-center's real HTTP front (the
/// gate in front of the routes), over the test PostgreSQL (README "Sign-in and roles").
@Suite struct AccessControlTests {
    static let serviceToken = "service-token-for-the-tests-0123456789"
    static let environment = ["COUPON_SERVICE_TOKEN": serviceToken]
    static let adminPassword = "admin-password-Σ-0001"

    /// A path for a route pattern, its `{…}` segments filled with values that exist (or not).
    static func path(_ label: String, templateId: String) -> (method: String, path: String) {
        let parts = label.split(separator: " ", maxSplits: 1)
        let path = String(parts[1]).replacingOccurrences(of: "{id}", with: label.contains("/template/") ? templateId : "1")
            .replacingOccurrences(of: "{runId}", with: "1").replacingOccurrences(of: "{username}", with: "nobody")
        return (String(parts[0]), path)
    }

    static func bearer(_ token: String) -> [String: String] { ["Authorization": "Bearer \(token)"] }

    /// An admin account (created directly, as the bootstrap would) and an admin API token for it.
    static func adminToken(_ center: InProcessCouponCenter) async throws -> String {
        _ = try await center.auth.createOperator(
            OperatorCreateRequest(username: "root", password: adminPassword, role: .admin), by: AuditActor(name: "setup", kind: .cli))
        let session = try await signIn(center, "root", adminPassword)
        let token = try await center.call(
            "POST", "/api/admin/tokens", #"{"name":"tests","role":"admin"}"#, headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf])
        return try #require(token.json["token"]?.text, "\(token.json)")
    }

    static func signIn(_ center: InProcessCouponCenter, _ username: String, _ password: String) async throws -> (cookie: String, csrf: String) {
        let body = JSONValue.object([("username", .string(username)), ("password", .string(password))]).serialized()
        let answer = await center.respond("POST", "/api/auth/login", body)
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        let setCookie = try #require(answer.headers.first { $0.name == "Set-Cookie" }?.value)
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
        let csrf = try #require(try JSONParser.parse(answer.body)["csrfToken"]?.text)
        return (String(setCookie.prefix { $0 != ";" }), csrf)
    }

    static func template(_ center: InProcessCouponCenter, token: String) async throws -> String {
        let created = try await center.call("POST", "/api/coupon/template", HTTPRoutesTests.template, headers: bearer(token))
        return try #require(created.json["templateId"]?.text, "\(created.json)")
    }

    @Test func everyRouteIsInTheAccessTableAndEveryEntryIsARoute() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            let labels = Set(center.front.dispatcher.routeLabels)
            #expect(labels.subtracting(AccessTable.routes.keys).sorted() == [], "routes without an AccessTable entry")
            #expect(Set(AccessTable.routes.keys).subtracting(labels).sorted() == [], "AccessTable entries that are no route")
        }
    }

    @Test func withoutACredentialEveryGuardedRouteIsRefusedAndNothingChanges() async throws {
        try await InProcessCouponCenter.with(environment: Self.environment, gated: true) { center in
            let admin = try await Self.adminToken(center)
            let templateId = try await Self.template(center, token: admin)
            let before = try await DatabaseFingerprint.of(center.database)
            var checked = 0
            for label in center.front.dispatcher.routeLabels.sorted() where AccessTable.requirement(forRoute: label) != .open {
                let (method, path) = Self.path(label, templateId: templateId)
                for headers in [[:], Self.bearer("cct_not-a-token"), ["Cookie": "cc_session=ccs_not-a-session"]] {
                    let answer = try await center.call(method, path, "{}", headers: headers)
                    #expect(answer.status == 401, "\(label) with \(headers): \(answer.json)")
                    #expect(answer.json.code == Int(ErrorCode.unauthenticated.rawValue), "\(label)")
                }
                checked += 1
            }
            #expect(checked > 30, "only \(checked) guarded routes were found")
            let after = try await DatabaseFingerprint.of(center.database)
            #expect(DatabaseFingerprint.changed(before, after) == [], "a refused call changed the database")
        }
    }

    @Test func aViewerReadsAndIsRefusedEveryWrite() async throws {
        try await InProcessCouponCenter.with(environment: Self.environment, gated: true) { center in
            let admin = try await Self.adminToken(center)
            let templateId = try await Self.template(center, token: admin)
            let viewer = try await center.call("POST", "/api/admin/tokens", #"{"name":"dashboards","role":"viewer"}"#, headers: Self.bearer(admin))
            let viewerToken = try #require(viewer.json["token"]?.text)
            let before = try await DatabaseFingerprint.of(center.database)
            // /metrics answers text, not JSON; logout ends a session, and a token is none (its 401 says so).
            for label in center.front.dispatcher.routeLabels.sorted() where !["GET /metrics", "POST /api/auth/logout"].contains(label) {
                let (method, path) = Self.path(label, templateId: templateId)
                let answer = try await center.call(method, path, "{}", headers: Self.bearer(viewerToken))
                switch AccessTable.requirement(forRoute: label) {
                case .role(.viewer), .authenticated, .open:
                    #expect(![401, 403].contains(answer.status), "a viewer may \(label): \(answer.json)")
                case .role:
                    #expect(answer.status == 403 && answer.json.code == Int(ErrorCode.roleRequired.rawValue), "\(label): \(answer.json)")
                case .service:
                    #expect(answer.json.code == Int(ErrorCode.serviceTokenRequired.rawValue), "\(label): \(answer.json)")
                }
            }
            let after = try await DatabaseFingerprint.of(center.database)
            #expect(DatabaseFingerprint.changed(before, after).filter { $0 != "operator_session" } == [], "a viewer changed something")
            // The template was readable.
            let read = try await center.call("GET", "/api/coupon/template/\(templateId)", headers: Self.bearer(viewerToken))
            #expect(read.status == 200)
        }
    }

    @Test func theServiceTokenMakesEndUserCallsAndNothingElse() async throws {
        try await InProcessCouponCenter.with(environment: Self.environment, gated: true) { center in
            let list = try await center.call("GET", "/api/coupon/list?userId=u1", headers: Self.bearer(Self.serviceToken))
            #expect(list.status == 200, "\(list.json)")
            let refused = try await center.call("POST", "/api/coupon/template", HTTPRoutesTests.template, headers: Self.bearer(Self.serviceToken))
            #expect(refused.status == 403 && refused.json.code == Int(ErrorCode.roleRequired.rawValue), "\(refused.json)")
            let anonymous = try await center.call("GET", "/api/coupon/list?userId=u1")
            #expect(anonymous.status == 401)
        }
    }

    @Test func aCookieWriteNeedsTheCSRFTokenAndABearerDoesNot() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            let admin = try await Self.adminToken(center)
            let templateId = try await Self.template(center, token: admin)
            let session = try await Self.signIn(center, "root", Self.adminPassword)
            let pause = "/api/coupon/template/\(templateId)/pause"
            let missing = try await center.call("POST", pause, headers: ["Cookie": session.cookie])
            #expect(missing.status == 403 && missing.json.code == Int(ErrorCode.csrfMissing.rawValue), "\(missing.json)")
            let wrong = try await center.call("POST", pause, headers: ["Cookie": session.cookie, "X-Csrf-Token": session.csrf + "0"])
            #expect(wrong.status == 403 && wrong.json.code == Int(ErrorCode.csrfMismatch.rawValue), "\(wrong.json)")
            let status = try await center.database.query("SELECT status FROM coupon_template WHERE id = $1", [templateId])
            #expect(try status[0].decode(0, as: String.self) == "ACTIVE", "a refused CSRF request changed the template")
            let right = try await center.call("POST", pause, headers: ["Cookie": session.cookie, "X-Csrf-Token": session.csrf])
            #expect(right.status == 200 && right.json["status"]?.text == "PAUSED", "\(right.json)")
            // Reads need no CSRF token; `me` gives the same token back.
            let me = try await center.call("GET", "/api/auth/me", headers: ["Cookie": session.cookie])
            #expect(me.json["csrfToken"]?.text == session.csrf && me.json["username"]?.text == "root" && me.json["role"]?.text == "admin")
            let resumed = try await center.call("POST", "/api/coupon/template/\(templateId)/resume", headers: Self.bearer(admin))
            #expect(resumed.status == 200, "a bearer token needs no CSRF token: \(resumed.json)")
            // Logout needs the CSRF token too, and ends the session.
            let refusedLogout = try await center.call("POST", "/api/auth/logout", headers: ["Cookie": session.cookie])
            #expect(refusedLogout.json.code == Int(ErrorCode.csrfMissing.rawValue))
            let logout = await center.respond("POST", "/api/auth/logout", headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf])
            #expect(logout.status == 200)
            #expect(logout.headers.contains { $0.name == "Set-Cookie" && $0.value.contains("Max-Age=0") })
            let after = try await center.call("GET", "/api/auth/me", headers: ["Cookie": session.cookie])
            #expect(after.status == 401)
        }
    }

    @Test func wrongUserAndWrongPasswordAnswerAlike() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            _ = try await Self.adminToken(center)
            let wrongPassword = try await center.call("POST", "/api/auth/login", #"{"username":"root","password":"not-the-password"}"#)
            let wrongUser = try await center.call("POST", "/api/auth/login", #"{"username":"nobody","password":"not-the-password"}"#)
            let hostileUser = try await center.call("POST", "/api/auth/login", #"{"username":"a'; DROP TABLE x;--","password":"p"}"#)
            for answer in [wrongPassword, wrongUser, hostileUser] {
                #expect(answer.status == 401 && answer.json.code == Int(ErrorCode.loginFailed.rawValue), "\(answer.json)")
                #expect(answer.json["message"] == wrongPassword.json["message"])
            }
        }
    }

    @Test func anAccountLocksAtTheCountAndUnlocksAfterTheDuration() async throws {
        let environment = ["COUPON_LOGIN_MAX_FAILURES": "3", "COUPON_LOGIN_LOCK_SECONDS": "2"]
        try await InProcessCouponCenter.with(environment: environment, gated: true) { center in
            _ = try await Self.adminToken(center)
            let wrong = #"{"username":"root","password":"wrong-password-1"}"#
            for attempt in 1...2 {
                let answer = try await center.call("POST", "/api/auth/login", wrong)
                #expect(answer.json.code == Int(ErrorCode.loginFailed.rawValue), "attempt \(attempt): \(answer.json)")
            }
            let third = try await center.call("POST", "/api/auth/login", wrong)
            #expect(third.status == 429 && third.json.code == Int(ErrorCode.accountLocked.rawValue), "\(third.json)")
            #expect(third.json["lockedUntil"]?.text != nil)
            let right = JSONValue.object([("username", .string("root")), ("password", .string(Self.adminPassword))]).serialized()
            let locked = try await center.call("POST", "/api/auth/login", right)
            #expect(locked.status == 429, "the right password does not open a locked account: \(locked.json)")
            let counted = try await center.database.query("SELECT failed_logins FROM operator_account WHERE username = 'root'")
            #expect(try counted[0].decode(0, as: Int32.self) == 3, "attempts while locked are not counted")
            try await Patience.waitUntil("the lock ends", every: .milliseconds(200)) {
                try await center.call("POST", "/api/auth/login", right).status == 200
            }
            let reset = try await center.database.query("SELECT failed_logins, locked_until IS NULL FROM operator_account WHERE username = 'root'")
            #expect(try reset[0].decode(0, as: Int32.self) == 0 && reset[0].decode(1, as: Bool.self))
        }
    }

    @Test func theAuditLogHasOneEntryPerChangeWithBeforeAndAfter() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            let admin = try await Self.adminToken(center)
            let templateId = try await Self.template(center, token: admin)
            for action in ["pause", "pause", "resume"] {
                let answer = try await center.call(
                    "POST", "/api/coupon/template/\(templateId)/\(action)",
                    headers: Self.bearer(admin).merging(["X-Request-Id": "r-\(action)"]) { $1 })
                #expect(answer.status == 200)
            }
            let operatorPassword = "operator-password-XYZ-42"
            let created = try await center.call(
                "POST", "/api/admin/operators", #"{"username":"olga","password":"\#(operatorPassword)","role":"operator"}"#,
                headers: Self.bearer(admin))
            #expect(created.status == 200 && created.json["role"]?.text == "operator")
            let audit = await center.respond("GET", "/api/admin/audit?limit=100", headers: Self.bearer(admin))
            let text = String(decoding: audit.body, as: UTF8.self)
            let entriesValue = try JSONParser.parse(audit.body)["entries"]
            guard case .array(let list)? = entriesValue else {
                Issue.record("no entries: \(text)")
                return
            }
            func entries(_ action: String) -> [JSONValue] { list.filter { $0["action"]?.text == action } }
            #expect(entries("template.create").count == 1)
            #expect(entries("template.pause").count == 1, "pausing a paused template is no change")
            #expect(entries("template.resume").count == 1)
            let pause = try #require(entries("template.pause").first)
            #expect(pause["before"]?["status"]?.text == "ACTIVE" && pause["after"]?["status"]?.text == "PAUSED")
            #expect(pause["actor"]?.text == "root/tests" && pause["actorKind"]?.text == "token" && pause["target"]?.text == templateId)
            #expect(pause["requestId"]?.text == "r-pause")
            let creation = try #require(entries("operator.create").first { $0["target"]?.text == "olga" })
            #expect(creation["before"] == .null && creation["after"]?["role"]?.text == "operator")
            // The changes: root and its token (setup), the template, its pause and resume, olga.
            let actions = list.map { $0["action"]?.text ?? "?" }
            let expectedChanges = 6
            #expect(actions.count == expectedChanges, "one entry per change: \(actions)")
            // No password, hash or token in the log, nor in any answer.
            for secret in [operatorPassword, Self.adminPassword, admin, "$y$", "password_hash", "token_hash"] {
                #expect(!text.contains(secret), "the audit log shows \(secret)")
            }
            let operators = await center.respond("GET", "/api/admin/operators", headers: Self.bearer(admin))
            let created2 = String(decoding: operators.body, as: UTF8.self) + "\(created.json)"
            #expect(!created2.contains(operatorPassword) && !created2.contains("$y$"))
            // Append-only, even for the table's owner.
            await #expect(throws: (any Error).self) { try await center.database.execute("UPDATE operator_audit SET actor = 'x'") }
            await #expect(throws: (any Error).self) { try await center.database.execute("DELETE FROM operator_audit") }
        }
    }

    @Test func experimentChangesAreAuditedOncePerChangeWithoutTheSalt() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            let admin = try await Self.adminToken(center)
            let control = try await Self.template(center, token: admin)
            let lower = try await Self.template(center, token: admin)
            let created = try await center.call(
                "POST", "/api/admin/experiments", ExperimentRoutesTests.experimentBody(control: control, lower: lower), headers: Self.bearer(admin))
            let id = try #require(created.json["experimentId"]?.text, "\(created.json)")
            #expect(try await center.call("POST", "/api/admin/experiments/\(id)/start", headers: Self.bearer(admin)).status == 200)
            // A second start is refused: no change, no row.
            #expect(try await center.call("POST", "/api/admin/experiments/\(id)/start", headers: Self.bearer(admin)).status == 409)
            _ = try await center.call("GET", "/api/admin/experiments/\(id)", headers: Self.bearer(admin))
            let rows = try await center.database.query(
                """
                SELECT action, before->>'status', after->>'status', after ? 'salt' OR COALESCE(before ? 'salt', false), after ? 'arms'
                  FROM operator_audit WHERE target = $1 ORDER BY id
                """, [id])
            #expect(rows.count == 2, "one row per change")
            #expect(try rows[0].decode(0, as: String.self) == "experiment.create" && rows[0].decode(4, as: Bool.self))
            #expect(try rows[1].decode(0, as: String.self) == "experiment.start")
            #expect(try rows[1].decode(1, as: String.self) == "DRAFT" && rows[1].decode(2, as: String.self) == "RUNNING")
            #expect(try !rows[0].decode(3, as: Bool.self) && !rows[1].decode(3, as: Bool.self), "the bucketing salt stays out of the log")
        }
    }

    @Test func disablingAnOperatorEndsTheirSessionsAndTokens() async throws {
        try await InProcessCouponCenter.with(gated: true) { center in
            let admin = try await Self.adminToken(center)
            _ = try await center.call(
                "POST", "/api/admin/operators", #"{"username":"olga","password":"operator-password-1","role":"admin"}"#,
                headers: Self.bearer(admin))
            let session = try await Self.signIn(center, "olga", "operator-password-1")
            let token = try await center.call(
                "POST", "/api/admin/tokens", #"{"name":"olga-script","role":"operator"}"#,
                headers: ["Cookie": session.cookie, "X-CSRF-Token": session.csrf])
            let olgaToken = try #require(token.json["token"]?.text, "\(token.json)")
            #expect(try await center.call("GET", "/api/coupon/template", headers: Self.bearer(olgaToken)).status == 200)
            let disabled = try await center.call("POST", "/api/admin/operators/olga/disable", headers: Self.bearer(admin))
            #expect(disabled.json["disabled"] == .bool(true))
            #expect(try await center.call("GET", "/api/coupon/template", headers: Self.bearer(olgaToken)).status == 401)
            #expect(try await center.call("GET", "/api/auth/me", headers: ["Cookie": session.cookie]).status == 401)
            let lastAdmin = try await center.call("POST", "/api/admin/operators/root/role", #"{"role":"viewer"}"#, headers: Self.bearer(admin))
            #expect(lastAdmin.status == 400, "the last admin cannot be demoted: \(lastAdmin.json)")
        }
    }
}
