import Credentials
import Domain
import Redis
import ServiceKit
import Wire

/// coupon-center's flows wired together over its dependencies: what `main` serves, and what the
/// in-process tests (Tests/CouponCenterTests) drive without spawning a process.
struct CouponCenterAssembly: Sendable {
    let operations: Operations
    let auth: AuthService
    /// Who may call what, for the binary router's admission check and the HTTP front's gate.
    let gatekeeper: Gatekeeper
    let gate: HTTPGate
    /// Every HTTP route: `/health`, `/metrics` and the API.
    let routes: [HTTPRoute]
    /// The batched stages, in the order a claim or a redemption passes them (upstream first). They
    /// are stopped after the front doors and upstream first, so what they hold still flows down
    /// and is written.
    let stages: [any LifecycleService]
    let expiry: ExpiryJob
    let costJob: CostJob
    let reconcileJob: ReconcileJob

    init(_ configuration: CouponCenterConfiguration, _ dependencies: Dependencies, logger: Logger, metrics: Metrics) {
        let database = dependencies.database
        let timeout = configuration.dependencyTimeoutMilliseconds
        let templateStore = TemplateStore(
            database: database, timeZone: configuration.timeZone, defaultCostCeilingBasisPoints: configuration.cost.ceilingBasisPoints)
        let wallets = WalletStore(database: database, highFrequencyOrders: configuration.highFrequencyOrders)
        let counters = StockCounters(redis: dependencies.redis, store: templateStore, metrics: metrics)
        let answers = StoredAnswers(database: database, metrics: metrics)
        let risk = RiskGate(
            riskControl: dependencies.riskControl, policy: configuration.riskPolicy, timeoutMilliseconds: timeout, logger: logger,
            metrics: metrics)
        let templates = TemplateService(store: templateStore, cache: TemplateCache(), counters: counters, logger: logger)
        let writer = ClaimWriter(
            database: database, lanes: configuration.claimWriterLanes, maxBatch: configuration.claimBatchSize, logger: logger, metrics: metrics)
        // Fences seeded from PostgreSQL: a Redis failover or flush cannot make them go back.
        let locks = RedisLock(pool: dependencies.redis, fences: PostgresLockFences(database: database))
        let costStore = CostStore(database: database)
        let costMonitor = CostMonitor(
            store: costStore, stops: CostStops(), locks: locks, settings: configuration.cost, logger: logger, metrics: metrics)
        let claims = ClaimService(
            templates: templates, answers: answers, risk: risk, wallets: wallets, ruleEngine: dependencies.ruleEngine, counters: counters,
            writer: writer, costStops: costMonitor.stops, timeZone: configuration.timeZone, dependencyTimeoutMilliseconds: timeout,
            metrics: metrics)
        let redemptions = Redemptions(
            database: database, ruleEngine: dependencies.ruleEngine, answers: answers, risk: risk, counters: counters,
            dependencyTimeoutMilliseconds: timeout, writers: configuration.claimWriterLanes, maxBatch: configuration.claimBatchSize, logger: logger,
            metrics: metrics)
        let cost = CostService(store: costStore, monitor: costMonitor)
        let reconcile = ReconcileService(
            store: ReconcileStore(database: database), redis: dependencies.redis, settings: configuration.reconcile, logger: logger, metrics: metrics)
        let experiments = ExperimentService(store: ExperimentStore(database: database), claims: claims)
        operations = Operations(
            templates: templates, claims: claims, redemptions: redemptions,
            refunds: Refunds(database: database, counters: counters, metrics: metrics),
            best: BestOffers(database: database, ruleEngine: dependencies.ruleEngine, dependencyTimeoutMilliseconds: timeout),
            wallets: WalletService(store: wallets), analytics: AnalyticsService(store: AnalyticsStore(database: database)),
            cost: cost, reconcile: reconcile, experiments: experiments,
            recommend: RecommendService(store: RecommendStore(database: database), claims: claims, settings: configuration.recommend),
            reports: HealthReportService(
                database: database, riskControl: dependencies.riskControl, dependencyTimeoutMilliseconds: timeout, cost: cost, reconcile: reconcile,
                experiments: experiments))
        auth = AuthService(store: OperatorStore(database: database), settings: configuration.auth, logger: logger)
        gatekeeper = Gatekeeper(
            settings: configuration.auth.access,
            store: CredentialStore(database: database, sessionIdleSeconds: configuration.auth.sessionIdleSeconds))
        gate = HTTPGate(gatekeeper: gatekeeper)
        routes =
            SystemRoutes(dependencies: dependencies, metrics: metrics).routes
            + AuthRoutes(auth: auth, json: CouponJSON(timeZone: configuration.timeZone)).routes
            + CouponRoutes(operations: operations, json: CouponJSON(timeZone: configuration.timeZone)).routes
            + ReconcileRoutes(reconcile: operations.reconcile, json: CouponJSON(timeZone: configuration.timeZone)).routes
            + ExperimentRoutes(experiments: operations.experiments, json: CouponJSON(timeZone: configuration.timeZone)).routes
            + RecommendRoutes(recommend: operations.recommend, json: CouponJSON(timeZone: configuration.timeZone)).routes
            + ReportRoutes(reports: operations.reports, json: CouponJSON(timeZone: configuration.timeZone)).routes
        expiry = ExpiryJob(
            database: database, locks: locks, intervalSeconds: configuration.expiryIntervalSeconds, logger: logger, metrics: metrics)
        costJob = CostJob(monitor: costMonitor, logger: logger)
        reconcileJob = ReconcileJob(service: operations.reconcile, locks: locks, logger: logger)
        stages = answers.stages + claims.stages + risk.stages + redemptions.stages + counters.stages + [writer.batcher]
    }
}
