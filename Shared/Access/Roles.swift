import Wire

/// Who is calling, once a credential was checked. `role` is nil for the service token: it may make
/// the end-user calls and nothing else.
public struct Principal: Sendable, Equatable {
    public var name: String
    public var kind: ActorKind
    public var role: Role?
    /// The operator account behind a session or token (owner of the token); nil for the service.
    public var account: String?
    /// The session's CSRF token, for a session; nil otherwise.
    public var csrfToken: String?

    public init(name: String, kind: ActorKind, role: Role?, account: String? = nil, csrfToken: String? = nil) {
        self.name = name
        self.kind = kind
        self.role = role
        self.account = account
        self.csrfToken = csrfToken
    }

    public static let service = Principal(name: "service", kind: .service, role: nil)
}

/// Who made a change, as the audit log records it.
public struct AuditActor: Sendable, Equatable {
    public var name: String
    public var kind: ActorKind
    public var requestId: String?

    public init(name: String, kind: ActorKind, requestId: String? = nil) {
        self.name = name
        self.kind = kind
        self.requestId = requestId
    }

    public init(_ principal: Principal, requestId: String?) {
        self.init(name: principal.name, kind: principal.kind, requestId: requestId)
    }

    /// A change with authentication switched off (`--operator-auth off`): recorded all the same,
    /// under a name that says nobody was checked.
    public static func unauthenticated(requestId: String?) -> AuditActor {
        AuditActor(name: "unauthenticated", kind: .cli, requestId: requestId)
    }
}
