import Testing
import Wire

/// PROTOCOL.md, "Events on PUB": topic, one space, the JSON document.
@Suite struct EventMessageTests {
    @Test func encodesAsTopicSpaceDocument() {
        let message = EventMessage(kind: "coupon.used", document: Array(#"{"kind": "coupon.used"}"#.utf8))
        #expect(message.encoded() == Array(#"coupon.used {"kind": "coupon.used"}"#.utf8))
        #expect(EventMessage.decode(message.encoded()) == message)
    }

    @Test func decodingRefusesWhatIsNotAnEvent() {
        for text in ["", " {}", "coupon.used", "coupon.used x", "coupon\tused {}", "coupon.used  {}"] {
            #expect(EventMessage.decode(Array(text.utf8)) == nil, "\(text.debugDescription) decoded")
        }
        #expect(EventMessage.decode(Array(repeating: 0x61, count: 300) + [0x20, 0x7B]) == nil)
        #expect(EventMessage.decode([0xFF, 0x20, 0x7B]) == nil)
    }
}
