import ServiceKit

/// coupon-center: the front door. Serves the binary protocol to internal services and the HTTP/JSON
/// API to clients and operators; owns every PostgreSQL table and the Redis counters and locks.
/// Each flow is a folder (Templates, Claims, Redemptions, Wallet, Analytics, Risk, Jobs), wired
/// together in `CouponCenterAssembly`.
@main
struct CouponCenterMain {
    static func main() async {
        ProcessEnvironment.unblockTerminationSignals()
        let configuration = loadConfiguration(
            program: "coupon-center", summary: "coupon templates, claims, redemptions and analytics",
            options: CouponCenterConfiguration.options, build: CouponCenterConfiguration.init)
        await ServiceMain.run(service: "coupon-center", settings: configuration.rpc) { router, logger, metrics in
            let dependencies = try await Dependencies.connect(configuration, logger: logger)
            let parts = CouponCenterAssembly(configuration, dependencies, logger: logger, metrics: metrics)
            let errorPolicy = ErrorPolicy(translate: translateDependencyError)
            router.errorPolicy = errorPolicy
            let gatekeeper = parts.gatekeeper
            router.admission = { kind, credential in try await gatekeeper.admit(kind: kind, credential: credential) }
            CouponHandlers.register(on: &router, parts.operations)
            ReconcileHandlers.register(on: &router, parts.operations.reconcile)
            AuthHandlers.register(on: &router, parts.auth)
            let http = try HTTPFront(
                url: configuration.httpURL, maxBodyBytes: configuration.maxHTTPBodyBytes,
                readTimeoutMilliseconds: configuration.httpReadTimeoutMilliseconds,
                idleTimeoutMilliseconds: configuration.httpIdleTimeoutMilliseconds, maxConnections: configuration.httpMaxConnections,
                routes: parts.routes, gate: parts.gate, metrics: metrics,
                logger: logger, errorPolicy: errorPolicy)
            logger.info("serving HTTP", [("http", configuration.httpURL)])
            let events = try EventDelivery.services(
                configuration.events, database: dependencies.database, logger: logger, metrics: metrics, tls: configuration.rpc.tls.listening)
            // Stopped in reverse of this list: the RPC listener (added last by ServiceMain), HTTP,
            // the reconcile, cost and expiry jobs, the batched stages upstream first, then event delivery (last,
            // so it still takes what the stages wrote).
            return ServiceParts(
                services: events + parts.stages.reversed() + [parts.expiry, parts.costJob, parts.reconcileJob, http],
                dependencies: { await dependencies.health() })
        }
    }
}
