import Synchronization

extension Duration {
    /// Whole microseconds, for latency metrics and reports.
    public var wholeMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    /// Whole milliseconds.
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Lets a background loop sleep between rounds and be woken for shutdown.
public final class StopSignal: Sendable {
    private let stopped = Mutex(false)

    public init() {}

    public func fire() { stopped.withLock { $0 = true } }
    public var isFired: Bool { stopped.withLock { $0 } }

    /// Sleeps for `interval`, checking every quarter second (or sooner for a short interval) so a
    /// shutdown is noticed quickly; false once `fire()` has been called.
    public func sleep(for interval: Duration) async -> Bool {
        let deadline = ContinuousClock.now + interval
        let step = min(interval, .milliseconds(250))
        while ContinuousClock.now < deadline {
            if isFired { return false }
            try? await Task.sleep(for: step)
        }
        return !isFired
    }
}
