// libFuzzer target `redis-reply`: the Swift side of every Redis reply, `RedisValue` and its readers
// (Shared/Redis/RedisValue.swift), and every function that turns a reply into an answer: RiskEngine's
// decision, ZREM and WITHSCORES readers (Shared/Risk/RiskEngine.swift), RedisLock's fence and
// ownership readers, RedisPool's SCRIPT LOAD hash, the Sentinel and Cluster readers (CLUSTER SLOTS,
// SENTINEL get-master-addr-by-name, ROLE, the MOVED/ASK text of an error reply and the slot of a
// bulk taken as a key; Shared/Redis/ClusterSlots.swift, RedisSentinelRouter.swift), and coupon-center's reserve verdict
// (Services/CouponCenter/Claims/ReserveVerdict.swift, compiled into this target alone). Deploy/fuzz
// compiles this file, FuzzSupport.swift and ReserveVerdict.swift against the Risk module and the
// modules it imports.
//
// Why this and not the bytes of the socket: the RESP bytes Redis sends are parsed by hiredis's C reader
// (redisReader, in libhiredis), not by Swift; the one Swift step between it and us,
// `RedisConnection.value(of:)`, is private and reads C structs. What Swift does with outside bytes starts
// at `RedisValue`: bulk strings are arbitrary bytes from Redis (values other services or scripts
// stored), and every caller reads them through `int`, `string`, `bytes`, `array` and `isNull`, then
// through one of the decoders, and prints unexpected replies into error messages.
//
// The input is read as RESP2, the way Redis writes replies, into `RedisValue`s (this reader is only
// the fuzzer's way of building values from bytes, so the corpus stays readable: `*2\r\n+OK\r\n$1\r\n7\r\n`).
// For every value and every value nested in it, properties:
//   - `string` of a bulk is non-nil exactly when its bytes are valid UTF-8 (checked against the
//     standard library's validating initializer), and then spells those very bytes;
//   - `int` of a bulk or status is non-nil only for an optional sign and ASCII digits, and it is the
//     number they spell; `int` of an integer reply is that integer; of anything else nil;
//   - `bytes`, `array` and `isNull` answer for their own case only;
//   - describing a value (what the "unexpected reply" errors print) never traps, and a value equals
//     itself;
//   - every decoder either answers what the exact reply of its script or command means, or throws
//     its "cannot read this" error (DEPENDENCY_UNAVAILABLE, or RedisError.unexpectedReply); it never
//     traps and never reads a reply of another shape as an answer. In particular a risk decision
//     is ALLOW, REVIEW or DENY as its reasons (all known, none twice) say, never ALLOW for a reply
//     that is not a list of reasons; a reserve verdict reserves only for exactly {OK, generation}.

import Redis
import Risk
import Wire

func fuzzTarget(_ bytes: [UInt8]) {
    var reader = RESPReader(bytes: bytes)
    while let value = reader.next() {
        check(value, input: bytes)
    }
}

func check(_ value: RedisValue, input: [UInt8]) {
    checkDecoders(value, input: input)
    guard value == value else { propertyFailed("a value differs from itself: \(value)", input: input) }
    _ = String(describing: value)
    switch value {
    case .null:
        guard value.isNull, value.int == nil, value.string == nil, value.bytes == nil, value.array == nil else {
            propertyFailed("null reads as something", input: input)
        }
    case .integer(let number):
        guard value.int == number, value.string == nil, value.bytes == nil, value.array == nil, !value.isNull else {
            propertyFailed("integer \(number) reads as \(String(describing: value.int))", input: input)
        }
    case .bulk(let bulk):
        guard value.bytes == bulk, value.array == nil, !value.isNull else {
            propertyFailed("a bulk reply does not read as its bytes", input: input)
        }
        let valid = String(validating: bulk, as: UTF8.self)
        guard value.string == valid, value.string.map({ Array($0.utf8) == bulk }) ?? true else {
            propertyFailed("bulk \(hex(bulk)) reads as string \(String(describing: value.string?.debugDescription))", input: input)
        }
        checkNumber(value.int, spelledBy: bulk, input: input)
    case .status(let text):
        guard value.string == text, value.bytes == nil, value.array == nil, !value.isNull else {
            propertyFailed("status '\(text)' does not read as its text", input: input)
        }
        checkNumber(value.int, spelledBy: Array(text.utf8), input: input)
    case .error:
        guard value.int == nil, value.string == nil, value.bytes == nil, value.array == nil, !value.isNull else {
            propertyFailed("an error reply reads as a value: \(value)", input: input)
        }
    case .array(let elements):
        guard value.array == elements, value.int == nil, value.string == nil, value.bytes == nil, !value.isNull else {
            propertyFailed("an array reads as something else", input: input)
        }
        for element in elements { check(element, input: input) }
    }
}

