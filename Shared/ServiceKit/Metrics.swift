import Synchronization
import Wire

/// Counters and latency histograms, rendered in the Prometheus text format for `/metrics` and
/// summarised per call for the `service_stats` message.
public final class Metrics: Sendable {
    /// Latency bucket upper bounds in microseconds (50 µs … 10 s).
    public static let latencyBucketsMicroseconds: [Int64] = [
        50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 10_000_000,
    ]

    struct SeriesKey: Hashable, Comparable {
        var name: String
        var labels: [String]  // "key=value", sorted

        static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
            (lhs.name, lhs.labels.joined(separator: ",")) < (rhs.name, rhs.labels.joined(separator: ","))
        }
    }

    struct Histogram {
        var buckets = [Int64](repeating: 0, count: Metrics.latencyBucketsMicroseconds.count + 1)
        var count: Int64 = 0
        var sumMicroseconds: Int64 = 0
        var maxMicroseconds: Int64 = 0

        mutating func observe(_ microseconds: Int64) {
            let index =
                Metrics.latencyBucketsMicroseconds.firstIndex { microseconds <= $0 }
                ?? Metrics.latencyBucketsMicroseconds.count
            buckets[index] += 1
            count += 1
            sumMicroseconds += microseconds
            maxMicroseconds = max(maxMicroseconds, microseconds)
        }

        /// The bucket bound under which `fraction` of observations fall (an upper estimate).
        func quantile(_ fraction: Double) -> Int64 {
            guard count > 0 else { return 0 }
            let rank = Int64((Double(count) * fraction).rounded(.up))
            var seen: Int64 = 0
            for (index, bucketCount) in buckets.enumerated() {
                seen += bucketCount
                if seen >= rank {
                    return index < Metrics.latencyBucketsMicroseconds.count
                        ? min(Metrics.latencyBucketsMicroseconds[index], maxMicroseconds) : maxMicroseconds
                }
            }
            return maxMicroseconds
        }
    }

    private struct Store {
        var counters: [SeriesKey: Int64] = [:]
        var gauges: [SeriesKey: Int64] = [:]
        var histograms: [SeriesKey: Histogram] = [:]
        var help: [String: (type: String, text: String)] = [:]
    }

    private let store = Mutex(Store())
    public let namespace: String

    public init(namespace: String = "coupon") {
        self.namespace = namespace
    }

    private func key(_ name: String, _ labels: [(String, String)]) -> SeriesKey {
        SeriesKey(name: "\(namespace)_\(name)", labels: labels.map { "\($0.0)=\($0.1)" }.sorted())
    }

    public func describe(_ name: String, type: String, help: String) {
        store.withLock { $0.help["\(namespace)_\(name)"] = (type, help) }
    }

    public func increment(_ name: String, _ labels: [(String, String)] = [], by amount: Int64 = 1) {
        let key = key(name, labels)
        store.withLock { $0.counters[key, default: 0] += amount }
    }

    public func set(_ name: String, _ labels: [(String, String)] = [], to value: Int64) {
        let key = key(name, labels)
        store.withLock { $0.gauges[key] = value }
    }

    public func observe(_ name: String, _ labels: [(String, String)] = [], microseconds: Int64) {
        let key = key(name, labels)
        store.withLock { $0.histograms[key, default: Histogram()].observe(microseconds) }
    }

    public func counter(_ name: String, _ labels: [(String, String)] = []) -> Int64 {
        let key = key(name, labels)
        return store.withLock { $0.counters[key] ?? 0 }
    }

    /// Prometheus text exposition format 0.0.4.
    public func renderPrometheus() -> String {
        let snapshot = store.withLock { $0 }
        var out = ""
        var described = Set<String>()
        func header(_ name: String, _ fallbackType: String) {
            guard described.insert(name).inserted else { return }
            let help = snapshot.help[name]
            out += "# HELP \(name) \(help?.text ?? name.replacingOccurrences(of: "_", with: " "))\n"
            out += "# TYPE \(name) \(help?.type ?? fallbackType)\n"
        }
        func labelText(_ labels: [String], extra: String? = nil) -> String {
            let parts =
                labels.map { pair -> String in
                    let split = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    return "\(split[0])=\"\(escapeLabel(split.count > 1 ? split[1] : ""))\""
                } + (extra.map { [$0] } ?? [])
            return parts.isEmpty ? "" : "{" + parts.joined(separator: ",") + "}"
        }
        for (key, value) in snapshot.counters.sorted(by: { $0.key < $1.key }) {
            header(key.name, "counter")
            out += "\(key.name)\(labelText(key.labels)) \(value)\n"
        }
        for (key, value) in snapshot.gauges.sorted(by: { $0.key < $1.key }) {
            header(key.name, "gauge")
            out += "\(key.name)\(labelText(key.labels)) \(value)\n"
        }
        for (key, histogram) in snapshot.histograms.sorted(by: { $0.key < $1.key }) {
            let name = key.name
            header(name, "histogram")
            var cumulative: Int64 = 0
            for (index, bound) in Metrics.latencyBucketsMicroseconds.enumerated() {
                cumulative += histogram.buckets[index]
                out += "\(name)_bucket\(labelText(key.labels, extra: "le=\"\(secondsText(bound))\"")) \(cumulative)\n"
            }
            out += "\(name)_bucket\(labelText(key.labels, extra: "le=\"+Inf\"")) \(histogram.count)\n"
            out += "\(name)_sum\(labelText(key.labels)) \(secondsText(histogram.sumMicroseconds))\n"
            out += "\(name)_count\(labelText(key.labels)) \(histogram.count)\n"
        }
        return out
    }

    /// Per-call figures from the `calls_total`, `call_errors_total` and `call_duration_seconds` series.
    public func callStats() -> [CallStats] {
        let snapshot = store.withLock { $0 }
        let durationName = "\(namespace)_call_duration_seconds"
        return snapshot.histograms.filter { $0.key.name == durationName }.sorted(by: { $0.key < $1.key }).map {
            key, histogram in
            let call = key.labels.first { $0.hasPrefix("call=") }.map { String($0.dropFirst(5)) } ?? "?"
            let errors = snapshot.counters.filter {
                $0.key.name == "\(namespace)_call_errors_total" && $0.key.labels.contains("call=\(call)")
            }.values.reduce(0, +)
            return CallStats(
                call: call, count: histogram.count, errors: errors, p50Microseconds: histogram.quantile(0.5),
                p99Microseconds: histogram.quantile(0.99), maxMicroseconds: histogram.maxMicroseconds)
        }
    }
}

/// Seconds with microsecond precision, without going through a binary float.
func secondsText(_ microseconds: Int64) -> String {
    let whole = microseconds / 1_000_000
    let fraction = microseconds % 1_000_000
    guard fraction != 0 else { return "\(whole)" }
    var digits = String(fraction)
    digits = String(repeating: "0", count: 6 - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    return "\(whole).\(digits)"
}

func escapeLabel(_ value: String) -> String {
    value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n")
}
