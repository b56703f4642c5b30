import CouponClient
import Foundation
import Messaging
import Postgres
import ServiceKit
import TestSupport
import Testing
import Wire

/// The three real executables on free ports: each answers over the wire, coupon-center reports its
/// dependencies over HTTP, bad frames get errors without stopping the service, SIGTERM is graceful.
@Suite(.serialized) struct FoundationClusterTests {
    @Test func everyServiceAnswersPingOverTheWire() async throws {
        try await TestCluster.with { cluster in
            for (service, url) in [
                ("coupon-center", cluster.couponCenterURLs[0]), ("rule-engine", cluster.ruleEngineURL),
                ("risk-control", cluster.riskControlURL),
            ] {
                let client = try ServiceClient(service: service, urls: [url], timeoutMilliseconds: Patience.callMilliseconds)
                defer { client.close() }
                let pong = try await client.call(PingRequest())
                #expect(pong.service == service)
                #expect(!pong.instance.isEmpty)
            }
            let center = try cluster.client()
            defer { center.close() }
            let pong = try await center.call(PingRequest())
            #expect(Set(pong.dependencies.map(\.name)) == ["postgres", "redis", "rule-engine", "risk-control"])
            #expect(pong.dependencies.allSatisfy { $0.healthy }, "\(pong.dependencies)")
        }
    }

