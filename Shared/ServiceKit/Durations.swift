import Synchronization

extension Duration {
    /// Whole microseconds, for latency metrics and reports.
    public var wholeMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    /// Whole milliseconds.
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Lets a background loop sleep between rounds and be woken at once for shutdown.
public final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var sleepers: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextSleeper = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes every sleeper now; later sleeps return at once.
    public func fire() {
        let sleepers = state.withLock { state in
            state.fired = true
            defer { state.sleepers.removeAll() }
            return Array(state.sleepers.values)
        }
        for sleeper in sleepers { sleeper.resume() }
    }

    public var isFired: Bool { state.withLock { $0.fired } }

    /// Sleeps for `interval` or until `fire()`, whichever comes first; false once fired.
    public func sleep(for interval: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: interval) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
        return !isFired
    }

    /// Returns once `fire()` has been called (or the task is cancelled).
    public func wait() async {
        let ticket = state.withLock { state -> Int? in
            if state.fired { return nil }
            defer { state.nextSleeper += 1 }
            return state.nextSleeper
        }
        guard let ticket else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.fired || Task.isCancelled { return true }
                    state.sleepers[ticket] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: ticket) }?.resume()
        }
    }
}
