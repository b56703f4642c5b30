import CouponClient
import Foundation
import Messaging
import ServiceKit
import Synchronization
import Wire

/// coupon-load: drives a scenario against a running cluster and prints throughput, latency
/// percentiles and errors by code (`--json` for the bench script).
@main
struct CouponLoad {
    static let options: [ConfigOption] =
        [
            ConfigOption("scenario", default: "ping", "what to send: \(Scenario.names.joined(separator: ", "))"),
            ConfigOption("url", env: "COUPON_CENTER_URL", default: "tcp://127.0.0.1:7100", "address(es) of the service under load"),
            ConfigOption("concurrency", default: "16", "callers in flight at once"),
            ConfigOption("requests", default: "10000", "stop after this many requests (0: run for --duration)"),
            ConfigOption("duration", default: "0", "stop after this many seconds (0: run for --requests)"),
            ConfigOption("rate", default: "0", "target requests per second over all callers (0: as fast as possible)"),
            ConfigOption("timeout-ms", default: "5000", "per-request timeout"),
            ConfigOption.switchOption("json", "print the summary as one JSON object"),
            ConfigOption("progress", default: "true", "print a live progress line to stderr each second"),
            ConfigOption("stock", default: "1000000", "claim scenario: total stock of the template this run creates"),
            ConfigOption("users", default: "100000", "claim scenario: how many distinct users claim"),
            ConfigOption("per-user", default: "1000", "claim scenario: per-user limit of the template"),
            ConfigOption(
                "tls-server", env: "COUPON_TLS_SERVER", default: "coupon-center",
                "with TLS on: the name the certificate at --url must carry (rule-engine for best-engine, risk-control for risk)"),
            ConfigOption(
                "token", env: "COUPON_TOKEN", default: "",
                "the credential of every call: an operator API token (the claim scenario creates a template) or the service token"),
            ConfigOption(
                "token-file", env: "COUPON_TOKEN_FILE", default: "", "a file holding the token (its first line), e.g. .cluster/admin-token"),
        ] + TLSSettings.options(name: "coupon-load")

    static func main() async {
        let settings = loadConfiguration(
            program: "coupon-load", summary: "load generator for Coupon Cluster", options: options, build: LoadSettings.init)
        do {
            let scenario = try await Scenario.make(settings)
            var report = await withTaskGroup(of: LoadReport?.self) { group in
                group.addTask {
                    await scenario.serve(); return nil
                }
                group.addTask {
                    let report = await LoadRunner(settings: settings, scenario: scenario).run()
                    scenario.stop()
                    return report
                }
                var result: LoadReport?
                for await report in group where report != nil { result = report }
                return result!
            }
            report.invariant = try await scenario.verify(report.succeeded)
            report.figures = scenario.figures()
            print(settings.json ? report.json().serialized() : report.text())
            ProcessEnvironment.exit(report.succeeded > 0 ? 0 : 3)
        } catch {
            ProcessEnvironment.writeError("coupon-load: \(error)\n")
            ProcessEnvironment.exit(3)
        }
    }
}

struct LoadSettings: Sendable {
    var scenario: String
    var urls: [String]
    var concurrency: Int
    var requests: Int
    var durationSeconds: Int
    var rate: Int
    var timeoutMilliseconds: Int
    var json: Bool
    var progress: Bool
    var stock: Int32
    var users: Int
    var perUser: Int32
    var token: String?
    var tls: TLSSettings
    /// The TLS of the dialer of --url (nil with TLS off).
    var targetTLS: TLSConfiguration?

    init(_ values: ConfigValues) throws(ConfigError) {
        scenario = values.string("scenario")
        guard Scenario.names.contains(scenario) else {
            throw ConfigError("--scenario: '\(scenario)' is not one of \(Scenario.names.joined(separator: ", "))")
        }
        urls = try values.nngURLs("url")
        concurrency = try values.int("concurrency", in: 1...10_000)
        requests = try values.int("requests", in: 0...1_000_000_000)
        durationSeconds = try values.int("duration", in: 0...86_400)
        guard requests > 0 || durationSeconds > 0 else { throw ConfigError("give --requests or --duration") }
        rate = try values.int("rate", in: 0...10_000_000)
        timeoutMilliseconds = try values.int("timeout-ms", in: 1...600_000)
        json = try values.bool("json")
        progress = try values.bool("progress")
        stock = Int32(try values.int("stock", in: 1...Int(Int32.max)))
        users = try values.int("users", in: 1...100_000_000)
        perUser = Int32(try values.int("per-user", in: 1...1_000_000))
        let inline = values.string("token")
        let file = values.string("token-file")
        guard inline.isEmpty || file.isEmpty else { throw ConfigError("--token and --token-file: give one of them, not both") }
        let text = file.isEmpty ? inline : try SecretFile.firstLine(of: file, flag: "--token-file / COUPON_TOKEN_FILE")
        token = text.isEmpty ? nil : text
        tls = try TLSSettings(values)
        try tls.check(urls, source: values.source("url"))
        targetTLS = try tls.dialing(values.string("tls-server"))
    }
}

