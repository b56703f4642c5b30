import CouponClient
import Foundation
import Messaging
import Postgres
import Redis
import ServiceKit
import TestSupport
import Testing
import Wire

@testable import CouponCenter

/// coupon-center's HTTP routes in process: the real `CouponCenterAssembly` over the test
/// PostgreSQL and Redis, driven through `HTTPFront.respond` without spawning anything. rule-engine
/// and risk-control are addresses nobody serves, so only routes that do not call them are driven.
struct InProcessCouponCenter {
    let front: HTTPFront
    let database: PostgresPool
    let auth: AuthService

    /// `environment` is coupon-center's (COUPON_SERVICE_TOKEN, COUPON_LOGIN_MAX_FAILURES, …);
    /// `gated` puts the access check in front of the routes, as the process does (off: the routes
    /// alone, for the tests of what they answer).
    static func with(
        environment: [String: String] = [:], gated: Bool = false, _ body: (InProcessCouponCenter) async throws -> Void
    ) async throws {
        let testDatabase = try await TestDatabase.create(prefix: "inproc")
        let pool = try testDatabase.pool()
        _ = try await PostgresMigrator.apply(CouponMigrations.all, to: pool)
        let redis = RedisPool(config: try RedisConfig(url: try requiredEnvironment("TEST_REDIS_URL"), poolSize: 2))
        let nobody = "tcp://127.0.0.1:\(try freeLocalPort())"
        guard
            case .run(let values) = try ConfigParser.parse(
                program: "coupon-center", summary: "", options: CouponCenterConfiguration.options, arguments: [], environment: environment)
        else { throw TestFailure("the default configuration did not parse") }
        let configuration = try CouponCenterConfiguration(values)
        let dependencies = Dependencies(
            database: pool, redis: redis, ruleEngine: try ServiceClient(service: "rule-engine", urls: [nobody], timeoutMilliseconds: 500),
            riskControl: try ServiceClient(service: "risk-control", urls: [nobody], timeoutMilliseconds: 500), timeoutMilliseconds: 500)
        let logger = Logger(service: "coupon-center", level: .warning)
        let metrics = Metrics()
        let parts = CouponCenterAssembly(configuration, dependencies, logger: logger, metrics: metrics)
        let front = try HTTPFront(
            url: "http://127.0.0.1:0", maxBodyBytes: 65_536, routes: parts.routes, gate: gated ? parts.gate : nil, metrics: metrics, logger: logger)
        // The batched stages run as the process runs them, beside the body.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for stage in parts.stages { group.addTask { try await stage.run() } }
            var failure: (any Error)?
            do {
                try await body(InProcessCouponCenter(front: front, database: pool, auth: parts.auth))
            } catch {
                failure = error
            }
            for stage in parts.stages { await stage.shutdown() }
            try await group.waitForAll()
            await dependencies.close()
            await testDatabase.drop()
            if let failure { throw failure }
        }
    }

    /// One request through the routes; the answer's status and its JSON body.
    func call(_ method: String, _ target: String, _ body: String = "", headers: [String: String] = [:]) async throws -> (
        status: Int, json: JSONValue
    ) {
        let response = await respond(method, target, body, headers: headers)
        return (response.status, try JSONParser.parse(response.body))
    }

    /// The whole answer, header lines included.
    func respond(_ method: String, _ target: String, _ body: String = "", headers: [String: String] = [:]) async -> HTTPResponse {
        let (path, query) =
            if let mark = target.firstIndex(of: "?") { (String(target[..<mark]), String(target[target.index(after: mark)...])) } else {
                (target, "")
            }
        // Header names as the server's parser hands them over: `X-CSRF-Token` arrives as `X-Csrf-Token`.
        let canonical = Dictionary(headers.map { (Self.canonicalName($0.key), $0.value) }) { $1 }
        return await front.respond(to: HTTPRequest(method: method, path: path, query: query, headers: canonical, body: Array(body.utf8)))
    }

    static func canonicalName(_ name: String) -> String {
        name.split(separator: "-", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
            .joined(separator: "-")
    }
}

