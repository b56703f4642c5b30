/// Primitive readers and writers for the wire format: big-endian fixed-width integers for the frame
/// header, LEB128 varints (zig-zag for signed values) and length-prefixed byte strings for bodies.
///
/// The reader never traps and never allocates more than the bytes it was given: every read checks the
/// remaining length first and throws `WireDecodingError` on short or hostile input.

public struct WireDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let truncated = Reason(name: "truncated")
        public static let overlongVarint = Reason(name: "overlong varint")
        public static let valueOutOfRange = Reason(name: "value out of range")
        public static let invalidUTF8 = Reason(name: "invalid UTF-8")
        public static let invalidBool = Reason(name: "invalid bool")
        public static let invalidPresence = Reason(name: "invalid optional marker")
        public static let lengthTooLarge = Reason(name: "length larger than the remaining bytes")
        public static let emptyElement = Reason(name: "array element encoded in zero bytes")
        public static let trailingBytes = Reason(name: "trailing bytes after the body")
        public static let invalidEnumValue = Reason(name: "invalid enum value")
        public static let unsupportedType = Reason(name: "type not supported by the wire format")
        public static let invalidValue = Reason(name: "invalid value")
        public var description: String { name }
    }

    public var reason: Reason
    /// Where it happened: the field path while decoding a body ("template.tiers[2].discount").
    public var path: String
    public var detail: String

    public init(_ reason: Reason, path: String = "", detail: String = "") {
        self.reason = reason
        self.path = path
        self.detail = detail
    }

    public var description: String {
        var text = reason.name
        if !path.isEmpty { text += " at \(path)" }
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}

/// Appends wire primitives to a growing byte array.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    public mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeVarUInt(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Zig-zag maps small negative numbers to small unsigned ones (-1 → 1, 1 → 2).
    public mutating func writeVarInt(_ value: Int64) {
        writeVarUInt(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func writeBytes(_ value: some Collection<UInt8>) {
        writeVarUInt(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) {
        writeBytes(value.utf8)
    }

    public mutating func writeRaw(_ value: some Sequence<UInt8>) {
        bytes.append(contentsOf: value)
    }
}

/// Reads wire primitives from a byte slice. Every method checks bounds and throws; none traps.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var offset: Int
    private let end: Int

    public init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = min(max(start, 0), bytes.count)
        self.end = min(max(end ?? bytes.count, self.offset), bytes.count)
    }

    public var remaining: Int { end - offset }
    public var isAtEnd: Bool { offset == end }

    public mutating func readUInt8() throws(WireDecodingError) -> UInt8 {
        guard offset < end else { throw WireDecodingError(.truncated) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws(WireDecodingError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw WireDecodingError(.truncated) }
        var value: T = 0
        for index in offset..<(offset + size) {
            value = (value << 8) | T(bytes[index])
        }
        offset += size
        return value
    }

    public mutating func readVarUInt() throws(WireDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            // The tenth byte may carry only the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw WireDecodingError(.overlongVarint) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // Reject padded encodings (a trailing 0x00 group) so every value has one encoding.
                if byte == 0 && shift > 0 { throw WireDecodingError(.overlongVarint) }
                return result
            }
            shift += 7
            if shift > 63 { throw WireDecodingError(.overlongVarint) }
        }
    }

    public mutating func readVarInt() throws(WireDecodingError) -> Int64 {
        let raw = try readVarUInt()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A length that must fit in what is left, so no allocation exceeds the frame.
    public mutating func readLength() throws(WireDecodingError) -> Int {
        let length = try readVarUInt()
        guard length <= UInt64(remaining) else { throw WireDecodingError(.lengthTooLarge) }
        return Int(length)
    }

    public mutating func readBytes() throws(WireDecodingError) -> [UInt8] {
        let length = try readLength()
        defer { offset += length }
        return Array(bytes[offset..<(offset + length)])
    }

    public mutating func readString() throws(WireDecodingError) -> String {
        let length = try readLength()
        let slice = bytes[offset..<(offset + length)]
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw WireDecodingError(.invalidUTF8)
        }
        offset += length
        return text
    }

    public mutating func readRaw(count: Int) throws(WireDecodingError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw WireDecodingError(.truncated) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
}
