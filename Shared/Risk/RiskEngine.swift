import Redis
import ServiceKit
import Synchronization
import Wire

/// ALLOW / REVIEW / DENY for one claim, redemption or exchange, from counters and lists in Redis.
///
/// One decision is one `EVALSHA` of `decideScript`, so the whole decision is atomic: concurrent
/// requests cannot both take the last slot of a window or the last account of a device. The script
/// first checks every rule without writing anything that counts, and only when no rule denies does it
/// record the request (the account in the per-day sets, the event in the velocity windows). A denied
/// request therefore never uses up a slot that a later legitimate one would need.
///
/// Keys (all under `risk:`):
/// - `risk:list:{BLOCK|ALLOW}:{USER|DEVICE|IP}`: sorted set, member = value, score = expiry (ms).
/// - `risk:acct:{dev|ip|net}:{day}:{key}`: set of user ids seen on that device / IP / IPv4 /24 on
///   that UTC day (day = days since 1970-01-01), expiring after two days.
/// - `risk:vel:{action}:{user|dev|ip|net}:{key}`: sorted set of event times (exact sliding window).
/// - `risk:first:{user}`: when the user was first seen (ms), kept 90 days.
/// - `risk:fail:{user|ip}:{key}`: sorted set of failed-redemption times, written by `report`.
///
/// One decision's script reads and writes keys of the user, the device and the IP together, and a
/// Redis Cluster runs a script only on keys of one slot: over a `redis-cluster://` URL every key
/// is written `risk:{risk}:…` (`placed`), so all of risk-control's keys share one hash tag, and
/// with it one slot and one master. Over the other URLs the names are as above.
///
/// An absent `deviceId` / `ip` switches off the rules keyed on it; `/24` rules apply only to an
/// `ip` that is a dotted-quad IPv4 address. A limit of 0 switches its rule off. Every text field is
/// checked by `RiskInput` first (an empty one is refused, not read as absent), and all arithmetic
/// on rule and request values is checked: an overflow refuses the call, it never traps.
public final class RiskEngine: Sendable {
    private let redis: RedisPool
    private let metrics: Metrics
    private let current: Mutex<RiskRules>

    /// Score of a list entry that never expires: 2^53 − 1, the largest integer a Redis score (a
    /// double) holds exactly.
    static let noExpiry: Int64 = 9_007_199_254_740_991
    static let millisecondsPerHour: Int64 = 3_600_000
    static let millisecondsPerDay: Int64 = 24 * millisecondsPerHour
    static let firstSeenTTLMilliseconds: Int64 = 90 * millisecondsPerDay
    /// Velocity and failure windows live a little longer than their window in Redis's own clock, so
    /// a caller's clock slightly ahead of Redis's never loses events still inside the window.
    static let expirySlackMilliseconds: Int64 = 60_000
    /// The most failures a user's or an IP's window keeps (only "at least the limit" matters).
    static let maxFailuresKept = 10_000

    public static let reviewReasons: Set<String> = ["NEW_ACCOUNT_HIGH_VALUE"]

    /// `risk:`, or `risk:{risk}:` in a Redis Cluster (see the type's comment).
    private let keyPrefix: String

    public init(redis: RedisPool, rules: RiskRules, metrics: Metrics) {
        self.redis = redis
        if case .cluster = redis.config.topology { keyPrefix = "risk:{risk}:" } else { keyPrefix = "risk:" }
        self.metrics = metrics
        current = Mutex(rules)
    }

    public var rules: RiskRules { current.withLock { $0 } }

    /// Takes effect from the next decision; a decision already running keeps the rules it read.
    public func replaceRules(_ rules: RiskRules) {
        current.withLock { $0 = rules }
    }

    // MARK: - Decisions

