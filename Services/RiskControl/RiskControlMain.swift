import Credentials
import Foundation
import Postgres
import Redis
import Risk
import ServiceKit
import Wire

/// risk-control: ALLOW / REVIEW / DENY decisions for claims, redemptions and exchanges, with the
/// reason code of every rule that fired. Windows and lists live in Redis; every decision is
/// audited in PostgreSQL off the decision path.
struct RiskControlConfiguration: Sendable {
    var rpc: RPCServiceSettings
    var redisURL: String
    var databaseURL: String
    var rulesFile: String
    var auditIntervalMilliseconds: Int
    var access: AccessSettings
    var sessionIdleSeconds: Int

    static let options: [ConfigOption] =
        RPCServiceSettings.options(service: "risk-control", listenEnv: "RISK_CONTROL_URL", defaultListen: "tcp://127.0.0.1:7102") + [
            ConfigOption(
                "redis-url", env: "COUPON_REDIS_URL", default: "redis://127.0.0.1:56379/0",
                "Redis URL (windows, lists): redis://, redis-sentinel://…/master or redis-cluster://"),
            ConfigOption(
                "database-url", env: "COUPON_DATABASE_URL", default: "postgresql://postgres@127.0.0.1:55432/coupon",
                "PostgreSQL URL (the risk_audit table)"),
            ConfigOption(
                "rules-file", env: "RISK_RULES_FILE", default: "",
                "JSON file of rule thresholds, read at start and by risk_rules_reload (none: built-in defaults)"),
            ConfigOption("audit-interval-ms", env: "RISK_AUDIT_INTERVAL_MS", default: "200", "how often queued decisions are written"),
            ConfigOption(
                "session-idle", env: "COUPON_SESSION_IDLE_SECONDS", default: "1800",
                "seconds unused after which a sign-in session ends (the same value as coupon-center's)"),
        ] + AccessSettings.options

    init(_ values: ConfigValues) throws(ConfigError) {
        rpc = try RPCServiceSettings(values)
        redisURL = try values.url("redis-url", schemes: RedisConfig.urlSchemes)
        do {
            _ = try RedisConfig(url: redisURL)
        } catch {
            throw ConfigError("\(values.source("redis-url")): \(error.message)")
        }
        databaseURL = try values.url("database-url", schemes: ["postgresql", "postgres"])
        rulesFile = values.string("rules-file")
        auditIntervalMilliseconds = try values.int("audit-interval-ms", in: 10...60_000)
        access = try AccessSettings(values)
        sessionIdleSeconds = try values.int("session-idle", in: 60...2_592_000)
    }
}

enum RiskMigrations {
    static let all: [Migration] = [
        Migration(version: 1001, name: "risk_audit", sql: String(decoding: PackageResources._001_risk_audit_sql, as: UTF8.self)),
        Migration(
            version: 1002, name: "risk_audit_dead_letter",
            sql: String(decoding: PackageResources._002_risk_audit_dead_letter_sql, as: UTF8.self)),
        Migration(
            version: 1003, name: "risk_audit_input_type",
            sql: String(decoding: PackageResources._003_risk_audit_input_type_sql, as: UTF8.self)),
        Migration(
            version: 1004, name: "risk_admin_audit", sql: String(decoding: PackageResources._004_risk_admin_audit_sql, as: UTF8.self)),
    ]
}

@main
struct RiskControlMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let configuration = loadConfiguration(
            program: "risk-control", summary: "fraud and abuse decisions over NNG",
            options: RiskControlConfiguration.options, build: RiskControlConfiguration.init)
        await ServiceMain.run(service: "risk-control", settings: configuration.rpc) { router, logger, metrics in
            let rules = configuration.rulesFile.isEmpty ? RiskRules() : try RiskRulesFile.load(path: configuration.rulesFile)
            let redis = RedisPool(config: try RedisConfig(url: configuration.redisURL))
            let database = PostgresPool(config: try PostgresConfig(url: configuration.databaseURL, poolSize: 4))
            _ = try await PostgresMigrator.apply(RiskMigrations.all, to: database)
            let engine = RiskEngine(redis: redis, rules: rules, metrics: metrics)
            let audit = AuditWriter(database: database, metrics: metrics, logger: logger)
            // The admin calls (rules, lists) are checked against coupon-center's session and token
            // tables, which live in this same database: couponctl keeps calling risk-control
            // directly, with the same token it gives coupon-center (README "Sign-in and roles").
            let gatekeeper = Gatekeeper(
                settings: configuration.access,
                store: CredentialStore(database: database, sessionIdleSeconds: configuration.sessionIdleSeconds))
            router.admission = { kind, credential in try await gatekeeper.admit(kind: kind, credential: credential) }

            RiskControlRoutes.register(
                on: &router, engine: engine, audit: audit, adminAudit: AdminAudit(database: database), rulesFile: configuration.rulesFile)
            logger.info("risk rules", [("rules.source", configuration.rulesFile.isEmpty ? "defaults" : configuration.rulesFile)])
            return ServiceParts(
                services: [AuditService(writer: audit, intervalMilliseconds: configuration.auditIntervalMilliseconds)],
                dependencies: {
                    var statuses: [DependencyStatus] = []
                    // The detail a pinging client sees is generic; the error itself is logged here.
                    do {
                        _ = try await redis.command(["PING"])
                        statuses.append(DependencyStatus(name: "redis", healthy: true, detail: "ok"))
                    } catch {
                        logger.warning("redis health check failed", [("error", "\(error)")])
                        statuses.append(DependencyStatus(name: "redis", healthy: false, detail: "unavailable"))
                    }
                    do {
                        _ = try await database.query("SELECT 1")
                        statuses.append(DependencyStatus(name: "postgres", healthy: true, detail: "ok"))
                    } catch {
                        logger.warning("postgres health check failed", [("error", "\(error)")])
                        statuses.append(DependencyStatus(name: "postgres", healthy: false, detail: "unavailable"))
                    }
                    return statuses
                })
        }
    }
}
