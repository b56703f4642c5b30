/// The body format: a message's stored properties in declaration order, with no names and no tags.
///
/// | Swift type | bytes |
/// |---|---|
/// | `Bool` | one byte, 0 or 1 (anything else is an error) |
/// | `Int`, `Int8`…`Int64` | zig-zag LEB128 varint |
/// | `UInt`, `UInt8`…`UInt64` | LEB128 varint |
/// | `Double`, `Float` | IEEE 754 big-endian, 8 or 4 bytes (never used for money) |
/// | `String` | varint byte count, then UTF-8 (validated) |
/// | `Optional<T>` | one byte: 0 absent, 1 present followed by `T` |
/// | `Array<T>` | varint element count, then the elements; every element must take at least one byte |
/// | struct | its fields in declaration order |
/// | `RawRepresentable` enum | its raw value |
///
/// Positional encoding is why both sides must agree on the message version: a field may only be added
/// under a new message kind or a new protocol version (see PROTOCOL.md). Dictionaries are refused:
/// their order is not stable and their keys cannot be positional.
public enum WireBody {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = BodyEncoder()
        try value.encode(to: encoder)
        return encoder.storage.writer.bytes
    }

    /// Decodes a whole body: bytes left over after the value are an error, so two different byte
    /// strings never decode to the same message.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(WireDecodingError) -> T {
        let decoder = BodyDecoder(reader: WireReader(bytes))
        let value: T
        do {
            value = try T(from: decoder)
        } catch let error as WireDecodingError {
            throw error
        } catch let error as DecodingError {
            throw WireDecodingError(error)
        } catch {
            throw WireDecodingError(.invalidValue, detail: "\(error)")
        }
        guard decoder.storage.reader.isAtEnd else {
            throw WireDecodingError(.trailingBytes, detail: "\(decoder.storage.reader.remaining) bytes")
        }
        return value
    }
}

extension WireDecodingError {
    /// Errors thrown by a type's own `init(from:)` validation (for example an unknown enum raw value).
    init(_ error: DecodingError) {
        switch error {
        case .dataCorrupted(let context):
            self.init(.invalidValue, path: context.codingPath.wirePath, detail: context.debugDescription)
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            self.init(.invalidValue, path: context.codingPath.wirePath, detail: context.debugDescription)
        @unknown default:
            self.init(.invalidValue, detail: "\(error)")
        }
    }
}

extension [any CodingKey] {
    var wirePath: String {
        var text = ""
        for key in self {
            if let index = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == "\(index)" {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }
}

// MARK: - Encoding

private final class EncoderStorage {
    var writer = WireWriter()
}

/// Encoders and containers report an empty `codingPath`: positions, not keys, go on the wire, and
/// the only encoding error (a dictionary) names its type.
private struct BodyEncoder: Encoder {
    let storage: EncoderStorage
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(storage: EncoderStorage = EncoderStorage()) { self.storage = storage }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedBodyEncoder<Key>(storage: storage))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedBodyEncoder(storage: storage)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleBodyEncoder(storage: storage)
    }
}

/// Writes one value of any supported type; shared by the three container kinds. Primitive types
/// are told apart by comparing metatypes (a pointer comparison) before any dynamic cast; the value
/// is then reinterpreted as the type it was just found to be.
private func writeValue<T: Encodable>(_ value: T, to storage: EncoderStorage) throws {
    if T.self == String.self { return storage.writer.writeString(unsafeBitCast(value, to: String.self)) }
    if T.self == Int64.self { return storage.writer.writeVarInt(unsafeBitCast(value, to: Int64.self)) }
    if T.self == Int32.self { return storage.writer.writeVarInt(Int64(unsafeBitCast(value, to: Int32.self))) }
    if T.self == Bool.self { return storage.writer.writeUInt8(unsafeBitCast(value, to: Bool.self) ? 1 : 0) }
    if T.self == Int.self { return storage.writer.writeVarInt(Int64(unsafeBitCast(value, to: Int.self))) }
    if T.self == UInt16.self { return storage.writer.writeVarUInt(UInt64(unsafeBitCast(value, to: UInt16.self))) }
    if T.self == UInt64.self { return storage.writer.writeVarUInt(unsafeBitCast(value, to: UInt64.self)) }
    if T.self == Int8.self { return storage.writer.writeVarInt(Int64(unsafeBitCast(value, to: Int8.self))) }
    if T.self == Int16.self { return storage.writer.writeVarInt(Int64(unsafeBitCast(value, to: Int16.self))) }
    if T.self == UInt.self { return storage.writer.writeVarUInt(UInt64(unsafeBitCast(value, to: UInt.self))) }
    if T.self == UInt8.self { return storage.writer.writeVarUInt(UInt64(unsafeBitCast(value, to: UInt8.self))) }
    if T.self == UInt32.self { return storage.writer.writeVarUInt(UInt64(unsafeBitCast(value, to: UInt32.self))) }
    if T.self == Double.self { return storage.writer.writeBigEndian(unsafeBitCast(value, to: Double.self).bitPattern) }
    if T.self == Float.self { return storage.writer.writeBigEndian(unsafeBitCast(value, to: Float.self).bitPattern) }
    if T.self == [UInt8].self { return storage.writer.writeBytes(unsafeBitCast(value, to: [UInt8].self)) }
    switch value {
    case let v as any _WireOptionalEncodable:
        guard let wrapped = v._wireWrapped else { return storage.writer.writeUInt8(0) }
        storage.writer.writeUInt8(1)
        try writeValue(wrapped, to: storage)
    case let v as any _WireArrayEncodable:
        try v._wireEncode(to: storage)
    case is any _WireDictionary:
        throw EncodingError.invalidValue(
            value, .init(codingPath: [], debugDescription: "dictionaries are not part of the wire format"))
    default:
        try value.encode(to: BodyEncoder(storage: storage))
    }
}

