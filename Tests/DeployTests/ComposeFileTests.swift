import Foundation
import TestSupport
import Testing
import Wire

/// Docker cannot run here, so the compose file is checked against the code instead: it parses,
/// names every service, sets only variables the executables read, and uses their default ports.
@Suite struct ComposeFileTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs a helper program to its end and returns what it printed (stdout and stderr). Through
    /// `ChildProcess`, not Foundation's `Process`: Foundation reaps children it did not start, which
    /// took the exit status of other tests' children in the same test process (SupervisorTests).
    static func output(of path: String, _ arguments: [String]) async throws -> (status: Int32?, text: String) {
        let process = try ChildProcess(name: URL(fileURLWithPath: path).lastPathComponent, path: path, arguments: arguments, environment: [:])
        let status = await process.wait(timeout: Patience.limit)
        if status == nil { await process.killNow() }
        let text = process.log
        process.removeLog()
        return (status, text)
    }

    /// The compose file as JSON, parsed by Debian's PyYAML (Deploy/test installs python3-yaml).
    static func compose() async throws -> JSONValue {
        let path = repository.appendingPathComponent("Deploy/docker-compose.yml").path
        let (status, text) = try await output(
            of: "/usr/bin/python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path])
        guard status == 0 else { throw TestFailure("docker-compose.yml does not parse: \(text)") }
        return try JSONParser.parse(Array(text.utf8))
    }

    /// The environment variables an executable reads, from its own `--help`.
    static func variables(of executable: String) async throws -> Set<String> {
        let directory = try requiredEnvironment("COUPON_BIN_DIR")
        let (_, text) = try await output(of: URL(fileURLWithPath: directory).appendingPathComponent(executable).path, ["--help"])
        var names = Set<String>()
        for part in text.split(separator: "[").dropFirst() {
            if let end = part.firstIndex(of: "]") { names.insert(String(part[..<end])) }
        }
        return names
    }

    static func environment(_ service: JSONValue?) -> [String: String] {
        guard case .object(let members)? = service?["environment"] else { return [:] }
        var result: [String: String] = [:]
        for (name, value) in members {
            switch value {
            case .string(let text): result[name] = text
            case .number(let text): result[name] = text
            default: break
            }
        }
        return result
    }

    @Test func namesEveryServiceWithHealthChecksVolumesAndReplicas() async throws {
        let compose = try await Self.compose()
        let services = compose["services"]
        for name in ["postgres", "redis", "coupon-center", "rule-engine", "risk-control"] {
            #expect(services?[name] != nil, "service \(name) is missing")
        }
        for name in ["postgres", "redis"] {
            #expect(services?[name]?["healthcheck"]?["test"] != nil, "\(name) has no health check")
            guard case .array(let volumes)? = services?[name]?["volumes"] else {
                Issue.record("\(name) has no volume")
                continue
            }
            #expect(!volumes.isEmpty)
        }
        for name in ["rule-engine", "risk-control"] {
            guard case .number(let replicas)? = services?[name]?["deploy"]?["replicas"], let count = Int(replicas) else {
                Issue.record("\(name) has no replicas")
                continue
            }
            #expect(count >= 2, "the stateless \(name) should run replicated")
        }
        guard case .array(let ports)? = services?["coupon-center"]?["ports"] else {
            Issue.record("coupon-center publishes no port")
            return
        }
        #expect(ports.contains(.string("8080:8080")), "the HTTP port 8080 is not published")
    }

    /// A crashed container comes back by itself, as the local cluster's supervisor brings back a
    /// crashed process; one an operator stopped stays stopped.
    @Test func everyServiceRestartsUnlessStopped() async throws {
        guard case .object(let services)? = try await Self.compose()["services"] else {
            Issue.record("docker-compose.yml has no services")
            return
        }
        #expect(services.count >= 5)
        for (name, service) in services {
            #expect(service["restart"] == .string("unless-stopped"), "\(name) has restart \(String(describing: service["restart"]))")
        }
    }

    @Test func setsOnlyVariablesTheExecutablesReadWithTheDefaultPorts() async throws {
        let services = try await Self.compose()["services"]
        for executable in ["coupon-center", "rule-engine", "risk-control"] {
            let environment = Self.environment(services?[executable])
            #expect(!environment.isEmpty, "\(executable) sets no environment")
            let known = try await Self.variables(of: executable)
            for name in environment.keys {
                #expect(known.contains(name), "\(executable) does not read \(name) (it reads \(known.sorted()))")
            }
            #expect(services?[executable]?["command"] == .array([.string(executable)]))
        }
        let center = Self.environment(services?["coupon-center"])
        #expect(center["COUPON_CENTER_URL"]?.hasSuffix(":7100") == true)
        #expect(center["COUPON_HTTP_URL"]?.hasSuffix(":8080") == true)
        #expect(center["RULE_ENGINE_URL"] == "tcp://rule-engine:7101")
        #expect(center["RISK_CONTROL_URL"] == "tcp://risk-control:7102")
        #expect(Self.environment(services?["rule-engine"])["RULE_ENGINE_URL"]?.hasSuffix(":7101") == true)
        #expect(Self.environment(services?["risk-control"])["RISK_CONTROL_URL"]?.hasSuffix(":7102") == true)
        // The services reach the databases by their compose names.
        #expect(center["COUPON_DATABASE_URL"]?.contains("@postgres:5432/") == true)
        #expect(center["COUPON_REDIS_URL"]?.hasPrefix("redis://redis:6379") == true)
        // The service token is on by default in compose, the same on every service (coupon-center
        // sends it to the other two), and sign-in is never switched off.
        let tokens = ["coupon-center", "rule-engine", "risk-control"].map { Self.environment(services?[$0])["COUPON_SERVICE_TOKEN"] }
        #expect(tokens.allSatisfy { $0 != nil && $0 != "" } && Set(tokens).count == 1, "COUPON_SERVICE_TOKEN: \(tokens)")
        for executable in ["coupon-center", "rule-engine", "risk-control"] {
            #expect(Self.environment(services?[executable])["COUPON_OPERATOR_AUTH"] == nil, "\(executable) switches sign-in off")
        }
    }

    @Test func dockerfileBuildsWithSwiftAndRunsOnSlimDebian() throws {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("Deploy/Dockerfile"), encoding: .utf8)
        let stages = text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains("swift:") == true)
        #expect(stages.last?.contains("debian:bookworm-slim") == true)
        for package in ["libnng1", "libhiredis0.14", "libpq5", "libnng-dev", "libhiredis-dev", "libpq-dev"] {
            #expect(text.contains(package), "Dockerfile lacks \(package)")
        }
        for tool in ["coupon-center", "rule-engine", "risk-control", "couponctl", "coupon-load"] {
            #expect(text.contains(tool))
        }
    }
}
