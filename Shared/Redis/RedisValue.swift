/// One reply from Redis (RESP2, as hiredis 0.14 speaks it).
///
/// A top-level error reply is never returned as a value: `command` throws it as a `RedisError`
/// (`serverError`, or `noScript`). `.error` appears only nested inside an array, for example in
/// the results of `EXEC` or in a table a script returns, where one element failing does not make
/// the whole reply a failure.
public enum RedisValue: Sendable, Equatable {
    case null
    case integer(Int64)
    /// A bulk string: arbitrary bytes, not necessarily UTF-8.
    case bulk([UInt8])
    /// A status reply such as `OK` or `PONG`.
    case status(String)
    case error(String)
    case array([RedisValue])

    /// The integer of an integer reply, or a bulk/status reply that spells one (`GET` of a
    /// counter returns the digits as a bulk string).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        case .status(let text): Int64(text)
        default: nil
        }
    }

    /// The text of a bulk reply that is valid UTF-8, or of a status reply.
    public var string: String? {
        switch self {
        case .bulk(let bytes):
            // Decoding repairs invalid sequences with U+FFFD, so a repaired string no longer
            // matches its bytes: that is the validity check, without Foundation.
            let text = String(decoding: bytes, as: UTF8.self)
            return text.utf8.elementsEqual(bytes) ? text : nil
        case .status(let text):
            return text
        default:
            return nil
        }
    }

    /// The raw bytes of a bulk reply.
    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { bytes } else { nil }
    }

    public var array: [RedisValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    public var isNull: Bool { self == .null }
}
