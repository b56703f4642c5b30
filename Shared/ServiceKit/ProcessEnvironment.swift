import Foundation

/// The process-level facts and exits, in one place so tests can see what a tool would do.
public enum ProcessEnvironment {
    public static var current: [String: String] { ProcessInfo.processInfo.environment }

    public static func exit(_ code: Int32) -> Never {
        Foundation.exit(code)
    }

    public static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
