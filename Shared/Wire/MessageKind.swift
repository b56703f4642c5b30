/// What a frame carries. Requests and their replies share the kind; the reply flag tells them apart.
/// Ranges: 0x00xx every service, 0x01xx coupon-center, 0x02xx rule-engine, 0x03xx risk-control.
/// A number, once published, is never reused for another message (see PROTOCOL.md).
public struct MessageKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // Every service.
    public static let ping = MessageKind(rawValue: 0x0001)
    public static let serviceStats = MessageKind(rawValue: 0x0002)

    // coupon-center.
    public static let templateCreate = MessageKind(rawValue: 0x0101)
    public static let templateGet = MessageKind(rawValue: 0x0102)
    public static let templatePause = MessageKind(rawValue: 0x0103)
    public static let templateResume = MessageKind(rawValue: 0x0104)
    public static let templateList = MessageKind(rawValue: 0x0105)
    public static let claim = MessageKind(rawValue: 0x0110)
    public static let use = MessageKind(rawValue: 0x0111)
    public static let refund = MessageKind(rawValue: 0x0112)
    public static let wallet = MessageKind(rawValue: 0x0113)
    public static let best = MessageKind(rawValue: 0x0114)
    public static let exchange = MessageKind(rawValue: 0x0115)
    public static let pointsGrant = MessageKind(rawValue: 0x0116)
    public static let profileSet = MessageKind(rawValue: 0x0117)
    public static let exposure = MessageKind(rawValue: 0x0118)
    public static let stats = MessageKind(rawValue: 0x0119)
    public static let statsCost = MessageKind(rawValue: 0x0120)
    public static let alertsList = MessageKind(rawValue: 0x0121)
    public static let orderReport = MessageKind(rawValue: 0x0122)
    public static let costEvaluate = MessageKind(rawValue: 0x0123)
    public static let reconcileStart = MessageKind(rawValue: 0x0124)
    public static let reconcileRunGet = MessageKind(rawValue: 0x0125)
    public static let reconcileRunsList = MessageKind(rawValue: 0x0126)
    public static let feedSubmit = MessageKind(rawValue: 0x0127)
    public static let incidentsList = MessageKind(rawValue: 0x0128)
    public static let incidentAck = MessageKind(rawValue: 0x0129)
    public static let incidentAccept = MessageKind(rawValue: 0x012A)
    public static let experimentCreate = MessageKind(rawValue: 0x0130)
    public static let experimentGet = MessageKind(rawValue: 0x0131)
    public static let experimentList = MessageKind(rawValue: 0x0132)
    public static let experimentStart = MessageKind(rawValue: 0x0133)
    public static let experimentStop = MessageKind(rawValue: 0x0134)
    public static let experimentRollout = MessageKind(rawValue: 0x0135)
    public static let experimentResults = MessageKind(rawValue: 0x0136)
    public static let experimentAssignment = MessageKind(rawValue: 0x0137)
    public static let experimentClaim = MessageKind(rawValue: 0x0138)
    public static let recommend = MessageKind(rawValue: 0x0139)
    public static let recommendLog = MessageKind(rawValue: 0x013A)
    public static let recommendEvaluate = MessageKind(rawValue: 0x013B)
    public static let healthReport = MessageKind(rawValue: 0x013C)
    // Sign-in, operators, API tokens and the audit log (0x0140–0x014F).
    public static let authLogin = MessageKind(rawValue: 0x0140)
    public static let authLogout = MessageKind(rawValue: 0x0141)
    public static let authMe = MessageKind(rawValue: 0x0142)
    public static let tokenCreate = MessageKind(rawValue: 0x0143)
    public static let tokenList = MessageKind(rawValue: 0x0144)
    public static let tokenRevoke = MessageKind(rawValue: 0x0145)
    public static let operatorCreate = MessageKind(rawValue: 0x0146)
    public static let operatorList = MessageKind(rawValue: 0x0147)
    public static let operatorRoleSet = MessageKind(rawValue: 0x0148)
    public static let operatorDisable = MessageKind(rawValue: 0x0149)
    public static let operatorPasswordSet = MessageKind(rawValue: 0x014A)
    public static let auditList = MessageKind(rawValue: 0x014B)
    public static let operatorBootstrap = MessageKind(rawValue: 0x014C)

    // rule-engine.
    public static let claimCheck = MessageKind(rawValue: 0x0201)
    public static let discountQuote = MessageKind(rawValue: 0x0202)
    public static let bestCombination = MessageKind(rawValue: 0x0203)
    public static let claimCheckBatch = MessageKind(rawValue: 0x0204)
    public static let discountQuoteBatch = MessageKind(rawValue: 0x0205)

    // risk-control.
    public static let riskDecide = MessageKind(rawValue: 0x0301)
    public static let riskRulesGet = MessageKind(rawValue: 0x0302)
    public static let riskRulesSet = MessageKind(rawValue: 0x0303)
    public static let riskRulesReload = MessageKind(rawValue: 0x0304)
    public static let riskListAdd = MessageKind(rawValue: 0x0305)
    public static let riskListRemove = MessageKind(rawValue: 0x0306)
    public static let riskListGet = MessageKind(rawValue: 0x0307)
    public static let riskReport = MessageKind(rawValue: 0x0308)
    public static let riskDecideBatch = MessageKind(rawValue: 0x0309)
    public static let riskAuditSummary = MessageKind(rawValue: 0x030A)

    /// Names for logs and metrics labels; unknown kinds print as hex.
    public static let names: [MessageKind: String] = [
        .ping: "ping",
        .serviceStats: "service_stats",
        .templateCreate: "template_create", .templateGet: "template_get", .templatePause: "template_pause",
        .templateResume: "template_resume", .templateList: "template_list", .claim: "claim", .use: "use", .refund: "refund", .wallet: "wallet",
        .best: "best",
        .exchange: "exchange", .pointsGrant: "points_grant", .profileSet: "profile_set", .exposure: "exposure", .stats: "stats",
        .statsCost: "stats_cost", .alertsList: "alerts_list", .orderReport: "order_report", .costEvaluate: "cost_evaluate",
        .reconcileStart: "reconcile_start", .reconcileRunGet: "reconcile_run_get", .reconcileRunsList: "reconcile_runs_list",
        .feedSubmit: "feed_submit", .incidentsList: "incidents_list", .incidentAck: "incident_ack", .incidentAccept: "incident_accept",
        .experimentCreate: "experiment_create", .experimentGet: "experiment_get", .experimentList: "experiment_list",
        .experimentStart: "experiment_start", .experimentStop: "experiment_stop", .experimentRollout: "experiment_rollout",
        .experimentResults: "experiment_results", .experimentAssignment: "experiment_assignment",
        .experimentClaim: "experiment_claim",
        .recommend: "recommend", .recommendLog: "recommend_log", .recommendEvaluate: "recommend_evaluate",
        .healthReport: "health_report",
        .authLogin: "auth_login", .authLogout: "auth_logout", .authMe: "auth_me", .tokenCreate: "tokens_create", .tokenList: "tokens_list",
        .tokenRevoke: "tokens_revoke", .operatorCreate: "operators_create", .operatorList: "operators_list",
        .operatorRoleSet: "operators_role", .operatorDisable: "operators_disable", .operatorPasswordSet: "operators_password",
        .auditList: "audit_list", .operatorBootstrap: "operators_bootstrap",
        .claimCheck: "claim_check", .discountQuote: "discount_quote", .bestCombination: "best_combination",
        .claimCheckBatch: "claim_check_batch", .discountQuoteBatch: "discount_quote_batch",
        .riskDecide: "risk_decide", .riskRulesGet: "risk_rules_get", .riskRulesSet: "risk_rules_set",
        .riskRulesReload: "risk_rules_reload", .riskListAdd: "risk_list_add", .riskListRemove: "risk_list_remove",
        .riskListGet: "risk_list_get", .riskReport: "risk_report", .riskDecideBatch: "risk_decide_batch",
        .riskAuditSummary: "risk_audit_summary",
    ]

    public var name: String { Self.names[self] ?? "kind_0x" + String(rawValue, radix: 16) }
    public var description: String { name }
}
