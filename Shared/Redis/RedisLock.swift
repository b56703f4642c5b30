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

/// A lease-based distributed lock on one Redis key.
///
/// The key holds a random token and expires after the ttl, so a crashed holder frees it. Only the
/// token's owner can release or extend it (compare-and-delete / compare-and-pexpire, each one
/// atomic script). Acquisition also increments `<key>:fence` in the same script; see
/// `RedisLockLease.fence`. The fence counter has no expiry and must outlive the locks: a Redis
/// without persistence that restarts starts it from 0 again.
public struct RedisLock: Sendable {
    private let pool: RedisPool

    public init(pool: RedisPool) {
        self.pool = pool
    }

    /// One attempt: the lease, or nil when someone else holds the key.
    public func tryAcquire(key: String, ttl: Duration) async throws -> RedisLockLease? {
        let ttlMilliseconds = try Self.milliseconds(ttl, "ttl")
        let token = Self.randomToken()
        let reply = try await pool.evaluate(
            Self.acquireScript, keys: [key, Self.fenceKey(key)], args: [token, String(ttlMilliseconds)])
        return try Self.fence(fromReply: reply).map { fence in
            RedisLockLease(key: key, token: token, fence: fence, ttlMilliseconds: ttlMilliseconds)
        }
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

    static func fenceKey(_ key: String) -> String { key + ":fence" }

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
