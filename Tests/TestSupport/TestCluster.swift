import CouponClient
import Foundation
import Messaging
import Postgres
import ServiceKit
import Wire

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real executables started on free ports, with a database and a Redis of their own:
/// rule-engine, risk-control and one or more coupon-center processes sharing them.
public final class TestCluster: @unchecked Sendable {
    public let database: ClusterDatabase
    public let redis: RedisTestServer
    public private(set) var ruleEngineURL: String
    public private(set) var riskControlURL: String
    public private(set) var couponCenterURLs: [String]
    public private(set) var httpURLs: [String]
    public private(set) var ruleEngine: ChildProcess?
    public private(set) var riskControl: ChildProcess?
    public private(set) var couponCenters: [ChildProcess] = []
    private let extraEnvironment: [String: String]
    private let perCouponCenter: [[String: String]]
    /// With certificates, every service runs with mutual TLS on tls+tcp:// and the cluster's own
    /// clients present couponctl's certificate.
    public let certificates: TestCertificates?
    private var scheme: String { Self.scheme(certificates) }
    private static func scheme(_ certificates: TestCertificates?) -> String { certificates == nil ? "tcp://" : TLSConfiguration.scheme }

    /// Starts a cluster, runs `body`, stops everything (printing logs of processes that failed).
    /// `perCouponCenter[i]`, when given, is added to coupon-center `i`'s environment only (an
    /// address each process must have its own of).
    public static func with<T>(
        couponCenters: Int = 1, environment: [String: String] = [:], perCouponCenter: [[String: String]] = [],
        certificates: TestCertificates? = nil, _ body: (TestCluster) async throws -> T
    ) async throws -> T {
        let database = try await TestDatabase.create(prefix: "cluster")
        do {
            let result = try await with(
                couponCenters: couponCenters, environment: environment, perCouponCenter: perCouponCenter, databaseURL: database.url,
                certificates: certificates, body)
            await database.drop()
            return result
        } catch {
            await database.drop()
            throw error
        }
    }

    /// The same on an existing database, e.g. one on a `PostgresTestServer` the test restarts;
    /// the caller owns the database and removes it.
    public static func with<T>(
        couponCenters: Int = 1, environment: [String: String] = [:], perCouponCenter: [[String: String]] = [], databaseURL: String,
        certificates: TestCertificates? = nil, _ body: (TestCluster) async throws -> T
    ) async throws -> T {
        try await RedisTestServer.with { redis in
            let cluster = try TestCluster(
                database: ClusterDatabase(url: databaseURL), redis: redis, couponCenters: couponCenters, environment: environment,
                perCouponCenter: perCouponCenter, certificates: certificates)
            do {
                try await cluster.start()
                let result = try await body(cluster)
                await cluster.stop()
                return result
            } catch {
                cluster.printLogs()
                await cluster.stop()
                throw error
            }
        }
    }

    private init(
        database: ClusterDatabase, redis: RedisTestServer, couponCenters: Int, environment: [String: String], perCouponCenter: [[String: String]],
        certificates: TestCertificates?
    ) throws {
        self.database = database
        self.redis = redis
        self.certificates = certificates
        let scheme = Self.scheme(certificates)
        ruleEngineURL = "\(scheme)127.0.0.1:\(try freeLocalPort())"
        riskControlURL = "\(scheme)127.0.0.1:\(try freeLocalPort())"
        couponCenterURLs = try (0..<couponCenters).map { _ in "\(scheme)127.0.0.1:\(try freeLocalPort())" }
        httpURLs = try (0..<couponCenters).map { _ in "http://127.0.0.1:\(try freeLocalPort())" }
        extraEnvironment = environment
        self.perCouponCenter = perCouponCenter
    }

    /// Business tests run with the velocity, account and new-account rules off, so many claims by
    /// one user in a second are not refused; risk tests pass their own RISK_RULES_FILE.
    static let permissiveRules = FileManager.default.temporaryDirectory.appendingPathComponent("coupon-test-permissive-rules.json")

    private var commonEnvironment: [String: String] {
        if !FileManager.default.fileExists(atPath: Self.permissiveRules.path) {
            let text =
                #"{"userLimitPerWindow":0,"deviceLimitPerWindow":0,"ipLimitPerWindow":0,"subnetLimitPerWindow":0,"#
                + #""accountsPerDevicePerDay":0,"accountsPerIPPerDay":0,"accountsPerSubnetPerDay":0,"newAccountHours":0}"#
            try? Data(text.utf8).write(to: Self.permissiveRules, options: .atomic)
        }
        return [
            "RISK_RULES_FILE": Self.permissiveRules.path,
            "RULE_ENGINE_URL": ruleEngineURL, "RISK_CONTROL_URL": riskControlURL,
            "COUPON_DATABASE_URL": database.url, "COUPON_REDIS_URL": "redis://127.0.0.1:\(redis.port)/0",
            "COUPON_LOG_LEVEL": "info", "COUPON_DATABASE_POOL": "8", "COUPON_REDIS_POOL": "8",
            "COUPON_DEPENDENCY_TIMEOUT_MS": String(Patience.dependencyMilliseconds),
            // Operator calls are open unless a test turns sign-in on (the AuthCluster tests do):
            // the other tests exercise claims, templates and risk rules, not who may call them.
            "COUPON_OPERATOR_AUTH": "off",
        ].merging(certificates?.environment ?? [:]) { _, tls in tls }.merging(extraEnvironment) { _, override in override }
    }

