import Foundation
import Messaging
import ServiceKit

/// How this process delivers the outbox's events (README "Events"): the PUB address, the webhooks
/// with their secret, and the retry schedule.
struct EventSettings: Sendable {
    /// Where the pub0 socket listens; nil publishes nothing (the default: two processes on one
    /// machine cannot share an address).
    var publishURL: String?
    var webhooks: [Webhook]
    /// The HMAC-SHA256 key of the webhook signatures, as bytes.
    var webhookSecret: [UInt8]
    var webhookTimeoutMilliseconds: Int
    var retry: RetryPolicy
    var pollMilliseconds: Int
    var batchSize: Int
    /// Hours a dispatched event (and its finished deliveries) is kept; 0 keeps everything.
    var retentionHours: Int

    struct Webhook: Sendable, Equatable {
        /// As configured; the key of its delivery rows.
        var url: String
        var target: HTTPURL
    }

    static let options: [ConfigOption] = [
        ConfigOption(
            "events-url", env: "COUPON_EVENTS_URL", default: "",
            "NNG PUB address events are published on, e.g. tcp://127.0.0.1:7103 (empty: no PUB socket)"),
        ConfigOption(
            "webhook-urls", env: "COUPON_WEBHOOK_URLS", default: "", "http:// URLs every event is POSTed to, comma-separated (empty: none)"),
        ConfigOption("webhook-secret", env: "COUPON_WEBHOOK_SECRET", default: "", "HMAC-SHA256 key of X-Coupon-Signature (required with webhooks)"),
        ConfigOption("webhook-timeout-ms", env: "COUPON_WEBHOOK_TIMEOUT_MS", default: "5000", "time a webhook has to answer one POST"),
        ConfigOption(
            "webhook-retry-base-ms", env: "COUPON_WEBHOOK_RETRY_BASE_MS", default: "1000",
            "wait before the first retry of a failed POST; doubles per attempt, with jitter"),
        ConfigOption("webhook-retry-max-ms", env: "COUPON_WEBHOOK_RETRY_MAX_MS", default: "300000", "longest wait between two attempts"),
        ConfigOption(
            "webhook-max-attempts", env: "COUPON_WEBHOOK_MAX_ATTEMPTS", default: "25",
            "attempts after which a delivery is dead-lettered (so is one whose event is over a day old)"),
        ConfigOption("events-poll-ms", env: "COUPON_EVENTS_POLL_MS", default: "200", "how often an idle delivery looks for new events"),
        ConfigOption("events-batch", env: "COUPON_EVENTS_BATCH", default: "500", "most events published in one transaction"),
        ConfigOption(
            "events-retention-hours", env: "COUPON_EVENTS_RETENTION_HOURS", default: "168",
            "hours a dispatched event with no pending delivery is kept before it is pruned (0: never pruned)"),
    ]

    static let maxSecretBytes = 4096

    init(_ values: ConfigValues) throws(ConfigError) {
        let publish = values.string("events-url").trimmingCharacters(in: .whitespaces)
        if publish.isEmpty {
            publishURL = nil
        } else {
            let urls = try values.nngURLs("events-url")
            guard urls.count == 1 else { throw ConfigError("--events-url / COUPON_EVENTS_URL: one address, not \(urls.count)") }
            publishURL = urls[0]
        }
        var webhooks: [Webhook] = []
        for url in values.string("webhook-urls").split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) where !url.isEmpty {
            do {
                webhooks.append(Webhook(url: url, target: try HTTPURL(parsing: url)))
            } catch {
                throw ConfigError("--webhook-urls / COUPON_WEBHOOK_URLS: '\(redacted(url))' is not an http://host[:port]/path URL (\(error.text))")
            }
            guard webhooks.filter({ $0.url == url }).count == 1 else {
                throw ConfigError("--webhook-urls / COUPON_WEBHOOK_URLS: '\(redacted(url))' is listed twice")
            }
            guard url.utf8.count <= 2048 else { throw ConfigError("--webhook-urls / COUPON_WEBHOOK_URLS: a URL is over 2048 bytes") }
        }
        self.webhooks = webhooks
        webhookSecret = Array(values.string("webhook-secret").utf8)
        if !webhooks.isEmpty && webhookSecret.isEmpty {
            throw ConfigError("--webhook-secret / COUPON_WEBHOOK_SECRET: required when webhooks are configured (every POST is signed)")
        }
        guard webhookSecret.count <= Self.maxSecretBytes else {
            throw ConfigError("--webhook-secret / COUPON_WEBHOOK_SECRET: longer than \(Self.maxSecretBytes) bytes")
        }
        webhookTimeoutMilliseconds = try values.int("webhook-timeout-ms", in: 100...120_000)
        let base = try values.int("webhook-retry-base-ms", in: 10...3_600_000)
        let cap = try values.int("webhook-retry-max-ms", in: base...86_400_000)
        retry = RetryPolicy(
            baseMilliseconds: base, maxMilliseconds: cap, maxAttempts: try values.int("webhook-max-attempts", in: 1...1000),
            giveUpAfterMilliseconds: 86_400_000)
        pollMilliseconds = try values.int("events-poll-ms", in: 10...60_000)
        batchSize = try values.int("events-batch", in: 1...10_000)
        retentionHours = try values.int("events-retention-hours", in: 0...87_600)
    }
}
