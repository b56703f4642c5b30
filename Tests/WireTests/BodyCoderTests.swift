import Testing

@testable import Wire

/// A message with every field shape the body format supports.
struct Sample: Codable, Equatable, Sendable {
    enum Color: String, Codable, Sendable { case red = "RED", green = "GREEN" }
    struct Inner: Codable, Equatable, Sendable {
        var sku: String
        var amount: Int64
    }
    var flag: Bool
    var small: Int8
    var count: Int32
    var amount: Int64
    var unsigned: UInt64
    var ratio: Double
    var name: String
    var note: String?
    var missing: Int64?
    var color: Color
    var tags: [String]
    var items: [Inner]
    var maybeItems: [Inner?]
    var bytes: [UInt8]
    var nested: Inner?
}

let sample = Sample(
    flag: true, small: -7, count: 123_456, amount: -9_223_372_036_854_775_808, unsigned: .max, ratio: 0.125,
    name: "满200减30 ☃", note: "'; DROP TABLE coupon_template; --", missing: nil, color: .green,
    tags: ["VIP", "", "PRICE_SENSITIVE"], items: [.init(sku: "A-1", amount: 19_999), .init(sku: "B", amount: 0)],
    maybeItems: [nil, .init(sku: "C", amount: 1)], bytes: [0, 255, 128], nested: .init(sku: "n", amount: Int64.max))

@Suite struct BodyCoderTests {
    @Test func roundTripsEveryFieldShape() throws {
        let bytes = try WireBody.encode(sample)
        #expect(try WireBody.decode(Sample.self, from: bytes) == sample)
    }

    @Test func varintsAreCompact() throws {
        struct Small: Codable, Equatable { var a: Int64; var b: UInt32; var c: Bool }
        #expect(try WireBody.encode(Small(a: -1, b: 127, c: true)) == [0x01, 0x7F, 0x01])
        #expect(try WireBody.encode(Small(a: 64, b: 128, c: false)) == [0x80, 0x01, 0x80, 0x01, 0x00])
    }

    @Test func absentOptionalKeepsItsPlace() throws {
        struct Pair: Codable, Equatable { var first: String?; var second: Int64 }
        let bytes = try WireBody.encode(Pair(first: nil, second: 5))
        #expect(bytes == [0x00, 0x0A])
        #expect(try WireBody.decode(Pair.self, from: bytes) == Pair(first: nil, second: 5))
    }

    @Test(arguments: [Int64.min, -1, 0, 1, 63, 64, -65, 1 << 40, Int64.max])
    func zigZagRoundTrip(value: Int64) throws {
        var writer = WireWriter()
        writer.writeVarInt(value)
        var reader = WireReader(writer.bytes)
        #expect(try reader.readVarInt() == value)
        #expect(reader.isAtEnd)
    }

    @Test func everyTruncationIsAnErrorNotATrap() throws {
        let bytes = try WireBody.encode(sample)
        for length in 0..<bytes.count {
            #expect(throws: WireDecodingError.self) { try WireBody.decode(Sample.self, from: Array(bytes[..<length])) }
        }
    }

