import ServiceKit
import Wire

/// `GET /health` (each dependency's state; 503 when any is down) and `GET /metrics`.
struct SystemRoutes {
    let dependencies: Dependencies
    let metrics: Metrics

    var routes: [HTTPRoute] {
        [
            HTTPRoute("GET", "/health") { _ in
                let statuses = await dependencies.health()
                let healthy = statuses.allSatisfy(\.healthy)
                let members: [(String, JSONValue)] = [
                    ("status", .string(healthy ? "UP" : "DEGRADED")), ("service", .string("coupon-center")),
                    ("version", .string(ServiceInfo.version)),
                    ("dependencies", .object(statuses.map { ($0.name, .object([("up", .bool($0.healthy)), ("detail", .string($0.detail))])) })),
                ]
                guard healthy else {
                    // Not a success: the same body, with the error code of a dependency being down.
                    let code = ErrorCode.dependencyUnavailable
                    return .json(
                        [("code", .integer(code.rawValue)), ("error", .string(code.name)), ("message", .string("a dependency is down"))] + members,
                        status: code.httpStatus)
                }
                return .json(members)
            },
            HTTPRoute("GET", "/metrics") { _ in
                .text(metrics.renderPrometheus(), contentType: "text/plain; version=0.0.4")
            },
        ]
    }
}
