import Dispatch

/// nng calls that wait for other threads run here, on threads of their own, never on Swift's
/// cooperative pool. Closing a socket waits until every operation on it has finished, and those
/// operations finish through Swift tasks (a serve loop ending, a context being closed): with the
/// pool's threads (two on a two-core machine) blocked in `nng_close`, those tasks could never run
/// and the process would hang. Seen under load in the test suite.
enum BlockingNNG {
    private static let queue = DispatchQueue(label: "coupon.nng.blocking", attributes: .concurrent)

    /// Runs `call` off the cooperative pool and waits for it without blocking a thread.
    static func run(_ call: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                call()
                continuation.resume()
            }
        }
    }

    /// Starts `call` off the cooperative pool without waiting for it (from synchronous code such
    /// as `close()` and `deinit`).
    static func start(_ call: @escaping @Sendable () -> Void) {
        queue.async(execute: call)
    }
}
