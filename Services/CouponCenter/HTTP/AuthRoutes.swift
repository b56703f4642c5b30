import Access
import Domain
import ServiceKit
import Wire

/// Sign-in (`/api/auth/*`), operators, API tokens and the audit log (`/api/admin/…`), answered by
/// the same `AuthService` as the binary protocol (README "Sign-in and roles"). No answer carries a
/// password or a hash; a token is answered once, to its creation.
struct AuthRoutes {
    let auth: AuthService
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("POST", "/api/auth/login") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["username", "password"])
                let outcome = try await auth.login(LoginRequest(username: try fields.string("username"), password: try fields.string("password")))
                switch outcome {
                case .signedIn(let session):
                    let cookie = SessionCookie.setCookie(
                        session.sessionId ?? "", maxAgeSeconds: auth.settings.sessionTTLSeconds, secure: auth.settings.secureCookie)
                    return .json(self.session(session), headers: [("Set-Cookie", cookie)])
                case .locked(let until):
                    let error = outcome.error ?? ServiceError(.accountLocked, "locked")
                    return .json(
                        [
                            ("code", .integer(error.code.rawValue)), ("error", .string(error.code.name)), ("message", .string(error.message)),
                            ("lockedUntil", json.time(until)),
                        ], status: error.code.httpStatus)
                }
            },
            HTTPRoute("POST", "/api/auth/logout") { call in
                let result = try await auth.logout(sessionId: call.sessionId)
                return .json(
                    [("ended", .bool(result.ended))], headers: [("Set-Cookie", SessionCookie.clearCookie(secure: auth.settings.secureCookie))])
            },
            HTTPRoute("GET", "/api/auth/me") { call in
                guard let principal = call.principal else { throw ServiceError(.unauthenticated, "not signed in") }
                guard principal.kind == .session else {
                    return .json([
                        ("username", .string(principal.name)), ("role", principal.role.map { .string($0.rawValue) } ?? .null),
                        ("kind", .string(principal.kind.rawValue)),
                    ])
                }
                return .json(self.session(try await auth.session(principal, sessionId: call.sessionId)))
            },
            HTTPRoute("POST", "/api/admin/tokens") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["name", "role", "ttlDays"])
                let created = try await auth.createToken(
                    TokenCreateRequest(
                        name: try fields.string("name"), role: try Role.parse(try fields.string("role")),
                        ttlDays: try fields.optionalInteger("ttlDays")),
                    by: call.principal, requestId: call.request.headers["X-Request-Id"])
                return .json([("token", .string(created.token))] + token(created.view))
            },
            HTTPRoute("GET", "/api/admin/tokens") { _ in
                .json([("tokens", .array(try await auth.tokens().tokens.map { .object(token($0)) }))])
            },
            HTTPRoute("POST", "/api/admin/tokens/{id}/revoke") { call in
                guard let id = Int64(call.pathParameters["id"] ?? ""), id > 0 else {
                    throw ServiceError(.invalidArgument, "id: a positive whole number")
                }
                return .json(token(try await auth.revokeToken(TokenRevokeRequest(id: id), by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/operators") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["username", "password", "role"])
                let view = try await auth.createOperator(
                    OperatorCreateRequest(
                        username: try fields.string("username"), password: try fields.string("password"),
                        role: try Role.parse(try fields.string("role"))),
                    by: call.actor)
                return .json(operatorMembers(view))
            },
            HTTPRoute("GET", "/api/admin/operators") { _ in
                .json([("operators", .array(try await auth.operators().operators.map { .object(operatorMembers($0)) }))])
            },
            HTTPRoute("POST", "/api/admin/operators/{username}/role") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["role"])
                let request = OperatorRoleSetRequest(username: call.pathParameters["username"] ?? "", role: try Role.parse(try fields.string("role")))
                return .json(operatorMembers(try await auth.setRole(request, by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/operators/{username}/disable") { call in
                .json(
                    operatorMembers(try await auth.disable(OperatorDisableRequest(username: call.pathParameters["username"] ?? ""), by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/operators/{username}/password") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["password"])
                let request = OperatorPasswordSetRequest(username: call.pathParameters["username"] ?? "", password: try fields.string("password"))
                return .json(operatorMembers(try await auth.setPassword(request, by: call.actor)))
            },
            HTTPRoute("GET", "/api/admin/audit") { call in
                let query = call.query
                func text(_ name: String) -> String? { query[name].flatMap { $0.isEmpty ? nil : $0 } }
                var since: Int64?
                if let sinceText = text("since") {
                    guard let parsed = Timestamp.parseISO8601(sinceText) else { throw ServiceError(.invalidArgument, "since: an ISO 8601 time") }
                    since = parsed
                }
                let list = try await auth.audit(
                    AuditListRequest(
                        actor: text("actor"), action: text("action"), sinceMilliseconds: since,
                        limit: try CouponRoutes.number(query["limit"], field: "limit") ?? 100,
                        beforeId: try CouponRoutes.number(query["cursor"], field: "cursor")))
                return .json([
                    ("entries", .array(list.entries.map { .object(auditEntry($0)) })),
                    ("nextCursor", list.nextBeforeId.map { .integer($0) } ?? .null),
                ])
            },
        ]
    }

    func session(_ view: SessionView) -> [(String, JSONValue)] {
        [
            ("username", .string(view.username)), ("role", .string(view.role.rawValue)), ("csrfToken", .string(view.csrfToken)),
            ("expiresAt", json.time(view.expiresMilliseconds)),
        ]
    }

    func token(_ view: TokenView) -> [(String, JSONValue)] {
        [
            ("id", .integer(view.id)), ("name", .string(view.name)), ("role", .string(view.role.rawValue)), ("createdBy", .string(view.createdBy)),
            ("createdAt", json.time(view.createdMilliseconds)), ("expiresAt", view.expiresMilliseconds.map(json.time) ?? .null),
            ("revokedAt", view.revokedMilliseconds.map(json.time) ?? .null),
        ]
    }

    func operatorMembers(_ view: OperatorView) -> [(String, JSONValue)] {
        [
            ("username", .string(view.username)), ("role", .string(view.role.rawValue)), ("disabled", .bool(view.disabled)),
            ("createdAt", json.time(view.createdMilliseconds)), ("lockedUntil", view.lockedUntilMilliseconds.map(json.time) ?? .null),
        ]
    }

    func auditEntry(_ entry: AuditEntry) -> [(String, JSONValue)] {
        func object(_ text: String) -> JSONValue { (try? JSONParser.parse(Array(text.utf8))) ?? .null }
        return [
            ("id", .integer(entry.id)), ("at", json.time(entry.atMilliseconds)), ("actor", .string(entry.actor)),
            ("actorKind", .string(entry.actorKind.rawValue)), ("action", .string(entry.action)), ("target", .string(entry.target)),
            ("before", object(entry.before)), ("after", object(entry.after)), ("requestId", entry.requestId.map { .string($0) } ?? .null),
        ]
    }
}
