/// Unguessable ids in Crockford base 32: random ones, and ones that sort by creation time.
public enum RandomIdentifier {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// `prefix` then `bytes` random bytes in Crockford base 32. The bytes come eight at a time from
    /// the system's generator (one call each, not one per byte).
    public static func make(prefix: String, bytes: Int) -> String {
        var text = Array(prefix.utf8)
        appendRandom(bytes, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// `prefix`, the current Unix millisecond in 10 base-32 digits, then `randomBytes` random bytes:
    /// ids that sort by creation time, so a table keyed by them grows at the end of its index (as a
    /// sequence would) instead of touching a random page of a large index on every insert. With 10
    /// random bytes (80 bits) per millisecond they stay unguessable and do not collide.
    public static func timeOrdered(prefix: String, nowMilliseconds: Int64, randomBytes: Int = 10) -> String {
        var text = Array(prefix.utf8)
        let time = UInt64(max(0, nowMilliseconds))
        for shift in stride(from: 45, through: 0, by: -5) {
            text.append(alphabet[Int((time >> UInt64(shift)) & 31)])
        }
        appendRandom(randomBytes, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    private static func appendRandom(_ bytes: Int, to text: inout [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        text.reserveCapacity(text.count + (bytes * 8 + 4) / 5)
        var pool: UInt64 = 0
        var poolBytes = 0
        var bits: UInt64 = 0
        var count = 0
        for _ in 0..<bytes {
            if poolBytes == 0 {
                pool = generator.next()
                poolBytes = 8
            }
            bits = (bits << 8) | (pool & 0xFF)
            pool >>= 8
            poolBytes -= 1
            count += 8
            while count >= 5 {
                count -= 5
                text.append(alphabet[Int((bits >> UInt64(count)) & 31)])
            }
        }
        if count > 0 { text.append(alphabet[Int((bits << UInt64(5 - count)) & 31)]) }
    }
}
