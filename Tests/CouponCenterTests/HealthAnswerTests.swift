import CouponClient
import Messaging
import Postgres
import Redis
import ServiceKit
import TestSupport
import Testing
import Wire

@testable import CouponCenter

/// `/health` when its dependencies are down, through the same `HTTPDispatcher` the server uses. No
/// server is needed: PostgreSQL is a unix socket in a directory that does not exist, Redis a port
/// nobody listens on, rule-engine and risk-control addresses nobody serves. Found by the
/// coupon-center fuzzer (Tests/Fuzz/Crashers/coupon-center): the degraded answer lacked `error`,
/// and its details were libpq's and hiredis's own messages (socket paths, addresses).
@Suite struct HealthAnswerTests {
    @Test func aDegradedHealthAnswerNamesItsErrorAndShowsNoLibraryText() async throws {
        let nobody = "tcp://127.0.0.1:\(try freeLocalPort())"
        let dependencies = Dependencies(
            database: PostgresPool(config: try PostgresConfig(host: "/nonexistent/coupon-health-test", user: "test", database: "coupon")),
            redis: RedisPool(config: try RedisConfig(url: "redis://127.0.0.1:\(try freeLocalPort())/0", poolSize: 1)),
            ruleEngine: try ServiceClient(service: "rule-engine", urls: [nobody], timeoutMilliseconds: 200),
            riskControl: try ServiceClient(service: "risk-control", urls: [nobody], timeoutMilliseconds: 200), timeoutMilliseconds: 200)
        let metrics = Metrics()
        let dispatcher = HTTPDispatcher(
            routes: SystemRoutes(dependencies: dependencies, metrics: metrics).routes, metrics: metrics,
            logger: Logger(service: "coupon-center", level: .error), errorPolicy: ErrorPolicy(translate: translateDependencyError))

        let response = await dispatcher.respond(to: HTTPRequest(method: "GET", path: "/health"))
        let text = String(decoding: response.body, as: UTF8.self)
        let answer = try JSONParser.parse(response.body)
        #expect(response.status == 503)
        #expect(answer["code"] == .integer(ErrorCode.dependencyUnavailable.rawValue))
        #expect(answer["error"] == .string("DEPENDENCY_UNAVAILABLE"))
        #expect(answer["message"] == .string("a dependency is down"))
        #expect(answer["dependencies"]?["postgres"]?["detail"] == .string("PostgreSQL: connectionFailed"))
        #expect(answer["dependencies"]?["redis"]?["detail"] == .string("Redis: connectionFailed"))
        for libraryText in [".s.PGSQL", "nonexistent", "No such file", "Connection refused", "127.0.0.1"] {
            #expect(!text.contains(libraryText), "the health answer shows '\(libraryText)': \(text)")
        }
        await dependencies.close()
    }

    @Test func aFailedProbeIsDescribedInOurWords() throws {
        #expect(Dependencies.healthDetail(ServiceError(.deadlineExceeded, "no answer within 5 ms")) == "DEADLINE_EXCEEDED: no answer within 5 ms")
        #expect(Dependencies.healthDetail(PostgresError(code: .connectionFailed, message: "socket /run/x failed")) == "PostgreSQL: connectionFailed")
        #expect(Dependencies.healthDetail(RedisError(.timeout, "reading from 10.0.0.7:6379")) == "Redis: timeout")
    }
}
