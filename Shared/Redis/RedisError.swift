/// A failure talking to Redis: what kind (`code`) and what happened (`message`).
///
/// Error replies from the server (`-ERR ...`, `-WRONGTYPE ...`, or whatever a script passes to
/// `redis.error_reply`) are thrown with code `serverError` (or `noScript` for `NOSCRIPT`) and the
/// reply text as the message; `serverErrorKind` gives its first word, so a script's own error
/// (`COUPON_SOLD_OUT ...`) is told apart from Redis's (`ERR`, `WRONGTYPE`, ...) and from
/// transport failures (which have other codes).
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidConfiguration
            case invalidCommand
            case connectionFailed
            case connectionClosed
            case timeout
            case serverError
            case noScript
            case protocolError
            case unexpectedReply
            case poolClosed
            case lockUnavailable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL or settings are unusable.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The command was refused before it was sent (for example an empty argument vector).
        public static let invalidCommand = Code(.invalidCommand)
        /// Could not connect, or the connection broke (refused, reset, closed by the server).
        /// The connection is dropped and is reconnected on its next use.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection was closed by its owner (`close()`).
        public static let connectionClosed = Code(.connectionClosed)
        /// Connecting or a command took longer than `timeoutMilliseconds`. The connection is
        /// dropped: the server may still execute the command and its late reply must not be read
        /// as the answer to the next one.
        public static let timeout = Code(.timeout)
        /// The server answered with an error reply; `message` is its text.
        public static let serverError = Code(.serverError)
        /// `EVALSHA` named a script the server does not have (after a restart or `SCRIPT FLUSH`).
        public static let noScript = Code(.noScript)
        /// hiredis could not parse what the server sent.
        public static let protocolError = Code(.protocolError)
        /// The reply has a shape the caller did not expect.
        public static let unexpectedReply = Code(.unexpectedReply)
        /// The pool was closed.
        public static let poolClosed = Code(.poolClosed)
        /// A lock could not be acquired before the wait ran out.
        public static let lockUnavailable = Code(.lockUnavailable)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The first word of a server error reply (`ERR`, `WRONGTYPE`, `NOSCRIPT`, or a script's own
    /// prefix); nil for errors that did not come from the server.
    public var serverErrorKind: String? {
        guard code == .serverError || code == .noScript else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String { "RedisError.\(code): \(message)" }
}