/// One kind of request the load generator sends. `send` returns nil on success or the error code;
/// `verify` runs after the load and returns the invariant check's lines (or throws when one fails).
struct Scenario: Sendable {
    var name: String
    var send: @Sendable (Int) async -> ErrorCode?
    var verify: @Sendable (_ succeeded: Int64) async throws -> [String] = { _ in [] }
    /// Runs beside the load for scenarios that bring their own server (the echo baseline).
    var serve: @Sendable () async -> Void = {}
    var stop: @Sendable () -> Void = {}
    /// Figures a scenario measures besides the load (name, value), printed with the summary.
    var figures: @Sendable () -> [(String, Int64)] = { [] }

    static let names = ["ping", "claim", "redeem", "mixed", "best", "best-engine", "risk", "echo"]

    static func make(_ settings: LoadSettings) async throws -> Scenario {
        let client = try ServiceClient(
            service: "target", urls: settings.urls, timeoutMilliseconds: settings.timeoutMilliseconds, tls: settings.targetTLS,
            credential: settings.token)
        @Sendable func outcome(_ body: () async throws -> Void) async -> ErrorCode? {
            do {
                try await body()
                return nil
            } catch let error as ServiceError {
                return error.code
            } catch {
                return .internalError
            }
        }
        switch settings.scenario {
        case "claim":
            // A template of this run's own, so its counters say what this run did.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "coupon-load \(now)", type: .cash, thresholdCents: 20_000, discountCents: 3_000,
                        startMilliseconds: now - 60_000, endMilliseconds: now + 7 * 86_400_000, totalStock: settings.stock,
                        perUserLimit: settings.perUser)))
            let templateId = template.templateId
            return Scenario(
                name: "claim",
                send: { ticket in
                    await outcome {
                        _ = try await client.call(
                            ClaimRequest(userId: "load-\(ticket % settings.users)", templateId: templateId, channel: "load"))
                    }
                },
                verify: { succeeded in
                    let view = try await client.call(GetTemplateRequest(templateId: templateId))
                    let lines = [
                        "invariant: template \(templateId) issued \(view.issued), stock \(view.spec.totalStock), successful replies \(succeeded)"
                    ]
                    guard view.issued <= view.spec.totalStock else { throw ServiceError(.internalError, "OVERSOLD: \(lines[0])") }
                    guard Int64(view.issued) == succeeded else {
                        throw ServiceError(.internalError, "issued \(view.issued) differs from successful replies \(succeeded)")
                    }
                    return lines + ["invariant: ok (issued ≤ stock, issued = successful replies)"]
                })
        case "redeem":
            // Setup (not measured): a template and one coupon per request to redeem.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let count = max(1, settings.requests)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "coupon-load redeem \(now)", type: .cash, thresholdCents: 20_000, discountCents: 3_000,
                        startMilliseconds: now - 60_000, endMilliseconds: now + 7 * 86_400_000, totalStock: Int32(clamping: count),
                        perUserLimit: 1_000_000)))
            let coupons = try await withThrowingTaskGroup(of: [String].self) { group in
                let workers = 64
                for worker in 0..<workers {
                    group.addTask {
                        var ids: [String] = []
                        for index in stride(from: worker, to: count, by: workers) {
                            ids.append(
                                try await client.call(
                                    ClaimRequest(userId: "redeemer-\(now)-\(index % 10_000)", templateId: template.templateId, channel: "load")
                                ).couponId)
                        }
                        return ids
                    }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            ProcessEnvironment.writeError("redeem: \(coupons.count) coupons claimed for the run\n")
            return Scenario(
                name: "redeem",
                send: { ticket in
                    await outcome {
                        _ = try await client.call(
                            UseRequest(orderId: "load-order-\(now)-\(ticket)", couponId: coupons[ticket % coupons.count], amountCents: 25_000))
                    }
                },
                verify: { succeeded in
                    let view = try await client.call(GetTemplateRequest(templateId: template.templateId))
                    let line = "invariant: template \(template.templateId) used \(view.used), successful redemptions \(succeeded)"
                    guard Int64(view.used) == succeeded else { throw ServiceError(.internalError, "MISMATCH: \(line)") }
                    return [line, "invariant: ok (used = successful redemptions, each coupon used once)"]
                })
        case "mixed":
            // Each request: a claim, then a redemption of that coupon on a new order, and every
            // fourth order refunded: the order service's day.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "coupon-load mixed \(now)", type: .cash, thresholdCents: 10_000, discountCents: 1_000,
                        startMilliseconds: now - 60_000, endMilliseconds: now + 7 * 86_400_000, totalStock: settings.stock,
                        perUserLimit: settings.perUser)))
            return Scenario(
                name: "mixed",
                send: { ticket in
                    await outcome {
                        let coupon = try await client.call(
                            ClaimRequest(userId: "mixed-\(ticket % settings.users)", templateId: template.templateId, channel: "load"))
                        let order = "mixed-order-\(now)-\(ticket)"
                        _ = try await client.call(UseRequest(orderId: order, couponId: coupon.couponId, amountCents: 15_000))
                        if ticket % 4 == 0 { _ = try await client.call(RefundRequest(orderId: order, couponId: coupon.couponId)) }
                    }
                },
                verify: { succeeded in
                    let view = try await client.call(GetTemplateRequest(templateId: template.templateId))
                    let expectedUsed = succeeded - (succeeded + 3) / 4
                    let line = "invariant: template \(template.templateId) issued \(view.issued), used \(view.used), runs \(succeeded)"
                    guard view.issued <= view.spec.totalStock, view.used <= view.issued else { throw ServiceError(.internalError, "BROKEN: \(line)") }
                    return [line, "invariant: ok (used ≤ issued ≤ stock; about \(expectedUsed) uses expected when every run succeeded)"]
                })
        case "best":
            // One user holding a 50-coupon wallet over three levels; each request asks for the best
            // combination for a 1,000.00 order of shop S1, category digital.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let userId = "best-\(now)"
            for (level, count) in [(ScopeLevel.shop, 17), (.category, 17), (.platform, 16)] {
                let spec = TemplateSpec(
                    name: "coupon-load best \(level.rawValue)", type: .cash, thresholdCents: Int64(10_000 * count), discountCents: 1_000,
                    startMilliseconds: now - 60_000, endMilliseconds: now + 7 * 86_400_000, totalStock: Int32(count), perUserLimit: Int32(count),
                    level: level, shopId: level == .shop ? "S1" : nil, categories: level == .category ? ["digital"] : [])
                let template = try await client.call(CreateTemplateRequest(spec: spec))
                for _ in 0..<count {
                    _ = try await client.call(ClaimRequest(userId: userId, templateId: template.templateId, channel: "load"))
                }
            }
            let order = BestRequest(
                userId: userId, amountCents: 100_000, items: [OrderItem(sku: "phone", category: "digital", shopId: "S1", amountCents: 100_000)])
            return Scenario(name: "best", send: { _ in await outcome { _ = try await client.call(order) } })
        case "best-engine":
            // best_combination straight to rule-engine (--url is its address) for the fixed
            // 50-coupon wallet of BenchWallet; also times the same computation in this process.
            let request = BenchWallet.request(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            return Scenario(
                name: "best-engine", send: { _ in await outcome { _ = try await client.call(request) } },
                figures: { [("computeMicrosecondsPerBest", BenchWallet.computeMicroseconds(request))] })
        case "risk":
            // Decisions for a legitimate-looking population against risk-control (--url is its address).
            return Scenario(
                name: "risk",
                send: { ticket in
                    await outcome {
                        let user = ticket % settings.users
                        _ = try await client.call(
                            RiskDecisionRequest(
                                action: .claim, userId: "risk-user-\(user)", deviceId: "device-\(user)",
                                ip: "10.\(user / 65_536 % 256).\(user / 256 % 256).\(user % 256)", templateId: "T-load",
                                couponType: .cash, amountCents: 500))
                    }
                })
        case "echo":
            // The baseline: a bare NNG req/rep echo in this process, no frame decoding, no handler.
            // With TLS on it runs over tls+tcp with this process's certificate on both ends, so
            // the two runs differ in TLS alone.
            let scheme = settings.tls.enabled ? TLSConfiguration.scheme : "tcp://"
            let server = try ReplyServer(configuration: .init(urls: ["\(scheme)127.0.0.1:0"], concurrency: 64, tls: settings.tls.listening))
            let echo = try RequestClient(
                configuration: .init(
                    urls: server.boundURLs, defaultTimeoutMilliseconds: settings.timeoutMilliseconds, tls: try settings.tls.dialing(settings.tls.name)
                ))
            let payload = [UInt8](repeating: 7, count: 64)
            return Scenario(
                name: "echo",
                send: { _ in
                    do {
                        _ = try await echo.call(payload)
                        return nil
                    } catch {
                        return .dependencyUnavailable
                    }
                },
                serve: { await server.run { $0 } },
                stop: { server.shutdown() })
        default:
            return Scenario(name: "ping", send: { _ in await outcome { _ = try await client.call(PingRequest()) } })
        }
    }
}