    /// Starts each process and waits until it serves. A free port can be taken by another test
    /// between choosing it and binding it; a process that exits with "Address in use" is started
    /// again on new ports.
    private func start() async throws {
        ruleEngine = try await launchServing("rule-engine", service: "rule-engine") { [self] in
            ruleEngineURL = "\(scheme)127.0.0.1:\(try freeLocalPort())"
            return (try ChildProcess(name: "rule-engine", executable: "rule-engine", environment: commonEnvironment), ruleEngineURL)
        }
        riskControl = try await launchServing("risk-control", service: "risk-control") { [self] in
            riskControlURL = "\(scheme)127.0.0.1:\(try freeLocalPort())"
            return (try ChildProcess(name: "risk-control", executable: "risk-control", environment: commonEnvironment), riskControlURL)
        }
        for index in couponCenterURLs.indices {
            couponCenters.append(try await launchCouponCenter(index))
        }
    }

    private func launchServing(_ name: String, service: String, _ launch: () throws -> (ChildProcess, String)) async throws -> ChildProcess {
        var attempt = 0
        while true {
            attempt += 1
            let (process, url) = try launch()
            do {
                try await waitUntilServing(url, process: process, service: service)
                return process
            } catch {
                guard attempt < 4, !process.isRunning, process.log.contains("Address in use") else { throw error }
                process.removeLog()
            }
        }
    }

    private func launchCouponCenter(_ index: Int) async throws -> ChildProcess {
        var first = true
        return try await launchServing("coupon-center-\(index)", service: "coupon-center") { [self] in
            if !first {
                couponCenterURLs[index] = "\(scheme)127.0.0.1:\(try freeLocalPort())"
                httpURLs[index] = "http://127.0.0.1:\(try freeLocalPort())"
            }
            first = false
            var environment = commonEnvironment
            if perCouponCenter.indices.contains(index) { environment.merge(perCouponCenter[index]) { _, own in own } }
            environment["COUPON_CENTER_URL"] = couponCenterURLs[index]
            environment["COUPON_HTTP_URL"] = httpURLs[index]
            return (try ChildProcess(name: "coupon-center-\(index)", executable: "coupon-center", environment: environment), couponCenterURLs[index])
        }
    }

    /// Starts coupon-center `index` again (after `killNow` or `terminate`) and waits until it serves.
    public func restartCouponCenter(_ index: Int) async throws {
        couponCenters[index] = try await launchCouponCenter(index)
    }

    private func waitUntilServing(_ url: String, process: ChildProcess, service: String) async throws {
        // Each ping is short so the loop notices an exit soon; the wait as a whole is generous.
        let client = try ServiceClient(
            service: process.name, urls: [url], timeoutMilliseconds: Patience.milliseconds(1_000), tls: try clientTLS(dialing: service))
        defer { client.close() }
        var exited: Int32?
        do {
            try await Patience.waitUntil("\(process.name) answering ping on \(url)", every: .milliseconds(50)) {
                exited = process.exitStatus
                if exited != nil { return true }
                // The port must be this process's: another test's service may have taken it
                // between picking it and binding it, and would answer the ping. Ours logs the
                // address once it has bound it.
                guard process.log.contains("listen=\(url)") else { return false }
                return (try? await client.call(PingRequest())) != nil
            }
        } catch {
            throw TestFailure("\(error):\n\(process.log)")
        }
        if let exited {
            throw TestFailure("\(process.name) exited with \(exited) before serving:\n\(process.log)")
        }
    }

    /// A client for coupon-center, spread across every running replica. Its deadline is generous
    /// (`Patience.callMilliseconds`): a test that wants calls to time out passes its own.
    public func client(timeoutMilliseconds: Int = Patience.callMilliseconds, credential: String? = nil) throws -> ServiceClient {
        try ServiceClient(
            service: "coupon-center", urls: couponCenterURLs, timeoutMilliseconds: timeoutMilliseconds, tls: try clientTLS(dialing: "coupon-center"),
            credential: credential)
    }

    /// What the cluster's own clients present dialing `service`: couponctl's certificate, or nil
    /// without TLS.
    public func clientTLS(dialing service: String) throws -> TLSConfiguration? {
        try certificates?.dialing(service, as: "couponctl")
    }

    public func stop() async {
        for process in couponCenters { await process.terminate() }
        if let ruleEngine { await ruleEngine.terminate() }
        if let riskControl { await riskControl.terminate() }
    }

    public var allProcesses: [ChildProcess] { couponCenters + [ruleEngine, riskControl].compactMap { $0 } }

    public func printLogs() {
        for process in allProcesses {
            print("----- \(process.name) (pid \(process.pid)) log -----\n\(process.log)")
        }
    }

    /// No cookie jar: a session cookie one test signed in with (cookies are per host, not per
    /// port) must not ride along on every later test's requests.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        return URLSession(configuration: configuration)
    }()

    /// One HTTP call to coupon-center `index`; the body is JSON text, the answer parsed JSON.
    public func http(
        _ method: String, _ path: String, json: String? = nil, headers: [String: String] = [:], to index: Int = 0
    ) async throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: httpURLs[index] + path)!)
        request.httpMethod = method
        request.httpShouldHandleCookies = false
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.timeoutInterval = Double(Patience.callMilliseconds) / 1000
        if let json {
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await Self.session.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return HTTPAnswer(status: status, body: Array(data))
    }
}

/// The database a cluster's services use: a fresh one on the shared server (`TestDatabase`) or
/// one the test brought.
public struct ClusterDatabase: Sendable {
    public let url: String

    public func pool(size: Int = 4) throws -> PostgresPool {
        PostgresPool(config: try PostgresConfig(url: url, poolSize: size))
    }
}

/// An HTTP answer: status, raw body, and the body parsed as JSON when it is JSON.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var json: JSONValue? { try? JSONParser.parse(body) }
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var code: Int? {
        guard case .number(let text)? = json?["code"] else { return nil }
        return Int(text)
    }
}