/// Optionals anywhere (array elements, single values) carry the same marker byte as fields do.
private protocol _WireOptionalEncodable {
    var _wireWrapped: (any Encodable)? { get }
}
extension Optional: _WireOptionalEncodable where Wrapped: Encodable {
    fileprivate var _wireWrapped: (any Encodable)? { self }
}

private protocol _WireOptionalDecodable {
    static func _wireDecode(from storage: DecoderStorage) throws -> Self
}
extension Optional: _WireOptionalDecodable where Wrapped: Decodable {
    fileprivate static func _wireDecode(from storage: DecoderStorage) throws -> Self {
        guard try readPresence(storage) else { return nil }
        return .some(try readValue(Wrapped.self, from: storage))
    }
}

/// Arrays are written as "count, elements" directly rather than through an unkeyed container, so
/// the count can be written first without buffering.
private protocol _WireArrayEncodable {
    func _wireEncode(to storage: EncoderStorage) throws
}
extension Array: _WireArrayEncodable where Element: Encodable {
    fileprivate func _wireEncode(to storage: EncoderStorage) throws {
        storage.writer.writeVarUInt(UInt64(count))
        for element in self {
            try writeValue(element, to: storage)
        }
    }
}

/// The count is bounded by the bytes left and every element must consume at least one byte, so a
/// hostile count can neither allocate nor loop beyond the frame's size.
private protocol _WireArrayDecodable {
    static func _wireDecode(from storage: DecoderStorage) throws -> Self
}
extension Array: _WireArrayDecodable where Element: Decodable {
    fileprivate static func _wireDecode(from storage: DecoderStorage) throws -> Self {
        let count = try storage.reader.readLength()
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for index in 0..<count {
            let before = storage.reader.offset
            elements.append(try named(indexName(index)) { try readValue(Element.self, from: storage) })
            guard storage.reader.offset > before else {
                throw WireDecodingError(.emptyElement, path: indexName(index))
            }
        }
        return elements
    }
}

private struct KeyedBodyEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let storage: EncoderStorage
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { storage.writer.writeUInt8(0) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try writeValue(value, to: storage)
    }

    /// Absent optionals still take their marker byte: positions must not shift.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return storage.writer.writeUInt8(0) }
        storage.writer.writeUInt8(1)
        try writeValue(value, to: storage)
    }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        try encodeIfPresent(value, forKey: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedBodyEncoder<NestedKey>(storage: storage))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedBodyEncoder(storage: storage)
    }

    mutating func superEncoder() -> any Encoder { BodyEncoder(storage: storage) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        BodyEncoder(storage: storage)
    }
}

/// Arrays: the element count comes first, so the elements are gathered into a scratch buffer and
/// the count written when the container is finished. Swift's synthesized `Array.encode` writes
/// every element through one unkeyed container, which we mirror by encoding arrays directly below.
private struct UnkeyedBodyEncoder: UnkeyedEncodingContainer {
    let storage: EncoderStorage
    var codingPath: [any CodingKey] { [] }
    private(set) var count: Int = 0
    private let elements = EncoderStorage()
    private let finisher: Finisher

