import CouponClient
import Messaging
import ServiceKit
import Wire

/// couponctl: the operator's tool. Every action goes over the binary protocol.
///
/// Exit codes: 0 success; 2 bad input (usage, or the server refused the request as invalid: a 4xx
/// code); 3 the server or a dependency failed, or could not be reached (a 5xx code).
@main
struct CouponCtl {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, !name.hasPrefix("-") else {
            if arguments.contains("--help") || arguments.contains("-h") {
                print(Command.overview)
                ProcessEnvironment.exit(0)
            }
            ProcessEnvironment.writeError(Command.overview + "\n")
            ProcessEnvironment.exit(2)
        }
        arguments.removeFirst()
        guard let command = Command.all.first(where: { $0.name == name }) else {
            ProcessEnvironment.writeError("couponctl: unknown command '\(name)'\n\n\(Command.overview)\n")
            ProcessEnvironment.exit(2)
        }
        let values = loadConfiguration(
            program: "couponctl \(command.name)", summary: command.summary, options: command.options + Command.globalOptions,
            allowPositional: command.takesPositional, arguments: arguments, build: { $0 })
        let output = Output(json: (try? values.bool("json")) ?? false)
        do {
            try await command.run(values, output)
            ProcessEnvironment.exit(0)
        } catch let error as ServiceError {
            output.failure(error)
            ProcessEnvironment.exit(error.code.httpStatus >= 500 ? 3 : 2)
        } catch let error as ConfigError {
            ProcessEnvironment.writeError("couponctl \(command.name): \(error)\n")
            ProcessEnvironment.exit(2)
        } catch {
            ProcessEnvironment.writeError("couponctl \(command.name): \(error)\n")
            ProcessEnvironment.exit(1)
        }
    }
}

struct Command: Sendable {
    var name: String
    var summary: String
    var options: [ConfigOption]
    var takesPositional = false
    var run: @Sendable (ConfigValues, Output) async throws -> Void

    static let globalOptions: [ConfigOption] =
        [
            ConfigOption("url", env: "COUPON_CENTER_URL", default: "tcp://127.0.0.1:7100", "coupon-center address(es)"),
            ConfigOption("timeout-ms", env: "COUPON_TIMEOUT_MS", default: "3000", "how long to wait for an answer"),
            ConfigOption("token", env: "COUPON_TOKEN", default: "", "the API token (or session id) sent with every call"),
            ConfigOption(
                "token-file", env: "COUPON_TOKEN_FILE", default: "", "a file holding the token (its first line), e.g. .cluster/admin-token"),
            ConfigOption.switchOption("json", "print the answer as JSON (for scripts)"),
            ConfigOption(
                "tls-server", env: "COUPON_TLS_SERVER", default: "coupon-center",
                "with TLS on: the name the certificate at --url must carry (the other address flags name their own service)"),
        ] + TLSSettings.options(name: "couponctl")

    static var all: [Command] {
        SystemCommands.all + CouponCommands.all + CostCommands.all + ReconcileCommands.all + ExperimentCommands.all + RecommendCommands.all
            + ReportCommands.all + RiskCommands.all
            + EventCommands.all + OperatorCommands.all
    }

    static var overview: String {
        var text =
            "couponctl — operate a Coupon Cluster over its binary protocol\n\nUsage: couponctl COMMAND [options]   (couponctl COMMAND --help for its options)\n\nCommands:\n"
        for command in all { text += "  \(command.name.padding(12)) \(command.summary)\n" }
        text += "\nExit codes: 0 ok, 2 bad input or refused, 3 server error or unreachable, 1 other."
        return text
    }
}

extension ConfigValues {
    /// A client whose every frame carries `--token` (or the first line of `--token-file`).
    func client(service: String = "coupon-center", urlFlag: String = "url") throws -> ServiceClient {
        let urls = try nngURLs(urlFlag)
        return try ServiceClient(
            service: service, urls: urls, timeoutMilliseconds: try int("timeout-ms", in: 1...600_000), tls: try tls(dialing: urls, urlFlag: urlFlag),
            credential: try token())
    }

    func token() throws -> String? {
        let inline = string("token")
        let file = string("token-file")
        guard inline.isEmpty || file.isEmpty else { throw ConfigError("--token and --token-file: give one of them, not both") }
        if !file.isEmpty { return try SecretFile.firstLine(of: file, flag: "--token-file / COUPON_TOKEN_FILE") }
        return inline.isEmpty ? nil : inline
    }

    /// The TLS of a dialer of `urls`, checked against the switch; the service named by --url is
    /// --tls-server, every other address flag names its service itself.
    func tls(dialing urls: [String], urlFlag: String) throws -> TLSConfiguration? {
        let settings = try TLSSettings(self)
        try settings.check(urls, source: source(urlFlag))
        let server: String
        switch urlFlag {
        case "rule-engine-url": server = "rule-engine"
        case "risk-control-url", "risk-url": server = "risk-control"
        case "events-url": server = "coupon-center"
        default: server = string("tls-server")
        }
        return try settings.dialing(server)
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