// MARK: - Decoders

/// The strings of an array reply's elements, nil if it is not an array or one is not text.
func strings(_ value: RedisValue) -> [String]? {
    guard let elements = value.array else { return nil }
    var texts: [String] = []
    for element in elements {
        guard let text = element.string else { return nil }
        texts.append(text)
    }
    return texts
}

func checkDecoders(_ value: RedisValue, input: [UInt8]) {
    checkRiskDecision(value, input: input)
    checkRemoved(value, input: input)
    checkListEntries(value, input: input)
    checkLock(value, input: input)
    checkScriptHash(value, input: input)
    checkReserveVerdict(value, input: input)
    checkTopology(value, input: input)
}

/// The Sentinel and Cluster readers: each answers within its bounds or throws `unexpectedReply`.
func checkTopology(_ value: RedisValue, input: [UInt8]) {
    let answeredBy = RedisEndpoint(host: "10.0.0.1", port: 7000)
    do {
        let map = try RedisClusterSlotMap.parse(value, answeredBy: answeredBy)
        var claimed = Set<Int>()
        for range in map.ranges {
            guard range.slots.lowerBound >= 0, range.slots.upperBound < RedisClusterSlot.count, (1...65535).contains(range.master.port),
                !range.master.host.isEmpty
            else { propertyFailed("CLUSTER SLOTS \(value) read as the range \(range)", input: input) }
            for slot in range.slots where !claimed.insert(slot).inserted {
                propertyFailed("CLUSTER SLOTS \(value) read with slot \(slot) twice", input: input)
            }
        }
        guard map.masterBySlot().count == RedisClusterSlot.count else { propertyFailed("a slot map of the wrong size", input: input) }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("RedisClusterSlotMap.parse failed with \(error)", input: input) }
    }
    do {
        let master = try RedisSentinelReply.masterAddress(fromReply: value)
        if let master {
            guard let parts = value.array, parts.count == 2, parts[0].string == master.host, !master.host.isEmpty,
                (1...65535).contains(master.port)
            else { propertyFailed("SENTINEL's \(value) read as the master \(master)", input: input) }
        } else if value != .null {
            propertyFailed("SENTINEL's \(value) read as no master", input: input)
        }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("masterAddress(fromReply:) failed with \(error)", input: input) }
    }
    do {
        let isMaster = try RedisSentinelReply.isMaster(roleReply: value)
        guard isMaster == (value.array?.first?.string == "master") else { propertyFailed("ROLE's \(value) read as \(isMaster)", input: input) }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("isMaster(roleReply:) failed with \(error)", input: input) }
    }
    if case .error(let text) = value, let redirect = RedisRedirect.parse(text) {
        let (slot, endpoint): (Int, RedisEndpoint)
        switch redirect {
        case .moved(let at, let to), .ask(let at, let to): (slot, endpoint) = (at, to)
        }
        guard (0..<RedisClusterSlot.count).contains(slot), (1...65535).contains(endpoint.port), !endpoint.host.isEmpty,
            text.hasPrefix("MOVED ") || text.hasPrefix("ASK ")
        else { propertyFailed("the error \(text) read as the redirect \(redirect)", input: input) }
    }
    if case .bulk(let key) = value {
        let slot = RedisClusterSlot.of(key: key)
        guard (0..<RedisClusterSlot.count).contains(slot) else { propertyFailed("key \(hex(key)) has slot \(slot)", input: input) }
    }
}

