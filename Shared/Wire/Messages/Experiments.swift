/// A/B experiments (0x0130–0x0138): arms that are coupon templates, users split into 10,000
/// buckets by a keyed hash of the experiment's salt and their id, claims through the experiment,
/// and results with their statistics. Rates travel as doubles (never money); alpha and the minimum
/// lift as basis points (0.05 = 500, +12% = 1,200), so nothing a caller sends is a binary float.

public enum ExperimentStatus: String, Codable, Sendable, CaseIterable {
    /// Created, not yet assigning anyone: claims through it are refused.
    case draft = "DRAFT"
    /// Assigning users and taking claims.
    case running = "RUNNING"
    /// No more claims through it; results stay readable, rollout still possible.
    case stopped = "STOPPED"
    /// Everyone is assigned the rollout arm; claims through it go there.
    case rolledOut = "ROLLED_OUT"
}

/// What the verdict is judged on. `USE_RATE` is the seed's 核销率, uses ÷ claims (each claimed
/// coupon a trial: the two-proportion z test); `USE_RATE_PER_EXPOSED` is uses ÷ exposed users
/// (per-user use counts, zeros included: Welch's t test).
public enum ExperimentMetric: String, Codable, Sendable, CaseIterable {
    case useRate = "USE_RATE"
    case useRatePerExposed = "USE_RATE_PER_EXPOSED"
}

/// `SEED`: significant (p < alpha) and the point lift at least the minimum lift, the article's
/// rule. `LOWER_BOUND`: also the interval's lower bound at least the minimum lift.
public enum DecisionRule: String, Codable, Sendable, CaseIterable {
    case seed = "SEED"
    case lowerBound = "LOWER_BOUND"
}

public enum ExperimentVerdict: String, Codable, Sendable, CaseIterable {
    case rollOut = "ROLL_OUT"
    case hold = "HOLD"
    case insufficientData = "INSUFFICIENT_DATA"
}

/// One arm: a name, its share of the 10,000 buckets, and the template a user of it claims.
public struct ExperimentArmSpec: Codable, Sendable, Equatable {
    public var name: String
    public var templateId: String
    /// Buckets of 10,000 (5,000 = 50%); the arms' weights add up to 10,000.
    public var weightBuckets: Int32

    public init(name: String, templateId: String, weightBuckets: Int32) {
        self.name = name
        self.templateId = templateId
        self.weightBuckets = weightBuckets
    }
}

public struct ExperimentSpec: Codable, Sendable, Equatable {
    public var name: String
    public var hypothesis: String
    /// 2…10 arms; the first is the control every other arm is compared with.
    public var arms: [ExperimentArmSpec]
    public var primaryMetric: ExperimentMetric
    /// The smallest relative lift worth rolling out, in basis points (+12% = 1,200), 1…9,999.
    public var minLiftBasisPoints: Int32
    /// The test's significance level in basis points (0.05 = 500), 1…5,000.
    public var alphaBasisPoints: Int32
    public var decisionRule: DecisionRule

    public init(
        name: String, hypothesis: String, arms: [ExperimentArmSpec], primaryMetric: ExperimentMetric = .useRate, minLiftBasisPoints: Int32,
        alphaBasisPoints: Int32 = 500, decisionRule: DecisionRule = .seed
    ) {
        self.name = name
        self.hypothesis = hypothesis
        self.arms = arms
        self.primaryMetric = primaryMetric
        self.minLiftBasisPoints = minLiftBasisPoints
        self.alphaBasisPoints = alphaBasisPoints
        self.decisionRule = decisionRule
    }
}

public struct ExperimentView: Codable, Sendable, Equatable {
    public var experimentId: String
    public var spec: ExperimentSpec
    public var status: ExperimentStatus
    /// Set once rolled out: the arm everyone is assigned now.
    public var rolloutArm: String?
    public var createdMilliseconds: Int64
    public var startedMilliseconds: Int64?
    public var stoppedMilliseconds: Int64?

