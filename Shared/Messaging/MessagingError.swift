internal import CNNG

/// A failure of the messaging layer (NNG), with nng's own text.
public struct MessagingError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let timedOut = Code(name: "timed out")
        public static let closed = Code(name: "closed")
        public static let canceled = Code(name: "canceled")
        public static let connectionRefused = Code(name: "connection refused")
        public static let addressInUse = Code(name: "address in use")
        public static let invalidAddress = Code(name: "invalid address")
        public static let messageTooLarge = Code(name: "message too large")
        public static let other = Code(name: "nng error")
        public var description: String { name }
    }

    public var code: Code
    /// nng's error number (NNG_E*), 0 when the error did not come from nng.
    public var nngError: Int32
    /// What we were doing: "dial tcp://127.0.0.1:7101", "send", "listen http://…".
    public var operation: String
    public var text: String

    public init(code: Code, nngError: Int32 = 0, operation: String, text: String) {
        self.code = code
        self.nngError = nngError
        self.operation = operation
        self.text = text
    }

    public var description: String { "\(operation): \(text)" }
    public var isTimeout: Bool { code == .timedOut }
}

/// Every nng return code goes through here: 0 passes, anything else becomes a `MessagingError` that
/// carries `nng_strerror`'s text.
@inline(__always)
func nngCheck(_ result: Int32, _ operation: @autoclosure () -> String) throws(MessagingError) {
    guard result != 0 else { return }
    throw nngError(result, operation())
}

func nngError(_ result: Int32, _ operation: String) -> MessagingError {
    let code: MessagingError.Code
    switch UInt32(bitPattern: result) {
    case NNG_ETIMEDOUT.rawValue: code = .timedOut
    case NNG_ECLOSED.rawValue: code = .closed
    case NNG_ECANCELED.rawValue: code = .canceled
    case NNG_ECONNREFUSED.rawValue: code = .connectionRefused
    case NNG_EADDRINUSE.rawValue: code = .addressInUse
    case NNG_EADDRINVAL.rawValue, NNG_EINVAL.rawValue: code = .invalidAddress
    case NNG_EMSGSIZE.rawValue: code = .messageTooLarge
    default: code = .other
    }
    return MessagingError(code: code, nngError: result, operation: operation, text: String(cString: nng_strerror(result)))
}