    @Test func trailingBytesAreRefused() throws {
        let bytes = try WireBody.encode(sample) + [0]
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(Sample.self, from: bytes) }
        #expect(error?.reason == .trailingBytes)
    }

    @Test func hostileLengthsAreRefusedBeforeAllocating() {
        struct Strings: Codable { var list: [String] }
        // A count of 2^62 elements in a 10-byte body.
        var writer = WireWriter()
        writer.writeVarUInt(1 << 62)
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(Strings.self, from: writer.bytes) }
        #expect(error?.reason == .lengthTooLarge)
        struct Text: Codable { var text: String }
        var long = WireWriter()
        long.writeVarUInt(UInt64.max)
        #expect(throws: WireDecodingError.self) { try WireBody.decode(Text.self, from: long.bytes) }
    }

    @Test func zeroByteArrayElementsAreRefused() {
        struct Empty: Codable {}
        struct Holder: Codable { var list: [Empty] }
        // Three elements that would each take no bytes: a loop bounded only by the count.
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(Holder.self, from: [2, 0, 0]) }
        #expect(error?.reason == .emptyElement)
    }

    @Test func overlongAndOverflowingVarintsAreRefused() throws {
        var padded = WireReader([0x80, 0x00])
        #expect(throws: WireDecodingError.self) { try padded.readVarUInt() }
        var tooLong = WireReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])
        #expect(throws: WireDecodingError.self) { try tooLong.readVarUInt() }
        var maximum = WireReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(try maximum.readVarUInt() == UInt64.max)
    }

    @Test func narrowIntegersAreRangeChecked() {
        struct Narrow: Codable { var value: Int8 }
        var writer = WireWriter()
        writer.writeVarInt(300)
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(Narrow.self, from: writer.bytes) }
        #expect(error?.reason == .valueOutOfRange)
        #expect(error?.path == "value")
    }

    @Test func invalidBoolsMarkersAndUTF8AreRefused() {
        struct Flag: Codable { var flag: Bool }
        #expect(throws: WireDecodingError.self) { try WireBody.decode(Flag.self, from: [2]) }
        struct Maybe: Codable { var value: Int64? }
        #expect(throws: WireDecodingError.self) { try WireBody.decode(Maybe.self, from: [7, 0]) }
        struct Text: Codable { var text: String }
        #expect(throws: WireDecodingError.self) { try WireBody.decode(Text.self, from: [2, 0xC3, 0x28]) }
    }

    @Test func unknownEnumValueNamesTheField() throws {
        struct Colored: Codable { var color: Sample.Color }
        let bytes = try WireBody.encode(["BLUE"])
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(Colored.self, from: bytes) }
        #expect(error?.reason == .invalidValue)
        #expect(error?.path == "color")
    }

    @Test func errorsDeepInsideNameTheWholePath() throws {
        struct Line: Codable { var sku: String; var flag: Bool; var color: Sample.Color? }
        struct Order: Codable { var id: String; var lines: [Line] }
        struct Envelope: Codable { var order: Order; var tags: [[Int8]] }
        var good = Envelope(
            order: Order(id: "o", lines: [Line(sku: "a", flag: true, color: nil), Line(sku: "b", flag: false, color: .red)]), tags: [[1], [2, 3]])
        #expect(try WireBody.decode(Envelope.self, from: try WireBody.encode(good)).order.lines[1].color == .red)

        var badFlag = try WireBody.encode(good)
        // order.id "o" (2 bytes), line count, line 0: "a" (2 bytes), flag at offset 5.
        badFlag[5] = 9
        let flagError = #expect(throws: WireDecodingError.self) { try WireBody.decode(Envelope.self, from: badFlag) }
        #expect(flagError?.reason == .invalidBool)
        #expect(flagError?.path == "order.lines[0].flag")

        good.tags = [[1], [2, 100]]
        var badTag = try WireBody.encode(good)
        badTag[badTag.count - 1] = 0x80  // 100 → a truncated varint at the very end
        badTag.append(0x02)  // ... that reads as 256, out of Int8's range
        let tagError = #expect(throws: WireDecodingError.self) { try WireBody.decode(Envelope.self, from: badTag) }
        #expect(tagError?.reason == .valueOutOfRange)
        #expect(tagError?.path == "tags[1][1]")

        // The same layout with the enum as text: an unknown value inside an optional in an array.
        struct LineText: Codable { var sku: String; var flag: Bool; var color: String? }
        struct OrderText: Codable { var id: String; var lines: [LineText] }
        struct EnvelopeText: Codable { var order: OrderText; var tags: [[Int8]] }
        let purple = try WireBody.encode(
            EnvelopeText(
                order: OrderText(id: "o", lines: [LineText(sku: "a", flag: true, color: "RED"), LineText(sku: "b", flag: true, color: "PURPLE")]),
                tags: []))
        let colorError = #expect(throws: WireDecodingError.self) { try WireBody.decode(Envelope.self, from: purple) }
        #expect(colorError?.reason == .invalidValue)
        #expect(colorError?.path == "order.lines[1].color")
    }

    @Test func dictionariesAreNotPartOfTheFormat() {
        struct Mapping: Codable { var map: [String: Int] }
        #expect(throws: (any Error).self) { try WireBody.encode(Mapping(map: ["a": 1])) }
        #expect(throws: WireDecodingError.self) { try WireBody.decode(Mapping.self, from: [0]) }
    }

    @Test func randomBytesNeverTrap() {
        var generator = SplitMix(seed: 0xC0DE)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 64)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? WireBody.decode(Sample.self, from: bytes)
        }
    }
}

/// A small deterministic generator so a failing random case can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
