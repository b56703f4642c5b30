import ServiceKit

/// Everything coupon-center reads from its environment and flags, validated in one place.
struct CouponCenterConfiguration: Sendable {
    var rpc: RPCServiceSettings
    var httpURL: String
    var ruleEngineURLs: [String]
    var riskControlURLs: [String]
    var databaseURL: String
    var databasePoolSize: Int
    var redisURL: String
    var redisPoolSize: Int
    var dependencyTimeoutMilliseconds: Int
    var startupWaitSeconds: Int
    var maxHTTPBodyBytes: Int

    static let options: [ConfigOption] =
        RPCServiceSettings.options(listenEnv: "COUPON_CENTER_URL", defaultListen: "tcp://127.0.0.1:7100") + [
            ConfigOption("http", env: "COUPON_HTTP_URL", default: "http://127.0.0.1:8080", "HTTP/JSON API address"),
            ConfigOption("rule-engine", env: "RULE_ENGINE_URL", default: "tcp://127.0.0.1:7101", "rule-engine address(es), comma-separated"),
            ConfigOption("risk-control", env: "RISK_CONTROL_URL", default: "tcp://127.0.0.1:7102", "risk-control address(es), comma-separated"),
            ConfigOption(
                "database-url", env: "COUPON_DATABASE_URL", default: "postgresql://postgres@127.0.0.1:55432/coupon",
                "PostgreSQL connection URL"),
            ConfigOption("database-pool", env: "COUPON_DATABASE_POOL", default: "16", "PostgreSQL connections"),
            ConfigOption("redis-url", env: "COUPON_REDIS_URL", default: "redis://127.0.0.1:56379/0", "Redis URL"),
            ConfigOption("redis-pool", env: "COUPON_REDIS_POOL", default: "16", "Redis connections"),
            ConfigOption(
                "dependency-timeout-ms", env: "COUPON_DEPENDENCY_TIMEOUT_MS", default: "500",
                "deadline for each call to rule-engine and risk-control"),
            ConfigOption(
                "startup-wait", env: "COUPON_STARTUP_WAIT_SECONDS", default: "30",
                "seconds to wait for PostgreSQL at start before giving up"),
            ConfigOption("max-http-body-bytes", env: "COUPON_MAX_HTTP_BODY_BYTES", default: "65536", "largest HTTP request body accepted"),
        ]

    init(_ values: ConfigValues) throws(ConfigError) {
        rpc = try RPCServiceSettings(values)
        httpURL = try values.url("http", schemes: ["http"])
        ruleEngineURLs = try values.nngURLs("rule-engine")
        riskControlURLs = try values.nngURLs("risk-control")
        databaseURL = try values.url("database-url", schemes: ["postgresql", "postgres"])
        databasePoolSize = try values.int("database-pool", in: 1...200)
        redisURL = try values.url("redis-url", schemes: ["redis"])
        redisPoolSize = try values.int("redis-pool", in: 1...200)
        dependencyTimeoutMilliseconds = try values.int("dependency-timeout-ms", in: 1...60_000)
        startupWaitSeconds = try values.int("startup-wait", in: 0...3600)
        maxHTTPBodyBytes = try values.int("max-http-body-bytes", in: 1024...(16 << 20))
    }
}