    public init(
        experimentId: String, spec: ExperimentSpec, status: ExperimentStatus, rolloutArm: String?, createdMilliseconds: Int64,
        startedMilliseconds: Int64?, stoppedMilliseconds: Int64?
    ) {
        self.experimentId = experimentId
        self.spec = spec
        self.status = status
        self.rolloutArm = rolloutArm
        self.createdMilliseconds = createdMilliseconds
        self.startedMilliseconds = startedMilliseconds
        self.stoppedMilliseconds = stoppedMilliseconds
    }
}

/// `experiment_create` (0x0130): `POST /api/admin/experiments`; the experiment starts as DRAFT.
public struct CreateExperimentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentView
    public static let kind = MessageKind.experimentCreate
    public var spec: ExperimentSpec
    public init(spec: ExperimentSpec) { self.spec = spec }
}

/// `experiment_get` (0x0131): `GET /api/admin/experiments/{id}`.
public struct GetExperimentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentView
    public static let kind = MessageKind.experimentGet
    public var experimentId: String
    public init(experimentId: String) { self.experimentId = experimentId }
}

/// `experiment_list` (0x0132): `GET /api/admin/experiments?limit=`, newest first.
public struct ListExperimentsRequest: WireRequest, Equatable {
    public typealias Response = ExperimentList
    public static let kind = MessageKind.experimentList
    public var limit: Int32
    public init(limit: Int32 = 100) { self.limit = limit }
}

public struct ExperimentList: Codable, Sendable, Equatable {
    public var experiments: [ExperimentView]
    public init(experiments: [ExperimentView]) { self.experiments = experiments }
}

/// `experiment_start` (0x0133): `POST /api/admin/experiments/{id}/start`, DRAFT → RUNNING.
public struct StartExperimentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentView
    public static let kind = MessageKind.experimentStart
    public var experimentId: String
    public init(experimentId: String) { self.experimentId = experimentId }
}

/// `experiment_stop` (0x0134): `POST /api/admin/experiments/{id}/stop`, RUNNING → STOPPED.
public struct StopExperimentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentView
    public static let kind = MessageKind.experimentStop
    public var experimentId: String
    public init(experimentId: String) { self.experimentId = experimentId }
}

/// `experiment_rollout` (0x0135): `POST /api/admin/experiments/{id}/rollout`, RUNNING or STOPPED →
/// ROLLED_OUT. With `arm` absent the results must say ROLL_OUT and name the winner.
public struct RolloutExperimentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentView
    public static let kind = MessageKind.experimentRollout
    public var experimentId: String
    public var arm: String?
    public init(experimentId: String, arm: String? = nil) {
        self.experimentId = experimentId
        self.arm = arm
    }
}

/// `experiment_results` (0x0136): `GET /api/admin/experiments/{id}/results`.
public struct ExperimentResultsRequest: WireRequest, Equatable {
    public typealias Response = ExperimentResults
    public static let kind = MessageKind.experimentResults
    public var experimentId: String
    public init(experimentId: String) { self.experimentId = experimentId }
}

/// `experiment_assignment` (0x0137): `GET /api/coupon/experiments/{id}/assignment?userId=`. Reads
/// only: the exposure is recorded by a claim through the experiment.
public struct ExperimentAssignmentRequest: WireRequest, Equatable {
    public typealias Response = ExperimentAssignment
    public static let kind = MessageKind.experimentAssignment
    public var experimentId: String
    public var userId: String
    public init(experimentId: String, userId: String) {
        self.experimentId = experimentId
        self.userId = userId
    }
}

public struct ExperimentAssignment: Codable, Sendable, Equatable {
    public var experimentId: String
    public var userId: String
    public var arm: String
    public var templateId: String
    /// The user's bucket, 0…9,999 (the same on every process, for ever).
    public var bucket: Int32
    /// True once rolled out: the arm is the rollout arm, whatever the bucket.
    public var rolledOut: Bool

