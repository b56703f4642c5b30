import Testing

@testable import ServiceKit

@Suite struct ConfigurationTests {
    let options = [
        ConfigOption("listen", env: "LISTEN_URL", default: "tcp://127.0.0.1:7101", "where"),
        ConfigOption("workers", env: "WORKERS", default: "64", "how many"),
        ConfigOption.switchOption("json", "json output"),
    ]

    func values(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ConfigValues {
        guard
            case .run(let values) = try ConfigParser.parse(
                program: "t", summary: "s", options: options, arguments: arguments, environment: environment)
        else { throw ConfigError("expected values") }
        return values
    }

    @Test func defaultsThenEnvironmentThenFlags() throws {
        #expect(try values([]).int("workers") == 64)
        #expect(try values([], ["WORKERS": "8"]).int("workers") == 8)
        #expect(try values(["--workers", "4"], ["WORKERS": "8"]).int("workers") == 4)
        #expect(try values(["--workers=2"]).int("workers") == 2)
    }

    @Test func switchesTakeNoValue() throws {
        #expect(try values(["--json"]).bool("json"))
        #expect(try !values([]).bool("json"))
        #expect(try !values(["--json=false"]).bool("json"))
    }

    @Test func invalidValuesNameTheFlagAndTheVariable() throws {
        let error = #expect(throws: ConfigError.self) { try values([], ["WORKERS": "many"]).int("workers", in: 1...10) }
        #expect(error?.message.contains("--workers / WORKERS") == true)
        #expect(throws: ConfigError.self) { try values(["--workers", "0"]).int("workers", in: 1...10) }
        #expect(throws: ConfigError.self) { try values(["--listen", "http://x"]).nngURLs("listen") }
        #expect(try values(["--listen", "tcp://a:1, tcp://b:2"]).nngURLs("listen") == ["tcp://a:1", "tcp://b:2"])
    }

    @Test func unknownFlagsAndMissingValuesAreErrors() {
        #expect(throws: ConfigError.self) { try values(["--nope", "1"]) }
        #expect(throws: ConfigError.self) { try values(["--workers"]) }
        #expect(throws: ConfigError.self) { try values(["stray"]) }
    }

    @Test func helpListsEveryOptionWithItsDefaultAndVariable() throws {
        guard case .help(let text) = try ConfigParser.parse(program: "t", summary: "s", options: options, arguments: ["--help"], environment: [:])
        else {
            Issue.record("expected help")
            return
        }
        #expect(text.contains("--listen"))
        #expect(text.contains("[LISTEN_URL]"))
        #expect(text.contains("default: 64"))
    }

    @Test func passwordsAreRedacted() {
        #expect(redacted("postgresql://coupon:s3cret@db:5432/coupon") == "postgresql://coupon:***@db:5432/coupon")
        #expect(redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0")
    }
}

@Suite struct LoggerTests {
    @Test func linesAreLogfmtWithDottedKeys() {
        let sink = LogSink(capturing: true)
        let logger = Logger(service: "rule-engine", level: .info, sink: sink).with([("request.id", "7")])
        logger.debug("hidden")
        logger.info("claim refused", [("template.id", "T 1"), ("reason", "say \"no\"")])
        #expect(sink.captured.count == 1)
        let line = sink.captured[0]
        #expect(line.contains(#"level=info msg="claim refused" service=rule-engine request.id=7 template.id="T 1" reason="say \"no\"""#))
    }
}

@Suite struct MetricsTests {
    @Test func rendersPrometheusTextAndCallStats() {
        let metrics = Metrics(namespace: "t")
        metrics.increment("calls_total", [("call", "ping"), ("code", "OK")])
        metrics.increment("call_errors_total", [("call", "ping"), ("code", "SOLD_OUT")], by: 2)
        for micros: Int64 in [40, 90, 90, 400, 20_000] {
            metrics.observe("call_duration_seconds", [("call", "ping")], microseconds: micros)
        }
        let text = metrics.renderPrometheus()
        #expect(text.contains(#"t_calls_total{call="ping",code="OK"} 1"#))
        #expect(text.contains(#"t_call_duration_seconds_bucket{call="ping",le="0.0001"} 3"#))
        #expect(text.contains(#"t_call_duration_seconds_bucket{call="ping",le="+Inf"} 5"#))
        #expect(text.contains(#"t_call_duration_seconds_sum{call="ping"} 0.02062"#))
        #expect(text.contains("# TYPE t_call_duration_seconds histogram"))
        let stats = metrics.callStats()
        #expect(stats.count == 1)
        #expect(stats[0].count == 5)
        #expect(stats[0].errors == 2)
        #expect(stats[0].p50Microseconds == 100)
        #expect(stats[0].maxMicroseconds == 20_000)
    }
}