    /// Every check and every count of one decision, run atomically.
    ///
    /// KEYS[i] belongs to operation i, whose five arguments follow the three shared ones
    /// (now, user id, unique velocity member): kind, reason, a, b, c.
    /// - allow (a = listed value): a live entry answers ALLOW_LISTED at once.
    /// - block (a = listed value): live entries are collected; any → answer them (nothing counted).
    /// - accounts (a = limit): a user not yet in the set whose size is at the limit is denied.
    /// - velocity (a = cutoff, b = limit, c = ttl ms): events at or before the cutoff are dropped;
    ///   a full window denies.
    /// - new (a = age in ms under which the account is new, b = '1' when the request is high value):
    ///   records the first sighting; a new account asking for something valuable is reviewed.
    /// - probe (a = cutoff, b = limit): failures still in the window at the limit deny.
    /// When nothing denied, the user joins every accounts set and the event enters every window.
    static let decideScript = RedisScript(
        """
        local now = tonumber(ARGV[1])
        local user, member = ARGV[2], ARGV[3]
        local function op(i)
            local base = 3 + (i - 1) * 5
            return ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4], ARGV[base + 5]
        end
        for i = 1, #KEYS do
            local kind, _, value = op(i)
            if kind == 'allow' then
                local expiry = redis.call('ZSCORE', KEYS[i], value)
                if expiry and tonumber(expiry) > now then return {'ALLOW_LISTED'} end
            end
        end
        local reasons = {}
        for i = 1, #KEYS do
            local kind, reason, value = op(i)
            if kind == 'block' then
                local expiry = redis.call('ZSCORE', KEYS[i], value)
                if expiry and tonumber(expiry) > now then reasons[#reasons + 1] = reason end
            end
        end
        if #reasons > 0 then return reasons end
        local denied = false
        local record = {}
        for i = 1, #KEYS do
            local kind, reason, a, b = op(i)
            if kind == 'accounts' then
                if redis.call('SISMEMBER', KEYS[i], user) == 0 then
                    if redis.call('SCARD', KEYS[i]) >= tonumber(a) then
                        reasons[#reasons + 1] = reason
                        denied = true
                    else
                        record[#record + 1] = i
                    end
                end
            elseif kind == 'velocity' then
                redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', a)
                if redis.call('ZCARD', KEYS[i]) >= tonumber(b) then
                    reasons[#reasons + 1] = reason
                    denied = true
                else
                    record[#record + 1] = i
                end
            elseif kind == 'new' then
                redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', '\(firstSeenTTLMilliseconds)')
                local first = tonumber(redis.call('GET', KEYS[i])) or now
                if b == '1' and now - first < tonumber(a) then reasons[#reasons + 1] = reason end
            elseif kind == 'probe' then
                redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', a)
                if redis.call('ZCARD', KEYS[i]) >= tonumber(b) then
                    reasons[#reasons + 1] = reason
                    denied = true
                end
            end
        end
        if not denied then
            for _, i in ipairs(record) do
                local kind, _, _, _, ttl = op(i)
                if kind == 'accounts' then
                    redis.call('SADD', KEYS[i], user)
                    redis.call('EXPIRE', KEYS[i], 172800)
                else
                    redis.call('ZADD', KEYS[i], ARGV[1], member)
                    redis.call('PEXPIRE', KEYS[i], ttl)
                end
            end
        end
        return reasons
        """)

    private struct Operation {
        var key: String
        var kind: String
        var reason: String
        var a = ""
        var b = ""
        var c = ""
    }

    /// What one decision runs `decideScript` with.
    struct DecisionCall {
        var keys: [String]
        var args: [String]
    }

    /// One decision: `EVALSHA` of `decideScript`.
    public func decide(_ request: RiskDecisionRequest, nowMilliseconds now: Int64) async throws -> RiskDecision {
        let call = try Self.decisionCall(request, rules: rules, nowMilliseconds: now)
        let reply = try await redis.evaluate(Self.decideScript, keys: call.keys.map(placed), args: call.args)
        return count(try Self.decision(fromReply: reply), action: request.action)
    }