    public init(experimentId: String, userId: String, arm: String, templateId: String, bucket: Int32, rolledOut: Bool) {
        self.experimentId = experimentId
        self.userId = userId
        self.arm = arm
        self.templateId = templateId
        self.bucket = bucket
        self.rolledOut = rolledOut
    }
}

/// `experiment_claim` (0x0138): a claim through an experiment, `POST /api/coupon/issue` with
/// `experimentId`. Its own kind, not a seventh field of `claim` (0x0110), so that callers of the
/// six-field claim keep working (PROTOCOL.md "Versioning"). The user's arm decides the template;
/// the exposure is recorded once; the reply is the claim's.
public struct ExperimentClaimRequest: WireRequest, Equatable {
    public typealias Response = ClaimResponse
    public static let kind = MessageKind.experimentClaim
    public var userId: String
    public var experimentId: String
    public var channel: String
    public var deviceId: String?
    public var ip: String?
    public var requestId: String?

    public init(userId: String, experimentId: String, channel: String, deviceId: String? = nil, ip: String? = nil, requestId: String? = nil) {
        self.userId = userId
        self.experimentId = experimentId
        self.channel = channel
        self.deviceId = deviceId
        self.ip = ip
        self.requestId = requestId
    }
}

/// One arm's counts: users exposed (first claim through the experiment), coupons of the arm's
/// template they hold, of those used (net of refunds), the orders' amount and the discount.
public struct ArmResult: Codable, Sendable, Equatable {
    public var name: String
    public var templateId: String
    public var weightBuckets: Int32
    public var exposedUsers: Int64
    public var claims: Int64
    public var uses: Int64
    public var orderAmountCents: Int64
    public var discountCents: Int64
    /// uses ÷ claims; absent without claims.
    public var useRate: Double?
    /// uses ÷ exposed users; absent without exposures.
    public var useRatePerExposed: Double?
    /// (order amount − discount) ÷ discount; absent without discount.
    public var roi: Double?
    /// discount ÷ order amount; absent without orders.
    public var costRatio: Double?

    public init(
        name: String, templateId: String, weightBuckets: Int32, exposedUsers: Int64, claims: Int64, uses: Int64, orderAmountCents: Int64,
        discountCents: Int64, useRate: Double?, useRatePerExposed: Double?, roi: Double?, costRatio: Double?
    ) {
        self.name = name
        self.templateId = templateId
        self.weightBuckets = weightBuckets
        self.exposedUsers = exposedUsers
        self.claims = claims
        self.uses = uses
        self.orderAmountCents = orderAmountCents
        self.discountCents = discountCents
        self.useRate = useRate
        self.useRatePerExposed = useRatePerExposed
        self.roi = roi
        self.costRatio = costRatio
    }
}

/// A two-sided test of one arm against the control: the rates, their difference with its
/// interval, the relative lift with its delta-method interval, the statistic and its p-value.
/// Intervals are at the level 1 − alpha the verdict uses (95% at the default alpha).
public struct EffectTest: Codable, Sendable, Equatable {
    public var control: Double
    public var treatment: Double
    public var difference: Double
    public var differenceLow: Double
    public var differenceHigh: Double
    /// treatment ÷ control − 1; absent when the control's rate is 0.
    public var relativeLift: Double?
    public var liftLow: Double?
    public var liftHigh: Double?
    /// z (pooled two-proportion) or Welch's t.
    public var statistic: Double
    /// Welch–Satterthwaite degrees of freedom; absent for the z test.
    public var degreesOfFreedom: Double?
    public var pValue: Double

    public init(
        control: Double, treatment: Double, difference: Double, differenceLow: Double, differenceHigh: Double, relativeLift: Double?,
        liftLow: Double?, liftHigh: Double?, statistic: Double, degreesOfFreedom: Double?, pValue: Double
    ) {
        self.control = control
        self.treatment = treatment
        self.difference = difference
        self.differenceLow = differenceLow
        self.differenceHigh = differenceHigh
        self.relativeLift = relativeLift
        self.liftLow = liftLow
        self.liftHigh = liftHigh
        self.statistic = statistic
        self.degreesOfFreedom = degreesOfFreedom
        self.pValue = pValue
    }
}

