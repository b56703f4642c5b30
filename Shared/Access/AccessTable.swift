import Wire

/// What a call needs from its caller.
public enum Requirement: Sendable, Equatable, CustomStringConvertible {
    /// Anyone: health, metrics, ping, login.
    case open
    /// The end-user calls of the company's own front-ends and order service: the service token
    /// when one is configured (an operator or admin credential does too), open otherwise.
    case service
    /// Any signed-in operator, whatever the role (`me`, `logout`).
    case authenticated
    /// An operator credential with at least this role.
    case role(Role)

    public var description: String {
        switch self {
        case .open: "open"
        case .service: "service token"
        case .authenticated: "any operator"
        case .role(let role): "role \(role.rawValue)"
        }
    }
}

/// The one table of who may call what, on both fronts (Shared/DESIGN.md §4, README "Sign-in and
/// roles"). The binary servers look up `kinds`, the HTTP front `routes`; a call missing from the
/// table is refused as if it needed an admin, and a test holds both tables complete.
public enum AccessTable {
    public static let kinds: [MessageKind: Requirement] = [
        .ping: .open, .serviceStats: .open,
        // Templates.
        .templateCreate: .role(.operator), .templatePause: .role(.operator), .templateResume: .role(.operator),
        .templateGet: .role(.viewer), .templateList: .role(.viewer),
        // End-user calls. Points grants and profile tags come from the loyalty and CRM systems,
        // which are the company's own services: the service token, like a claim.
        .claim: .service, .use: .service, .refund: .service, .wallet: .service, .best: .service, .exchange: .service,
        .pointsGrant: .service, .profileSet: .service, .exposure: .service, .orderReport: .service,
        // Analytics and cost.
        .stats: .role(.viewer), .statsCost: .role(.viewer), .alertsList: .role(.viewer), .costEvaluate: .role(.operator),
        // Reconciliation.
        .reconcileStart: .role(.operator), .reconcileRunGet: .role(.viewer), .reconcileRunsList: .role(.viewer),
        .feedSubmit: .role(.operator), .incidentsList: .role(.viewer), .incidentAck: .role(.operator), .incidentAccept: .role(.admin),
        // Experiments: operators run them; which arm a user is in, and a claim through one, are the
        // front-ends' end-user calls.
        .experimentCreate: .role(.operator), .experimentStart: .role(.operator), .experimentStop: .role(.operator),
        .experimentRollout: .role(.operator), .experimentGet: .role(.viewer), .experimentList: .role(.viewer),
        .experimentResults: .role(.viewer), .experimentAssignment: .service, .experimentClaim: .service,
        // Recommendations: asking for one is the front-ends' call; the log, its offline evaluation
        // and the health report are reads.
        .recommend: .service, .recommendLog: .role(.viewer), .recommendEvaluate: .role(.viewer), .healthReport: .role(.viewer),
        // Sign-in, operators, tokens, audit.
        .authLogin: .open, .authLogout: .authenticated, .authMe: .authenticated,
        .tokenCreate: .role(.admin), .tokenList: .role(.admin), .tokenRevoke: .role(.admin),
        .operatorCreate: .role(.admin), .operatorList: .role(.admin), .operatorRoleSet: .role(.admin),
        .operatorDisable: .role(.admin), .operatorPasswordSet: .role(.admin), .auditList: .role(.admin),
        // Guarded by the bootstrap secret and "no operator yet", not by a credential (README).
        .operatorBootstrap: .open,
        // rule-engine: called by coupon-center only.
        .claimCheck: .service, .discountQuote: .service, .bestCombination: .service, .claimCheckBatch: .service,
        .discountQuoteBatch: .service,
        // risk-control.
        .riskDecide: .service, .riskDecideBatch: .service,
        // What coupon-center's health report reads from risk-control, with the service token.
        .riskAuditSummary: .service,
        .riskRulesGet: .role(.viewer), .riskListGet: .role(.viewer), .riskReport: .role(.viewer),
        .riskRulesSet: .role(.admin), .riskRulesReload: .role(.admin), .riskListAdd: .role(.admin), .riskListRemove: .role(.admin),
    ]

