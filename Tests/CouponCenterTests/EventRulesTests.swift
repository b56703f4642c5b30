import ServiceKit
import Signatures
import Testing

@testable import CouponCenter

/// The pure parts of event delivery: the retry schedule, the signature, the settings.
@Suite struct EventRulesTests {
    let policy = RetryPolicy(baseMilliseconds: 1_000, maxMilliseconds: 60_000, maxAttempts: 10, giveUpAfterMilliseconds: 86_400_000)

    @Test func retriesDoubleFromTheBaseUpToTheCapWithJitterInTheUpperHalf() {
        #expect(policy.ceiling(attempts: 1) == 1_000)
        #expect(policy.ceiling(attempts: 2) == 2_000)
        #expect(policy.ceiling(attempts: 6) == 32_000)
        #expect(policy.ceiling(attempts: 7) == 60_000)
        #expect(policy.ceiling(attempts: 9) == 60_000)
        #expect(policy.afterFailure(attempts: 3, ageMilliseconds: 0, jitter: { $0.lowerBound }) == .retry(afterMilliseconds: 2_000))
        #expect(policy.afterFailure(attempts: 3, ageMilliseconds: 0, jitter: { $0.upperBound }) == .retry(afterMilliseconds: 4_000))
        // A jitter source that strays out of its range is held inside it.
        #expect(policy.afterFailure(attempts: 1, ageMilliseconds: 0, jitter: { _ in -5 }) == .retry(afterMilliseconds: 500))
        #expect(policy.afterFailure(attempts: 1, ageMilliseconds: 0, jitter: { _ in Int.max }) == .retry(afterMilliseconds: 1_000))
        for attempts in 1..<10 {
            guard case .retry(let wait) = policy.afterFailure(attempts: attempts, ageMilliseconds: 0) else {
                Issue.record("attempt \(attempts) was given up")
                continue
            }
            #expect(wait >= policy.ceiling(attempts: attempts) / 2 && wait <= policy.ceiling(attempts: attempts))
        }
    }

    @Test func hugeAttemptCountsNeitherOverflowNorShortenTheWait() {
        let generous = RetryPolicy(baseMilliseconds: 3_600_000, maxMilliseconds: 86_400_000, maxAttempts: 1000, giveUpAfterMilliseconds: .max)
        #expect(generous.ceiling(attempts: 999) == 86_400_000)
        #expect(generous.ceiling(attempts: Int.max) == 86_400_000)
        #expect(generous.ceiling(attempts: Int.min) == 3_600_000)
    }

    @Test func aDeliveryIsGivenUpAfterItsAttemptsOrADay() {
        #expect(policy.afterFailure(attempts: 10, ageMilliseconds: 0) == .deadLetter(reason: "failed 10 attempts"))
        guard case .deadLetter = policy.afterFailure(attempts: 2, ageMilliseconds: 86_400_000) else {
            Issue.record("a day-old event was retried")
            return
        }
        guard case .retry = policy.afterFailure(attempts: 9, ageMilliseconds: 86_399_999) else {
            Issue.record("a delivery with attempts and time left was given up")
            return
        }
    }

    @Test func hmacIsOpenSSLsOnTheRFC4231Vector() throws {
        // RFC 4231, test case 2.
        #expect(
            try HMACSHA256.hex(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(try HMACSHA256.authenticate([], key: []).count == 32)
    }

    @Test func theSignatureCoversTheTimestampAndTheExactBody() throws {
        let body = Array(#"{"kind": "coupon.used"}"#.utf8)
        let headers = try WebhookSignature.headers(eventId: "e-1", body: body, secret: Array("s3cret".utf8), timestamp: 1_700_000_000)
        let byName = Dictionary(headers, uniquingKeysWith: { first, _ in first })
        // Computed with: printf '%s.%s' 1700000000 '{"kind": "coupon.used"}' | openssl dgst -sha256 -hmac s3cret
        #expect(byName["X-Coupon-Signature"] == "sha256=cd53672f2ccff7c8000cb94aa5ebe7334d412d1e2246f6682aa9e09842ee0ca3")
        #expect(byName["X-Coupon-Timestamp"] == "1700000000")
        #expect(byName["X-Coupon-Event-Id"] == "e-1")
        let other = try WebhookSignature.headers(eventId: "e-1", body: body, secret: Array("s3cret".utf8), timestamp: 1_700_000_001)
        #expect(Dictionary(other, uniquingKeysWith: { first, _ in first })["X-Coupon-Signature"] != byName["X-Coupon-Signature"])
    }

    static func settings(_ environment: [String: String]) throws -> EventSettings {
        guard
            case .run(let values) = try ConfigParser.parse(
                program: "coupon-center", summary: "", options: EventSettings.options, arguments: [], environment: environment)
        else { throw ConfigError("no values") }
        return try EventSettings(values)
    }

    @Test func settingsDefaultToNoPublisherAndNoWebhooks() throws {
        let settings = try Self.settings([:])
        #expect(settings.publishURL == nil)
        #expect(settings.webhooks.isEmpty)
        let configured = try Self.settings([
            "COUPON_EVENTS_URL": "tcp://127.0.0.1:7103", "COUPON_WEBHOOK_URLS": "http://127.0.0.1:9000/hook, http://[::1]:9001",
            "COUPON_WEBHOOK_SECRET": "k",
        ])
        #expect(configured.publishURL == "tcp://127.0.0.1:7103")
        #expect(configured.webhooks.map(\.url) == ["http://127.0.0.1:9000/hook", "http://[::1]:9001"])
        #expect(configured.webhooks.map(\.target.requestTarget) == ["/hook", "/"])
        #expect(configured.webhooks.map(\.target.port) == ["9000", "9001"])
    }

    @Test func settingsRefuseUnsignedOrUnusableWebhooks() {
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_WEBHOOK_URLS": "http://127.0.0.1:9000/"]) }
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_WEBHOOK_URLS": "https://example.com/", "COUPON_WEBHOOK_SECRET": "k"]) }
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_WEBHOOK_URLS": "ftp://x/", "COUPON_WEBHOOK_SECRET": "k"]) }
        #expect(throws: ConfigError.self) {
            try Self.settings(["COUPON_WEBHOOK_URLS": "http://a:1/,http://a:1/", "COUPON_WEBHOOK_SECRET": "k"])
        }
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_EVENTS_URL": "http://127.0.0.1:7103"]) }
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_EVENTS_URL": "tcp://127.0.0.1:7103,tcp://127.0.0.1:7104"]) }
        #expect(throws: ConfigError.self) { try Self.settings(["COUPON_WEBHOOK_RETRY_BASE_MS": "5000", "COUPON_WEBHOOK_RETRY_MAX_MS": "10"]) }
    }
}