func expectUnreadable(_ error: ServiceError, _ decoder: String, input: [UInt8]) {
    guard error.code == .dependencyUnavailable else { propertyFailed("\(decoder) failed with \(error)", input: input) }
}

func checkRiskDecision(_ value: RedisValue, input: [UInt8]) {
    let decision: RiskDecision
    do {
        decision = try RiskEngine.decision(fromReply: value)
    } catch {
        expectUnreadable(error, "decision(fromReply:)", input: input)
        return
    }
    guard let reasons = strings(value), reasons == decision.reasons else {
        propertyFailed("\(value) was read as the decision \(decision)", input: input)
    }
    guard Set(reasons).count == reasons.count, reasons.allSatisfy(RiskEngine.knownReasons.contains), (0...1000).contains(decision.score)
    else {
        propertyFailed("decision \(decision): unknown or repeated reasons, or a score out of range", input: input)
    }
    let denials = reasons.filter(RiskEngine.denyReasons.contains).count
    let reviews = reasons.filter(RiskEngine.reviewReasons.contains).count
    let expected: RiskVerdict
    if reasons.contains(RiskEngine.allowListedReason) {
        guard reasons.count == 1 else { propertyFailed("ALLOW_LISTED read among other reasons: \(reasons)", input: input) }
        expected = .allow
    } else {
        expected = denials > 0 ? .deny : reviews > 0 ? .review : .allow
    }
    guard decision.verdict == expected else { propertyFailed("reasons \(reasons) read as \(decision.verdict)", input: input) }
}

func checkRemoved(_ value: RedisValue, input: [UInt8]) {
    do {
        let removed = try RiskEngine.removed(fromReply: value)
        guard value == .integer(removed ? 1 : 0) else { propertyFailed("ZREM's \(value) read as removed=\(removed)", input: input) }
    } catch {
        expectUnreadable(error, "removed(fromReply:)", input: input)
    }
}

let listNow: Int64 = 1_790_000_000_000

func checkListEntries(_ value: RedisValue, input: [UInt8]) {
    let entries: [RiskListEntry]
    do {
        entries = try RiskEngine.listEntries(fromReply: value, list: .block, subject: .ip, nowMilliseconds: listNow)
    } catch {
        expectUnreadable(error, "listEntries(fromReply:)", input: input)
        return
    }
    guard let texts = strings(value), texts.count == entries.count * 2 else {
        propertyFailed("\(value) was read as \(entries.count) list entries", input: input)
    }
    let values = stride(from: 0, to: texts.count, by: 2).map { texts[$0] }
    guard entries.map(\.value).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) == entries.map(\.value),
        Set(entries.map(\.value)) == Set(values)
    else {
        propertyFailed("list entries \(entries) are not the reply's values, sorted", input: input)
    }
    for entry in entries where entry.list != .block || entry.subject != .ip || (entry.expiresMilliseconds.map { $0 <= listNow } ?? false) {
        propertyFailed("list entry \(entry) is of another list, or expired", input: input)
    }
}

func checkLock(_ value: RedisValue, input: [UInt8]) {
    do {
        let fence = try RedisLock.fence(fromReply: value)
        guard fence.map({ $0 >= 1 && value == .integer($0) }) ?? (value == .null) else {
            propertyFailed("the lock script's \(value) read as the fence \(String(describing: fence))", input: input)
        }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("fence(fromReply:) failed with \(error)", input: input) }
    }
    do {
        let owned = try RedisLock.succeeded(fromReply: value)
        guard value == .integer(owned ? 1 : 0) else { propertyFailed("the lock script's \(value) read as \(owned)", input: input) }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("succeeded(fromReply:) failed with \(error)", input: input) }
    }
}

