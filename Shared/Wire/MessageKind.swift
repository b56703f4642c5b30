/// What a frame carries. Requests and their replies share the kind; the reply flag tells them apart.
/// Ranges: 0x00xx every service, 0x01xx coupon-center, 0x02xx rule-engine, 0x03xx risk-control.
/// A number, once published, is never reused for another message (see PROTOCOL.md).
public struct MessageKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // Every service.
    public static let ping = MessageKind(rawValue: 0x0001)
    public static let serviceStats = MessageKind(rawValue: 0x0002)

    /// Names for logs and metrics labels; unknown kinds print as hex.
    public static let names: [MessageKind: String] = [
        .ping: "ping",
        .serviceStats: "service_stats",
    ]

    public var name: String { Self.names[self] ?? "kind_0x" + String(rawValue, radix: 16) }
    public var description: String { name }
}
