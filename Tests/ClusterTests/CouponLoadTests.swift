import Foundation
import TestSupport
import Testing
import Wire

/// coupon-load as the bench runs it: a process against a real cluster, its JSON summary and its
/// invariant check.
@Suite(.serialized) struct CouponLoadTests {
    func load(_ cluster: TestCluster, _ arguments: [String], url: String? = nil) async throws -> JSONValue {
        let result = try await runTool(
            "coupon-load",
            arguments + [
                "--url", url ?? cluster.couponCenterURLs[0], "--json", "--progress=false",
                "--timeout-ms", String(Patience.callMilliseconds),
            ])
        #expect(result.status == 0, "\(arguments): \(result.output)")
        guard let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw TestFailure("no JSON summary from coupon-load \(arguments): \(result.output)")
        }
        return try JSONParser.parse(Array(line.utf8))
    }

    func invariantHeld(_ summary: JSONValue) -> Bool {
        guard case .array(let lines)? = summary["invariant"] else { return false }
        return lines.contains { if case .string(let text) = $0 { text.hasPrefix("invariant: ok") } else { false } }
    }

    @Test func scenariosReportThroughputLatencyErrorsAndInvariants() async throws {
        try await TestCluster.with { cluster in
            // A claim storm on a small stock: exactly the stock succeeds, the rest are SOLD_OUT.
            let storm = try await load(
                cluster, ["--scenario", "claim", "--requests", "300", "--concurrency", "32", "--stock", "50", "--users", "300", "--per-user", "1"])
            #expect(storm["ok"] == .number("50"))
            #expect(storm["errors"]?["SOLD_OUT"] == .number("250"))
            #expect(invariantHeld(storm))
            for key in ["p50Microseconds", "p90Microseconds", "p99Microseconds", "p999Microseconds", "maxMicroseconds", "throughput"] {
                #expect(storm[key] != nil, "summary lacks \(key)")
            }

            let mixed = try await load(cluster, ["--scenario", "mixed", "--requests", "200", "--concurrency", "16"])
            #expect(mixed["ok"] == .number("200"), "\(mixed.serialized())")
            #expect(invariantHeld(mixed))

            let redeem = try await load(cluster, ["--scenario", "redeem", "--requests", "200", "--concurrency", "16"])
            #expect(redeem["ok"] == .number("200"))
            #expect(invariantHeld(redeem))

            let best = try await load(cluster, ["--scenario", "best", "--requests", "100", "--concurrency", "8"])
            #expect(best["ok"] == .number("100"))

            // Straight to rule-engine, with the computation timed in process as well.
            let engine = try await load(
                cluster, ["--scenario", "best-engine", "--requests", "100", "--concurrency", "4"], url: cluster.ruleEngineURL)
            #expect(engine["ok"] == .number("100"), "\(engine.serialized())")
            guard case .number(let compute)? = engine["figures"]?["computeMicrosecondsPerBest"], let micros = Int(compute) else {
                throw TestFailure("no compute figure: \(engine.serialized())")
            }
            // Measured, not judged: how fast one computation is depends on the machine.
            #expect(micros > 0)

            let bad = try await runTool("coupon-load", ["--scenario", "nope"])
            #expect(bad.status == 2)
        }
    }
}
