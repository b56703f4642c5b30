import ServiceKit
import Testing

@testable import CouponCenter

/// `COUPON_REDIS_URL` takes the three forms, and a malformed one stops the start with a message
/// naming the setting and what is wrong (the form's own parser, `RedisConfig(url:)`, says what).
@Suite struct RedisURLConfigurationTests {
    static func configuration(redisURL: String) throws -> CouponCenterConfiguration {
        guard
            case .run(let values) = try ConfigParser.parse(
                program: "coupon-center", summary: "", options: CouponCenterConfiguration.options, arguments: [],
                environment: ["COUPON_REDIS_URL": redisURL])
        else { throw ConfigError("no values") }
        return try CouponCenterConfiguration(values)
    }

    @Test(arguments: [
        "redis://127.0.0.1:56379/0", "redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/coupon/0",
        "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
    ])
    func everyRedisURLFormIsAccepted(url: String) throws {
        #expect(try Self.configuration(redisURL: url).redisURL == url)
    }

    @Test(arguments: [
        ("redis-sentinel://127.0.0.1:26379", "names its master"), ("redis-cluster://127.0.0.1:7000/3", "database 0 only"),
        ("redis-cluster://127.0.0.1:7000,,127.0.0.1:7001", "empty cluster seed address"), ("rediss://127.0.0.1:6379", "must start with"),
    ])
    func aBadRedisURLStopsTheStartSayingWhichSettingAndWhy(url: String, expected: String) throws {
        do {
            _ = try Self.configuration(redisURL: url)
            Issue.record("\(url) was accepted")
        } catch let error as ConfigError {
            #expect(error.message.contains("COUPON_REDIS_URL"), "\(error.message)")
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}
