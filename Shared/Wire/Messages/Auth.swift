/// Sign-in, operators, API tokens and the audit log (0x0140–0x014F). Times are Unix milliseconds.
/// No answer ever carries a password or a password hash; a token or session id is answered once,
/// to the call that creates it, and stored only as its SHA-256.

/// An operator's role. Each includes the ones before it: an admin may do what an operator may, an
/// operator what a viewer may (the table of who may call what is `AccessTable` in Shared/Access).
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Reads: templates, stats, reports, alerts, incidents, runs, risk rules and lists.
    case viewer
    /// Campaign changes: templates, experiments, reviews, incident acknowledgement, the order
    /// feed, reconciliation runs.
    case `operator`
    /// Risk rules and lists, operators, API tokens, accepting incidents, the audit log.
    case admin

    private var rank: Int { Role.allCases.firstIndex(of: self) ?? 0 }
    public static func < (left: Role, right: Role) -> Bool { left.rank < right.rank }

    /// A role named by a caller, or INVALID_ARGUMENT naming the choices.
    public static func parse(_ text: String, field: String = "role") throws(ServiceError) -> Role {
        guard let role = Role(rawValue: text.lowercased()) else {
            throw ServiceError(.invalidArgument, "\(field): '\(text)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }
}

/// How a caller proved who it is: the audit log's `actorKind`.
public enum ActorKind: String, Codable, Sendable, CaseIterable {
    /// A sign-in session (the `cc_session` cookie, or its id as the wire credential).
    case session
    /// An API token.
    case token
    /// The service token of the company's own front-ends and order service.
    case service
    /// The first admin's bootstrap, with the secret only the machine's owner can read.
    case cli
}

/// `auth_login` (0x0140): `POST /api/auth/login`. Over the wire the answer carries the session id,
/// which later frames send as their credential; over HTTP it goes in the cookie instead.
public struct LoginRequest: WireRequest, Equatable {
    public typealias Response = SessionView
    public static let kind = MessageKind.authLogin
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

public struct SessionView: Codable, Sendable, Equatable {
    /// Only in the answer to a login over the wire; nil everywhere else.
    public var sessionId: String?
    public var username: String
    public var role: Role
    public var csrfToken: String
    public var expiresMilliseconds: Int64
    public init(sessionId: String?, username: String, role: Role, csrfToken: String, expiresMilliseconds: Int64) {
        self.sessionId = sessionId
        self.username = username
        self.role = role
        self.csrfToken = csrfToken
        self.expiresMilliseconds = expiresMilliseconds
    }
}

/// `auth_logout` (0x0141): ends the session that is the frame's credential.
public struct LogoutRequest: WireRequest, Equatable {
    public typealias Response = LogoutResult
    public static let kind = MessageKind.authLogout
    public init() {}
}

public struct LogoutResult: Codable, Sendable, Equatable {
    public var ended: Bool
    public init(ended: Bool) { self.ended = ended }
}

/// `auth_me` (0x0142): who the credential is.
public struct MeRequest: WireRequest, Equatable {
    public typealias Response = CallerView
    public static let kind = MessageKind.authMe
    public init() {}
}

public struct CallerView: Codable, Sendable, Equatable {
    public var username: String
    public var kind: ActorKind
    public var role: Role?
    public init(username: String, kind: ActorKind, role: Role?) {
        self.username = username
        self.kind = kind
        self.role = role
    }
}

/// `tokens_create` (0x0143): a new API token. The token is in this answer and nowhere else.
public struct TokenCreateRequest: WireRequest, Equatable {
    public typealias Response = TokenCreated
    public static let kind = MessageKind.tokenCreate
    public var name: String
    public var role: Role
    /// Days until it expires; nil: never.
    public var ttlDays: Int64?
    public init(name: String, role: Role, ttlDays: Int64? = nil) {
        self.name = name
        self.role = role
        self.ttlDays = ttlDays
    }
}

public struct TokenView: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var role: Role
    public var createdBy: String
    public var createdMilliseconds: Int64
    public var expiresMilliseconds: Int64?
    public var revokedMilliseconds: Int64?
    public init(
        id: Int64, name: String, role: Role, createdBy: String, createdMilliseconds: Int64, expiresMilliseconds: Int64?,
        revokedMilliseconds: Int64?
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.createdBy = createdBy
        self.createdMilliseconds = createdMilliseconds
        self.expiresMilliseconds = expiresMilliseconds
        self.revokedMilliseconds = revokedMilliseconds
    }
}

public struct TokenCreated: Codable, Sendable, Equatable {
    public var token: String
    public var view: TokenView
    public init(token: String, view: TokenView) {
        self.token = token
        self.view = view
    }
}

/// `tokens_list` (0x0144): every token, without secrets.
public struct TokenListRequest: WireRequest, Equatable {
    public typealias Response = TokenList
    public static let kind = MessageKind.tokenList
    public init() {}
}

public struct TokenList: Codable, Sendable, Equatable {
    public var tokens: [TokenView]
    public init(tokens: [TokenView]) { self.tokens = tokens }
}

/// `tokens_revoke` (0x0145).
public struct TokenRevokeRequest: WireRequest, Equatable {
    public typealias Response = TokenView
    public static let kind = MessageKind.tokenRevoke
    public var id: Int64
    public init(id: Int64) { self.id = id }
}

public struct OperatorView: Codable, Sendable, Equatable {
    public var username: String
    public var role: Role
    public var disabled: Bool
    public var createdMilliseconds: Int64
    /// When the lockout after failed sign-ins ends; nil when not locked.
    public var lockedUntilMilliseconds: Int64?
    public init(username: String, role: Role, disabled: Bool, createdMilliseconds: Int64, lockedUntilMilliseconds: Int64?) {
        self.username = username
        self.role = role
        self.disabled = disabled
        self.createdMilliseconds = createdMilliseconds
        self.lockedUntilMilliseconds = lockedUntilMilliseconds
    }
}

/// `operators_create` (0x0146).
public struct OperatorCreateRequest: WireRequest, Equatable {
    public typealias Response = OperatorView
    public static let kind = MessageKind.operatorCreate
    public var username: String
    public var password: String
    public var role: Role
    public init(username: String, password: String, role: Role) {
        self.username = username
        self.password = password
        self.role = role
    }
}

/// `operators_list` (0x0147).
public struct OperatorListRequest: WireRequest, Equatable {
    public typealias Response = OperatorList
    public static let kind = MessageKind.operatorList
    public init() {}
}

public struct OperatorList: Codable, Sendable, Equatable {
    public var operators: [OperatorView]
    public init(operators: [OperatorView]) { self.operators = operators }
}

/// `operators_role` (0x0148).
public struct OperatorRoleSetRequest: WireRequest, Equatable {
    public typealias Response = OperatorView
    public static let kind = MessageKind.operatorRoleSet
    public var username: String
    public var role: Role
    public init(username: String, role: Role) {
        self.username = username
        self.role = role
    }
}

/// `operators_disable` (0x0149): the account can no longer sign in; its sessions and tokens end.
public struct OperatorDisableRequest: WireRequest, Equatable {
    public typealias Response = OperatorView
    public static let kind = MessageKind.operatorDisable
    public var username: String
    public init(username: String) { self.username = username }
}

/// `operators_password` (0x014A): a new password; the operator's sessions end.
public struct OperatorPasswordSetRequest: WireRequest, Equatable {
    public typealias Response = OperatorView
    public static let kind = MessageKind.operatorPasswordSet
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// `audit_list` (0x014B): `GET /api/admin/audit`, newest first; `beforeId` is the cursor.
public struct AuditListRequest: WireRequest, Equatable {
    public typealias Response = AuditList
    public static let kind = MessageKind.auditList
    public var actor: String?
    public var action: String?
    public var sinceMilliseconds: Int64?
    public var limit: Int32
    public var beforeId: Int64?
    public init(actor: String? = nil, action: String? = nil, sinceMilliseconds: Int64? = nil, limit: Int32 = 100, beforeId: Int64? = nil) {
        self.actor = actor
        self.action = action
        self.sinceMilliseconds = sinceMilliseconds
        self.limit = limit
        self.beforeId = beforeId
    }
}

public struct AuditEntry: Codable, Sendable, Equatable {
    public var id: Int64
    public var atMilliseconds: Int64
    public var actor: String
    public var actorKind: ActorKind
    public var action: String
    public var target: String
    /// The row before and after the change as JSON object text ("null" for none).
    public var before: String
    public var after: String
    public var requestId: String?
    public init(
        id: Int64, atMilliseconds: Int64, actor: String, actorKind: ActorKind, action: String, target: String, before: String, after: String,
        requestId: String?
    ) {
        self.id = id
        self.atMilliseconds = atMilliseconds
        self.actor = actor
        self.actorKind = actorKind
        self.action = action
        self.target = target
        self.before = before
        self.after = after
        self.requestId = requestId
    }
}

public struct AuditList: Codable, Sendable, Equatable {
    public var entries: [AuditEntry]
    /// The `beforeId` of the next page; nil on the last.
    public var nextBeforeId: Int64?
    public init(entries: [AuditEntry], nextBeforeId: Int64?) {
        self.entries = entries
        self.nextBeforeId = nextBeforeId
    }
}

/// `operators_bootstrap` (0x014C): the first admin of an empty cluster, with an admin API token.
/// Accepted only while no operator exists and only with the secret coupon-center was started with
/// (`--bootstrap-secret-file`, which `Deploy/cluster up` writes 0600 beside the cluster's data).
public struct OperatorBootstrapRequest: WireRequest, Equatable {
    public typealias Response = BootstrapResult
    public static let kind = MessageKind.operatorBootstrap
    public var secret: String
    public var username: String
    public var password: String
    public var tokenName: String
    public init(secret: String, username: String, password: String, tokenName: String) {
        self.secret = secret
        self.username = username
        self.password = password
        self.tokenName = tokenName
    }
}

public struct BootstrapResult: Codable, Sendable, Equatable {
    public var admin: OperatorView
    public var token: TokenCreated
    public init(admin: OperatorView, token: TokenCreated) {
        self.admin = admin
        self.token = token
    }
}