struct LoadReport: Sendable {
    var scenario: String
    var concurrency: Int
    var elapsedSeconds: Double
    var succeeded: Int64
    var errors: [ErrorCode: Int64]
    var histogram: LatencyHistogram
    var invariant: [String] = []
    var figures: [(String, Int64)] = []

    var throughput: Double { elapsedSeconds > 0 ? Double(succeeded) / elapsedSeconds : 0 }

    func text() -> String {
        var lines = [
            "scenario \(scenario), concurrency \(concurrency), \(String(format: "%.2f", elapsedSeconds)) s",
            "ok \(succeeded), errors \(errors.values.reduce(0, +)), throughput \(String(format: "%.0f", throughput))/s",
            "latency µs: p50 \(histogram.percentile(0.5)) p90 \(histogram.percentile(0.9)) p99 \(histogram.percentile(0.99)) p99.9 \(histogram.percentile(0.999)) max \(histogram.maxMicroseconds)",
        ]
        for (code, count) in errors.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            lines.append("  error \(code.rawValue) \(code.name): \(count)")
        }
        return (lines + figures.map { "\($0.0): \($0.1)" } + invariant).joined(separator: "\n")
    }

    func json() -> JSONValue {
        .object([
            ("scenario", .string(scenario)), ("concurrency", .integer(concurrency)),
            ("elapsedSeconds", .number(String(format: "%.3f", elapsedSeconds))),
            ("ok", .integer(succeeded)), ("throughput", .number(String(format: "%.1f", throughput))),
            ("p50Microseconds", .integer(histogram.percentile(0.5))), ("p90Microseconds", .integer(histogram.percentile(0.9))),
            ("p99Microseconds", .integer(histogram.percentile(0.99))), ("p999Microseconds", .integer(histogram.percentile(0.999))),
            ("maxMicroseconds", .integer(histogram.maxMicroseconds)),
            ("errors", .object(errors.sorted(by: { $0.key.rawValue < $1.key.rawValue }).map { ($0.key.name, .integer($0.value)) })),
            ("invariant", .array(invariant.map { .string($0) })),
            ("figures", .object(figures.map { ($0.0, .integer($0.1)) })),
        ])
    }
}

