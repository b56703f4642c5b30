/// What the holder of a `RedisLock` has.
///
/// `fence` grows by one with every successful acquisition of the key, so a later holder always has
/// a larger one than every earlier holder. Pass it to the writes the lock protects so that
/// PostgreSQL rejects a holder whose lease ran out while it was paused (GC, swap, a long query)
/// and someone else took the lock: the write is conditional, `... WHERE fence < $fence`, and
/// records the new fence. The Redis lock alone cannot stop such a stale holder; the fence can.
public struct RedisLockLease: Sendable, Equatable {
    public let key: String
    /// Random (128 bits), proves ownership to `release` and `extend`.
    public let token: String
    public let fence: Int64
    public let ttlMilliseconds: Int64

    public init(key: String, token: String, fence: Int64, ttlMilliseconds: Int64) {
        self.key = key
        self.token = token
        self.fence = fence
        self.ttlMilliseconds = ttlMilliseconds
    }
}

/// Where a lock's fences are made durable, so that they never go back when Redis loses its counter
/// (a FLUSHALL, a restart without persistence, a failover to a replica that had not received the
/// INCR). coupon-center keeps them in PostgreSQL (`lock_fence`).
public protocol LockFenceStore: Sendable {
    /// Records and returns the fence of a new holder of `lock`: `redisFence` (what Redis's counter
    /// said) or, when that is not larger, one more than the last fence recorded for `lock`. The
    /// fence is durable when this returns, and every later call for `lock` returns a larger one.
    func issue(lock: String, redisFence: Int64) async throws -> Int64
}

/// A lease-based distributed lock on one Redis key.
///
/// The key holds a random token and expires after the ttl, so a crashed holder frees it. Only the
/// token's owner can release or extend it (compare-and-delete / compare-and-pexpire, each one
/// atomic script). Acquisition also increments `<key>:fence` in the same script; see
/// `RedisLockLease.fence`. The fence counter has no expiry and must outlive the locks; a Redis
/// that loses it (no persistence, a failover) would start it from 0 again, so with a
/// `LockFenceStore` every fence is also raised above the last one the store recorded, and
/// Redis's counter is raised to match. The fence key shares the lock key's cluster slot.
public struct RedisLock: Sendable {
    private let pool: RedisPool
    private let fences: (any LockFenceStore)?

    /// Without `fences`, fences come from Redis alone and go back if Redis loses its counter.
    public init(pool: RedisPool, fences: (any LockFenceStore)? = nil) {
        self.pool = pool
        self.fences = fences
    }

    /// One attempt: the lease, or nil when someone else holds the key.
    public func tryAcquire(key: String, ttl: Duration) async throws -> RedisLockLease? {
        let ttlMilliseconds = try Self.milliseconds(ttl, "ttl")
        let token = Self.randomToken()
        let reply = try await pool.evaluate(
            Self.acquireScript, keys: [key, Self.fenceKey(key)], args: [token, String(ttlMilliseconds)])
        guard let redisFence = try Self.fence(fromReply: reply) else { return nil }
        let lease = RedisLockLease(key: key, token: token, fence: redisFence, ttlMilliseconds: ttlMilliseconds)
        guard let fences else { return lease }
        let fence: Int64
        do {
            fence = try await fences.issue(lock: key, redisFence: redisFence)
        } catch {
            // Without a durable fence the holder could not prove it is newer: it does not hold.
            _ = try? await release(lease)
            throw error
        }
        if fence > redisFence {
            // Best effort: the store is what guarantees the order; this only spares it the work.
            _ = try? await pool.evaluate(Self.raiseFenceScript, keys: [Self.fenceKey(key)], args: [String(fence)])
        }
        return RedisLockLease(key: key, token: token, fence: fence, ttlMilliseconds: ttlMilliseconds)
    }

