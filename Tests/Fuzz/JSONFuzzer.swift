// libFuzzer target `json`: the strict JSON parser of Shared/Wire/JSON.swift, which reads every HTTP
// body, the risk rules file and the rows PostgreSQL returns as JSON. Deploy/fuzz compiles this file
// and FuzzSupport.swift against the Wire module.
//
// The contract: any byte string parses to a value or throws a `JSONError` whose offset lies inside
// the input, never a trap and never unbounded recursion (depth is limited). On top of that:
//   - what parses serialises to text that parses back to an equal value (re-serialise/re-parse),
//   - and serialising that again gives the very same bytes (the serialiser is deterministic).
import Wire

func fuzzTarget(_ bytes: [UInt8]) {
    let value: JSONValue
    do {
        value = try JSONParser.parse(bytes)
    } catch {
        guard error.offset >= 0, error.offset <= bytes.count else {
            propertyFailed("JSONError offset \(error.offset) outside the \(bytes.count)-byte input", input: bytes)
        }
        _ = error.description
        return
    }
    let text = value.bytes
    guard String(decoding: text, as: UTF8.self).utf8.elementsEqual(text) else {
        propertyFailed("the serialised value is not valid UTF-8", input: bytes)
    }
    let again: JSONValue
    do {
        again = try JSONParser.parse(text)
    } catch {
        propertyFailed("the serialised value does not parse (\(error)): \(hex(text))", input: bytes)
    }
    guard again == value else { propertyFailed("re-parsing the serialised value changed it", input: bytes) }
    guard again.bytes == text else { propertyFailed("serialising twice gave different bytes", input: bytes) }
    _ = value.typeName
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let texts: [(String, String)] = [
        (
            "template",
            #"{"name":"满200减30","type":"CASH","threshold":200,"discount":30,"startTime":"2026-11-11T00:00:00+08:00","endTime":"2026-11-18T00:00:00+08:00","totalStock":1000,"tiers":[{"segment":"VIP","threshold":100,"discount":20.5}]}"#
        ),
        ("escapes", #"["a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00", -0.5e-3, 1E+2, true, false, null, {}, []]"#),
        ("nested", String(repeating: "[", count: 40) + String(repeating: "]", count: 40)),
        ("rules", #"{"userLimitPerWindow": 10, "velocityWindowSeconds": 30, "highValueCents": 50000}"#),
        ("scalar", " 12345678901234567890 "),
    ]
    return texts.map { ($0.0, Array($0.1.utf8)) }
}