/// Runs `concurrency` callers until the request count or duration is reached, pacing to `rate`.
struct LoadRunner: Sendable {
    var settings: LoadSettings
    var scenario: Scenario

    private struct Shared {
        var issued = 0
        var succeeded: Int64 = 0
        var errors: [ErrorCode: Int64] = [:]
        var histogram = LatencyHistogram()
    }

    /// Shared by the caller tasks; a class so each task holds a reference to the one lock.
    private final class Tally: Sendable {
        let state = Mutex(Shared())
        func withLock<T>(_ body: (inout Shared) -> T) -> T { state.withLock { body(&$0) } }
    }

    func run() async -> LoadReport {
        let shared = Tally()
        let started = ContinuousClock.now
        let stopAt = settings.durationSeconds > 0 ? started + .seconds(settings.durationSeconds) : nil
        let settings = self.settings
        let scenario = self.scenario
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<settings.concurrency {
                group.addTask {
                    var local = LatencyHistogram()
                    while true {
                        let ticket: Int? = shared.withLock { state in
                            if settings.requests > 0 && state.issued >= settings.requests { return nil }
                            state.issued += 1
                            return state.issued - 1
                        }
                        guard let ticket else { break }
                        if let stopAt, ContinuousClock.now >= stopAt { break }
                        if settings.rate > 0 {
                            let due = started + .microseconds(Int64(ticket) * 1_000_000 / Int64(settings.rate))
                            if due > ContinuousClock.now { try? await Task.sleep(until: due) }
                        }
                        let before = ContinuousClock.now
                        let failure = await scenario.send(ticket)
                        let micros = (ContinuousClock.now - before).wholeMicroseconds
                        if let failure {
                            shared.withLock { $0.errors[failure, default: 0] += 1 }
                        } else {
                            local.record(microseconds: micros)
                            shared.withLock { $0.succeeded += 1 }
                        }
                    }
                    shared.withLock { $0.histogram.merge(local) }
                }
            }
            if settings.progress {
                group.addTask {
                    var last: Int64 = 0
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        let (done, failed, issued) = shared.withLock { ($0.succeeded, $0.errors.values.reduce(0, +), $0.issued) }
                        ProcessEnvironment.writeError("\r\(scenario.name): \(done) ok, \(failed) errors, \(done - last)/s   ")
                        last = done
                        if settings.requests > 0 && issued >= settings.requests && done + failed >= Int64(settings.requests) { break }
                        if let stopAt, ContinuousClock.now >= stopAt { break }
                    }
                    ProcessEnvironment.writeError("\n")
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return shared.withLock { state in
            LoadReport(
                scenario: scenario.name, concurrency: settings.concurrency, elapsedSeconds: seconds, succeeded: state.succeeded,
                errors: state.errors, histogram: state.histogram)
        }
    }
}