    @Test func healthReportsEachDependencyAndNoticesOneGoingDown() async throws {
        try await TestCluster.with { cluster in
            let healthy = try await cluster.http("GET", "/health")
            #expect(healthy.status == 200)
            #expect(healthy.code == 0)
            #expect(healthy.json?["status"] == .string("UP"))
            for name in ["postgres", "redis", "rule-engine", "risk-control"] {
                #expect(healthy.json?["dependencies"]?[name]?["up"] == .bool(true), "\(name): \(healthy.text)")
            }

            await cluster.riskControl?.killNow()
            let degraded = try await cluster.http("GET", "/health")
            #expect(degraded.status == 503)
            #expect(degraded.code == Int(ErrorCode.dependencyUnavailable.rawValue))
            #expect(degraded.json?["dependencies"]?["risk-control"]?["up"] == .bool(false))
            #expect(degraded.json?["dependencies"]?["postgres"]?["up"] == .bool(true))

            let metrics = try await cluster.http("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"coupon_http_requests_total{code="OK",route="GET /health"} 1"#))
        }
    }

    @Test func garbageAndOversizedFramesGetErrorsAndServingContinues() async throws {
        try await TestCluster.with { cluster in
            for url in [cluster.couponCenterURLs[0], cluster.ruleEngineURL, cluster.riskControlURL] {
                let raw = try RequestClient(urls: [url], timeoutMilliseconds: Patience.callMilliseconds)
                defer { raw.close() }
                // Plain garbage: an error reply saying the frame is bad.
                let garbage = try await raw.call(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                let garbageFrame = try FrameCodec.decode(garbage)
                #expect(garbageFrame.isError)
                #expect(try WireBody.decode(ServiceError.self, from: garbageFrame.body).code == .badFrame)

                // A well-formed frame of a kind nobody serves.
                let unknown = FrameCodec.encode(Frame(header: FrameHeader(kind: MessageKind(rawValue: 0x7ABC), requestId: 3), body: []))
                let unknownReply = try FrameCodec.decode(try await raw.call(unknown))
                #expect(try WireBody.decode(ServiceError.self, from: unknownReply.body).code == .unknownMessageKind)

                // Over the size limit: nng drops it (no reply), and the service keeps serving.
                let oversized = FrameCodec.encode(Frame(header: FrameHeader(kind: .ping, requestId: 4), body: [UInt8](repeating: 0, count: 2 << 20)))
                await #expect(throws: MessagingError.self) { try await raw.call(oversized, timeoutMilliseconds: 500) }

                let client = try ServiceClient(service: "after", urls: [url])
                defer { client.close() }
                try await Patience.waitUntil("\(url) serving again after the oversized frame") {
                    (try? await client.call(PingRequest(), timeoutMilliseconds: Patience.milliseconds(1_000))) != nil
                }
            }
            #expect(cluster.allProcesses.allSatisfy { $0.isRunning })
        }
    }

    @Test func oversizedHTTPBodiesGetAJSONErrorAndChangeNothing() async throws {
        try await TestCluster.with { cluster in
            let huge = String(repeating: "x", count: 200_000)
            let answer = try await cluster.http("POST", "/api/coupon/template", json: #"{"name":"\#(huge)"}"#)
            #expect(answer.status == 413)
            #expect(answer.code == 1011, "\(answer.text.prefix(200))")
            let database = try cluster.database.pool()
            #expect(try await database.query("SELECT count(*)::bigint FROM coupon_template")[0].decode(0, as: Int64.self) == 0)
            await database.close()
        }
    }

    @Test func sigtermShutsEveryServiceDownCleanly() async throws {
        try await TestCluster.with { cluster in
            for process in cluster.allProcesses {
                let status = await process.terminate(grace: Patience.scaled(.seconds(10)))
                #expect(status == 0, "\(process.name) exit status \(String(describing: status)):\n\(process.log)")
                #expect(process.log.contains("msg=stopped"), "\(process.name) did not log a clean stop")
            }
        }
    }

    @Test func couponctlPingsAndItsExitCodesTellOutcomesApart() async throws {
        try await TestCluster.with { cluster in
            let ok = try await runTool(
                "couponctl", ["ping", "--all", "--json"],
                environment: [
                    "COUPON_CENTER_URL": cluster.couponCenterURLs[0], "RULE_ENGINE_URL": cluster.ruleEngineURL,
                    "RISK_CONTROL_URL": cluster.riskControlURL,
                ])
            #expect(ok.status == 0, "\(ok.output)")
            let answers = try JSONParser.parse(Array(ok.output.utf8))
            guard case .array(let services) = answers else {
                Issue.record("expected a JSON array, got \(ok.output)")
                return
            }
            #expect(services.map { $0["service"] } == [.string("coupon-center"), .string("rule-engine"), .string("risk-control")])
            #expect(services.allSatisfy { $0["up"] == .bool(true) })

            let down = try await runTool("couponctl", ["ping", "--url", "tcp://127.0.0.1:\(try freeLocalPort())", "--timeout-ms", "300"])
            #expect(down.status == 3)
            let usage = try await runTool("couponctl", ["ping", "--no-such-flag"])
            #expect(usage.status == 2)
            let help = try await runTool("couponctl", ["ping", "--help"])
            #expect(help.status == 0 && help.output.contains("--url"))
        }
    }

    @Test func servicesRefuseBadConfigurationWithAClearMessage() async throws {
        for (tool, arguments) in [
            ("rule-engine", ["--listen", "http://nope"]), ("risk-control", ["--workers", "0"]),
            ("coupon-center", ["--database-url", "mysql://x"]),
        ] {
            let result = try await runTool(tool, arguments)
            #expect(result.status == 2, "\(tool): \(result.output)")
            #expect(result.output.contains("configuration error"), "\(tool): \(result.output)")
        }
        let help = try await runTool("coupon-center", ["--help"])
        #expect(help.status == 0)
        for flag in ["--listen", "--http", "--database-url", "--redis-url", "--rule-engine", "--risk-control"] {
            #expect(help.output.contains(flag), "help lacks \(flag)")
        }
    }
}

/// Runs one of our executables to completion and returns its exit status and combined output.
/// couponctl's calls get a generous deadline (COUPON_TIMEOUT_MS) unless the caller sets one.
func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    let generous = ["COUPON_TIMEOUT_MS": String(Patience.callMilliseconds)]
    let process = try ChildProcess(
        name: name, executable: name, arguments: arguments, environment: generous.merging(environment) { _, given in given })
    defer { process.removeLog() }
    let deadline = ContinuousClock.now + Patience.limit
    while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    if process.isRunning {
        await process.killNow()
        throw TestFailure("\(name) \(arguments) did not finish within \(Patience.limit)")
    }
    return (process.exitStatus ?? -1, process.log)
}