    init(storage: EncoderStorage) {
        self.storage = storage
        self.finisher = Finisher(target: storage, elements: elements)
    }

    mutating func encodeNil() throws {
        elements.writer.writeUInt8(0)
        count += 1
        finisher.count = count
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try writeValue(value, to: elements)
        count += 1
        finisher.count = count
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        count += 1
        finisher.count = count
        return KeyedEncodingContainer(KeyedBodyEncoder<NestedKey>(storage: elements))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        count += 1
        finisher.count = count
        return UnkeyedBodyEncoder(storage: elements)
    }

    mutating func superEncoder() -> any Encoder { BodyEncoder(storage: elements) }

    /// Writes "count, elements" into the parent when the container goes away.
    private final class Finisher {
        let target: EncoderStorage
        let elements: EncoderStorage
        var count = 0
        init(target: EncoderStorage, elements: EncoderStorage) {
            self.target = target
            self.elements = elements
        }
        deinit {
            target.writer.writeVarUInt(UInt64(count))
            target.writer.writeRaw(elements.writer.bytes)
        }
    }
}

private struct SingleBodyEncoder: SingleValueEncodingContainer {
    let storage: EncoderStorage
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { storage.writer.writeUInt8(0) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try writeValue(value, to: storage)
    }
}

// MARK: - Decoding

private final class DecoderStorage {
    var reader: WireReader
    init(reader: WireReader) { self.reader = reader }
}

/// Decoders and containers report an empty `codingPath`: the path of an error is put together as
/// it leaves the containers (see `named`), which costs nothing while decoding succeeds.
private struct BodyDecoder: Decoder {
    let storage: DecoderStorage
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(reader: WireReader) { storage = DecoderStorage(reader: reader) }
    init(storage: DecoderStorage) { self.storage = storage }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(KeyedBodyDecoder<Key>(storage: storage))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedBodyDecoder(storage: storage)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleBodyDecoder(storage: storage)
    }
}

/// Reads one value of any supported type; shared by the three container kinds.
///
/// No field path is built while decoding succeeds (it would cost an allocation per field); an error
/// collects its path on the way out instead, each container adding its own key (see `named`).
/// Primitive types are told apart by comparing metatypes, which costs a pointer comparison, before
/// any protocol conformance is looked up.
private func readValue<T: Decodable>(_ type: T.Type, from storage: DecoderStorage) throws -> T {
    if type == String.self { return try storage.reader.readString() as! T }
    if type == Int64.self { return try storage.reader.readVarInt() as! T }
    if type == Int32.self { return try narrow(storage.reader.readVarInt(), Int32.self) as! T }
    if type == Bool.self {
        switch try storage.reader.readUInt8() {
        case 0: return false as! T
        case 1: return true as! T
        default: throw WireDecodingError(.invalidBool)
        }
    }
    if type == Int.self { return try narrow(storage.reader.readVarInt(), Int.self) as! T }
    if type == UInt16.self { return try narrow(storage.reader.readVarUInt(), UInt16.self) as! T }
    if type == UInt64.self { return try storage.reader.readVarUInt() as! T }
    if type == Int8.self { return try narrow(storage.reader.readVarInt(), Int8.self) as! T }
    if type == Int16.self { return try narrow(storage.reader.readVarInt(), Int16.self) as! T }
    if type == UInt.self { return try narrow(storage.reader.readVarUInt(), UInt.self) as! T }
    if type == UInt8.self { return try narrow(storage.reader.readVarUInt(), UInt8.self) as! T }
    if type == UInt32.self { return try narrow(storage.reader.readVarUInt(), UInt32.self) as! T }
    if type == Double.self { return Double(bitPattern: try storage.reader.readBigEndian(UInt64.self)) as! T }
    if type == Float.self { return Float(bitPattern: try storage.reader.readBigEndian(UInt32.self)) as! T }
    if type == [UInt8].self { return try storage.reader.readBytes() as! T }
    switch type {
    case let optional as any _WireOptionalDecodable.Type:
        return try optional._wireDecode(from: storage) as! T
    case let array as any _WireArrayDecodable.Type:
        return try array._wireDecode(from: storage) as! T
    case is any _WireDictionary.Type:
        throw WireDecodingError(.unsupportedType, detail: "dictionaries are not part of the wire format")
    default:
        do {
            return try T(from: BodyDecoder(storage: storage))
        } catch let error as WireDecodingError {
            throw error
        } catch let error as DecodingError {
            // A type's own validation (an unknown enum raw value): its path starts here.
            throw WireDecodingError(error)
        }
    }
}

