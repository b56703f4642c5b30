/// Redis Cluster's key space, pure: which of the 16384 slots a key lives in, which master serves a
/// slot (`CLUSTER SLOTS`), and where a `MOVED`/`ASK` error sends a command. No I/O here; the
/// router in `RedisClusterRouter.swift` uses these, and the fuzzer feeds them hostile replies.
public enum RedisClusterSlot {
    public static let count = 16384

    /// CRC16-CCITT as Redis Cluster specifies it (XMODEM: polynomial 0x1021, initial value 0, no
    /// reflection, no final xor). Redis's documented check value: "123456789" → 0x31C3.
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    /// The slot of `key`. With a hash tag (the bytes between the first `{` and the first `}` after
    /// it, when there is at least one byte between them) only the tag is hashed, so
    /// `cc:{T1}:issued` and `cc:{T1}:meta` share a slot. `{}` or an unclosed `{` hash the whole key.
    public static func of(key: [UInt8]) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(crc16(hashed) & 0x3FFF)
    }

    public static func of(key: String) -> Int { of(key: Array(key.utf8)) }
}

/// Where a cluster node sends a command it does not serve: `MOVED` (the slot lives elsewhere now;
/// refresh the map and resend) or `ASK` (the slot is being migrated and this key already moved;
/// send `ASKING` and the command to that node, once, without changing the map).
public enum RedisRedirect: Sendable, Equatable {
    case moved(slot: Int, to: RedisEndpoint)
    case ask(slot: Int, to: RedisEndpoint)

    /// Reads `MOVED 3999 127.0.0.1:6381` / `ASK 3999 [::1]:6381` (or `::1:6381`: the port follows
    /// the last colon). Nil for any other text, including a slot out of range, a port that is not
    /// one, or an empty host (a node configured to hide its endpoint): then the error reaches the
    /// caller as it is.
    public static func parse(_ message: String) -> RedisRedirect? {
        let words = message.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 3, let slot = Int(words[1]), (0..<RedisClusterSlot.count).contains(slot),
            let colon = words[2].lastIndex(of: ":")
        else { return nil }
        var host = words[2][..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, let port = Int(words[2][words[2].index(after: colon)...]), (1...65535).contains(port) else { return nil }
        let endpoint = RedisEndpoint(host: String(host), port: port)
        switch words[0] {
        case "MOVED": return .moved(slot: slot, to: endpoint)
        case "ASK": return .ask(slot: slot, to: endpoint)
        default: return nil
        }
    }
}

/// Which master serves each slot, as one node's `CLUSTER SLOTS` reply says. Replicas are read
/// past: every command goes to a master.
public struct RedisClusterSlotMap: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public let slots: ClosedRange<Int>
        public let master: RedisEndpoint
    }

    public let ranges: [Range]

    /// The master of every slot, nil where no range covers it (a cluster being set up, or slots
    /// of a failed master no replica took over).
    public func masterBySlot() -> [RedisEndpoint?] {
        var bySlot = [RedisEndpoint?](repeating: nil, count: RedisClusterSlot.count)
        for range in ranges {
            for slot in range.slots { bySlot[slot] = range.master }
        }
        return bySlot
    }

    public var masters: [RedisEndpoint] {
        var seen: Set<RedisEndpoint> = []
        return ranges.map(\.master).filter { seen.insert($0).inserted }
    }

    /// Parses `CLUSTER SLOTS`: an array of `[start, end, [host, port, id, …], replica…]`. Pure and
    /// total on any `RedisValue`. An empty host means "the node you asked" (Redis says so when it
    /// does not know its own address), so `answeredBy`'s host stands in for it. Any other shape —
    /// a slot outside 0...16383, start after end, a port outside 1...65535, a host that is not
    /// text, two ranges claiming one slot — throws `unexpectedReply`: routing keys by a map read
    /// wrongly would send them to the wrong node (which answers MOVED, but every time).
    public static func parse(_ reply: RedisValue, answeredBy: RedisEndpoint) throws(RedisError) -> RedisClusterSlotMap {
        func unreadable(_ why: String) -> RedisError {
            RedisError(.unexpectedReply, "CLUSTER SLOTS from \(answeredBy) answered \(reply): \(why)")
        }
        guard let entries = reply.array else { throw unreadable("not an array") }
        var ranges: [Range] = []
        for entry in entries {
            guard let fields = entry.array, fields.count >= 3 else { throw unreadable("an entry is not [start, end, master, …]") }
            guard case .integer(let start) = fields[0], case .integer(let end) = fields[1], 0 <= start, start <= end,
                end < Int64(RedisClusterSlot.count)
            else { throw unreadable("a slot range outside 0...16383 or reversed") }
            guard let node = fields[2].array, node.count >= 2, let hostText = node[0].string, case .integer(let port) = node[1],
                (1...65535).contains(port), hostText.utf8.count <= 255
            else { throw unreadable("a master that is not [host, port, …]") }
            let host = hostText.isEmpty ? answeredBy.host : hostText
            ranges.append(Range(slots: Int(start)...Int(end), master: RedisEndpoint(host: host, port: Int(port))))
        }
        // The ranges are disjoint exactly when no slot is counted twice; checked on the sorted
        // ranges so a hostile reply of many overlapping ranges costs no more than a valid one.
        let sorted = ranges.sorted { $0.slots.lowerBound < $1.slots.lowerBound }
        for (earlier, later) in zip(sorted, sorted.dropFirst()) where later.slots.lowerBound <= earlier.slots.upperBound {
            throw unreadable("slots \(later.slots.lowerBound)... are claimed by two ranges")
        }
        return RedisClusterSlotMap(ranges: sorted)
    }
}
