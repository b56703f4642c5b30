import Domain
import Foundation
import Messaging
import Redis
import ServiceKit
import Wire

/// Everything coupon-center reads from its environment and flags, validated in one place.
struct CouponCenterConfiguration: Sendable {
    var rpc: RPCServiceSettings
    var httpURL: String
    var ruleEngineURLs: [String]
    var riskControlURLs: [String]
    /// Mutual TLS for the calls to each (nil with TLS off), read at start so a missing file stops it then.
    var ruleEngineTLS: TLSConfiguration?
    var riskControlTLS: TLSConfiguration?
    var databaseURL: String
    var databasePoolSize: Int
    var redisURL: String
    var redisPoolSize: Int
    var dependencyTimeoutMilliseconds: Int
    var startupWaitSeconds: Int
    var maxHTTPBodyBytes: Int
    var httpReadTimeoutMilliseconds: Int
    var httpIdleTimeoutMilliseconds: Int
    var httpMaxConnections: Int
    var timeZone: TimeZone
    var claimWriterLanes: Int
    var claimBatchSize: Int
    var riskPolicy: RiskPolicy
    var highFrequencyOrders: Int32
    var expiryIntervalSeconds: Int
    var cost: CostSettings
    var events: EventSettings
    var reconcile: ReconcileSettings
    var recommend: RecommendSettings
    var auth: AuthSettings

    static let options: [ConfigOption] =
        RPCServiceSettings.options(
            service: "coupon-center", listenEnv: "COUPON_CENTER_URL", defaultListen: "tcp://127.0.0.1:7100", defaultWorkers: 256) + [
            ConfigOption("http", env: "COUPON_HTTP_URL", default: "http://127.0.0.1:8080", "HTTP/JSON API address"),
            ConfigOption("rule-engine", env: "RULE_ENGINE_URL", default: "tcp://127.0.0.1:7101", "rule-engine address(es), comma-separated"),
            ConfigOption("risk-control", env: "RISK_CONTROL_URL", default: "tcp://127.0.0.1:7102", "risk-control address(es), comma-separated"),
            ConfigOption(
                "database-url", env: "COUPON_DATABASE_URL", default: "postgresql://postgres@127.0.0.1:55432/coupon",
                "PostgreSQL connection URL"),
            ConfigOption("database-pool", env: "COUPON_DATABASE_POOL", default: "16", "PostgreSQL connections"),
            ConfigOption(
                "redis-url", env: "COUPON_REDIS_URL", default: "redis://127.0.0.1:56379/0",
                "Redis URL: redis://, redis-sentinel://…/master or redis-cluster://"),
            ConfigOption("redis-pool", env: "COUPON_REDIS_POOL", default: "16", "Redis connections"),
            ConfigOption(
                "dependency-timeout-ms", env: "COUPON_DEPENDENCY_TIMEOUT_MS", default: "500",
                "deadline for each call to rule-engine and risk-control"),
            ConfigOption(
                "startup-wait", env: "COUPON_STARTUP_WAIT_SECONDS", default: "30",
                "seconds to wait for PostgreSQL at start before giving up"),
            ConfigOption("max-http-body-bytes", env: "COUPON_MAX_HTTP_BODY_BYTES", default: "65536", "largest HTTP request body accepted"),
            ConfigOption(
                "http-read-timeout-ms", env: "COUPON_HTTP_READ_TIMEOUT_MS", default: "10000",
                "time for a whole HTTP request to arrive (and an answer to be taken) before 408 and close"),
            ConfigOption(
                "http-idle-timeout-ms", env: "COUPON_HTTP_IDLE_TIMEOUT_MS", default: "60000",
                "a kept-alive HTTP connection with no request in progress is closed after this"),
            ConfigOption(
                "http-max-connections", env: "COUPON_HTTP_MAX_CONNECTIONS", default: "4096",
                "HTTP connections open at once; a connection past this is closed unanswered (counted in http_refused_total)"),
            ConfigOption("time-zone", env: "COUPON_TIME_ZONE", default: "Asia/Shanghai", "time zone of daily limits and of times in answers"),
            ConfigOption(
                "claim-writers", env: "COUPON_CLAIM_WRITERS", default: "2",
                "transactions writing claims at once, and redemptions at once (group commit lanes)"),
            ConfigOption("claim-batch", env: "COUPON_CLAIM_BATCH", default: "128", "most claims (or redemptions) written in one transaction"),
            ConfigOption(
                "risk-review-refuses", env: "COUPON_RISK_REVIEW_REFUSES", default: "FREE",
                "coupon types refused when risk control says REVIEW (others are allowed and flagged)"),
            ConfigOption(
                "risk-fail-closed", env: "COUPON_RISK_FAIL_CLOSED", default: "FREE,EXCHANGE",
                "coupon types refused when risk control does not answer (others are allowed and flagged)"),
            ConfigOption(
                "high-frequency-orders", env: "COUPON_HIGH_FREQUENCY_ORDERS", default: "4",
                "orders in the last 30 days from which a user is HIGH_FREQ"),
            ConfigOption(
                "expiry-interval", env: "COUPON_EXPIRY_INTERVAL_SECONDS", default: "30",
                "seconds between sweeps that mark expired coupons EXPIRED (one process leads each sweep)"),
            ConfigOption(
                "cost-ceiling", env: "COUPON_COST_CEILING", default: "8",
                "cost-ratio ceiling, a percent of the order amount with at most 2 decimals (a template may set its own)"),
            ConfigOption(
                "cost-warning-percent", env: "COUPON_COST_WARNING_PERCENT", default: "90",
                "the warning level of the cost ratio, a percent of the ceiling"),
            ConfigOption(
                "cost-min-orders", env: "COUPON_COST_MIN_ORDERS", default: "200",
                "orders a window needs before its cost ratio is judged"),
            ConfigOption(
                "cost-evaluate-interval", env: "COUPON_COST_EVALUATE_SECONDS", default: "60",
                "seconds between cost-ratio evaluations (one process leads each)"),
        ] + EventSettings.options + ReconcileSettings.options + RecommendSettings.options + AuthSettings.options

