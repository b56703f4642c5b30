import Domain
import Redis
import ServiceKit
import Wire

/// coupon-center: the front door. Serves the binary protocol to internal services and the HTTP/JSON
/// API to clients and operators; owns every PostgreSQL table and the Redis counters and locks.
/// Each flow is a folder (Templates, Claims, Redemptions, Wallet, Analytics, Risk, Jobs); this file
/// only wires them.
@main
struct CouponCenterMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let configuration = loadConfiguration(
            program: "coupon-center", summary: "coupon templates, claims, redemptions and analytics",
            options: CouponCenterConfiguration.options, build: CouponCenterConfiguration.init)
        await ServiceMain.run(service: "coupon-center", settings: configuration.rpc) { router, logger, metrics in
            let dependencies = try await Dependencies.connect(configuration, logger: logger)
            let database = dependencies.database
            let timeout = configuration.dependencyTimeoutMilliseconds
            let templateStore = TemplateStore(database: database, timeZone: configuration.timeZone)
            let wallets = WalletStore(database: database, highFrequencyOrders: configuration.highFrequencyOrders)
            let counters = StockCounters(redis: dependencies.redis, store: templateStore, metrics: metrics)
            let answers = StoredAnswers(database: database, metrics: metrics)
            let risk = RiskGate(
                riskControl: dependencies.riskControl, policy: configuration.riskPolicy, timeoutMilliseconds: timeout, logger: logger,
                metrics: metrics)
            let templates = TemplateService(store: templateStore, cache: TemplateCache(), counters: counters, logger: logger)
            let writer = ClaimWriter(
                database: database, lanes: configuration.claimWriterLanes, maxBatch: configuration.claimBatchSize, logger: logger, metrics: metrics)
            let claims = ClaimService(
                templates: templates, answers: answers, risk: risk, wallets: wallets, ruleEngine: dependencies.ruleEngine, counters: counters,
                writer: writer, timeZone: configuration.timeZone, dependencyTimeoutMilliseconds: timeout, metrics: metrics)
            let redemptions = Redemptions(
                database: database, ruleEngine: dependencies.ruleEngine, answers: answers, risk: risk, dependencyTimeoutMilliseconds: timeout,
                writers: configuration.claimWriterLanes, maxBatch: configuration.claimBatchSize, logger: logger, metrics: metrics)
            let operations = Operations(
                templates: templates, claims: claims, redemptions: redemptions, refunds: Refunds(database: database, metrics: metrics),
                best: BestOffers(database: database, ruleEngine: dependencies.ruleEngine, dependencyTimeoutMilliseconds: timeout),
                wallets: WalletService(store: wallets), analytics: AnalyticsService(store: AnalyticsStore(database: database)))
            let expiry = ExpiryJob(
                database: database, locks: RedisLock(pool: dependencies.redis), intervalSeconds: configuration.expiryIntervalSeconds,
                logger: logger, metrics: metrics)
            router.translateError = translateDependencyError
            CouponHandlers.register(on: &router, operations)
            let routes =
                SystemRoutes(dependencies: dependencies, metrics: metrics).routes
                + CouponRoutes(operations: operations, json: CouponJSON(timeZone: configuration.timeZone)).routes
            let http = try HTTPFront(
                url: configuration.httpURL, maxBodyBytes: configuration.maxHTTPBodyBytes, routes: routes, metrics: metrics,
                logger: logger, translateError: translateDependencyError)
            logger.info("serving HTTP", [("http", configuration.httpURL)])
            // Stopped in reverse: the RPC listener (added last by ServiceMain), HTTP, the expiry job,
            // then the batched stages, in the order a claim passes them, so claims already queued
            // are still written.
            let batches = BatchStagesService([
                { await answers.drain() }, { await claims.drain() }, { await risk.drain() }, { await redemptions.drain() },
                { await counters.drain() }, { await writer.batcher.shutdown() },
            ])
            return ServiceParts(services: [batches, expiry, http], dependencies: { await dependencies.health() })
        }
    }
}
