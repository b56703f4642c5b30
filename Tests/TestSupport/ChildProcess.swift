import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A process started by a test, its output going to a log file the test can print on failure.
///
/// Spawned with posix_spawn rather than Foundation's Process: the child gets an empty signal mask
/// (a thread of Swift's pool blocks SIGTERM, and a child would inherit that), and exit is observed
/// with our own waitpid, so nothing depends on a SIGCHLD handler elsewhere in the test process.
public final class ChildProcess: @unchecked Sendable {
    public let name: String
    public let logFile: URL
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Starts one of the project's executables from COUPON_BIN_DIR (the build Deploy/test made).
    public convenience init(name: String, executable: String, arguments: [String] = [], environment: [String: String]) throws {
        let directory = try requiredEnvironment("COUPON_BIN_DIR")
        let path = URL(fileURLWithPath: directory).appendingPathComponent(executable).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) is not built: Deploy/test runs `swift build` before the tests")
        }
        try self.init(name: name, path: path, arguments: arguments, environment: environment)
    }

    public init(name: String, path: String, arguments: [String], environment: [String: String]) throws {
        self.name = name
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).log")
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw TestFailure("cannot start \(path): \(String(cString: strerror(result)))") }
        pid = child
    }

    /// The exit status once the process has ended (128 + signal when a signal ended it).
    public var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        let signal = raw & 0x7F
        status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
        return status
    }

    public var isRunning: Bool { exitStatus == nil }
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Waits until the process ends or `timeout` passes; the exit status, or nil if still running.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while exitStatus == nil && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exitStatus
    }

    /// SIGTERM, then up to `grace` for a clean exit, SIGKILL after that. The exit status of a clean
    /// exit, or nil if it had to be killed.
    @discardableResult
    public func terminate(grace: Duration = Patience.scaled(.seconds(10))) async -> Int32? {
        if let status = exitStatus { return status }
        kill(pid, SIGTERM)
        if let status = await wait(timeout: grace) { return status }
        await killNow()
        return nil
    }

    /// `kill -9`: no chance to finish anything, as in a crash.
    public func killNow() async {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        _ = await wait(timeout: Patience.limit)
    }

    public func removeLog() {
        try? FileManager.default.removeItem(at: logFile)
    }
}
