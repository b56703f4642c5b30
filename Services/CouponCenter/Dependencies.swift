import CouponClient
import Postgres
import Redis
import ServiceKit
import Wire

/// The connections coupon-center holds: PostgreSQL (the truth), Redis (the fast path) and the two
/// services it calls over the wire.
struct Dependencies: Sendable {
    let database: PostgresPool
    let redis: RedisPool
    let ruleEngine: ServiceClient
    let riskControl: ServiceClient
    let timeoutMilliseconds: Int

    static func connect(_ configuration: CouponCenterConfiguration, logger: Logger) async throws -> Dependencies {
        var databaseConfig = try PostgresConfig(url: configuration.databaseURL)
        databaseConfig.poolSize = configuration.databasePoolSize
        let database = PostgresPool(config: databaseConfig)
        try await waitForDatabase(database, seconds: configuration.startupWaitSeconds, logger: logger)
        let applied = try await PostgresMigrator.apply(CouponMigrations.all, to: database)
        logger.info("schema ready", [("migrations.applied", applied.map(String.init).joined(separator: ","))])

        let redis = RedisPool(config: try RedisConfig(url: configuration.redisURL, poolSize: configuration.redisPoolSize))
        let timeout = configuration.dependencyTimeoutMilliseconds
        return Dependencies(
            database: database, redis: redis,
            ruleEngine: try ServiceClient(service: "rule-engine", urls: configuration.ruleEngineURLs, timeoutMilliseconds: timeout),
            riskControl: try ServiceClient(service: "risk-control", urls: configuration.riskControlURLs, timeoutMilliseconds: timeout),
            timeoutMilliseconds: timeout)
    }

    /// PostgreSQL may still be starting (docker-compose starts everything at once).
    private static func waitForDatabase(_ database: PostgresPool, seconds: Int, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            do {
                _ = try await database.query("SELECT 1")
                return
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                logger.warning("waiting for PostgreSQL", [("error", "\(error)")])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Each dependency's health, checked concurrently with a short deadline.
    func health() async -> [DependencyStatus] {
        async let database = check("postgres") { _ = try await self.database.query("SELECT 1") }
        async let redis = check("redis") {
            let reply = try await self.redis.command(["PING"])
            guard reply.string == "PONG" else { throw ServiceError(.dependencyUnavailable, "PING answered \(reply)") }
        }
        async let ruleEngine = check("rule-engine") { _ = try await self.ruleEngine.call(PingRequest(), timeoutMilliseconds: self.timeoutMilliseconds) }
        async let riskControl = check("risk-control") { _ = try await self.riskControl.call(PingRequest(), timeoutMilliseconds: self.timeoutMilliseconds) }
        return await [database, redis, ruleEngine, riskControl]
    }

    private func check(_ name: String, _ probe: @escaping @Sendable () async throws -> Void) async -> DependencyStatus {
        let started = ContinuousClock.now
        do {
            try await withTimeout(milliseconds: timeoutMilliseconds, probe)
            let elapsed = ContinuousClock.now - started
            return DependencyStatus(name: name, healthy: true, detail: "answered in \(elapsed.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1))))")
        } catch {
            return DependencyStatus(name: name, healthy: false, detail: "\(error)")
        }
    }

    func close() async {
        ruleEngine.close()
        riskControl.close()
        await redis.close()
        await database.close()
    }
}

/// Runs `body`, giving up with `deadlineExceeded` after `milliseconds` (the body is cancelled).
func withTimeout<T: Sendable>(milliseconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(milliseconds))
            throw ServiceError(.deadlineExceeded, "no answer within \(milliseconds) ms")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
