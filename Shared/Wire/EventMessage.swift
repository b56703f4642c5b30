/// One event on the events PUB socket (PROTOCOL.md, "Events on PUB"): the event's kind as a topic,
/// one space, then the event's JSON document, all UTF-8, no header and no reply.
///
/// ```
/// coupon.used {"kind": "coupon.used", "amount": 30.00, "userId": "u-1", "eventId": "5f0c3b8e-…", …}
/// ```
///
/// nng's sub0 filters by byte prefix, so a subscriber takes `coupon.` for every coupon event,
/// `coupon.used ` (with the space) for exactly one kind, or the empty prefix for everything.
public struct EventMessage: Sendable, Equatable {
    public var kind: String
    /// The event's JSON object, as the outbox rendered it (the same bytes a webhook receives).
    public var document: [UInt8]

    public init(kind: String, document: [UInt8]) {
        self.kind = kind
        self.document = document
    }

    public static let separator: UInt8 = 0x20

    public func encoded() -> [UInt8] {
        Array(kind.utf8) + [Self.separator] + document
    }

    /// nil unless the bytes are a non-empty topic without spaces or control bytes, a space, and
    /// a document that starts like a JSON object.
    public static func decode(_ bytes: [UInt8]) -> EventMessage? {
        guard let space = bytes.firstIndex(of: separator), space > 0, space < 256 else { return nil }
        let topic = bytes[..<space]
        guard topic.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let document = Array(bytes[(space + 1)...])
        guard document.first == UInt8(ascii: "{") else { return nil }
        return EventMessage(kind: String(decoding: topic, as: UTF8.self), document: document)
    }
}