    /// Many decisions in one Redis round trip (`risk_decide_batch`). Each answer is what the same
    /// request alone would get had the requests been sent one by one in this order: the script runs
    /// once per request, in order, with the rules as they were when the batch started. A request
    /// that is invalid, or whose script call fails, fails alone; a transport failure fails the batch.
    public func decide(_ batch: RiskDecisionBatchRequest, nowMilliseconds now: Int64) async throws -> RiskDecisionBatch {
        let limit = RiskDecisionBatchRequest.maxDecisions
        guard batch.decisions.count <= limit else {
            throw ServiceError(.invalidArgument, "decisions: \(batch.decisions.count) in one batch, at most \(limit)")
        }
        let rules = self.rules
        let built = batch.decisions.map { request in
            Result { () throws(ServiceError) in try Self.decisionCall(request, rules: rules, nowMilliseconds: now) }
        }
        let calls = built.compactMap { try? $0.get() }
        var replies = try await redis.evaluateMany(Self.decideScript, calls.map { (keys: $0.keys.map(placed), args: $0.args) })
            .makeIterator()

        var results: [RiskDecisionOutcome] = []
        results.reserveCapacity(built.count)
        for (request, call) in zip(batch.decisions, built) {
            if case .failure(let error) = call {
                results.append(.failed(error))
                continue
            }
            guard let reply = replies.next() else {
                throw ServiceError(.internalError, "the risk decision pipeline answered fewer calls than it was sent")
            }
            switch reply {
            case .success(let value):
                do throws(ServiceError) {
                    results.append(.decided(count(try Self.decision(fromReply: value), action: request.action)))
                } catch {
                    results.append(.failed(error))
                }
            case .failure(let error):
                // A single decision throws the RedisError itself; risk-control answers both with
                // DEPENDENCY_UNAVAILABLE and a generic message, and logs this text
                // (Services/RiskControl/CallerFacingErrors.swift).
                results.append(.failed(ServiceError(.dependencyUnavailable, "Redis is unavailable: \(error)")))
            }
        }
        return RiskDecisionBatch(results: results)
    }

    /// The keys and arguments of one decision. Pure apart from the random velocity member; throws
    /// `invalidArgument` for a request no decision can be made for.
    static func decisionCall(
        _ request: RiskDecisionRequest, rules: RiskRules, nowMilliseconds now: Int64
    ) throws(ServiceError) -> DecisionCall {
        try RiskInput.validate(request)
        let user = request.userId
        let device = request.deviceId
        let ip = request.ip
        let subnet = ip.flatMap(Self.subnet24)
        let day = String(Self.floorDivide(now, millisecondsPerDay))
        let action = request.action.rawValue

        var operations: [Operation] = []
        let subjects: [(RiskSubject, String?, String)] = [
            (.user, user, "BLOCKED_USER"), (.device, device, "BLOCKED_DEVICE"), (.ip, ip, "BLOCKED_IP"),
        ]
        for (subject, value, _) in subjects {
            if let value { operations.append(Operation(key: Self.listKey(.allow, subject), kind: "allow", reason: "", a: value)) }
        }
        for (subject, value, reason) in subjects {
            if let value { operations.append(Operation(key: Self.listKey(.block, subject), kind: "block", reason: reason, a: value)) }
        }

        let accounts: [(String, String?, Int32, String)] = [
            ("dev", device, rules.accountsPerDevicePerDay, "DEVICE_ACCOUNTS"),
            ("ip", ip, rules.accountsPerIPPerDay, "IP_ACCOUNTS"),
            ("net", subnet, rules.accountsPerSubnetPerDay, "SUBNET_ACCOUNTS"),
        ]
        for (kind, value, limit, reason) in accounts {
            guard let value, limit > 0 else { continue }
            operations.append(Operation(key: "risk:acct:\(kind):\(day):\(value)", kind: "accounts", reason: reason, a: String(limit)))
        }

        if rules.velocityWindowSeconds > 0 {
            let window = try Self.milliseconds(seconds: rules.velocityWindowSeconds, field: "velocityWindowSeconds")
            let cutoff = String(try Self.checked(now.subtractingReportingOverflow(window), "velocityWindowSeconds"))
            let ttl = String(try Self.checked(window.addingReportingOverflow(Self.expirySlackMilliseconds), "velocityWindowSeconds"))
            let velocity: [(String, String?, Int32, String)] = [
                ("user", user, rules.userLimitPerWindow, "USER_VELOCITY"),
                ("dev", device, rules.deviceLimitPerWindow, "DEVICE_VELOCITY"),
                ("ip", ip, rules.ipLimitPerWindow, "IP_VELOCITY"),
                ("net", subnet, rules.subnetLimitPerWindow, "SUBNET_VELOCITY"),
            ]
            for (kind, value, limit, reason) in velocity {
                guard let value, limit > 0 else { continue }
                operations.append(
                    Operation(
                        key: "risk:vel:\(action):\(kind):\(value)", kind: "velocity", reason: reason, a: cutoff, b: String(limit), c: ttl))
            }
        }

        if rules.newAccountHours > 0 {
            // Only taking a coupon (claim, exchange) is reviewed; redeeming one the account already
            // holds is not. Every action still records when the account was first seen.
            let valuable =
                request.action != .redeem
                && (request.couponType == .free || (rules.highValueCents > 0 && request.amountCents >= rules.highValueCents))
            operations.append(
                Operation(
                    key: "risk:first:\(user)", kind: "new", reason: "NEW_ACCOUNT_HIGH_VALUE",
                    a: String(try Self.checked(Int64(rules.newAccountHours).multipliedReportingOverflow(by: millisecondsPerHour), "newAccountHours")),
                    b: valuable ? "1" : "0"))
        }

        if rules.failedRedemptionsPerWindow > 0, rules.failedRedemptionWindowSeconds > 0 {
            let window = try Self.milliseconds(seconds: rules.failedRedemptionWindowSeconds, field: "failedRedemptionWindowSeconds")
            let cutoff = String(try Self.checked(now.subtractingReportingOverflow(window), "failedRedemptionWindowSeconds"))
            let limit = String(rules.failedRedemptionsPerWindow)
            operations.append(Operation(key: Self.failureKey("user", user), kind: "probe", reason: "USER_PROBING", a: cutoff, b: limit))
            if let ip {
                operations.append(Operation(key: Self.failureKey("ip", ip), kind: "probe", reason: "IP_PROBING", a: cutoff, b: limit))
            }
        }

        var args = [String(now), user, Self.uniqueMember(now)]
        args.reserveCapacity(3 + operations.count * 5)
        for operation in operations {
            args += [operation.kind, operation.reason, operation.a, operation.b, operation.c]
        }
        return DecisionCall(keys: operations.map(\.key), args: args)
    }

