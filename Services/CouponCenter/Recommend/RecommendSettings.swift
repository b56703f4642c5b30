import Domain
import ServiceKit
import Wire

/// The recommendations' configuration (README "Configuration"): the policy served when a request
/// names none, the holdout share of v1, the seed of v1's draws, and how long a decision waits for
/// its outcome when the user asks for no other recommendation.
struct RecommendSettings: Sendable {
    var policy: RecommendPolicy
    /// Users whose holdout bucket (0…9,999) is below this are served by v0 when v1 is asked for.
    var holdoutBasisPoints: Int32
    var seed: UInt64
    var attributionSeconds: Int64
    var draws: Int

    static let options: [ConfigOption] = [
        ConfigOption(
            "recommend-policy", env: "COUPON_RECOMMEND_POLICY", default: "v0", "policy of GET /api/coupon/recommend without policy=: v0 or v1"),
        ConfigOption(
            "recommend-holdout-percent", env: "COUPON_RECOMMEND_HOLDOUT_PERCENT", default: "10",
            "percent of users (0…50, by a hash of the user id) served by v0 while v1 is on: the holdout"),
        ConfigOption("recommend-seed", env: "COUPON_RECOMMEND_SEED", default: "1", "seed of policy v1's random draws (a whole number)"),
        ConfigOption(
            "recommend-attribution-seconds", env: "COUPON_RECOMMEND_ATTRIBUTION_SECONDS", default: "259200",
            "how long a recommendation's outcome is awaited when the user asks for no new one (60…2592000)"),
    ]

    init(_ values: ConfigValues) throws(ConfigError) {
        switch values.string("recommend-policy").lowercased() {
        case "v0": policy = .v0
        case "v1": policy = .v1
        default: throw ConfigError("--recommend-policy / COUPON_RECOMMEND_POLICY: '\(values.string("recommend-policy"))' is neither v0 nor v1")
        }
        holdoutBasisPoints = Int32(try values.int("recommend-holdout-percent", in: 0...50) * 100)
        guard let seed = UInt64(values.string("recommend-seed")) else {
            throw ConfigError("--recommend-seed / COUPON_RECOMMEND_SEED: '\(values.string("recommend-seed"))' is not a whole number 0…2^64−1")
        }
        self.seed = seed
        attributionSeconds = Int64(try values.int("recommend-attribution-seconds", in: 60...2_592_000))
        draws = ThompsonSampling.defaultDraws
    }

    init(policy: RecommendPolicy, holdoutBasisPoints: Int32, seed: UInt64, attributionSeconds: Int64) {
        self.policy = policy
        self.holdoutBasisPoints = holdoutBasisPoints
        self.seed = seed
        self.attributionSeconds = attributionSeconds
        draws = ThompsonSampling.defaultDraws
    }
}
