import CouponClient
import Foundation
import ServiceKit
import Wire

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real executables started on free ports, with a database and a Redis of their own:
/// rule-engine, risk-control and one or more coupon-center processes sharing them.
public final class TestCluster: @unchecked Sendable {
    public let database: TestDatabase
    public let redis: RedisTestServer
    public let ruleEngineURL: String
    public let riskControlURL: String
    public private(set) var couponCenterURLs: [String]
    public private(set) var httpURLs: [String]
    public private(set) var ruleEngine: ChildProcess?
    public private(set) var riskControl: ChildProcess?
    public private(set) var couponCenters: [ChildProcess] = []
    private let extraEnvironment: [String: String]

    /// Starts a cluster, runs `body`, stops everything (printing logs of processes that failed).
    public static func with<T>(
        couponCenters: Int = 1, environment: [String: String] = [:], _ body: (TestCluster) async throws -> T
    ) async throws -> T {
        let database = try await TestDatabase.create(prefix: "cluster")
        return try await RedisTestServer.with { redis in
            let cluster = try TestCluster(database: database, redis: redis, couponCenters: couponCenters, environment: environment)
            do {
                try await cluster.start()
                let result = try await body(cluster)
                await cluster.stop()
                await database.drop()
                return result
            } catch {
                cluster.printLogs()
                await cluster.stop()
                await database.drop()
                throw error
            }
        }
    }

    private init(database: TestDatabase, redis: RedisTestServer, couponCenters: Int, environment: [String: String]) throws {
        self.database = database
        self.redis = redis
        ruleEngineURL = "tcp://127.0.0.1:\(try freeLocalPort())"
        riskControlURL = "tcp://127.0.0.1:\(try freeLocalPort())"
        couponCenterURLs = try (0..<couponCenters).map { _ in "tcp://127.0.0.1:\(try freeLocalPort())" }
        httpURLs = try (0..<couponCenters).map { _ in "http://127.0.0.1:\(try freeLocalPort())" }
        extraEnvironment = environment
    }

    private var commonEnvironment: [String: String] {
        [
            "RULE_ENGINE_URL": ruleEngineURL, "RISK_CONTROL_URL": riskControlURL,
            "COUPON_DATABASE_URL": database.url, "COUPON_REDIS_URL": "redis://127.0.0.1:\(redis.port)/0",
            "COUPON_LOG_LEVEL": "info", "COUPON_DATABASE_POOL": "8", "COUPON_REDIS_POOL": "8",
        ].merging(extraEnvironment) { _, override in override }
    }

    private func start() async throws {
        ruleEngine = try ChildProcess(name: "rule-engine", executable: "rule-engine", environment: commonEnvironment)
        riskControl = try ChildProcess(name: "risk-control", executable: "risk-control", environment: commonEnvironment)
        for index in couponCenterURLs.indices {
            couponCenters.append(try launchCouponCenter(index))
        }
        try await waitUntilServing(ruleEngineURL, process: ruleEngine!)
        try await waitUntilServing(riskControlURL, process: riskControl!)
        for (index, url) in couponCenterURLs.enumerated() {
            try await waitUntilServing(url, process: couponCenters[index])
        }
    }

    private func launchCouponCenter(_ index: Int) throws -> ChildProcess {
        var environment = commonEnvironment
        environment["COUPON_CENTER_URL"] = couponCenterURLs[index]
        environment["COUPON_HTTP_URL"] = httpURLs[index]
        return try ChildProcess(name: "coupon-center-\(index)", executable: "coupon-center", environment: environment)
    }

    /// Starts coupon-center `index` again (after `killNow` or `terminate`) and waits until it serves.
    public func restartCouponCenter(_ index: Int) async throws {
        couponCenters[index] = try launchCouponCenter(index)
        try await waitUntilServing(couponCenterURLs[index], process: couponCenters[index])
    }

    private func waitUntilServing(_ url: String, process: ChildProcess, within: Duration = .seconds(60)) async throws {
        let client = try ServiceClient(service: process.name, urls: [url], timeoutMilliseconds: 500)
        defer { client.close() }
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw TestFailure("\(process.name) exited with \(process.exitStatus ?? -1) before serving:\n\(process.log)")
            }
            if (try? await client.call(PingRequest())) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(process.name) did not answer ping on \(url) within \(within):\n\(process.log)")
    }

    /// A client for coupon-center, spread across every running replica.
    public func client(timeoutMilliseconds: Int = 5_000) throws -> ServiceClient {
        try ServiceClient(service: "coupon-center", urls: couponCenterURLs, timeoutMilliseconds: timeoutMilliseconds)
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

    /// One HTTP call to coupon-center `index`; the body is JSON text, the answer parsed JSON.
    public func http(_ method: String, _ path: String, json: String? = nil, to index: Int = 0) async throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: httpURLs[index] + path)!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let json {
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return HTTPAnswer(status: status, body: Array(data))
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
