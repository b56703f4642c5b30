import Domain
import Postgres
import Redis
import ServiceKit
import Wire

/// coupon-center: the front door. Serves the binary protocol to internal services and the HTTP/JSON
/// API to clients and operators; owns every PostgreSQL table and the Redis counters and locks.
@main
struct CouponCenterMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let configuration = loadConfiguration(
            program: "coupon-center", summary: "coupon templates, claims, redemptions and analytics",
            options: CouponCenterConfiguration.options, build: CouponCenterConfiguration.init)
        await ServiceMain.run(service: "coupon-center", settings: configuration.rpc) { router, logger, metrics in
            let dependencies = try await Dependencies.connect(configuration, logger: logger)
            let store = CouponStore(
                database: dependencies.database, timeZone: configuration.timeZone, highFrequencyOrders: configuration.highFrequencyOrders)
            let writer = ClaimWriter(
                database: dependencies.database, lanes: configuration.claimWriterLanes, maxBatch: configuration.claimBatchSize, metrics: metrics)
            let stages = RemoteStages(
                store: store, ruleEngine: dependencies.ruleEngine, riskControl: dependencies.riskControl,
                timeoutMilliseconds: configuration.dependencyTimeoutMilliseconds, metrics: metrics)
            let counters = StockCounters(redis: dependencies.redis, store: store, metrics: metrics)
            let service = CouponService(
                store: store, templates: TemplateCache(), counters: counters, writer: writer, stages: stages,
                policy: configuration.riskPolicy, dependencyTimeoutMilliseconds: configuration.dependencyTimeoutMilliseconds,
                logger: logger, metrics: metrics)
            let redemptions = Redemptions(
                database: dependencies.database, ruleEngine: dependencies.ruleEngine, riskControl: service,
                dependencyTimeoutMilliseconds: configuration.dependencyTimeoutMilliseconds, writers: configuration.claimWriterLanes,
                maxBatch: configuration.claimBatchSize, metrics: metrics)
            let expiry = ExpiryJob(
                database: dependencies.database, locks: RedisLock(pool: dependencies.redis),
                intervalSeconds: configuration.expiryIntervalSeconds, logger: logger, metrics: metrics)
            router.translateError = translateDependencyError
            CouponHandlers.register(on: &router, service: service, redemptions: redemptions)
            let routes = SystemRoutes(dependencies: dependencies, metrics: metrics).routes
                + CouponRoutes(service: service, redemptions: redemptions, json: CouponJSON(timeZone: configuration.timeZone)).routes
            let http = try HTTPFront(
                url: configuration.httpURL, maxBodyBytes: configuration.maxHTTPBodyBytes, routes: routes, metrics: metrics,
                logger: logger, translateError: translateDependencyError)
            logger.info("serving HTTP", [("http", configuration.httpURL)])
            // Stopped in reverse: the RPC listener (added last by ServiceMain), HTTP, the expiry job,
            // then the batched stages, so claims already queued are still written.
            let batches = BatchStagesService([
                { await stages.drain() }, { await counters.drain() }, { await redemptions.drain() },
                { await writer.batcher.shutdown() },
            ])
            return ServiceParts(
                services: [batches, expiry, http], dependencies: { await dependencies.health() })
        }
    }
}

/// PostgreSQL or Redis failing is a dependency being down (503), not a bug of ours (500).
@Sendable func translateDependencyError(_ error: any Error) -> ServiceError? {
    switch error {
    case let error as PostgresError:
        switch error.code {
        case .connectionFailed, .poolClosed, .timeout, .connectionReleased:
            return ServiceError(.dependencyUnavailable, "PostgreSQL is unavailable: \(error.code)")
        default:
            return nil
        }
    case let error as RedisError:
        return ServiceError(.dependencyUnavailable, "Redis is unavailable: \(error.code)")
    default:
        return nil
    }
}
