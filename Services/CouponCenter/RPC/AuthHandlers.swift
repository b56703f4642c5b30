import Access
import ServiceKit
import Wire

/// Sign-in, operators, tokens and the audit log over the binary protocol (0x0140–0x014C): the same
/// `AuthService` as the HTTP routes. The frame's credential is the session id or API token; the
/// router's admission check has already matched it against `AccessTable`.
enum AuthHandlers {
    static func register(on router: inout RPCRouter, _ auth: AuthService) {
        router.register(LoginRequest.self) { request, _ in
            let outcome = try await auth.login(request)
            if let error = outcome.error { throw error }
            guard case .signedIn(let session) = outcome else { throw ServiceError(.internalError, "sign-in gave no session") }
            return session
        }
        router.register(LogoutRequest.self) { _, context in try await auth.logout(sessionId: context.credentialText) }
        router.register(MeRequest.self) { _, context in
            guard let principal = context.principal else { throw ServiceError(.unauthenticated, "not signed in") }
            return CallerView(username: principal.name, kind: principal.kind, role: principal.role)
        }
        router.register(TokenCreateRequest.self) { request, context in
            try await auth.createToken(request, by: context.principal, requestId: String(context.header.requestId))
        }
        router.register(TokenListRequest.self) { _, _ in try await auth.tokens() }
        router.register(TokenRevokeRequest.self) { request, context in try await auth.revokeToken(request, by: context.actor) }
        router.register(OperatorCreateRequest.self) { request, context in try await auth.createOperator(request, by: context.actor) }
        router.register(OperatorListRequest.self) { _, _ in try await auth.operators() }
        router.register(OperatorRoleSetRequest.self) { request, context in try await auth.setRole(request, by: context.actor) }
        router.register(OperatorDisableRequest.self) { request, context in try await auth.disable(request, by: context.actor) }
        router.register(OperatorPasswordSetRequest.self) { request, context in try await auth.setPassword(request, by: context.actor) }
        router.register(AuditListRequest.self) { request, _ in try await auth.audit(request) }
        router.register(OperatorBootstrapRequest.self) { request, _ in try await auth.bootstrap(request) }
    }
}

extension RequestContext {
    var credentialText: String? { credential.flatMap { String(validating: $0, as: UTF8.self) } }

    /// Who the audit log names for a change made by this call (the frame's request id with it).
    var actor: AuditActor {
        let requestId = String(header.requestId)
        return principal.map { AuditActor($0, requestId: requestId) } ?? .unauthenticated(requestId: requestId)
    }
}
