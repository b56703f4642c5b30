import Messaging
import ServiceKit
import Wire

/// events tail: coupon-center's events as they are published on its PUB socket (README "Events").
/// PUB keeps nothing, so this shows what happens from now on, not what happened before.
enum EventCommands {
    static let all: [Command] = [events]

    static let events = Command(
        name: "events",
        summary: "events tail: print events from coupon-center's PUB socket(s) as they are published",
        options: [
            ConfigOption(
                "events-url", env: "COUPON_EVENTS_URL", default: "tcp://127.0.0.1:7103",
                "PUB address(es) to subscribe to, comma-separated (one per coupon-center process)"),
            ConfigOption("kind", default: "", "only events whose kind starts with this, e.g. coupon.used or coupon."),
            ConfigOption("count", default: "0", "stop after this many events (0: until interrupted)"),
        ],
        takesPositional: true
    ) { values, output in
        guard values.positional == ["tail"] else { throw ConfigError("events needs the action tail") }
        let urls = try values.nngURLs("events-url")
        let limit = try values.int("count", in: 0...Int.max)
        let subscriber = try Subscriber(urls: urls, prefixes: [values.string("kind")], tls: try values.tls(dialing: urls, urlFlag: "events-url"))
        defer { subscriber.close() }
        var printed = 0
        while limit == 0 || printed < limit {
            guard let bytes = try await subscriber.receive(timeoutMilliseconds: 1_000) else { continue }
            guard let message = EventMessage.decode(bytes) else {
                ProcessEnvironment.writeError("couponctl events: skipped a \(bytes.count)-byte message that is not an event\n")
                continue
            }
            let document = String(decoding: message.document, as: UTF8.self)
            // --json: one JSON object per line, for jq; otherwise the kind first, for people.
            print(output.json ? document : "\(message.kind)  \(document)")
            printed += 1
        }
    }
}