extension JSONValue {
    var code: Int? { if case .number(let text)? = self["code"] { Int(text) } else { nil } }
    var text: String? { if case .string(let text) = self { text } else { nil } }
}

@Suite struct HTTPRoutesTests {
    static let template = #"""
        {"name":"满200减30","type":"CASH","threshold":200,"discount":30,"startTime":"2026-01-01T00:00:00+08:00",
         "endTime":"2036-01-01T00:00:00+08:00","totalStock":100,"perUserLimit":2}
        """#

    @Test func aTemplateIsCreatedReadPausedAndResumed() async throws {
        try await InProcessCouponCenter.with { center in
            let created = try await center.call("POST", "/api/coupon/template", Self.template)
            #expect(created.status == 200)
            let id = try #require(created.json["templateId"]?.text)
            let read = try await center.call("GET", "/api/coupon/template/\(id)")
            #expect(read.json["name"]?.text == "满200减30")
            #expect(read.json["status"]?.text == "ACTIVE")
            let paused = try await center.call("POST", "/api/coupon/template/\(id)/pause")
            #expect(paused.json["status"]?.text == "PAUSED")
            let resumed = try await center.call("POST", "/api/coupon/template/\(id)/resume")
            #expect(resumed.json["status"]?.text == "ACTIVE")
            let missing = try await center.call("GET", "/api/coupon/template/T-none")
            #expect(missing.status == 404)
            #expect(missing.json.code == Int(ErrorCode.templateNotFound.rawValue))
        }
    }

    @Test func hostileQueriesAndBodiesGetAJSONErrorWithACode() async throws {
        try await InProcessCouponCenter.with { center in
            let cases: [(String, String, String, Int, ErrorCode)] = [
                ("GET", "/api/coupon/list?=", "", 400, .invalidArgument),
                ("GET", "/api/coupon/list?=&&=x&userId=", "", 400, .invalidArgument),
                ("GET", "/api/coupon/stats?=", "", 400, .invalidArgument),
                ("GET", "/api/coupon/list?userId=u&status=LOST", "", 400, .invalidArgument),
                ("POST", "/api/coupon/template", "{", 400, .malformedJSON),
                ("POST", "/api/coupon/template", "[1]", 400, .malformedJSON),
                ("POST", "/api/coupon/template", #"{"name":"x","nope":1}"#, 400, .invalidArgument),
                ("GET", "/api/nowhere", "", 404, .unknownPath),
                ("DELETE", "/api/coupon/template", "", 405, .methodNotAllowed),
            ]
            for (method, target, body, status, code) in cases {
                let answer = try await center.call(method, target, body)
                #expect(answer.status == status, "\(method) \(target)")
                #expect(answer.json.code == Int(code.rawValue), "\(method) \(target): \(answer.json)")
            }
            // Nothing was written by any of them.
            let templates = try await center.database.query("SELECT count(*)::bigint FROM coupon_template")
            #expect(try templates[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test func aPointsGrantRetryGetsItsFirstAnswerAndAnotherRequestIsRefused() async throws {
        try await InProcessCouponCenter.with { center in
            let grant = #"{"userId":"u1","points":70,"requestId":"g-1"}"#
            let first = try await center.call("POST", "/api/points/grant", grant)
            let again = try await center.call("POST", "/api/points/grant", grant)
            #expect(first.json["points"] == .integer(70))
            #expect(again.json["points"] == .integer(70))
            let other = try await center.call("POST", "/api/points/grant", #"{"userId":"u1","points":71,"requestId":"g-1"}"#)
            #expect(other.status == 409)
            #expect(other.json.code == Int(ErrorCode.idempotencyKeyReused.rawValue))
            let balance = try await center.database.query("SELECT points FROM user_points WHERE user_id = 'u1'")
            #expect(try balance[0].decode(0, as: Int64.self) == 70)
        }
    }
}
