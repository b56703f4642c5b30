import Credentials
import ServiceKit

/// Sign-in settings of coupon-center (README "Sign-in and roles"), beside the access options every
/// service shares (`AccessSettings`).
struct AuthSettings: Sendable {
    var access: AccessSettings
    var sessionTTLSeconds: Int
    var sessionIdleSeconds: Int
    /// Failed sign-ins within `failureWindowSeconds` that lock the account for `lockSeconds`.
    var maxFailures: Int
    var failureWindowSeconds: Int
    var lockSeconds: Int
    /// Adds `Secure` to the session cookie (a deployment behind HTTPS).
    var secureCookie: Bool
    /// The first-admin bootstrap's secret, read from `--bootstrap-secret-file`; nil: no bootstrap.
    var bootstrapSecret: String?

    static let options: [ConfigOption] =
        AccessSettings.options + [
            ConfigOption("session-ttl", env: "COUPON_SESSION_TTL_SECONDS", default: "28800", "seconds a sign-in session lasts at most"),
            ConfigOption("session-idle", env: "COUPON_SESSION_IDLE_SECONDS", default: "1800", "seconds unused after which a session ends"),
            ConfigOption(
                "login-max-failures", env: "COUPON_LOGIN_MAX_FAILURES", default: "5",
                "failed sign-ins within the window that lock the account"),
            ConfigOption(
                "login-failure-window", env: "COUPON_LOGIN_FAILURE_WINDOW_SECONDS", default: "900",
                "seconds within which failed sign-ins are counted together"),
            ConfigOption("login-lock", env: "COUPON_LOGIN_LOCK_SECONDS", default: "900", "seconds an account stays locked"),
            ConfigOption.switchOption("cookie-secure", env: "COUPON_COOKIE_SECURE", "mark the session cookie Secure (HTTPS deployments)"),
            ConfigOption(
                "bootstrap-secret-file", env: "COUPON_BOOTSTRAP_SECRET_FILE", default: "",
                "a 0600 file whose secret lets `couponctl operator bootstrap` create the first admin of an empty cluster"),
        ]

    init(_ values: ConfigValues) throws(ConfigError) {
        access = try AccessSettings(values)
        sessionTTLSeconds = try values.int("session-ttl", in: 60...2_592_000)
        sessionIdleSeconds = try values.int("session-idle", in: 60...2_592_000)
        maxFailures = try values.int("login-max-failures", in: 1...1000)
        failureWindowSeconds = try values.int("login-failure-window", in: 1...86_400)
        lockSeconds = try values.int("login-lock", in: 1...86_400)
        secureCookie = try values.bool("cookie-secure")
        let file = values.string("bootstrap-secret-file")
        if file.isEmpty {
            bootstrapSecret = nil
        } else {
            let secret = try SecretFile.firstLine(of: file, flag: "--bootstrap-secret-file / COUPON_BOOTSTRAP_SECRET_FILE")
            guard secret.utf8.count >= 16 else { throw ConfigError("--bootstrap-secret-file: the secret must be at least 16 characters") }
            bootstrapSecret = secret
        }
    }
}