/// Runs `body`; an error thrown from inside gets `component` (a field name, or `[index]`) put in
/// front of its path, so the outermost container ends up with the whole path.
private func named<T>(_ component: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch var error as WireDecodingError {
        error.path = joinedPath(component, error.path)
        throw error
    } catch let error as DecodingError {
        var converted = WireDecodingError(error)
        converted.path = joinedPath(component, converted.path)
        throw converted
    }
}

private func joinedPath(_ component: String, _ rest: String) -> String {
    if rest.isEmpty { return component }
    return rest.hasPrefix("[") ? component + rest : component + "." + rest
}

private func keyName(_ key: some CodingKey) -> String { key.stringValue }
private func indexName(_ index: Int) -> String { "[\(index)]" }

private func narrow<Source: BinaryInteger, Target: FixedWidthInteger>(
    _ value: Source, _: Target.Type
) throws(WireDecodingError) -> Target {
    guard let narrowed = Target(exactly: value) else {
        throw WireDecodingError(.valueOutOfRange, detail: "\(value) does not fit \(Target.self)")
    }
    return narrowed
}

private func readPresence(_ storage: DecoderStorage) throws -> Bool {
    switch try storage.reader.readUInt8() {
    case 0: return false
    case 1: return true
    default: throw WireDecodingError(.invalidPresence)
    }
}

private struct KeyedBodyDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let storage: DecoderStorage
    var codingPath: [any CodingKey] { [] }

    /// Positional: there are no keys on the wire, so every key the type asks for is "there".
    var allKeys: [Key] { [] }
    func contains(_ key: Key) -> Bool { true }

    func decodeNil(forKey key: Key) throws -> Bool {
        !(try named(keyName(key)) { try readPresence(storage) })
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try named(keyName(key)) { try readValue(type, from: storage) }
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try named(keyName(key)) {
            guard try readPresence(storage) else { return nil }
            return try readValue(type, from: storage)
        }
    }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeIfPresent(type, forKey: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(KeyedBodyDecoder<NestedKey>(storage: storage))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try named(keyName(key)) { try UnkeyedBodyDecoder(storage: storage) }
    }

    func superDecoder() throws -> any Decoder { BodyDecoder(storage: storage) }
    func superDecoder(forKey key: Key) throws -> any Decoder { BodyDecoder(storage: storage) }
}

/// Marks dictionary types so both sides refuse them before writing or reading anything.
private protocol _WireDictionary {}
extension Dictionary: _WireDictionary {}

private struct UnkeyedBodyDecoder: UnkeyedDecodingContainer {
    let storage: DecoderStorage
    var codingPath: [any CodingKey] { [] }
    let count: Int?
    private(set) var currentIndex = 0
    var isAtEnd: Bool { currentIndex >= (count ?? 0) }

    /// Custom `init(from:)` code only; arrays of Codable types take `_WireArrayDecodable`. Same bound.
    init(storage: DecoderStorage) throws {
        self.storage = storage
        self.count = try storage.reader.readLength()
    }

    private mutating func element<T>(_ body: (DecoderStorage) throws -> T) throws -> T {
        let index = currentIndex
        guard !isAtEnd else { throw WireDecodingError(.truncated, path: indexName(index), detail: "past the last element") }
        let before = storage.reader.offset
        let value = try named(indexName(index)) { try body(storage) }
        guard storage.reader.offset > before else {
            throw WireDecodingError(.emptyElement, path: indexName(index))
        }
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        // Only called for arrays of optionals; consume the marker only when it says "absent".
        try element { storage in !(try readPresence(storage)) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try element { storage in try readValue(type, from: storage) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        currentIndex += 1
        return KeyedDecodingContainer(KeyedBodyDecoder<NestedKey>(storage: storage))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        currentIndex += 1
        return try UnkeyedBodyDecoder(storage: storage)
    }

    mutating func superDecoder() throws -> any Decoder {
        currentIndex += 1
        return BodyDecoder(storage: storage)
    }
}

private struct SingleBodyDecoder: SingleValueDecodingContainer {
    let storage: DecoderStorage
    var codingPath: [any CodingKey] { [] }

    func decodeNil() -> Bool {
        // A single value container is never optional on the wire; optionals go through keyed
        // containers (decodeIfPresent) or arrays (decodeNil above).
        false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try readValue(type, from: storage)
    }
}
