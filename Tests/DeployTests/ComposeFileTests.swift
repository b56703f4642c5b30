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

    /// A value as Compose interpolates it with `variables` set: `${NAME:-default}` and
    /// `${NAME:+replacement}` (unset and empty alike), the two forms the file uses.
    static func interpolate(_ text: String, _ variables: [String: String]) -> String {
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${"), let end = rest[start.upperBound...].firstIndex(of: "}") {
            result += rest[..<start.lowerBound]
            let expression = rest[start.upperBound..<end]
            if let operation = expression.range(of: ":-") ?? expression.range(of: ":+") {
                let value = variables[String(expression[..<operation.lowerBound])] ?? ""
                let word = String(expression[operation.upperBound...])
                result += expression[operation] == ":-" ? (value.isEmpty ? word : value) : (value.isEmpty ? "" : word)
            } else {
                result += variables[String(expression)] ?? ""
            }
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
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
        // An init step others wait for to complete (the certificates) runs once, by design.
        let initSteps = Set(
            services.flatMap { _, service -> [String] in
                guard case .object(let needs)? = service["depends_on"] else { return [] }
                return needs.filter { $0.1["condition"] == .string("service_completed_successfully") }.map(\.0)
            })
        for (name, service) in services where !initSteps.contains(name) {
            #expect(service["restart"] == .string("unless-stopped"), "\(name) has restart \(String(describing: service["restart"]))")
        }
        #expect(initSteps == ["certs"], "\(initSteps)")
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
        #expect(center["RULE_ENGINE_URL"].map { Self.interpolate($0, [:]) } == "tcp://rule-engine:7101")
        #expect(center["RISK_CONTROL_URL"].map { Self.interpolate($0, [:]) } == "tcp://risk-control:7102")
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

    /// COUPON_TLS=on alone turns mutual TLS on: every binary address of every service becomes
    /// tls+tcp://, each reads the certificates the `certs` step made (Deploy/certs) after it
    /// completed; unset, everything stays plaintext tcp:// with TLS off.
    @Test func oneVariableTurnsMutualTLSOnEverywhere() async throws {
        let services = try await Self.compose()["services"]
        for executable in ["coupon-center", "rule-engine", "risk-control"] {
            let service = services?[executable]
            let raw = Self.environment(service)
            let addresses = raw.filter { $0.key.hasSuffix("_URL") && $0.value.contains("tcp://") }
            #expect(!addresses.isEmpty, "\(executable) has no binary address")
            for (variables, tls) in [([String: String](), false), (["COUPON_TLS": "on"], true)] {
                #expect(Self.interpolate(raw["COUPON_TLS"] ?? "", variables) == (tls ? "on" : "off"), "\(executable)")
                for (name, value) in addresses {
                    let url = Self.interpolate(value, variables)
                    #expect(url.hasPrefix(tls ? "tls+tcp://" : "tcp://"), "\(executable) \(name) = \(url) with \(variables)")
                }
            }
            #expect(raw["COUPON_TLS_DIR"] == "/certs")
            #expect(service?["volumes"] == .array([.string("certs:/certs:ro")]), "\(executable)")
            #expect(service?["depends_on"]?["certs"]?["condition"] == .string("service_completed_successfully"), "\(executable)")
        }
        guard case .array(let entrypoint)? = services?["certs"]?["entrypoint"], case .string(let script)? = entrypoint.last else {
            Issue.record("the certs step has no entrypoint")
            return
        }
        #expect(script.contains("coupon-certs /certs"))
        let dockerfile = try String(contentsOf: Self.repository.appendingPathComponent("Deploy/Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("COPY Deploy/certs /usr/local/bin/coupon-certs"))
        #expect(dockerfile.contains(" openssl"))
        let known = try await Self.variables(of: "coupon-center")
        #expect(known.isSuperset(of: ["COUPON_TLS", "COUPON_TLS_DIR", "COUPON_TLS_NAME", "COUPON_TLS_PEERS"]), "\(known.sorted())")
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
