import Foundation

/// The process-level facts and exits, in one place so tests can see what a tool would do.
public enum ProcessEnvironment {
    public static var current: [String: String] { ProcessInfo.processInfo.environment }

    public static func exit(_ code: Int32) -> Never {
        Foundation.exit(code)
    }

    /// A process started by a thread that blocks SIGTERM (Foundation's Process does this from
    /// Swift concurrency's threads) inherits the block and would never see SIGTERM. Services call
    /// this first, on the main thread, so graceful shutdown works however they were started.
    public static func unblockTerminationSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    public static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
