import Domain
import Redis
import ServiceKit
import Wire

/// The Redis fast path of a claim: one atomic script checks and reserves stock, the daily count,
/// the user's count and the budget. It only ever says "no" early; PostgreSQL decides "yes".
///
/// Keys per template (hash-tagged `{templateId}` so a Redis Cluster keeps them on one node):
/// `cc:{T}:meta` (generation, limits, whether counters are complete since creation), `cc:{T}:issued`,
/// `cc:{T}:spent`, `cc:{T}:day:YYYY-MM-DD`, `cc:{T}:user:U`. When Redis loses them (restart,
/// FLUSHALL) the script answers RELOAD_* and the counts are rebuilt from PostgreSQL. A rebuild can
/// only count less than the truth (claims in flight are not committed yet), so Redis errs towards
/// letting a claim through to PostgreSQL, whose checks refuse what is over a limit.
struct StockCounters: Sendable {
    let redis: RedisPool
    let store: TemplateStore
    /// Concurrent reservations and releases each go to Redis as one pipeline per batch.
    private let reservations: Batcher<ScriptCall, RedisValue>
    private let releases: Batcher<ScriptCall, RedisValue>

    init(redis: RedisPool, store: TemplateStore, metrics: Metrics? = nil) {
        self.redis = redis
        self.store = store
        reservations = Self.scriptBatcher("redis_reserve", Self.reserveScript, redis: redis, metrics: metrics)
        releases = Self.scriptBatcher("redis_release", Self.releaseScript, redis: redis, metrics: metrics)
    }

    struct ScriptCall: Sendable {
        var keys: [String]
        var args: [String]
    }

    private static func scriptBatcher(_ name: String, _ script: RedisScript, redis: RedisPool, metrics: Metrics?) -> Batcher<ScriptCall, RedisValue> {
        Batcher(name: name, lanes: BatchedStages.lanes, maxBatch: BatchedStages.maxBatch, metrics: metrics) { calls in
            do {
                return try await redis.evaluateMany(script, calls.map { (keys: $0.keys, args: $0.args) }).map { result in
                    result.mapError { $0 as any Error }
                }
            } catch {
                return calls.map { _ in .failure(error) }
            }
        }
    }

    /// The two batched stages (reserve, then release), services of the process.
    var stages: [any LifecycleService] { [reservations, releases] }

    enum Reservation: Equatable {
        /// Reserved, and the user's claim lock on the template is held with the caller's token.
        case reserved(generation: String)
        case refused(ErrorCode)
        /// Another claim of this user on this template kept its lock for the whole wait.
        case busy
    }

    struct Keys {
        let meta, issued, spent, day, user, lock: String
        init(templateId: String, day: String, userId: String) {
            let base = "cc:{\(templateId)}"
            meta = base + ":meta"
            issued = base + ":issued"
            spent = base + ":spent"
            self.day = base + ":day:" + day
            user = base + ":user:" + userId
            lock = base + ":lock:" + userId
        }
        var all: [String] { [meta, issued, spent, day, user, lock] }
    }

    /// Scripts/claim_reserve.lua, compiled into the binary (Deploy/bench runs the same file).
    static let reserveScript = RedisScript(String(decoding: PackageResources.claim_reserve_lua, as: UTF8.self))

    /// Frees the user's claim lock if the caller still holds it, and first gives the reservation
    /// back when asked (PostgreSQL refused or failed) unless the counters were rebuilt since.
    /// KEYS: as the reserve script. ARGV: lock token, give back (1/0), generation, cost, whether
    /// the template has a daily limit (1/0).
    static let releaseScript = RedisScript(
        """
        if ARGV[2] == '1' and redis.call('HGET', KEYS[1], 'gen') == ARGV[3] then
            if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
            redis.call('DECRBY', KEYS[3], tonumber(ARGV[4]))
            if ARGV[5] == '1' and tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then redis.call('DECR', KEYS[4]) end
            if tonumber(redis.call('GET', KEYS[5]) or '0') > 0 then redis.call('DECR', KEYS[5]) end
        end
        if redis.call('GET', KEYS[6]) == ARGV[1] then redis.call('DEL', KEYS[6]) end
        return 1
        """)

    /// Writes the template's counters unless another process got there first.
    static let loadTemplateScript = RedisScript(
        """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('SET', KEYS[2], ARGV[5])
        redis.call('SET', KEYS[3], ARGV[6])
        redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'stock', ARGV[2], 'daily', ARGV[3], 'budget', ARGV[4], 'fresh', ARGV[7])
        redis.call('EXPIRE', KEYS[1], tonumber(ARGV[8]))
        redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
        redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
        return 1
        """)

    /// Time-to-live of a template's keys: until a week after its end.
    static func ttlSeconds(_ spec: TemplateSpec) -> Int64 {
        max(3600, (spec.endMilliseconds - unixMilliseconds()) / 1000 + 7 * 86_400)
    }

    /// Counters for a template just created: complete from zero ("fresh"), so a missing user or day
    /// key means zero and needs no PostgreSQL read.
    func initialize(_ view: TemplateView) async throws {
        try await load(view.templateId, spec: view.spec, issued: 0, spent: 0, fresh: true)
    }