func checkScriptHash(_ value: RedisValue, input: [UInt8]) {
    do {
        let hash = try RedisPool.scriptHash(fromReply: value)
        let hexDigits = Set("0123456789abcdef".utf8)
        guard hash == value.string, hash.utf8.count == 40, hash.utf8.allSatisfy(hexDigits.contains) else {
            propertyFailed("SCRIPT LOAD's \(value) read as the hash \(hash)", input: input)
        }
    } catch {
        guard error.code == .unexpectedReply else { propertyFailed("scriptHash(fromReply:) failed with \(error)", input: input) }
    }
}

func checkReserveVerdict(_ value: RedisValue, input: [UInt8]) {
    let verdict: ReserveVerdict
    do {
        verdict = try ReserveVerdict.decode(fromReply: value)
    } catch {
        expectUnreadable(error, "ReserveVerdict.decode", input: input)
        return
    }
    guard let texts = strings(value), texts.count == 2 else { propertyFailed("\(value) was read as the verdict \(verdict)", input: input) }
    let expected: [String: ReserveVerdict] = [
        "LOCKED": .locked, "SOLD_OUT": .refused(.soldOut), "DAILY_LIMIT": .refused(.dailyLimitReached),
        "PER_USER_LIMIT": .refused(.perUserLimitReached), "BUDGET_EXHAUSTED": .refused(.budgetExhausted),
        "RELOAD_TEMPLATE": .reload(.template), "RELOAD_DAY": .reload(.day), "RELOAD_USER": .reload(.user),
    ]
    switch verdict {
    case .reserved(let generation):
        // The one answer that lets a claim on to PostgreSQL: exactly the script's OK.
        guard texts[0] == "OK", !generation.isEmpty, generation == texts[1] else {
            propertyFailed("\(value) was read as a reservation", input: input)
        }
    default:
        guard expected[texts[0]] == verdict else { propertyFailed("\(value) was read as \(verdict)", input: input) }
    }
}

/// `int` read from text: a number only for `[+-]digits` that fit in Int64, and then the number the
/// digits spell (computed here digit by digit, not with `Int64(String)` which `int` itself uses).
func checkNumber(_ number: Int64?, spelledBy text: [UInt8], input: [UInt8]) {
    let negative = text.first == UInt8(ascii: "-")
    let digits = text.first == UInt8(ascii: "-") || text.first == UInt8(ascii: "+") ? text.dropFirst() : text[...]
    var expected: Int64? = digits.isEmpty ? nil : 0
    for digit in digits {
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9"), let sofar = expected else {
            expected = nil
            break
        }
        let (shifted, overflowMultiplying) = sofar.multipliedReportingOverflow(by: 10)
        let step = Int64(digit - UInt8(ascii: "0"))
        let (sum, overflowAdding) = negative ? shifted.subtractingReportingOverflow(step) : shifted.addingReportingOverflow(step)
        expected = overflowMultiplying || overflowAdding ? nil : sum
    }
    guard number == expected else {
        propertyFailed("\(hex(text)) reads as the number \(String(describing: number)), not \(String(describing: expected))", input: input)
    }
}

/// RESP2 as Redis writes replies: `+status`, `-error`, `:integer`, `$length` bulk (`$-1` null) and
/// `*count` arrays (`*-1` null), each header line ending in CRLF. Stops at the first malformed reply.
struct RESPReader {
    static let maxDepth = 16
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func next() -> RedisValue? {
        guard index < bytes.count else { return nil }
        return value(depth: 0)
    }

