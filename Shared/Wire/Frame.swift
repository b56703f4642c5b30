/// One message on an NNG socket: a fixed 28-byte header followed by the body.
///
/// ```
/// offset size field
///      0    2 magic        0x43 0x43 ("CC")
///      2    1 version      1
///      3    1 flags        0 request, 1 reply, 3 error reply, 4 request with a credential;
///                          any other value is refused
///      4    2 kind         MessageKind (big-endian)
///      6    2 reserved     must be 0
///      8    8 requestId    chosen by the caller, echoed in the reply
///     16    8 deadline     unsigned Unix milliseconds after which the caller no longer waits; 0 = none
///     24    4 bodyLength   must equal the bytes that follow
///     28    … body
/// ```
///
/// With flag 4 (CREDENTIAL, requests only) the body starts with a credential block and the
/// message body follows it; `bodyLength` counts both:
/// ```
///     28    2 credentialLength   1…512
///     30    n credential         the caller's API token, session id or service token (UTF-8)
///   30+n    … message body
/// ```
/// A frame without the flag is decoded exactly as before the block existed.
public struct FrameHeader: Sendable, Equatable {
    public static let magic: UInt16 = 0x4343
    public static let currentVersion: UInt8 = 1
    public static let size = 28
    /// The largest frame (header and body) a receiver accepts; a larger one is answered with
    /// FRAME_TOO_LARGE, or dropped by nng when it is too large even for that (PROTOCOL.md, "Size limit").
    public static let defaultMaxFrameBytes = 1 << 20

    public var version: UInt8
    public var flags: FrameFlags
    public var kind: MessageKind
    public var requestId: UInt64
    public var deadlineMilliseconds: UInt64
    public var bodyLength: UInt32

    public init(
        version: UInt8 = FrameHeader.currentVersion, flags: FrameFlags = [], kind: MessageKind,
        requestId: UInt64, deadlineMilliseconds: UInt64 = 0, bodyLength: UInt32 = 0
    ) {
        self.version = version
        self.flags = flags
        self.kind = kind
        self.requestId = requestId
        self.deadlineMilliseconds = deadlineMilliseconds
        self.bodyLength = bodyLength
    }
}

public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let reply = FrameFlags(rawValue: 1 << 0)
    public static let error = FrameFlags(rawValue: 1 << 1)
    /// The body starts with a credential block (requests only).
    public static let credential = FrameFlags(rawValue: 1 << 2)
    /// A request, a reply, an error reply and a request with a credential. ERROR without REPLY,
    /// CREDENTIAL on a reply, and any other bit, are refused.
    public static let validCombinations: Set<FrameFlags> = [[], [.reply], [.reply, .error], [.credential]]
}

public struct Frame: Sendable, Equatable {
    /// The longest credential a frame may carry (and the shortest is one byte).
    public static let maxCredentialBytes = 512

    public var header: FrameHeader
    public var body: [UInt8]
    /// The credential block's bytes; nil when the frame has none (flag 4 clear).
    public var credential: [UInt8]?

    /// The CREDENTIAL flag follows `credential`; `bodyLength` counts the block and the body.
    public init(header: FrameHeader, body: [UInt8], credential: [UInt8]? = nil) {
        self.header = header
        self.body = body
        self.credential = credential
        if credential == nil { self.header.flags.remove(.credential) } else { self.header.flags.insert(.credential) }
        let blockLength = credential.map { 2 + $0.count } ?? 0
        self.header.bodyLength = UInt32(truncatingIfNeeded: blockLength + body.count)
    }

    public var isReply: Bool { header.flags.contains(.reply) }
    public var isError: Bool { header.flags.contains(.error) }
}

/// Why a byte string is not a frame. Each maps to an `ErrorCode` for the error reply.
public struct FrameError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case truncated, badMagic, unsupportedVersion, invalidFlags, reservedBits, lengthMismatch, tooLarge, badCredential
    }
    public var reason: Reason
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }

    public var errorCode: ErrorCode {
        switch reason {
        case .unsupportedVersion: .unsupportedVersion
        case .tooLarge: .frameTooLarge
        default: .badFrame
        }
    }
}

public enum FrameCodec {
    /// A credential longer than `Frame.maxCredentialBytes` is the caller's mistake; its length is
    /// written truncated to 16 bits, and the receiver refuses the frame.
    public static func encode(_ frame: Frame) -> [UInt8] {
        let blockLength = frame.credential.map { 2 + $0.count } ?? 0
        var writer = WireWriter(capacity: FrameHeader.size + blockLength + frame.body.count)
        var flags = frame.header.flags
        if frame.credential == nil { flags.remove(.credential) } else { flags.insert(.credential) }
        writer.writeBigEndian(FrameHeader.magic)
        writer.writeUInt8(frame.header.version)
        writer.writeUInt8(flags.rawValue)
        writer.writeBigEndian(frame.header.kind.rawValue)
        writer.writeBigEndian(UInt16(0))
        writer.writeBigEndian(frame.header.requestId)
        writer.writeBigEndian(frame.header.deadlineMilliseconds)
        writer.writeBigEndian(UInt32(truncatingIfNeeded: blockLength + frame.body.count))
        if let credential = frame.credential {
            writer.writeBigEndian(UInt16(truncatingIfNeeded: credential.count))
            writer.writeRaw(credential)
        }
        writer.writeRaw(frame.body)
        return writer.bytes
    }

