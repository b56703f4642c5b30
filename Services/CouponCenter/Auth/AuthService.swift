import Access
import Credentials
import Domain
import Foundation
import ServiceKit
import Signatures
import Synchronization
import Wire

/// Sign-in, operators, API tokens and the audit log. What a sign-in goes through, in order:
/// 1. the username and password are checked against the account rules (a value no account can
///    have fails like a wrong password, so nothing tells the caller which part was wrong);
/// 2. a locked account is refused with ACCOUNT_LOCKED and the time the lock ends (nothing counted);
/// 3. the password is verified against the yescrypt hash (an unknown or disabled account is
///    verified against a decoy hash, so it takes as long);
/// 4. a failure is counted under the account's row lock (`OperatorStore.recordFailure`), and the
///    failure that reaches the count answers ACCOUNT_LOCKED;
/// 5. a success resets the count and starts a session in one transaction.
/// No log line and no answer ever holds the password.
struct AuthService: Sendable {
    let store: OperatorStore
    let settings: AuthSettings
    let logger: Logger
    private let decoyHash = DecoyHash()

    init(store: OperatorStore, settings: AuthSettings, logger: Logger) {
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    static let loginFailure = ServiceError(.loginFailed, "wrong username or password")

    /// A sign-in's answer: a session, or the account's lockout (ACCOUNT_LOCKED, and when it ends,
    /// which the HTTP answer gives as `lockedUntil`). Wrong credentials throw LOGIN_FAILED.
    enum LoginOutcome: Sendable {
        case signedIn(SessionView)
        case locked(untilMilliseconds: Int64)

        var error: ServiceError? {
            guard case .locked(let until) = self else { return nil }
            let text = Timestamp.formatISO8601(until, in: TimeZone(identifier: "UTC") ?? .current)
            return ServiceError(.accountLocked, "too many failed sign-ins: the account is locked until \(text)")
        }
    }

    func login(_ request: LoginRequest) async throws -> LoginOutcome {
        guard (try? AccountRules.checkUsername(request.username)) != nil,
            request.password.utf8.count <= AccountRules.maximumPasswordBytes, !request.password.utf8.contains(0)
        else { throw Self.loginFailure }
        let account = try await store.account(request.username)
        if let until = account?.lockedUntilMilliseconds { return .locked(untilMilliseconds: until) }
        guard let account, !account.disabled else {
            _ = await PasswordHash.verify(request.password, against: try await decoy())
            throw Self.loginFailure
        }
        guard await PasswordHash.verify(request.password, against: account.passwordHash) else {
            switch try await store.recordFailure(
                account.username, maxFailures: settings.maxFailures, windowSeconds: settings.failureWindowSeconds, lockSeconds: settings.lockSeconds)
            {
            case .counted(let lockedUntil?):
                logger.warning("operator account locked after failed sign-ins", [("operator", account.username)])
                return .locked(untilMilliseconds: lockedUntil)
            case .alreadyLocked(let until): return .locked(untilMilliseconds: until)
            case .counted(nil), .noAccount: throw Self.loginFailure
            }
        }
        let sessionId = CredentialText.sessionPrefix + (try SecureRandom.hex(32))
        guard
            let started = try await store.startSession(
                account.username, sessionIdDigest: CredentialStore.digest(sessionId), ttlSeconds: settings.sessionTTLSeconds)
        else {
            // Locked or disabled while the hash was being checked.
            if let until = try await store.account(account.username)?.lockedUntilMilliseconds { return .locked(untilMilliseconds: until) }
            throw Self.loginFailure
        }
        logger.info("operator signed in", [("operator", account.username)])
        return .signedIn(
            SessionView(
                sessionId: sessionId, username: account.username, role: started.role,
                csrfToken: CredentialStore.csrfToken(sessionId: sessionId), expiresMilliseconds: started.expiresMilliseconds))
    }

    /// The session's view for `GET /api/auth/me`, or UNAUTHENTICATED for a credential that is not a session.
    func session(_ principal: Principal, sessionId: String?) async throws -> SessionView {
        guard principal.kind == .session, let role = principal.role, let sessionId,
            let expires = try await store.sessionExpiry(CredentialStore.digest(sessionId))
        else { throw ServiceError(.unauthenticated, "not a sign-in session") }
        return SessionView(
            sessionId: nil, username: principal.name, role: role, csrfToken: CredentialStore.csrfToken(sessionId: sessionId),
            expiresMilliseconds: expires)
    }

    func logout(sessionId: String?) async throws -> LogoutResult {
        guard let sessionId, CredentialText.kind(of: sessionId) == .session else {
            throw ServiceError(.unauthenticated, "logout ends a sign-in session; this credential is not one")
        }
        return LogoutResult(ended: try await store.endSession(CredentialStore.digest(sessionId)))
    }

    // MARK: Operators

    func createOperator(_ request: OperatorCreateRequest, by actor: AuditActor) async throws -> OperatorView {
        try AccountRules.checkUsername(request.username)
        try AccountRules.checkPassword(request.password)
        let hash = try await PasswordHash.hash(request.password)
        let view = try await store.createOperator(request.username, role: request.role, passwordHash: hash, by: actor)
        logger.info("operator created", [("operator", view.username), ("role", view.role.rawValue), ("actor", actor.name)])
        return view
    }

    func setRole(_ request: OperatorRoleSetRequest, by actor: AuditActor) async throws -> OperatorView {
        try AccountRules.checkUsername(request.username)
        let role = request.role.rawValue
        return try await store.changeOperator(request.username, action: "operator.role", by: actor) { transaction in
            try await transaction.execute("UPDATE operator_account SET role = $2 WHERE username = $1", [request.username, role])
        }
    }

    /// Disabling ends the operator's sessions and revokes their tokens in the same transaction.
    func disable(_ request: OperatorDisableRequest, by actor: AuditActor) async throws -> OperatorView {
        try AccountRules.checkUsername(request.username)
        let username = request.username
        return try await store.changeOperator(username, action: "operator.disable", by: actor) { transaction in
            try await transaction.execute("UPDATE operator_account SET disabled = true WHERE username = $1", [username])
            try await OperatorStore.endSessions(of: username, in: transaction)
            try await transaction.execute("UPDATE api_token SET revoked_at = now() WHERE owner = $1 AND revoked_at IS NULL", [username])
        }
    }

    /// A new password ends the operator's sessions and lifts a lockout.
    func setPassword(_ request: OperatorPasswordSetRequest, by actor: AuditActor) async throws -> OperatorView {
        try AccountRules.checkUsername(request.username)
        try AccountRules.checkPassword(request.password)
        let hash = try await PasswordHash.hash(request.password)
        let username = request.username
        return try await store.changeOperator(username, action: "operator.password", by: actor) { transaction in
            try await transaction.execute(
                """
                UPDATE operator_account SET password_hash = $2, failed_logins = 0, failure_window_started_at = NULL, locked_until = NULL
                 WHERE username = $1
                """, [username, hash])
            try await OperatorStore.endSessions(of: username, in: transaction)
        }
    }

    func operators() async throws -> OperatorList { OperatorList(operators: try await store.listOperators()) }

    // MARK: Tokens

    /// A token never gets more than its creator's role, and belongs to the creator's account.
    func createToken(_ request: TokenCreateRequest, by principal: Principal?, requestId: String?) async throws -> TokenCreated {
        try AccountRules.checkTokenName(request.name)
        if let days = request.ttlDays { try AccountRules.checkTokenTTL(days: days) }
        guard let principal, let owner = principal.account, let ownerRole = principal.role else {
            throw ServiceError(.unauthenticated, "an API token belongs to an operator: sign in to create one")
        }
        guard request.role <= ownerRole else {
            throw ServiceError(.roleRequired, "a token's role cannot exceed its creator's (\(ownerRole.rawValue))")
        }
        let token = CredentialText.apiTokenPrefix + (try SecureRandom.hex(32))
        let view = try await store.createToken(
            name: request.name, role: request.role, ttlDays: request.ttlDays, owner: owner, tokenDigest: CredentialStore.digest(token),
            by: AuditActor(principal, requestId: requestId))
        return TokenCreated(token: token, view: view)
    }

    func tokens() async throws -> TokenList { TokenList(tokens: try await store.listTokens()) }

    func revokeToken(_ request: TokenRevokeRequest, by actor: AuditActor) async throws -> TokenView {
        try await store.revokeToken(request.id, by: actor)
    }

    func audit(_ request: AuditListRequest) async throws -> AuditList {
        if let actor = request.actor, actor.unicodeScalars.count > 64 { throw ServiceError(.invalidArgument, "actor: at most 64 characters") }
        if let action = request.action, action.unicodeScalars.count > 64 {
            throw ServiceError(.invalidArgument, "action: at most 64 characters")
        }
        let page = try await Page.read(limit: request.limit, beforeId: request.beforeId, naming: "audit entry") { rows in
            try await store.audit(request, rows: rows)
        }
        return AuditList(entries: page.items, nextBeforeId: page.hasMore ? page.items.last?.id : nil)
    }

    // MARK: Bootstrap

    /// The first admin of an empty cluster: needs the secret coupon-center was started with, and
    /// works only while no operator exists (README "First admin").
    func bootstrap(_ request: OperatorBootstrapRequest) async throws -> BootstrapResult {
        guard let secret = settings.bootstrapSecret else {
            throw ServiceError(.unauthenticated, "the first-admin bootstrap is not enabled (no --bootstrap-secret-file)")
        }
        guard ConstantTime.equal(Array(request.secret.utf8), Array(secret.utf8)) else {
            throw ServiceError(.unauthenticated, "the bootstrap secret is wrong")
        }
        try AccountRules.checkUsername(request.username)
        try AccountRules.checkPassword(request.password)
        try AccountRules.checkTokenName(request.tokenName)
        let hash = try await PasswordHash.hash(request.password)
        let token = CredentialText.apiTokenPrefix + (try SecureRandom.hex(32))
        let (admin, view) = try await store.bootstrap(
            username: request.username, passwordHash: hash, tokenName: request.tokenName, tokenDigest: CredentialStore.digest(token),
            actor: AuditActor(name: "bootstrap", kind: .cli))
        logger.info("first admin created", [("operator", admin.username)])
        return BootstrapResult(admin: admin, token: TokenCreated(token: token, view: view))
    }

    /// A hash of a random password, computed once: what an unknown account's password is
    /// checked against, so that "no such user" takes as long as "wrong password".
    private func decoy() async throws -> String {
        if let hash = decoyHash.value.withLock({ $0 }) { return hash }
        let hash = try await PasswordHash.hash(try SecureRandom.hex(16))
        decoyHash.value.withLock { $0 = hash }
        return hash
    }
}

/// The decoy hash, shared by every copy of the service.
private final class DecoyHash: Sendable {
    let value = Mutex<String?>(nil)
}
