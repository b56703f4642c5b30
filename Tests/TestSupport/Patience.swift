import Foundation
import Synchronization

/// How long a test waits for something that must happen, on whatever machine runs it.
///
/// Correctness tests never assert how fast something happened: they wait for progress, with limits
/// far above what a healthy run needs, so a slow or loaded machine makes them slower, never red. A
/// limit is only there so a cluster that really stopped making progress fails the test instead of
/// hanging it. Every such limit and every deadline a test hands to a client or a service goes
/// through here, multiplied by `TEST_TIME_SCALE` (a number from 1 to 1000, default 1) for a machine
/// slower still than the generous bases allow for.
public enum Patience {
    /// The factor from `TEST_TIME_SCALE`. A value that is not a number in range stops the run with
    /// a message naming it: silently using 1 would hide the setting the operator asked for.
    public static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["TEST_TIME_SCALE"], !text.isEmpty else { return 1 }
        guard let value = Double(text), value.isFinite, (1...1000).contains(value) else {
            fatalError("TEST_TIME_SCALE must be a number from 1 to 1000, got '\(text)'")
        }
        return value
    }()

    /// `base` scaled for this machine.
    public static func scaled(_ base: Duration) -> Duration { base * scale }

    /// A deadline in milliseconds for a client or a service, scaled for this machine.
    public static func milliseconds(_ base: Int) -> Int {
        let scaled = (Double(base) * scale).rounded(.up)
        // At most a day: the clients take an Int and nothing in a test waits longer.
        return Int(exactly: min(scaled, 86_400_000)) ?? 86_400_000
    }

    /// Whole seconds for a command-line tool's own timeout (`pg_ctl -t`), scaled for this machine.
    public static func seconds(_ base: Int) -> Int { milliseconds(base * 1000) / 1000 }

    /// How long a test waits for a state another process or task must reach (a job's sweep, an
    /// audit flush, a restarted server), and how long a storm may go without any answer before
    /// the test decides it stalled.
    public static var limit: Duration { scaled(.seconds(60)) }

    /// How long a test waits for a replicated database cluster to form or to fail over (Patroni:
    /// initdb, a base backup, synchronous replication, an election). Several times the work of a
    /// single server's start, so on a loaded machine it took more than `limit` (two fresh-clone runs
    /// beside a fuzz campaign and builds); a healthy run forms the pair in seconds.
    public static var clusterLimit: Duration { scaled(.seconds(300)) }

    /// The deadline of calls a test makes to set things up or to observe them: such a call must
    /// succeed, so it gets far more than it needs, and a failure is the test's failure.
    public static var callMilliseconds: Int { milliseconds(30_000) }

    /// The deadline services in a test cluster give their own calls to each other and to Redis
    /// locks. Their production default (500 ms) is a latency target; in a test a missed one would
    /// turn into a fail-open or a 503 the test did not ask for.
    /// coupon-center accepts at most 60 s.
    public static var dependencyMilliseconds: Int { min(milliseconds(10_000), 60_000) }

    /// Polls `condition` until it holds; throws, naming `what`, if it still does not after `within`.
    public static func waitUntil(
        _ what: String, within: Duration = limit, every interval: Duration = .milliseconds(20),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + within
        while true {
            if try await condition() { return }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(what) did not happen within \(within) (TEST_TIME_SCALE=\(scale))")
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Polls `condition` until it holds, for as long as `progress` keeps changing: throws only when
    /// the condition still fails and `progress` stayed the same for `stalledFor`. For work a test
    /// can count (events delivered, rows written) that takes as long as the machine makes it take.
    public static func waitUntil(
        _ what: String, progressing progress: () async throws -> Int, stalledFor: Duration = limit,
        every interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
    ) async throws {
        var seen = try await progress()
        var deadline = ContinuousClock.now + stalledFor
        while true {
            if try await condition() { return }
            let now = try await progress()
            if now != seen {
                seen = now
                deadline = ContinuousClock.now + stalledFor
            }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(what) did not happen: no progress (still \(seen)) for \(stalledFor) (TEST_TIME_SCALE=\(scale))")
            }
            try await Task.sleep(for: interval)
        }
    }
}

/// The last time a long run made progress, shared by its tasks: a storm goes on while answers keep
/// coming and gives up only when none came for `Patience.limit`, however slow each one is.
public final class ProgressWatch: Sendable {
    private let last = Mutex(ContinuousClock.now)

    public init() {}

    /// Something moved forward (a claim got its final answer).
    public func advanced() { last.withLock { $0 = ContinuousClock.now } }

    /// Whether nothing moved forward for longer than `limit`.
    public func stalled(after limit: Duration = Patience.limit) -> Bool {
        ContinuousClock.now - last.withLock { $0 } > limit
    }
}