    /// Counts a decision read from the script's reply in the metrics, and passes it on.
    private func count(_ decision: RiskDecision, action: RiskAction) -> RiskDecision {
        for reason in decision.reasons {
            metrics.increment("risk_rule_fired_total", [("rule", reason)])
        }
        metrics.increment("risk_decisions_total", [("action", action.rawValue), ("verdict", decision.verdict.rawValue)])
        return decision
    }

    // MARK: - Failed redemptions

    /// Adds one failure to each window; KEYS are the windows. ARGV: now, unique member, cutoff,
    /// ttl ms, how many to keep at most.
    static let reportScript = RedisScript(
        """
        for i = 1, #KEYS do
            redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[3])
            redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
            redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[5]) + 1))
            redis.call('PEXPIRE', KEYS[i], ARGV[4])
        end
        return #KEYS
        """)

    /// The outcome codes of a redemption that suggest someone is guessing coupon ids.
    public static let probingCodes: Set<ErrorCode> = [.couponNotFound, .notOwner, .couponAlreadyUsed, .couponExpired]

    /// Counts a failed redemption against the user and the IP; answers whether it was counted.
    public func report(_ report: RiskReportRequest, nowMilliseconds now: Int64) async throws -> Bool {
        try RiskInput.validate(report)
        guard report.action == .redeem, Self.probingCodes.contains(report.code) else { return false }
        let rules = self.rules
        guard rules.failedRedemptionWindowSeconds > 0, rules.failedRedemptionsPerWindow > 0 else { return false }
        var keys: [String] = []
        if let user = report.userId { keys.append(Self.failureKey("user", user)) }
        if let ip = report.ip { keys.append(Self.failureKey("ip", ip)) }
        guard !keys.isEmpty else { return false }
        let field = "failedRedemptionWindowSeconds"
        let window = try Self.milliseconds(seconds: rules.failedRedemptionWindowSeconds, field: field)
        let cutoff = try Self.checked(now.subtractingReportingOverflow(window), field)
        let ttl = try Self.checked(window.addingReportingOverflow(Self.expirySlackMilliseconds), field)
        _ = try await redis.evaluate(
            Self.reportScript, keys: keys.map(placed),
            args: [String(now), Self.uniqueMember(now), String(cutoff), String(ttl), String(Self.maxFailuresKept)])
        metrics.increment("risk_failures_reported_total")
        return true
    }

    // MARK: - Allow and block lists