    /// Tries until it gets the lock or `waitUpTo` has passed (then nil), sleeping a short,
    /// jittered and growing interval between attempts so contenders do not retry in step.
    public func acquire(key: String, ttl: Duration, waitUpTo: Duration) async throws -> RedisLockLease? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: waitUpTo)
        var backoff = Duration.milliseconds(5)
        var random = SystemRandomNumberGenerator()
        while true {
            if let lease = try await tryAcquire(key: key, ttl: ttl) { return lease }
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { return nil }
            let jittered = backoff * Double.random(in: 0.5...1.0, using: &random)
            try await Task.sleep(for: min(jittered, remaining))
            backoff = min(backoff * 2, .milliseconds(100))
        }
    }

    /// Releases the lock if `lease` still owns it; false when it had expired (and maybe been
    /// taken by someone else, whose lock is left alone).
    @discardableResult
    public func release(_ lease: RedisLockLease) async throws -> Bool {
        let reply = try await pool.evaluate(Self.releaseScript, keys: [lease.key], args: [lease.token])
        return try Self.succeeded(fromReply: reply)
    }

    /// Sets the lock's remaining time to `ttl` if `lease` still owns it; false otherwise. The
    /// fence does not change: the holder is the same.
    public func extend(_ lease: RedisLockLease, ttl: Duration) async throws -> Bool {
        let ttlMilliseconds = try Self.milliseconds(ttl, "ttl")
        let reply = try await pool.evaluate(
            Self.extendScript, keys: [lease.key], args: [lease.token, String(ttlMilliseconds)])
        return try Self.succeeded(fromReply: reply)
    }

    /// Runs `body` while holding the lock and releases it afterwards, also when `body` throws.
    /// Throws `lockUnavailable` if the lock is not acquired within `wait`. A failed release (Redis
    /// unreachable, lease already expired) is not reported: the ttl frees the key anyway, and the
    /// fence is what keeps a late holder's writes out.
    public func withLock<Result>(
        key: String, ttl: Duration, wait: Duration,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisLockLease) async throws -> Result
    ) async throws -> Result {
        guard let lease = try await acquire(key: key, ttl: ttl, waitUpTo: wait) else {
            throw RedisError(.lockUnavailable, "lock \(key) still held after waiting \(wait)")
        }
        let result: Result
        do {
            result = try await body(lease)
        } catch {
            _ = try? await release(lease)
            throw error
        }
        _ = try? await release(lease)
        return result
    }

    // MARK: - Scripts

    /// `{<key>}:fence`, whose hash tag is the whole lock key, so the acquire script's two keys share
    /// a cluster slot; a key with a `}` (a hash tag of its own, which then places both) keeps
    /// `<key>:fence`. (A key with a `}` but no valid tag would hash apart: in a cluster its script
    /// is refused with CROSSSLOT rather than run across nodes.)
    static func fenceKey(_ key: String) -> String {
        key.contains("}") ? key + ":fence" : "{" + key + "}:fence"
    }

    /// KEYS: fence. ARGV: fence. Raises the counter to the fence, never lowers it.
    static let raiseFenceScript = RedisScript(
        """
        if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
            redis.call('SET', KEYS[1], ARGV[1])
        end
        return 1
        """)

    /// KEYS: lock, fence. ARGV: token, ttl ms. The fence or nil.
    static let acquireScript = RedisScript(
        """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return redis.call('INCR', KEYS[2])
        end
        return false
        """)

    /// KEYS: lock. ARGV: token. 1 when deleted, 0 when not the owner.
    static let releaseScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """)

    /// KEYS: lock. ARGV: token, ttl ms. 1 when extended, 0 when not the owner.
    static let extendScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """)

    // MARK: - Helpers

    // MARK: - Replies
    //
    // Pure and total on any `RedisValue` (Tests/Fuzz/RedisReplyFuzzer.swift). A reply of another
    // shape throws `unexpectedReply`: taking it for a lease would let two holders write, taking it
    // for "not held" would hide a fault.

    /// `acquireScript`'s reply: nil when the key is held (the script's `false`), else the fence,
    /// which `INCR` makes at least 1 on a counter only this lock writes.
    public static func fence(fromReply reply: RedisValue) throws(RedisError) -> Int64? {
        switch reply {
        case .null: return nil
        case .integer(let fence) where fence >= 1: return fence
        default: throw RedisError(.unexpectedReply, "the lock script answered \(reply), not a fence or nil")
        }
    }

    /// `releaseScript`'s and `extendScript`'s reply: 1 when the caller still owned the lock, 0 when not.
    public static func succeeded(fromReply reply: RedisValue) throws(RedisError) -> Bool {
        guard case .integer(let count) = reply, count == 0 || count == 1 else {
            throw RedisError(.unexpectedReply, "the lock script answered \(reply), not 0 or 1")
        }
        return count == 1
    }

    private static func milliseconds(_ duration: Duration, _ name: String) throws -> Int64 {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds >= 1 else {
            throw RedisError(.invalidCommand, "the lock \(name) must be at least 1 ms, not \(duration)")
        }
        return milliseconds
    }

    /// 128 random bits from the system's secure generator, as 32 hex digits.
    private static func randomToken() -> String {
        var random = SystemRandomNumberGenerator()
        let words = [random.next() as UInt64, random.next() as UInt64]
        return words.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
