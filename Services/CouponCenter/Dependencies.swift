import CouponClient
import Postgres
import Redis
import ServiceKit
import Synchronization
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
        // Internal calls carry the service token when one is configured: rule-engine and
        // risk-control then refuse end-user-side calls without it.
        let credential = configuration.auth.access.serviceToken
        return Dependencies(
            database: database, redis: redis,
            ruleEngine: try ServiceClient(
                service: "rule-engine", urls: configuration.ruleEngineURLs, timeoutMilliseconds: timeout,
                tls: configuration.ruleEngineTLS, credential: credential),
            riskControl: try ServiceClient(
                service: "risk-control", urls: configuration.riskControlURLs, timeoutMilliseconds: timeout,
                tls: configuration.riskControlTLS, credential: credential),
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
        async let ruleEngine = check("rule-engine") {
            _ = try await self.ruleEngine.call(PingRequest(), timeoutMilliseconds: self.timeoutMilliseconds)
        }
        async let riskControl = check("risk-control") {
            _ = try await self.riskControl.call(PingRequest(), timeoutMilliseconds: self.timeoutMilliseconds)
        }
        return await [database, redis, ruleEngine, riskControl]
    }

    private func check(_ name: String, _ probe: @escaping @Sendable () async throws -> Void) async -> DependencyStatus {
        let started = ContinuousClock.now
        do {
            try await answerByDeadline(milliseconds: timeoutMilliseconds, probe)
            let elapsed = ContinuousClock.now - started
            return DependencyStatus(
                name: name, healthy: true,
                detail: "answered in \(elapsed.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 1))))")
        } catch {
            return DependencyStatus(name: name, healthy: false, detail: Self.healthDetail(error))
        }
    }

    /// What a failed probe shows in `/health` and `ping`: what failed, in our words. Never the
    /// library's own text: libpq's message names the server's socket path or host, which any
    /// client of `/health` would read.
    static func healthDetail(_ error: any Error) -> String {
        switch error {
        case let error as ServiceError: "\(error.code.name): \(error.message)"
        case let error as PostgresError: "PostgreSQL: \(error.code)"
        case let error as RedisError: "Redis: \(error.code)"
        default: "the probe failed (\(type(of: error)))"
        }
    }

    func close() async {
        ruleEngine.close()
        riskControl.close()
        await redis.close()
        await database.close()
    }
}

/// Runs `body` and answers by the deadline, whichever comes first: its result, or
/// `deadlineExceeded` after `milliseconds`. A probe blocked in a C call that ignores cancellation
/// (libpq waiting on a dead server) cannot hold the health answer back: it is cancelled and left
/// to finish on its own, and its late result is dropped. For health probes only, never for work
/// whose outcome matters.
func answerByDeadline<T: Sendable>(milliseconds: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let pending = PendingAnswer<T>()
    return try await withCheckedThrowingContinuation { continuation in
        pending.set(continuation)
        let probe = Task {
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            pending.take()?.resume(with: result)
        }
        Task {
            try? await Task.sleep(for: .milliseconds(milliseconds))
            guard let waiting = pending.take() else { return }
            probe.cancel()
            waiting.resume(throwing: ServiceError(.deadlineExceeded, "no answer within \(milliseconds) ms"))
        }
    }
}

/// The continuation of `answerByDeadline`, taken by whichever of the probe and the deadline comes
/// first, so it is resumed exactly once.
private final class PendingAnswer<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ waiting: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = waiting } }
    func take() -> CheckedContinuation<T, any Error>? { continuation.withLock { $0.take() } }
}