    private mutating func value(depth: Int) -> RedisValue? {
        guard depth <= Self.maxDepth, index < bytes.count else { return nil }
        let kind = bytes[index]
        index += 1
        guard let line = line() else { return nil }
        switch kind {
        case UInt8(ascii: "+"): return .status(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"): return Int64(String(decoding: line, as: UTF8.self)).map(RedisValue.integer)
        case UInt8(ascii: "$"):
            guard let length = Int(String(decoding: line, as: UTF8.self)) else { return nil }
            if length == -1 { return .null }
            guard length >= 0, length <= bytes.count - index - 2 else { return nil }
            let bulk = Array(bytes[index..<(index + length)])
            index += length
            guard bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n") else { return nil }
            index += 2
            return .bulk(bulk)
        case UInt8(ascii: "*"):
            guard let count = Int(String(decoding: line, as: UTF8.self)) else { return nil }
            if count == -1 { return .null }
            // Every element takes at least three bytes (`+\r\n`), so a count past that is a lie.
            guard count >= 0, count <= (bytes.count - index) / 3 else { return nil }
            var elements: [RedisValue] = []
            for _ in 0..<count {
                guard let element = value(depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            return nil
        }
    }

    /// The bytes up to the next CRLF, which is consumed.
    private mutating func line() -> ArraySlice<UInt8>? {
        var end = index
        while end + 1 < bytes.count {
            if bytes[end] == UInt8(ascii: "\r") && bytes[end + 1] == UInt8(ascii: "\n") {
                let line = bytes[index..<end]
                index = end + 2
                return line
            }
            end += 1
        }
        return nil
    }
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let replies: [(String, [UInt8])] = [
        ("reserve-ok", Array("*2\r\n+OK\r\n$6\r\ngen-42\r\n".utf8)),
        ("reserve-verdicts", Array("*1\r\n$6\r\nLOCKED\r\n*1\r\n$8\r\nSOLD_OUT\r\n*1\r\n$15\r\nRELOAD_TEMPLATE\r\n".utf8)),
        ("risk-reasons", Array("*3\r\n$12\r\nALLOW_LISTED\r\n$12\r\nBLOCKED_USER\r\n$13\r\nUSER_VELOCITY\r\n".utf8)),
        ("list-withscores", Array("*4\r\n$3\r\nu-1\r\n$13\r\n1790000000000\r\n$3\r\nu-2\r\n$7\r\n1.5e+12\r\n".utf8)),
        ("counters", Array(":-9223372036854775808\r\n$19\r\n9223372036854775807\r\n$2\r\n+7\r\n$3\r\n 12\r\n+123\r\n".utf8)),
        ("null-and-errors", Array("$-1\r\n*-1\r\n*2\r\n-ERR nested\r\n*0\r\n-NOSCRIPT No matching script\r\n".utf8)),
        ("not-utf8", Array("$4\r\n".utf8) + [0xC3, 0x28, 0xFF, 0x80] + Array("\r\n$4\r\n".utf8) + Array("满".utf8) + [0x35] + Array("\r\n".utf8)),
        ("nested", Array(String(repeating: "*1\r\n", count: 12).utf8) + Array(":1\r\n".utf8)),
        (
            "risk-decisions",
            Array("*0\r\n*1\r\n$12\r\nALLOW_LISTED\r\n*1\r\n$22\r\nNEW_ACCOUNT_HIGH_VALUE\r\n".utf8)
                + Array("*2\r\n$11\r\nIP_ACCOUNTS\r\n$11\r\nIP_ACCOUNTS\r\n".utf8)
        ),
        ("zrem-and-lock", Array(":0\r\n:1\r\n:2\r\n:-1\r\n$1\r\n1\r\n".utf8)),
        ("script-hash", Array("$40\r\n8fd2ffa0ec6ef1a3bd0c1f3e27b9a6c1d4e5f607\r\n+8FD2FFA0EC6EF1A3BD0C1F3E27B9A6C1D4E5F607\r\n".utf8)),
        (
            "reserve-answers",
            Array("*2\r\n$2\r\nOK\r\n$0\r\n\r\n*2\r\n$6\r\nLOCKED\r\n$0\r\n\r\n".utf8)
                + Array("*2\r\n$10\r\nRELOAD_DAY\r\n$3\r\ng-1\r\n*3\r\n+OK\r\n+g\r\n+x\r\n".utf8)
        ),
    ]
    return replies
}