    public func add(_ request: AddRiskListEntryRequest, nowMilliseconds now: Int64) async throws -> RiskListEntry {
        try RiskInput.validate(listValue: request.value)
        var expires: Int64?
        if let ttl = request.ttlSeconds {
            guard ttl > 0 else { throw ServiceError(.invalidArgument, "ttlSeconds: must be positive, got \(ttl)") }
            let (milliseconds, overflow) = ttl.multipliedReportingOverflow(by: 1000)
            let (expiry, late) = now.addingReportingOverflow(milliseconds)
            guard !overflow, !late, expiry < Self.noExpiry else {
                throw ServiceError(.invalidArgument, "ttlSeconds: \(ttl) is too large")
            }
            expires = expiry
        }
        _ = try await redis.command([
            "ZADD", placed(Self.listKey(request.list, request.subject)), String(expires ?? Self.noExpiry), request.value,
        ])
        metrics.increment("risk_list_changes_total", [("list", request.list.rawValue), ("change", "add")])
        return RiskListEntry(list: request.list, subject: request.subject, value: request.value, expiresMilliseconds: expires)
    }

    /// Whether the entry was there (expired or not).
    public func remove(_ request: RemoveRiskListEntryRequest) async throws -> Bool {
        try RiskInput.validate(listValue: request.value)
        let reply = try await redis.command(["ZREM", placed(Self.listKey(request.list, request.subject)), request.value])
        let removed = try Self.removed(fromReply: reply)
        if removed { metrics.increment("risk_list_changes_total", [("list", request.list.rawValue), ("change", "remove")]) }
        return removed
    }

    /// The live entries of one list, sorted by value; expired ones are deleted on the way.
    public func entries(list: RiskListName, subject: RiskSubject, nowMilliseconds now: Int64) async throws -> [RiskListEntry] {
        let key = placed(Self.listKey(list, subject))
        _ = try await redis.command(["ZREMRANGEBYSCORE", key, "-inf", String(now)])
        let reply = try await redis.command(["ZRANGEBYSCORE", key, "(\(now)", "+inf", "WITHSCORES"])
        return try Self.listEntries(fromReply: reply, list: list, subject: subject, nowMilliseconds: now)
    }

    // MARK: - Helpers

    static func listKey(_ list: RiskListName, _ subject: RiskSubject) -> String {
        "risk:list:\(list.rawValue):\(subject.rawValue)"
    }

    static func failureKey(_ kind: String, _ value: String) -> String { "risk:fail:\(kind):\(value)" }

    /// A key as this engine's Redis stores it: every key above starts with `risk:`, which becomes
    /// `keyPrefix` (the same in a single server or Sentinel, hash-tagged in a cluster).
    private func placed(_ key: String) -> String {
        keyPrefix == "risk:" ? key : keyPrefix + key.dropFirst("risk:".count)
    }

    /// A rule's window in milliseconds. Cannot overflow for an Int32 of seconds; checked anyway so
    /// that widening the field's type later cannot make it trap.
    static func milliseconds(seconds: Int32, field: String) throws(ServiceError) -> Int64 {
        try checked(Int64(seconds).multipliedReportingOverflow(by: 1000), field)
    }

    /// The value of an arithmetic step on rule or request values, or `invalidArgument` naming the
    /// field whose value made it overflow.
    static func checked(_ result: (partialValue: Int64, overflow: Bool), _ field: String) throws(ServiceError) -> Int64 {
        guard !result.overflow else { throw ServiceError(.invalidArgument, "\(field): out of range for the time of this call") }
        return result.partialValue
    }

    /// "a.b.c" of a dotted-quad IPv4 address, nil for anything else (IPv6, host names, junk).
    static func subnet24(_ ip: String) -> String? {
        let parts = ip.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [Int] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            let octet = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            octets.append(octet)
        }
        return "\(octets[0]).\(octets[1]).\(octets[2])"
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    /// A window member no other event shares: the time and 64 random bits.
    static func uniqueMember(_ now: Int64) -> String {
        "\(now)-\(String(UInt64.random(in: .min ... .max), radix: 36))"
    }
}

// MARK: - Reading Redis's replies

