/// The stable error codes of the public contract, on the wire and in HTTP answers (`code`).
///
/// This table is the only place that knows both the wire code and the HTTP status: services throw
/// `ServiceError(code, message)`, the binary server puts the code in an error reply and the HTTP front
/// maps it to `httpStatus`. Codes are never renumbered; new ones are appended in their range.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ok = ErrorCode(rawValue: 0)

    // 1000–1099: the request itself is wrong (400).
    public static let badFrame = ErrorCode(rawValue: 1000)
    public static let unsupportedVersion = ErrorCode(rawValue: 1001)
    public static let unknownMessageKind = ErrorCode(rawValue: 1002)
    public static let frameTooLarge = ErrorCode(rawValue: 1003)
    public static let malformedBody = ErrorCode(rawValue: 1004)
    public static let invalidArgument = ErrorCode(rawValue: 1005)
    public static let malformedJSON = ErrorCode(rawValue: 1006)
    public static let invalidMoney = ErrorCode(rawValue: 1007)
    public static let unknownPath = ErrorCode(rawValue: 1008)
    public static let methodNotAllowed = ErrorCode(rawValue: 1009)
    /// Refused by the HTTP server before routing; `HTTPRefusal.Kind` in Messaging carries the same codes.
    public static let malformedHTTP = ErrorCode(rawValue: 1010)
    public static let payloadTooLarge = ErrorCode(rawValue: 1011)
    public static let headersTooLarge = ErrorCode(rawValue: 1012)
    public static let requestTimeout = ErrorCode(rawValue: 1013)

    // 1100–1199: an id that does not exist (404).
    public static let templateNotFound = ErrorCode(rawValue: 1100)
    public static let couponNotFound = ErrorCode(rawValue: 1101)
    public static let userNotFound = ErrorCode(rawValue: 1102)
    public static let experimentNotFound = ErrorCode(rawValue: 1103)
    public static let reconcileRunNotFound = ErrorCode(rawValue: 1104)
    public static let incidentNotFound = ErrorCode(rawValue: 1105)
    /// A rollout names an arm the experiment does not have.
    public static let experimentArmNotFound = ErrorCode(rawValue: 1106)
    public static let operatorNotFound = ErrorCode(rawValue: 1107)
    public static let tokenNotFound = ErrorCode(rawValue: 1108)

    // 1200–1299: a business rule refuses it (409).
    public static let soldOut = ErrorCode(rawValue: 1200)
    public static let perUserLimitReached = ErrorCode(rawValue: 1201)
    public static let dailyLimitReached = ErrorCode(rawValue: 1202)
    public static let budgetExhausted = ErrorCode(rawValue: 1203)
    public static let templatePaused = ErrorCode(rawValue: 1204)
    public static let claimWindowNotStarted = ErrorCode(rawValue: 1205)
    public static let claimWindowEnded = ErrorCode(rawValue: 1206)
    public static let couponAlreadyUsed = ErrorCode(rawValue: 1207)
    public static let couponExpired = ErrorCode(rawValue: 1208)
    public static let couponNotApplicable = ErrorCode(rawValue: 1209)
    public static let thresholdNotMet = ErrorCode(rawValue: 1210)
    public static let idempotencyKeyReused = ErrorCode(rawValue: 1211)
    public static let insufficientPoints = ErrorCode(rawValue: 1212)
    public static let refundNotMatching = ErrorCode(rawValue: 1213)
    public static let couponRevoked = ErrorCode(rawValue: 1214)
    public static let stackingConflict = ErrorCode(rawValue: 1215)
    public static let notExchangeable = ErrorCode(rawValue: 1216)
    /// The template stops issuing while its cost ratio (or the platform's) is above the ceiling.
    public static let costCeiling = ErrorCode(rawValue: 1217)
    /// The incident's status does not take that action (a RESOLVED or ACCEPTED incident cannot be
    /// acknowledged or accepted).
    public static let incidentState = ErrorCode(rawValue: 1218)
    /// A reconciliation run or an order feed for a business day that has not begun yet in the
    /// configured time zone.
    public static let dayNotBegun = ErrorCode(rawValue: 1219)
    /// A claim through an experiment that is DRAFT or STOPPED.
    public static let experimentNotRunning = ErrorCode(rawValue: 1220)
    /// Start, stop or rollout of an experiment already rolled out.
    public static let experimentRolledOut = ErrorCode(rawValue: 1221)
    /// Start of an experiment that is not DRAFT, or stop of one that is not RUNNING.
    public static let experimentStatusConflict = ErrorCode(rawValue: 1222)
    /// A rollout without an arm while the results do not say ROLL_OUT.
    public static let experimentNoWinner = ErrorCode(rawValue: 1223)
    /// An operator account with that username exists already.
    public static let operatorExists = ErrorCode(rawValue: 1224)
    /// The first-admin bootstrap after an operator exists: it works once, on an empty cluster.
    public static let alreadyBootstrapped = ErrorCode(rawValue: 1225)

    // 1300–1399: refused for who is asking (403).
    public static let riskDenied = ErrorCode(rawValue: 1300)
    public static let channelNotAllowed = ErrorCode(rawValue: 1301)
    public static let segmentNotAllowed = ErrorCode(rawValue: 1302)
    public static let notOwner = ErrorCode(rawValue: 1303)
    public static let riskReview = ErrorCode(rawValue: 1304)
    // 1310–1329: signed in, but not allowed (403).
    /// The credential's role is below the call's (the message names the role needed).
    public static let roleRequired = ErrorCode(rawValue: 1310)
    /// A state-changing request authenticated by the session cookie without `X-CSRF-Token`.
    public static let csrfMissing = ErrorCode(rawValue: 1311)
    /// `X-CSRF-Token` is not the session's.
    public static let csrfMismatch = ErrorCode(rawValue: 1312)
    /// An end-user call with an operator credential that is not the service token (a viewer's).
    public static let serviceTokenRequired = ErrorCode(rawValue: 1313)

    // 1400–1499: slow down (429).
    public static let rateLimited = ErrorCode(rawValue: 1400)
    // 1420–1429: sign-in throttled.
    /// Too many failed sign-ins: the account is locked until the time the message and `lockedUntil` give.
    public static let accountLocked = ErrorCode(rawValue: 1420)

    // 1500–1599: our side or a dependency (5xx).
    public static let internalError = ErrorCode(rawValue: 1500)
    public static let dependencyUnavailable = ErrorCode(rawValue: 1501)
    public static let deadlineExceeded = ErrorCode(rawValue: 1502)
    public static let shuttingDown = ErrorCode(rawValue: 1503)

    // 1600–1649: who is calling is not known (401).
    /// No credential, or one that is unknown, expired, revoked or of a disabled operator.
    public static let unauthenticated = ErrorCode(rawValue: 1600)
    /// A sign-in with a wrong username or password: one code and message for both.
    public static let loginFailed = ErrorCode(rawValue: 1601)

    public static let all: [ErrorCode: (name: String, httpStatus: Int)] = [
        .ok: ("OK", 200),
        .badFrame: ("BAD_FRAME", 400),
        .unsupportedVersion: ("UNSUPPORTED_VERSION", 400),
        .unknownMessageKind: ("UNKNOWN_MESSAGE_KIND", 400),
        .frameTooLarge: ("FRAME_TOO_LARGE", 400),
        .malformedBody: ("MALFORMED_BODY", 400),
        .invalidArgument: ("INVALID_ARGUMENT", 400),
        .malformedJSON: ("MALFORMED_JSON", 400),
        .invalidMoney: ("INVALID_MONEY", 400),
        .unknownPath: ("UNKNOWN_PATH", 404),
        .methodNotAllowed: ("METHOD_NOT_ALLOWED", 405),
        .malformedHTTP: ("MALFORMED_HTTP", 400),
        .payloadTooLarge: ("PAYLOAD_TOO_LARGE", 413),
        .headersTooLarge: ("HEADERS_TOO_LARGE", 431),
        .requestTimeout: ("REQUEST_TIMEOUT", 408),
        .templateNotFound: ("TEMPLATE_NOT_FOUND", 404),
        .couponNotFound: ("COUPON_NOT_FOUND", 404),
        .userNotFound: ("USER_NOT_FOUND", 404),
        .experimentNotFound: ("EXPERIMENT_NOT_FOUND", 404),
        .reconcileRunNotFound: ("RECONCILE_RUN_NOT_FOUND", 404),
        .incidentNotFound: ("INCIDENT_NOT_FOUND", 404),
        .experimentArmNotFound: ("EXPERIMENT_ARM_NOT_FOUND", 404),
        .operatorNotFound: ("OPERATOR_NOT_FOUND", 404),
        .tokenNotFound: ("TOKEN_NOT_FOUND", 404),
        .soldOut: ("SOLD_OUT", 409),
        .perUserLimitReached: ("PER_USER_LIMIT", 409),
        .dailyLimitReached: ("DAILY_LIMIT", 409),
        .budgetExhausted: ("BUDGET_EXHAUSTED", 409),
        .templatePaused: ("TEMPLATE_PAUSED", 409),
        .claimWindowNotStarted: ("NOT_STARTED", 409),
        .claimWindowEnded: ("ENDED", 409),
        .couponAlreadyUsed: ("ALREADY_USED", 409),
        .couponExpired: ("COUPON_EXPIRED", 409),
        .couponNotApplicable: ("NOT_APPLICABLE", 409),
        .thresholdNotMet: ("THRESHOLD_NOT_MET", 409),
        .idempotencyKeyReused: ("REQUEST_ID_REUSED", 409),
        .insufficientPoints: ("INSUFFICIENT_POINTS", 409),
        .refundNotMatching: ("REFUND_NOT_MATCHING", 409),
        .couponRevoked: ("COUPON_REVOKED", 409),
        .stackingConflict: ("STACKING_CONFLICT", 409),
        .notExchangeable: ("NOT_EXCHANGEABLE", 409),
        .costCeiling: ("COST_CEILING", 409),
        .incidentState: ("INCIDENT_STATE", 409),
        .dayNotBegun: ("DAY_NOT_BEGUN", 409),
        .experimentNotRunning: ("EXPERIMENT_NOT_RUNNING", 409),
        .experimentRolledOut: ("EXPERIMENT_ROLLED_OUT", 409),
        .experimentStatusConflict: ("EXPERIMENT_STATUS_CONFLICT", 409),
        .experimentNoWinner: ("EXPERIMENT_NO_WINNER", 409),
        .operatorExists: ("OPERATOR_EXISTS", 409),
        .alreadyBootstrapped: ("ALREADY_BOOTSTRAPPED", 409),
        .riskDenied: ("RISK_DENIED", 403),
        .channelNotAllowed: ("CHANNEL_NOT_ALLOWED", 403),
        .segmentNotAllowed: ("SEGMENT_NOT_ALLOWED", 403),
        .notOwner: ("NOT_OWNER", 403),
        .riskReview: ("RISK_REVIEW", 403),
        .roleRequired: ("ROLE_REQUIRED", 403),
        .csrfMissing: ("CSRF_MISSING", 403),
        .csrfMismatch: ("CSRF_MISMATCH", 403),
        .serviceTokenRequired: ("SERVICE_TOKEN_REQUIRED", 403),
        .rateLimited: ("RATE_LIMITED", 429),
        .accountLocked: ("ACCOUNT_LOCKED", 429),
        .internalError: ("INTERNAL", 500),
        .dependencyUnavailable: ("DEPENDENCY_UNAVAILABLE", 503),
        .deadlineExceeded: ("DEADLINE_EXCEEDED", 504),
        .shuttingDown: ("SHUTTING_DOWN", 503),
        .unauthenticated: ("UNAUTHENTICATED", 401),
        .loginFailed: ("LOGIN_FAILED", 401),
    ]

    public var name: String { Self.all[self]?.name ?? "UNKNOWN_\(rawValue)" }
    /// Unknown codes (from a newer peer) are treated as our own failure to understand: 500.
    public var httpStatus: Int { Self.all[self]?.httpStatus ?? 500 }
    public var description: String { "\(rawValue) \(name)" }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt16.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The one error type services throw for an expected refusal; it travels as an error reply and
/// becomes `{"code": …, "message": …}` over HTTP.
public struct ServiceError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }
}
