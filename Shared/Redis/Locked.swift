#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A value guarded by a mutex. `Synchronization.Mutex` would do, but it needs macOS 15 and the
/// package still builds for macOS 14.
///
/// `@unchecked Sendable`: every access to `value` goes through `withLock`, and callers never let
/// a non-Sendable part of the state escape the closure.
final class Locked<State>: @unchecked Sendable {
    private var value: State
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: State) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