/// What risk-control makes of each Redis reply it reads: pure functions, total on any `RedisValue`
/// (Tests/Fuzz/RedisReplyFuzzer.swift runs them on arbitrary values).
///
/// A reply that is not the shape the script or command answers is never read as an answer: it
/// throws DEPENDENCY_UNAVAILABLE, what risk-control says when Redis cannot be asked, so the
/// caller's policy for an unanswered risk check applies (coupon-center fails closed for FREE and
/// EXCHANGE coupons, whose loss is money, and allows and flags the rest). Reading a garbled reply
/// as "no rule fired" would hand out exactly the coupons the rules hold back; reading it as DENY
/// would refuse customers for a fault of ours, with a reason code that names no rule.
extension RiskEngine {
    /// The one reason of a decision an allow-list entry made; it never comes with another.
    public static let allowListedReason = "ALLOW_LISTED"
    /// The reasons of the rules whose firing denies (`decisionCall` writes them into the script's
    /// arguments; the script answers only those it was given).
    public static let denyReasons: Set<String> = [
        "BLOCKED_USER", "BLOCKED_DEVICE", "BLOCKED_IP", "DEVICE_ACCOUNTS", "IP_ACCOUNTS", "SUBNET_ACCOUNTS", "USER_VELOCITY",
        "DEVICE_VELOCITY", "IP_VELOCITY", "SUBNET_VELOCITY", "USER_PROBING", "IP_PROBING",
    ]
    /// Every reason a decision can carry.
    public static let knownReasons: Set<String> = denyReasons.union(reviewReasons).union([allowListedReason])

    /// `decideScript`'s reply: ALLOW_LISTED alone, or the distinct reasons of the rules that fired
    /// (none: ALLOW). Any denying reason makes DENY, else a review reason REVIEW; the score is 100
    /// per denial and 50 per review, at most 1000.
    public static func decision(fromReply reply: RedisValue) throws(ServiceError) -> RiskDecision {
        guard let parts = reply.array else {
            throw unreadable("the risk decision script answered \(reply), not a list of reasons")
        }
        var reasons: [String] = []
        for part in parts {
            guard let reason = part.string, knownReasons.contains(reason) else {
                throw unreadable("the risk decision script answered the unknown reason \(part)")
            }
            // Each rule adds its reason once, so a repeated one means the reply is not the script's.
            guard !reasons.contains(reason) else { throw unreadable("the risk decision script answered \(reason) twice") }
            reasons.append(reason)
        }
        if reasons.contains(allowListedReason) {
            guard reasons.count == 1 else { throw unreadable("the risk decision script answered \(allowListedReason) among \(reasons)") }
            return RiskDecision(verdict: .allow, score: 0, reasons: reasons)
        }
        // At most `knownReasons.count` distinct reasons, so the score cannot overflow.
        let reviews = reasons.filter { reviewReasons.contains($0) }.count
        let denials = reasons.count - reviews
        let verdict: RiskVerdict = denials > 0 ? .deny : reviews > 0 ? .review : .allow
        return RiskDecision(verdict: verdict, score: Int32(min(1000, denials * 100 + reviews * 50)), reasons: reasons)
    }

    /// `ZREM key member`'s reply: 1 when the member was there, 0 when not.
    public static func removed(fromReply reply: RedisValue) throws(ServiceError) -> Bool {
        guard case .integer(let count) = reply, count == 0 || count == 1 else {
            throw unreadable("ZREM of one member answered \(reply)")
        }
        return count == 1
    }

    /// `ZRANGEBYSCORE key (now +inf WITHSCORES`'s reply: value, score, value, score... with every
    /// score an expiry after `now` (a whole number of milliseconds, written by Redis as an integer
    /// or, past 10^17, as a double that must still be a whole number), `noExpiry` and above meaning
    /// "until removed". Sorted by the values' bytes.
    public static func listEntries(
        fromReply reply: RedisValue, list: RiskListName, subject: RiskSubject, nowMilliseconds now: Int64
    ) throws(ServiceError) -> [RiskListEntry] {
        guard let parts = reply.array, parts.count % 2 == 0 else {
            throw unreadable("ZRANGEBYSCORE WITHSCORES of \(listKey(list, subject)) answered \(reply), not value-score pairs")
        }
        var entries: [RiskListEntry] = []
        entries.reserveCapacity(parts.count / 2)
        for index in stride(from: 0, to: parts.count, by: 2) {
            guard let value = parts[index].string, let scoreText = parts[index + 1].string,
                let score = Int64(scoreText) ?? Double(scoreText).flatMap({ Int64(exactly: $0) }), score > now
            else {
                throw unreadable("unexpected entry in \(listKey(list, subject)): \(parts[index]) \(parts[index + 1])")
            }
            entries.append(RiskListEntry(list: list, subject: subject, value: value, expiresMilliseconds: score >= noExpiry ? nil : score))
        }
        return entries.sorted { $0.value.utf8.lexicographicallyPrecedes($1.value.utf8) }
    }

    private static func unreadable(_ what: String) -> ServiceError {
        ServiceError(.dependencyUnavailable, "Redis answered what risk-control cannot read: \(what)")
    }
}
