/// When a failed webhook POST is tried again, and when it is given up (dead-lettered).
///
/// The wait doubles per attempt from `baseMilliseconds` up to `maxMilliseconds`, and is drawn
/// from the upper half of that ceiling ("equal jitter"): processes that failed together do not
/// retry together, and no retry comes sooner than half the schedule. A delivery is dead-lettered
/// once it failed `maxAttempts` times or its event is older than `giveUpAfterMilliseconds`.
struct RetryPolicy: Sendable, Equatable {
    var baseMilliseconds: Int
    var maxMilliseconds: Int
    var maxAttempts: Int
    var giveUpAfterMilliseconds: Int64

    enum Decision: Sendable, Equatable {
        case retry(afterMilliseconds: Int)
        case deadLetter(reason: String)
    }

    /// `attempts` counts the attempts made, the failed one included; `ageMilliseconds` is the
    /// event's age now. `jitter` picks a number in the range it is given (random in production).
    func afterFailure(
        attempts: Int, ageMilliseconds: Int64, jitter: (ClosedRange<Int>) -> Int = { Int.random(in: $0) }
    ) -> Decision {
        if attempts >= maxAttempts { return .deadLetter(reason: "failed \(attempts) attempts") }
        if ageMilliseconds >= giveUpAfterMilliseconds { return .deadLetter(reason: "still failing \(ageMilliseconds / 1000) s after the event") }
        let ceiling = self.ceiling(attempts: attempts)
        let half = ceiling / 2
        let drawn = jitter(0...(ceiling - half))
        return .retry(afterMilliseconds: half + min(max(drawn, 0), ceiling - half))
    }

    /// base × 2^(attempts − 1), capped, without overflow for any attempt count.
    func ceiling(attempts: Int) -> Int {
        let doublings = attempts <= 1 ? 0 : min(attempts - 1, 40)
        let (scaled, overflow) = baseMilliseconds.multipliedReportingOverflow(by: 1 << doublings)
        return overflow ? maxMilliseconds : min(scaled, maxMilliseconds)
    }
}
