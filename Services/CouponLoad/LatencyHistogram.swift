/// Latency percentiles with bounded error and fixed memory: log-linear buckets (16 sub-buckets per
/// power of two of microseconds), so p99.9 of a million samples costs a few kilobytes and is within
/// about 6% of the true value.
struct LatencyHistogram: Sendable {
    private static let subBuckets = 16
    private var counts = [Int64](repeating: 0, count: 64 * 16)
    private(set) var count: Int64 = 0
    private(set) var maxMicroseconds: Int64 = 0
    private(set) var sumMicroseconds: Int64 = 0

    private static func index(_ value: Int64) -> Int {
        let v = UInt64(max(value, 1))
        let exponent = 63 - v.leadingZeroBitCount
        guard exponent >= 4 else { return Int(v) }
        let mantissa = Int((v >> UInt64(exponent - 4)) & 0xF)
        return (exponent - 3) * subBuckets + mantissa
    }

    private static func upperBound(_ index: Int) -> Int64 {
        guard index >= subBuckets else { return Int64(index) }
        let exponent = index / subBuckets + 3
        let mantissa = Int64(index % subBuckets)
        return ((16 + mantissa + 1) << Int64(exponent - 4)) - 1
    }

    mutating func record(microseconds: Int64) {
        counts[Self.index(microseconds)] += 1
        count += 1
        sumMicroseconds += microseconds
        maxMicroseconds = max(maxMicroseconds, microseconds)
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sumMicroseconds += other.sumMicroseconds
        maxMicroseconds = max(maxMicroseconds, other.maxMicroseconds)
    }

    func percentile(_ fraction: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = max(1, Int64((Double(count) * fraction).rounded(.up)))
        var seen: Int64 = 0
        for (index, bucket) in counts.enumerated() where bucket > 0 {
            seen += bucket
            if seen >= rank { return min(Self.upperBound(index), maxMicroseconds) }
        }
        return maxMicroseconds
    }
}
