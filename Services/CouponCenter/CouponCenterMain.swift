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
            let routes = SystemRoutes(dependencies: dependencies, metrics: metrics).routes
            let http = try HTTPFront(
                url: configuration.httpURL, maxBodyBytes: configuration.maxHTTPBodyBytes, routes: routes, metrics: metrics,
                logger: logger)
            logger.info("serving HTTP", [("http", configuration.httpURL)])
            return ServiceParts(services: [http], dependencies: { await dependencies.health() })
        }
    }
}
