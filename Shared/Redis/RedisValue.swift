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

/// A short rendering for error messages and logs: "unexpected reply" errors print the reply, and a
/// reply can be any size (a list of a million entries, a bulk string of megabytes), so at most the
/// first 64 bytes of a text and 8 elements of an array are shown, 4 arrays deep, each with its full
/// size. Bulk strings show as text when they are UTF-8, else in hex.
extension RedisValue: CustomStringConvertible {
    static let shownBytes = 64
    static let shownElements = 8
    static let shownDepth = 4

    public var description: String {
        var text = ""
        render(into: &text, depth: 0)
        return text
    }

    private func render(into text: inout String, depth: Int) {
        switch self {
        case .null: text += "nil"
        case .integer(let number): text += String(number)
        case .bulk(let bytes): Self.render(bulk: bytes, into: &text)
        case .status(let status): text += "+" + Self.shortened(status)
        case .error(let message): text += "-" + Self.shortened(message)
        case .array(let elements):
            guard depth < Self.shownDepth else {
                text += "[\(elements.count) elements]"
                return
            }
            text += "["
            for (index, element) in elements.prefix(Self.shownElements).enumerated() {
                if index > 0 { text += ", " }
                element.render(into: &text, depth: depth + 1)
            }
            if elements.count > Self.shownElements { text += ", … \(elements.count) elements" }
            text += "]"
        }
    }

    private static func render(bulk bytes: [UInt8], into text: inout String) {
        let shown = bytes.prefix(shownBytes)
        let rest = bytes.count > shownBytes ? "… \(bytes.count) bytes" : ""
        if let utf8 = String(validating: shown, as: UTF8.self) {
            text += utf8.debugDescription + rest
        } else {
            let digits = Array("0123456789abcdef")
            text += "0x"
            for byte in shown {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0F)])
            }
            text += rest
        }
    }

    private static func shortened(_ message: String) -> String {
        let scalars = message.unicodeScalars
        guard scalars.count > shownBytes else { return message }
        return String(String.UnicodeScalarView(scalars.prefix(shownBytes))) + "… \(scalars.count) characters"
    }
}
