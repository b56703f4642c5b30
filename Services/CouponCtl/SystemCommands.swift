import CouponClient
import ServiceKit
import Wire

/// ping and stats: is each service there, and what has it served.
enum SystemCommands {
    static let all: [Command] = [ping, stats]

    static let ping = Command(
        name: "ping",
        summary: "check that services answer over the wire (all three by default addresses with --all)",
        options: [
            ConfigOption.switchOption("all", "ping coupon-center, rule-engine and risk-control at their configured addresses"),
            ConfigOption("rule-engine-url", env: "RULE_ENGINE_URL", default: "tcp://127.0.0.1:7101", "rule-engine address, with --all"),
            ConfigOption("risk-control-url", env: "RISK_CONTROL_URL", default: "tcp://127.0.0.1:7102", "risk-control address, with --all"),
        ]
    ) { values, output in
        let targets =
            try values.bool("all")
            ? [("coupon-center", "url"), ("rule-engine", "rule-engine-url"), ("risk-control", "risk-control-url")]
            : [("service", "url")]
        var rows: [[String]] = []
        var answers: [JSONValue] = []
        var firstFailure: ServiceError?
        for (label, flag) in targets {
            let client = try values.client(service: label, urlFlag: flag)
            defer { client.close() }
            let started = ContinuousClock.now
            do {
                let pong = try await client.call(PingRequest())
                let micros = (ContinuousClock.now - started).wholeMicroseconds
                let unhealthy = pong.dependencies.filter { !$0.healthy }.map(\.name)
                rows.append([
                    pong.service, client.urls.joined(separator: ","), "up", "\(micros) µs", pong.instance,
                    unhealthy.isEmpty ? "ok" : "degraded: " + unhealthy.joined(separator: ","),
                ])
                answers.append(
                    .object([
                        ("service", .string(pong.service)), ("url", .string(client.urls.joined(separator: ","))),
                        ("up", .bool(true)), ("roundTripMicroseconds", .integer(micros)), ("instance", .string(pong.instance)),
                        ("version", .string(pong.version)), ("uptimeMilliseconds", .integer(pong.uptimeMilliseconds)),
                        (
                            "dependencies",
                            .array(
                                pong.dependencies.map {
                                    .object([("name", .string($0.name)), ("healthy", .bool($0.healthy)), ("detail", .string($0.detail))])
                                })
                        ),
                    ]))
            } catch let error as ServiceError {
                firstFailure = firstFailure ?? error
                rows.append([label, client.urls.joined(separator: ","), "DOWN", "-", "-", error.message])
                answers.append(
                    .object([
                        ("service", .string(label)), ("url", .string(client.urls.joined(separator: ","))), ("up", .bool(false)),
                        ("code", .integer(error.code.rawValue)), ("message", .string(error.message)),
                    ]))
            }
        }
        if output.json {
            output.value(answers.count == 1 ? answers[0] : .array(answers))
        } else {
            output.table(["SERVICE", "URL", "STATE", "ROUND TRIP", "INSTANCE", "DEPENDENCIES"], rows)
        }
        if let firstFailure { throw ServiceError(firstFailure.code, "not every service answered") }
    }

    static let stats = Command(
        name: "stats",
        summary: "per-call counters and latency of one service (--url picks which)",
        options: []
    ) { values, output in
        let client = try values.client(service: "service")
        defer { client.close() }
        let stats = try await client.call(ServiceStatsRequest())
        if output.json {
            output.value(
                .object([
                    ("service", .string(stats.service)),
                    (
                        "calls",
                        .array(
                            stats.calls.map {
                                .object([
                                    ("call", .string($0.call)), ("count", .integer($0.count)), ("errors", .integer($0.errors)),
                                    ("p50Microseconds", .integer($0.p50Microseconds)), ("p99Microseconds", .integer($0.p99Microseconds)),
                                    ("maxMicroseconds", .integer($0.maxMicroseconds)),
                                ])
                            })
                    ),
                ]))
        } else {
            print("service: \(stats.service)")
            output.table(
                ["CALL", "COUNT", "ERRORS", "P50 µs", "P99 µs", "MAX µs"],
                stats.calls.map {
                    [$0.call, "\($0.count)", "\($0.errors)", "\($0.p50Microseconds)", "\($0.p99Microseconds)", "\($0.maxMicroseconds)"]
                })
        }
    }
}
