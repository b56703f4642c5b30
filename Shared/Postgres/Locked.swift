import Foundation

/// A value reachable only while holding a lock.
///
/// Used instead of `Synchronization.Mutex` because the package still declares macOS 14, where
/// `Mutex` is unavailable. The closure runs with the lock held: it must not suspend or call back
/// into something that takes the same lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
