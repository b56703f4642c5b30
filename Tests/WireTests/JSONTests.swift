import Testing

@testable import Wire

@Suite struct JSONTests {
    @Test func parsesEveryKindAndKeepsNumbersAsText() throws {
        let value = try JSONParser.parse(Array(#" {"a": [1, -2.50, 3e2, true, false, null], "b": "x\"y\\z\u00e9\ud83d\ude00", "c": {}} "#.utf8))
        #expect(value["a"] == .array([.number("1"), .number("-2.50"), .number("3e2"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\"y\\zé😀"))
        #expect(value["c"] == .object([]))
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "+1", ".5", "1e", "tru", "nul",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "{\"a\":1}{", "[1 2]", "\"tab\tinside\"",
        "{\"a\":1,\"a\":2}", "NaN", "Infinity",
    ])
    func refusesInvalidText(text: String) {
        #expect(throws: JSONError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
    }

    @Test func serialisesAndParsesBack() throws {
        let value = JSONValue.object([
            ("name", .string("满200减30 \"quoted\"\n\u{01}")), ("amount", .number("199.99")), ("list", .array([.null, .bool(true)])),
        ])
        let text = value.serialized()
        #expect(text == #"{"name":"满200减30 \"quoted\"\n\u0001","amount":199.99,"list":[null,true]}"#)
        #expect(try JSONParser.parse(Array(text.utf8)) == value)
    }
}
