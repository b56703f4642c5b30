import Wire

/// The settings every RPC service has: where it listens, how loud it logs, how many requests it
/// serves at once, how large a frame it accepts, and its mutual TLS.
public struct RPCServiceSettings: Sendable {
    public var listen: [String]
    public var logLevel: LogLevel
    public var workers: Int
    public var maxFrameBytes: Int
    public var tls: TLSSettings

    /// `defaultWorkers`: coupon-center serves more at once than the others, because its batched
    /// stages get cheaper per claim the more claims are waiting together.
    /// `service`: the executable's name, which is also its certificate's name by default.
    public static func options(service: String, listenEnv: String, defaultListen: String, defaultWorkers: Int = 64) -> [ConfigOption] {
        [
            CommonOptions.listen(env: listenEnv, default: defaultListen), CommonOptions.logLevel, CommonOptions.workers(default: defaultWorkers),
            CommonOptions.maxFrameBytes,
        ] + TLSSettings.options(name: service)
    }

    public init(_ values: ConfigValues) throws(ConfigError) {
        listen = try values.nngURLs("listen")
        logLevel = try values.logLevel("log-level")
        workers = try values.int("workers", in: 1...4096)
        maxFrameBytes = try values.int("max-frame-bytes", in: 1024...(64 << 20))
        tls = try TLSSettings(values)
        try tls.check(listen, source: values.source("listen"))
    }
}

/// What a service's `configure` step hands back: more long-lived parts to run beside the RPC
/// listener (listed front door first), and how to report its dependencies' health in `ping`.
public struct ServiceParts: Sendable {
    public var services: [any LifecycleService]
    public var dependencies: @Sendable () async -> [DependencyStatus]

    public init(services: [any LifecycleService] = [], dependencies: @escaping @Sendable () async -> [DependencyStatus] = { [] }) {
        self.services = services
        self.dependencies = dependencies
    }
}

public enum ServiceMain {
    /// Runs one service process: logger, metrics, router with `ping`/`service_stats`, the handlers
    /// `configure` registers, the RPC listener and any extra parts, until SIGTERM. Exits non-zero
    /// when start-up or a part fails.
    public static func run(
        service: String, settings: RPCServiceSettings,
        configure: @Sendable (inout RPCRouter, Logger, Metrics) async throws -> ServiceParts
    ) async -> Never {
        let logger = Logger(service: service, level: settings.logLevel)
        let metrics = Metrics()
        var router = RPCRouter(service: service, metrics: metrics, logger: logger, maxFrameBytes: settings.maxFrameBytes)
        do {
            let parts = try await configure(&router, logger, metrics)
            router.registerStandardHandlers(
                instance: ServiceInfo.makeInstanceId(), startedAt: .now, dependencies: parts.dependencies)
            let listener = try RPCListener(urls: settings.listen, router: router, concurrency: settings.workers, tls: settings.tls.listening)
            logger.info(
                "listening",
                [
                    ("listen", listener.boundURLs.joined(separator: ",")), ("version", ServiceInfo.version),
                    ("tls", settings.tls.enabled ? "mutual" : "off"),
                    ("tls.peers", settings.tls.enabled ? settings.tls.peers.joined(separator: ",") : "-"),
                ])
            try await ServiceGroup.run(parts.services + [listener], logger: logger)
            ProcessEnvironment.exit(0)
        } catch {
            logger.error("\(service) failed", [("error", "\(error)")])
            ProcessEnvironment.exit(1)
        }
    }
}
