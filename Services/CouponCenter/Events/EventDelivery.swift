import Messaging
import Postgres
import ServiceKit

/// The parts of a process that deliver the outbox (README "Events"): the dispatcher, which
/// publishes on PUB and queues webhook deliveries, and one deliverer per webhook.
enum EventDelivery {
    /// POSTs in flight at once per webhook, and deliveries taken per round.
    static let concurrentPostsPerWebhook = 16

    /// Opens the PUB socket when one is configured (an address in use fails the start). With TLS
    /// on, subscribers are held to the same allow-list as the binary protocol's callers.
    static func services(
        _ settings: EventSettings, database: PostgresPool, logger: Logger, metrics: Metrics, tls: TLSConfiguration? = nil
    ) throws
        -> [any LifecycleService]
    {
        let publisher = try settings.publishURL.map { url throws(MessagingError) in try Publisher(url: url, tls: tls) }
        if let publisher { logger.info("publishing events", [("events", publisher.url)]) }
        let pollInterval = Duration.milliseconds(settings.pollMilliseconds)
        let dispatcher = EventDispatcher(
            database: database, publisher: publisher, webhookURLs: settings.webhooks.map(\.url), batchSize: settings.batchSize,
            pollInterval: pollInterval, retentionHours: settings.retentionHours, logger: logger, metrics: metrics)
        let deliverers = settings.webhooks.map { webhook in
            WebhookDeliverer(
                webhook: webhook, database: database, secret: settings.webhookSecret, timeoutMilliseconds: settings.webhookTimeoutMilliseconds,
                retry: settings.retry, concurrency: concurrentPostsPerWebhook, pollInterval: pollInterval, logger: logger, metrics: metrics)
        }
        for deliverer in deliverers { logger.info("delivering events to a webhook", [("webhook", deliverer.label)]) }
        return [dispatcher] + deliverers
    }
}