    /// Keyed by the method and the route's pattern as written: `POST /api/coupon/template/{id}/pause`.
    public static let routes: [String: Requirement] = [
        "GET /health": .open, "GET /metrics": .open,
        "POST /api/coupon/template": .role(.operator), "GET /api/coupon/template": .role(.viewer),
        "GET /api/coupon/template/{id}": .role(.viewer),
        "POST /api/coupon/template/{id}/pause": .role(.operator), "POST /api/coupon/template/{id}/resume": .role(.operator),
        "POST /api/coupon/issue": .service, "POST /api/coupon/exchange": .service, "POST /api/points/grant": .service,
        "POST /api/user/profile": .service, "POST /api/coupon/use": .service, "POST /api/coupon/refund": .service,
        "POST /api/coupon/best": .service, "POST /api/coupon/exposure": .service, "GET /api/coupon/list": .service,
        "POST /api/coupon/order": .service,
        "GET /api/coupon/stats": .role(.viewer), "GET /api/coupon/stats/cost": .role(.viewer), "GET /api/admin/alerts": .role(.viewer),
        "POST /api/admin/alerts/evaluate": .role(.operator),
        "POST /api/admin/reconcile": .role(.operator), "GET /api/admin/reconcile/runs": .role(.viewer),
        "GET /api/admin/reconcile/runs/{runId}": .role(.viewer), "POST /api/admin/reconcile/feed": .role(.operator),
        "GET /api/admin/incidents": .role(.viewer), "POST /api/admin/incidents/{id}/ack": .role(.operator),
        "POST /api/admin/incidents/{id}/accept": .role(.admin),
        "POST /api/admin/experiments": .role(.operator), "POST /api/admin/experiments/{id}/start": .role(.operator),
        "POST /api/admin/experiments/{id}/stop": .role(.operator), "POST /api/admin/experiments/{id}/rollout": .role(.operator),
        "GET /api/admin/experiments": .role(.viewer), "GET /api/admin/experiments/{id}": .role(.viewer),
        "GET /api/admin/experiments/{id}/results": .role(.viewer), "GET /api/coupon/experiments/{id}/assignment": .service,
        "GET /api/coupon/recommend": .service, "GET /api/admin/recommend/log": .role(.viewer),
        "GET /api/admin/recommend/evaluate": .role(.viewer), "GET /api/admin/health-report": .role(.viewer),
        "POST /api/auth/login": .open, "POST /api/auth/logout": .authenticated, "GET /api/auth/me": .authenticated,
        "POST /api/admin/tokens": .role(.admin), "GET /api/admin/tokens": .role(.admin), "POST /api/admin/tokens/{id}/revoke": .role(.admin),
        "POST /api/admin/operators": .role(.admin), "GET /api/admin/operators": .role(.admin),
        "POST /api/admin/operators/{username}/role": .role(.admin), "POST /api/admin/operators/{username}/disable": .role(.admin),
        "POST /api/admin/operators/{username}/password": .role(.admin), "GET /api/admin/audit": .role(.admin),
    ]

    /// A call the table does not name needs an admin: a forgotten entry fails closed.
    public static func requirement(for kind: MessageKind) -> Requirement { kinds[kind] ?? .role(.admin) }
    public static func requirement(forRoute route: String) -> Requirement { routes[route] ?? .role(.admin) }
}

/// What the servers enforce, built from configuration.
public struct AccessPolicy: Sendable, Equatable {
    /// Operator calls need a credential with the role (on unless switched off for a test bed).
    public var operatorAuthRequired: Bool
    /// End-user calls need the service token (when one is configured).
    public var serviceTokenRequired: Bool

    public init(operatorAuthRequired: Bool, serviceTokenRequired: Bool) {
        self.operatorAuthRequired = operatorAuthRequired
        self.serviceTokenRequired = serviceTokenRequired
    }

    /// Nil when `principal` may make a call with `requirement`, else the refusal: UNAUTHENTICATED
    /// (401) without a credential, ROLE_REQUIRED or SERVICE_TOKEN_REQUIRED (403) with the wrong one.
    public func refusal(_ requirement: Requirement, principal: Principal?, call: String) -> ServiceError? {
        switch requirement {
        case .open:
            return nil
        case .service:
            guard serviceTokenRequired else { return nil }
            guard let principal else { return ServiceError(.unauthenticated, "\(call) needs the service token (Authorization: Bearer)") }
            if principal.kind == .service { return nil }
            if let role = principal.role, role >= .operator { return nil }
            return ServiceError(.serviceTokenRequired, "\(call) needs the service token or an operator; \(principal.name) is a viewer")
        case .authenticated:
            guard let principal, principal.role != nil else {
                return ServiceError(.unauthenticated, "\(call) needs a signed-in operator (session or API token)")
            }
            return nil
        case .role(let needed):
            guard operatorAuthRequired else { return nil }
            guard let principal else {
                return ServiceError(.unauthenticated, "\(call) needs an operator session or API token with role \(needed.rawValue)")
            }
            guard let role = principal.role else {
                return ServiceError(.roleRequired, "\(call) needs role \(needed.rawValue); the service token makes end-user calls only")
            }
            guard role >= needed else {
                return ServiceError(.roleRequired, "\(call) needs role \(needed.rawValue); \(principal.name) is \(role.rawValue)")
            }
            return nil
        }
    }
}
