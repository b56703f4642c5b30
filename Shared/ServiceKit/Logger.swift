import Foundation
import Synchronization

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug", "trace": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Structured logs to stderr, one line each in logfmt: time, level, message, then dotted keys
/// (`template.id`, `request.id`). Libraries take the logger from their caller and add keys with
/// `with(_:)`.
public struct Logger: Sendable {
    public var level: LogLevel
    public private(set) var metadata: [(String, String)]
    private let sink: LogSink

    public init(service: String, level: LogLevel = .info, sink: LogSink = .standardError) {
        self.level = level
        self.metadata = [("service", service)]
        self.sink = sink
    }

    /// A logger that adds `keys` to every line.
    public func with(_ keys: [(String, String)]) -> Logger {
        var copy = self
        copy.metadata += keys
        return copy
    }

    public func debug(_ message: @autoclosure () -> String, _ keys: [(String, String)] = []) {
        log(.debug, message(), keys)
    }
    public func info(_ message: @autoclosure () -> String, _ keys: [(String, String)] = []) {
        log(.info, message(), keys)
    }
    public func warning(_ message: @autoclosure () -> String, _ keys: [(String, String)] = []) {
        log(.warning, message(), keys)
    }
    public func error(_ message: @autoclosure () -> String, _ keys: [(String, String)] = []) {
        log(.error, message(), keys)
    }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, _ keys: [(String, String)] = []) {
        guard level >= self.level else { return }
        var line = "ts=\(Self.timestamp()) level=\(level.name) msg=\(Self.quote(message()))"
        for (key, value) in metadata + keys {
            line += " \(key)=\(Self.quote(value))"
        }
        sink.write(line + "\n")
    }

    static func quote(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.value > 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
            }
        if plain { return value }
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 {
                    escaped += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }

    private static func timestamp() -> String {
        let now = Date()
        return now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Where log lines go: stderr, or a buffer in tests.
public final class LogSink: Sendable {
    private let capturing: Bool
    private let lines = Mutex<[String]>([])

    public static let standardError = LogSink(capturing: false)

    public init(capturing: Bool) {
        self.capturing = capturing
    }

    func write(_ line: String) {
        // One lock for both cases keeps concurrent lines from interleaving on stderr.
        lines.withLock { lines in
            if capturing {
                lines.append(line)
            } else {
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    public var captured: [String] { lines.withLock { $0 } }
}