    /// Reads only the header, so a receiver can answer a bad body with the caller's request id.
    public static func decodeHeader(_ bytes: [UInt8]) throws(FrameError) -> FrameHeader {
        guard bytes.count >= FrameHeader.size else {
            throw FrameError(.truncated, "\(bytes.count) bytes is shorter than the \(FrameHeader.size)-byte header")
        }
        func field<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T { Self.field(type, of: bytes, at: offset) }
        let magic = field(UInt16.self, at: 0)
        guard magic == FrameHeader.magic else {
            throw FrameError(.badMagic, "magic 0x\(String(magic, radix: 16)) is not 0x4343")
        }
        let header = FrameHeader(
            version: bytes[2], flags: FrameFlags(rawValue: bytes[3]), kind: MessageKind(rawValue: field(UInt16.self, at: 4)),
            requestId: field(UInt64.self, at: 8), deadlineMilliseconds: field(UInt64.self, at: 16),
            bodyLength: field(UInt32.self, at: 24))
        guard header.version == FrameHeader.currentVersion else {
            throw FrameError(
                .unsupportedVersion, "version \(header.version); this side speaks \(FrameHeader.currentVersion)")
        }
        guard FrameFlags.validCombinations.contains(header.flags) else {
            throw FrameError(
                .invalidFlags,
                "flags 0x\(String(header.flags.rawValue, radix: 16)) are not 0 (request), 1 (reply), 3 (error reply) or 4 (request with a credential)"
            )
        }
        guard field(UInt16.self, at: 6) == 0 else {
            throw FrameError(.reservedBits, "the reserved header bytes 6-7 are not 0")
        }
        return header
    }

    /// The caller's kind and requestId, for the error reply to a frame that is refused: read whenever
    /// the 28 header bytes are there and start with the magic, whatever else is wrong with them
    /// (version, flags, reserved bytes, length). Nil otherwise: the error reply then says kind 0,
    /// requestId 0.
    public static func echoedHeader(_ bytes: [UInt8]) -> FrameHeader? {
        guard bytes.count >= FrameHeader.size, field(UInt16.self, of: bytes, at: 0) == FrameHeader.magic else { return nil }
        return FrameHeader(
            kind: MessageKind(rawValue: field(UInt16.self, of: bytes, at: 4)), requestId: field(UInt64.self, of: bytes, at: 8))
    }

    /// A big-endian integer at `offset`; the caller has checked that the header's 28 bytes are there.
    private static func field<T: FixedWidthInteger>(_: T.Type, of bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for index in offset..<(offset + MemoryLayout<T>.size) { value = (value << 8) | T(bytes[index]) }
        return value
    }

    /// Any byte string yields a frame or a `FrameError`; nothing larger than `bytes` is allocated.
    public static func decode(_ bytes: [UInt8], maxFrameBytes: Int = FrameHeader.defaultMaxFrameBytes)
        throws(FrameError) -> Frame
    {
        guard bytes.count <= maxFrameBytes else {
            throw FrameError(.tooLarge, "\(bytes.count) bytes exceeds the \(maxFrameBytes)-byte limit")
        }
        let header = try decodeHeader(bytes)
        let available = bytes.count - FrameHeader.size
        guard Int(header.bodyLength) == available else {
            throw FrameError(.lengthMismatch, "header says \(header.bodyLength) body bytes, \(available) present")
        }
        guard header.flags.contains(.credential) else { return Frame(header: header, body: Array(bytes[FrameHeader.size...])) }
        guard available >= 2 else { throw FrameError(.badCredential, "the credential flag is set but the body has no 2-byte credential length") }
        let credentialLength = Int(field(UInt16.self, of: bytes, at: FrameHeader.size))
        guard (1...Frame.maxCredentialBytes).contains(credentialLength) else {
            throw FrameError(.badCredential, "a credential of \(credentialLength) bytes is outside 1…\(Frame.maxCredentialBytes)")
        }
        let bodyStart = FrameHeader.size + 2 + credentialLength
        guard bodyStart <= bytes.count else {
            throw FrameError(.badCredential, "the credential says \(credentialLength) bytes, \(available - 2) follow its length")
        }
        return Frame(
            header: header, body: Array(bytes[bodyStart...]), credential: Array(bytes[(FrameHeader.size + 2)..<bodyStart]))
    }
}