/// One arm against the control: both tests (either absent when undefined: no trials, or no
/// variance), the power to see the minimum lift with the samples so far, the samples per arm it
/// needs at power 0.8 (claims for USE_RATE, exposed users for USE_RATE_PER_EXPOSED) and how many
/// more, and what each rule says.
public struct ArmComparison: Codable, Sendable, Equatable {
    public var arm: String
    public var control: String
    /// uses ÷ claims, pooled two-proportion z.
    public var useRateTest: EffectTest?
    /// uses per exposed user, Welch's t on per-user values.
    public var perExposedTest: EffectTest?
    public var power: Double?
    public var neededPerArm: Int64?
    public var stillNeededPerArm: Int64?
    public var seedVerdict: ExperimentVerdict
    public var lowerBoundVerdict: ExperimentVerdict

    public init(
        arm: String, control: String, useRateTest: EffectTest?, perExposedTest: EffectTest?, power: Double?, neededPerArm: Int64?,
        stillNeededPerArm: Int64?, seedVerdict: ExperimentVerdict, lowerBoundVerdict: ExperimentVerdict
    ) {
        self.arm = arm
        self.control = control
        self.useRateTest = useRateTest
        self.perExposedTest = perExposedTest
        self.power = power
        self.neededPerArm = neededPerArm
        self.stillNeededPerArm = stillNeededPerArm
        self.seedVerdict = seedVerdict
        self.lowerBoundVerdict = lowerBoundVerdict
    }
}

/// Exposed users per arm against the weights: Pearson's chi-squared, k − 1 degrees of freedom.
/// `mismatch` (p < 0.001) blocks any verdict: the split itself is broken.
public struct SampleRatioCheck: Codable, Sendable, Equatable {
    public var chiSquared: Double
    public var degreesOfFreedom: Int32
    /// Absent without exposures.
    public var pValue: Double?
    public var mismatch: Bool

    public init(chiSquared: Double, degreesOfFreedom: Int32, pValue: Double?, mismatch: Bool) {
        self.chiSquared = chiSquared
        self.degreesOfFreedom = degreesOfFreedom
        self.pValue = pValue
        self.mismatch = mismatch
    }
}

public struct ExperimentResults: Codable, Sendable, Equatable {
    public var experimentId: String
    public var status: ExperimentStatus
    public var primaryMetric: ExperimentMetric
    public var decisionRule: DecisionRule
    public var alphaBasisPoints: Int32
    public var minLiftBasisPoints: Int32
    public var arms: [ArmResult]
    public var sampleRatio: SampleRatioCheck
    public var comparisons: [ArmComparison]
    /// The experiment's own rule's answer.
    public var verdict: ExperimentVerdict
    /// The arm to roll out, when the verdict is ROLL_OUT.
    public var winner: String?
    /// Why, in words, most important first.
    public var reasons: [String]
    /// True when SEED and LOWER_BOUND give different verdicts.
    public var rulesDisagree: Bool

    public init(
        experimentId: String, status: ExperimentStatus, primaryMetric: ExperimentMetric, decisionRule: DecisionRule, alphaBasisPoints: Int32,
        minLiftBasisPoints: Int32, arms: [ArmResult], sampleRatio: SampleRatioCheck, comparisons: [ArmComparison], verdict: ExperimentVerdict,
        winner: String?, reasons: [String], rulesDisagree: Bool
    ) {
        self.experimentId = experimentId
        self.status = status
        self.primaryMetric = primaryMetric
        self.decisionRule = decisionRule
        self.alphaBasisPoints = alphaBasisPoints
        self.minLiftBasisPoints = minLiftBasisPoints
        self.arms = arms
        self.sampleRatio = sampleRatio
        self.comparisons = comparisons
        self.verdict = verdict
        self.winner = winner
        self.reasons = reasons
        self.rulesDisagree = rulesDisagree
    }
}
