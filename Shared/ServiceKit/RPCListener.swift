import Messaging
import Wire

/// The binary front of a service: an NNG rep0 server whose requests go through an `RPCRouter`.
public struct RPCListener: LifecycleService {
    public let name = "rpc"
    private let server: ReplyServer
    private let router: RPCRouter

    public init(urls: [String], router: RPCRouter, concurrency: Int, tls: TLSConfiguration? = nil) throws(ServiceError) {
        do {
            server = try ReplyServer(
                configuration: .init(urls: urls, maxFrameBytes: router.maxFrameBytes, concurrency: concurrency, tls: tls))
        } catch {
            throw ServiceError(.dependencyUnavailable, "cannot listen on \(urls.joined(separator: ",")): \(error)")
        }
        self.router = router
    }

    public var boundURLs: [String] { server.boundURLs }

    public func run() async throws {
        let router = self.router
        await server.run { request in await router.handle(request) }
    }

    public func shutdown() async { server.shutdown() }
}

/// Options every service has, so `--help` reads the same everywhere.
public enum CommonOptions {
    public static func listen(env: String, default value: String) -> ConfigOption {
        ConfigOption("listen", env: env, default: value, "NNG address(es) to serve the binary protocol on, comma-separated")
    }
    public static let logLevel = ConfigOption("log-level", env: "COUPON_LOG_LEVEL", default: "info", "debug, info, warning or error")
    public static func workers(default value: Int) -> ConfigOption {
        ConfigOption("workers", env: "COUPON_WORKERS", default: String(value), "requests served at once (NNG contexts)")
    }
    public static let maxFrameBytes = ConfigOption(
        "max-frame-bytes", env: "COUPON_MAX_FRAME_BYTES", default: String(FrameHeader.defaultMaxFrameBytes),
        "largest binary frame accepted; up to 64 KiB more gets FRAME_TOO_LARGE, beyond that nng drops the connection")
}

/// Parses options for an executable, printing `--help` or a configuration error and exiting.
public func loadConfiguration<C>(
    program: String, summary: String, options: [ConfigOption], allowPositional: Bool = false,
    arguments: [String] = Array(CommandLine.arguments.dropFirst()),
    environment: [String: String] = ProcessEnvironment.current,
    build: (ConfigValues) throws(ConfigError) -> C
) -> C {
    do {
        switch try ConfigParser.parse(
            program: program, summary: summary, options: options, arguments: arguments, environment: environment,
            allowPositional: allowPositional)
        {
        case .help(let text):
            print(text, terminator: "")
            ProcessEnvironment.exit(0)
        case .run(let values):
            return try build(values)
        }
    } catch {
        ProcessEnvironment.writeError("\(program): configuration error: \(error)\n")
        ProcessEnvironment.exit(2)
    }
}