    private func load(_ templateId: String, spec: TemplateSpec, issued: Int64, spent: Int64, fresh: Bool) async throws {
        let keys = Keys(templateId: templateId, day: "", userId: "")
        _ = try await redis.evaluate(
            Self.loadTemplateScript, keys: [keys.meta, keys.issued, keys.spent],
            args: [
                RandomIdentifier.make(prefix: "g", bytes: 8), String(spec.totalStock), String(spec.dailyLimit ?? -1),
                String(spec.budgetCents ?? -1), String(issued), String(spent), fresh ? "1" : "0", String(Self.ttlSeconds(spec)),
            ])
    }

    /// Takes the user's claim lock and reserves one claim, rebuilding whatever counters Redis lost
    /// from PostgreSQL first. While another claim of the same user on the same template holds the
    /// lock, waits (up to `lockWait`) for it to be freed.
    func reserve(
        templateId: String, spec: TemplateSpec, day: String, userId: String, cost: Int64, token: String, lockTTL: Duration,
        lockWait: Duration
    ) async throws -> Reservation {
        let keys = Keys(templateId: templateId, day: day, userId: userId)
        let call = ScriptCall(
            keys: keys.all,
            args: [String(cost), String(spec.perUserLimit), String(Self.ttlSeconds(spec)), token, String(lockTTL.wholeMilliseconds)])
        let deadline = ContinuousClock.now + lockWait
        var pause = Duration.milliseconds(1)
        var rebuilds = 0
        while true {
            let counter: ReserveVerdict.Counter
            switch try ReserveVerdict.decode(fromReply: try await reservations.submit(call)) {
            case .reserved(let generation): return .reserved(generation: generation)
            case .refused(let code): return .refused(code)
            case .locked:
                guard ContinuousClock.now + pause < deadline else { return .busy }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(20))
                continue
            case .reload(let missing): counter = missing
            }
            rebuilds += 1
            guard rebuilds <= 4 else { throw ServiceError(.dependencyUnavailable, "Redis counters for \(templateId) kept disappearing") }
            switch counter {
            case .template:
                guard let counters = try await store.counters(templateId) else { return .refused(.templateNotFound) }
                try await load(templateId, spec: spec, issued: counters.issued, spent: counters.spent, fresh: false)
            case .day:
                let issued = try await store.issuedOnDay(templateId, day: day)
                _ = try await redis.command(["SET", keys.day, String(issued), "NX", "EX", "172800"])
            case .user:
                let issued = try await store.issuedToUser(templateId, userId: userId)
                _ = try await redis.command(["SET", keys.user, String(issued), "NX", "EX", String(Self.ttlSeconds(spec))])
            }
        }
    }

    /// Frees the claim lock taken by `reserve`; with `giveBack` (the reservation's generation) the
    /// reserved counts are returned first. Best effort: the lock expires by itself, and counters
    /// that count too much only refuse early until the next rebuild.
    func release(
        templateId: String, day: String, userId: String, token: String, giveBack generation: String?, cost: Int64, hasDailyLimit: Bool
    ) async {
        _ = try? await releases.submit(
            Self.releaseCall(
                templateId: templateId, day: day, userId: userId, token: token, giveBack: generation, cost: cost, hasDailyLimit: hasDailyLimit))
    }

    /// Frees the user's claim lock after a written claim without making the reply wait for it (the
    /// lock expires by itself if this is lost).
    func unlockLater(templateId: String, day: String, userId: String, token: String) {
        releases.post(Self.releaseCall(templateId: templateId, day: day, userId: userId, token: token, giveBack: nil, cost: 0, hasDailyLimit: false))
    }

    private static func releaseCall(
        templateId: String, day: String, userId: String, token: String, giveBack generation: String?, cost: Int64, hasDailyLimit: Bool
    ) -> ScriptCall {
        let keys = Keys(templateId: templateId, day: day, userId: userId)
        return ScriptCall(keys: keys.all, args: [token, generation == nil ? "0" : "1", generation ?? "", String(cost), hasDailyLimit ? "1" : "0"])
    }

    /// Changes the template's budget spent by ARGV[2] if its counters are still the generation
    /// ARGV[1], read before the PostgreSQL write (a rebuild since read PostgreSQL's figure, which
    /// has the change already). KEYS: meta, spent.
    static let adjustSpentScript = RedisScript(
        """
        if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then
            redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]))
            return 1
        end
        return 0
        """)

    /// The generation of the template's counters in Redis (nil: none loaded, or Redis unreachable).
    func generation(_ templateId: String) async -> String? {
        let keys = Keys(templateId: templateId, day: "", userId: "")
        return (try? await redis.command(["HGET", keys.meta, "gen"]))?.string
    }

    /// Best effort: a lost decrease only refuses early, and increases are made before the write
    /// they stand for (`Refunds`), so Redis never counts less than PostgreSQL.
    func adjustSpent(templateId: String, byCents cents: Int64, generation: String) async {
        guard cents != 0 else { return }
        let keys = Keys(templateId: templateId, day: "", userId: "")
        _ = try? await redis.evaluate(Self.adjustSpentScript, keys: [keys.meta, keys.spent], args: [generation, String(cents)])
    }

    /// PostgreSQL refused what Redis allowed, so Redis counted too little: drop the counters
    /// concerned and let the next claim rebuild them from the truth.
    func forget(templateId: String, day: String, userId: String, because code: ErrorCode) async {
        let keys = Keys(templateId: templateId, day: day, userId: userId)
        switch code {
        case .perUserLimitReached: _ = try? await redis.command(["DEL", keys.user])
        case .dailyLimitReached: _ = try? await redis.command(["DEL", keys.day])
        default: _ = try? await redis.command(["DEL", keys.meta])
        }
    }
}