    init(_ values: ConfigValues) throws(ConfigError) {
        rpc = try RPCServiceSettings(values)
        httpURL = try values.url("http", schemes: ["http"])
        ruleEngineURLs = try values.nngURLs("rule-engine")
        riskControlURLs = try values.nngURLs("risk-control")
        try rpc.tls.check(ruleEngineURLs, source: values.source("rule-engine"))
        try rpc.tls.check(riskControlURLs, source: values.source("risk-control"))
        ruleEngineTLS = try rpc.tls.dialing("rule-engine")
        riskControlTLS = try rpc.tls.dialing("risk-control")
        databaseURL = try values.url("database-url", schemes: ["postgresql", "postgres"])
        databasePoolSize = try values.int("database-pool", in: 1...200)
        redisURL = try values.url("redis-url", schemes: RedisConfig.urlSchemes)
        do {
            _ = try RedisConfig(url: redisURL)
        } catch {
            throw ConfigError("\(values.source("redis-url")): \(error.message)")
        }
        redisPoolSize = try values.int("redis-pool", in: 1...200)
        dependencyTimeoutMilliseconds = try values.int("dependency-timeout-ms", in: 1...60_000)
        startupWaitSeconds = try values.int("startup-wait", in: 0...3600)
        maxHTTPBodyBytes = try values.int("max-http-body-bytes", in: 1024...(16 << 20))
        httpReadTimeoutMilliseconds = try values.int("http-read-timeout-ms", in: 100...600_000)
        httpIdleTimeoutMilliseconds = try values.int("http-idle-timeout-ms", in: 100...3_600_000)
        httpMaxConnections = try values.int("http-max-connections", in: 1...1_000_000)
        guard let zone = TimeZone(identifier: values.string("time-zone")) else {
            throw ConfigError("--time-zone / COUPON_TIME_ZONE: '\(values.string("time-zone"))' is not a time zone name such as Asia/Shanghai")
        }
        timeZone = zone
        claimWriterLanes = try values.int("claim-writers", in: 1...64)
        claimBatchSize = try values.int("claim-batch", in: 1...1000)
        riskPolicy = RiskPolicy(
            refuseReviewFor: try RiskPolicy.parse(values.string("risk-review-refuses"), flag: "risk-review-refuses"),
            failClosedFor: try RiskPolicy.parse(values.string("risk-fail-closed"), flag: "risk-fail-closed"))
        highFrequencyOrders = Int32(try values.int("high-frequency-orders", in: 1...10_000))
        expiryIntervalSeconds = try values.int("expiry-interval", in: 1...86_400)
        let ceiling: Int32
        do {
            ceiling = try CostPercent.parseBasisPoints(.string(values.string("cost-ceiling")), field: "--cost-ceiling / COUPON_COST_CEILING")
        } catch {
            throw ConfigError(error.message)
        }
        cost = CostSettings(
            ceilingBasisPoints: ceiling, warningPercent: Int32(try values.int("cost-warning-percent", in: 1...100)),
            minimumOrders: Int64(try values.int("cost-min-orders", in: 1...1_000_000_000)),
            evaluateSeconds: try values.int("cost-evaluate-interval", in: 1...86_400), timeZoneName: zone.identifier)
        events = try EventSettings(values)
        try rpc.tls.check(events.publishURL.map { [$0] } ?? [], source: values.source("events-url"))
        reconcile = try ReconcileSettings(values, timeZone: zone)
        recommend = try RecommendSettings(values)
        auth = try AuthSettings(values)
    }
}
