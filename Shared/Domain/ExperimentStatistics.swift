import Foundation
import Wire

/// The tests an experiment's verdict rests on, as textbook formulas over counts (integers in,
/// doubles out; money never enters here). Every function answers nil where its statistic is
/// undefined — no trials, no variance, a control rate of 0 for a relative lift — so that no NaN
/// or infinity reaches an answer.
public enum ExperimentStatistics {
    /// Successes out of trials: uses out of claims.
    public struct Proportion: Sendable, Equatable {
        public var trials: Int64
        public var successes: Int64
        public init(trials: Int64, successes: Int64) {
            self.trials = trials
            self.successes = successes
        }
        var rate: Double { Double(successes) / Double(trials) }
    }

    /// One value per user, summarised as SQL sums it: count, Σx and Σx².
    public struct PerUserValues: Sendable, Equatable {
        public var count: Int64
        public var sum: Int64
        public var sumOfSquares: Int64
        public init(count: Int64, sum: Int64, sumOfSquares: Int64) {
            self.count = count
            self.sum = sum
            self.sumOfSquares = sumOfSquares
        }
        var mean: Double { Double(sum) / Double(count) }
        /// The sample variance (n − 1 in the denominator); never below 0 despite rounding.
        var variance: Double {
            let n = Double(count)
            return max(0, (Double(sumOfSquares) - Double(sum) * Double(sum) / n) / (n - 1))
        }
    }

    /// z_{1 − alpha/2}: the two-sided critical value.
    static func critical(alpha: Double) -> Double { StatisticsDistributions.normalQuantile(1 - alpha / 2) }

    /// The pooled two-proportion z test of treatment against control. The interval of the
    /// difference is Wald's (unpooled standard error); the relative lift's is the delta method's:
    /// Var(p₂/p₁) ≈ Var(p₂)/p₁² + p₂²·Var(p₁)/p₁⁴. Both at the level 1 − alpha.
    public static func twoProportionTest(control: Proportion, treatment: Proportion, alpha: Double) -> EffectTest? {
        guard control.trials > 0, treatment.trials > 0, (0...control.trials).contains(control.successes),
            (0...treatment.trials).contains(treatment.successes), alpha > 0, alpha < 1
        else { return nil }
        let (n1, n2) = (Double(control.trials), Double(treatment.trials))
        let (p1, p2) = (control.rate, treatment.rate)
        let pooled = (Double(control.successes) + Double(treatment.successes)) / (n1 + n2)
        let nullError = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).squareRoot()
        guard nullError > 0 else { return nil }
        let z = (p2 - p1) / nullError
        let (variance1, variance2) = (p1 * (1 - p1) / n1, p2 * (1 - p2) / n2)
        return effect(
            control: p1, treatment: p2, controlVariance: variance1, treatmentVariance: variance2, differenceCritical: critical(alpha: alpha),
            alpha: alpha, statistic: z, degreesOfFreedom: nil, pValue: 2 * StatisticsDistributions.normalSurvival(abs(z)))
    }

    /// Welch's unequal-variance t test on per-user values, with Welch–Satterthwaite degrees of
    /// freedom; the difference's interval uses the t quantile at those degrees of freedom, the
    /// lift's the delta method with the normal quantile.
    public static func welchTest(control: PerUserValues, treatment: PerUserValues, alpha: Double) -> EffectTest? {
        guard control.count >= 2, treatment.count >= 2, alpha > 0, alpha < 1 else { return nil }
        let (n1, n2) = (Double(control.count), Double(treatment.count))
        let (variance1, variance2) = (control.variance / n1, treatment.variance / n2)
        let standardError = (variance1 + variance2).squareRoot()
        guard standardError > 0 else { return nil }
        let t = (treatment.mean - control.mean) / standardError
        let degreesOfFreedom =
            (variance1 + variance2) * (variance1 + variance2) / (variance1 * variance1 / (n1 - 1) + variance2 * variance2 / (n2 - 1))
        guard degreesOfFreedom.isFinite, degreesOfFreedom > 0 else { return nil }
        return effect(
            control: control.mean, treatment: treatment.mean, controlVariance: variance1, treatmentVariance: variance2,
            differenceCritical: StatisticsDistributions.studentTQuantile(1 - alpha / 2, degreesOfFreedom: degreesOfFreedom), alpha: alpha,
            statistic: t, degreesOfFreedom: degreesOfFreedom,
            pValue: StatisticsDistributions.studentTTwoSided(t, degreesOfFreedom: degreesOfFreedom))
    }

    /// The shared tail of both tests: intervals, lift, and the check that every number is finite.
    /// `controlVariance` and `treatmentVariance` are the variances of the two estimates.
    private static func effect(
        control: Double, treatment: Double, controlVariance: Double, treatmentVariance: Double, differenceCritical: Double, alpha: Double,
        statistic: Double, degreesOfFreedom: Double?, pValue: Double
    ) -> EffectTest? {
        let difference = treatment - control
        let margin = differenceCritical * (controlVariance + treatmentVariance).squareRoot()
        var lift: Double?
        var liftMargin: Double?
        if control > 0 {
            lift = treatment / control - 1
            let liftVariance =
                treatmentVariance / (control * control) + treatment * treatment * controlVariance / (control * control * control * control)
            liftMargin = critical(alpha: alpha) * liftVariance.squareRoot()
        }
        let test = EffectTest(
            control: control, treatment: treatment, difference: difference, differenceLow: difference - margin, differenceHigh: difference + margin,
            relativeLift: lift, liftLow: lift.flatMap { value in liftMargin.map { value - $0 } },
            liftHigh: lift.flatMap { value in liftMargin.map { value + $0 } }, statistic: statistic, degreesOfFreedom: degreesOfFreedom,
            pValue: min(1, max(0, pValue)))
        let numbers =
            [test.control, test.treatment, test.difference, test.differenceLow, test.differenceHigh, test.statistic, test.pValue]
            + [test.relativeLift, test.liftLow, test.liftHigh, test.degreesOfFreedom].compactMap { $0 }
        return numbers.allSatisfy(\.isFinite) ? test : nil
    }

    /// Pearson's chi-squared of the observed counts against the weights' shares, k − 1 degrees of
    /// freedom; a mismatch is p < 0.001. Without any observation there is nothing to judge.
    public static func sampleRatio(observed: [Int64], weights: [Int32], threshold: Double = 0.001) -> SampleRatioCheck {
        let total = observed.reduce(0.0) { $0 + Double($1) }
        let weightTotal = weights.reduce(0.0) { $0 + Double($1) }
        let degreesOfFreedom = Int32(max(0, observed.count - 1))
        guard observed.count == weights.count, observed.count >= 2, total > 0, weightTotal > 0, weights.allSatisfy({ $0 > 0 }) else {
            return SampleRatioCheck(chiSquared: 0, degreesOfFreedom: degreesOfFreedom, pValue: nil, mismatch: false)
        }
        var chiSquared = 0.0
        for (count, weight) in zip(observed, weights) {
            let expected = total * Double(weight) / weightTotal
            chiSquared += (Double(count) - expected) * (Double(count) - expected) / expected
        }
        let p = StatisticsDistributions.chiSquaredSurvival(chiSquared, degreesOfFreedom: Double(degreesOfFreedom))
        return SampleRatioCheck(chiSquared: chiSquared, degreesOfFreedom: degreesOfFreedom, pValue: p, mismatch: p < threshold)
    }

    /// Trials per arm for the two-sided two-proportion z test to see `relativeLift` over
    /// `baseline` at `alpha` with `power` (equal arms):
    /// n = (z_{1−α/2}·√(2·p̄·q̄) + z_{power}·√(p₁q₁ + p₂q₂))² / (p₂ − p₁)², p̄ = (p₁ + p₂)/2, rounded up.
    public static func proportionSampleSize(baseline: Double, relativeLift: Double, alpha: Double, power: Double = 0.8) -> Int64? {
        let p1 = baseline
        let p2 = baseline * (1 + relativeLift)
        guard p1 > 0, p1 < 1, p2 > 0, p2 < 1, p2 != p1, alpha > 0, alpha < 1, power > 0, power < 1 else { return nil }
        let average = (p1 + p2) / 2
        let root =
            critical(alpha: alpha) * (2 * average * (1 - average)).squareRoot()
            + StatisticsDistributions.normalQuantile(power) * (p1 * (1 - p1) + p2 * (1 - p2)).squareRoot()
        return wholeCount(root * root / ((p2 - p1) * (p2 - p1)))
    }

    /// The power of the pooled z test to see `relativeLift` over `baseline` with these trials:
    /// Φ((|p₂ − p₁| − z_{1−α/2}·√(p̄q̄(1/n₁ + 1/n₂))) / √(p₁q₁/n₁ + p₂q₂/n₂)).
    public static func proportionPower(baseline: Double, relativeLift: Double, controlTrials: Int64, treatmentTrials: Int64, alpha: Double)
        -> Double?
    {
        let p1 = baseline
        let p2 = baseline * (1 + relativeLift)
        guard p1 > 0, p1 < 1, p2 > 0, p2 < 1, controlTrials > 0, treatmentTrials > 0, alpha > 0, alpha < 1 else { return nil }
        let (n1, n2) = (Double(controlTrials), Double(treatmentTrials))
        let pooled = (n1 * p1 + n2 * p2) / (n1 + n2)
        let spread = (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2).squareRoot()
        let power = StatisticsDistributions.normalCDF(
            (abs(p2 - p1) - critical(alpha: alpha) * (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).squareRoot()) / spread)
        return power.isFinite ? power : nil
    }

    /// Users per arm for a test of means to see `relativeLift` over `baselineMean`:
    /// n = (z_{1−α/2} + z_{power})²·(s₁² + s₂²) / Δ², Δ = lift × baseline, rounded up.
    public static func meanSampleSize(
        baselineMean: Double, controlVariance: Double, treatmentVariance: Double, relativeLift: Double, alpha: Double, power: Double = 0.8
    ) -> Int64? {
        let delta = relativeLift * baselineMean
        guard delta != 0, controlVariance + treatmentVariance > 0, alpha > 0, alpha < 1, power > 0, power < 1 else { return nil }
        let z = critical(alpha: alpha) + StatisticsDistributions.normalQuantile(power)
        return wholeCount(z * z * (controlVariance + treatmentVariance) / (delta * delta))
    }

    /// Φ(|Δ| / √(s₁²/n₁ + s₂²/n₂) − z_{1−α/2}).
    public static func meanPower(
        baselineMean: Double, controlVariance: Double, treatmentVariance: Double, relativeLift: Double, controlCount: Int64,
        treatmentCount: Int64, alpha: Double
    ) -> Double? {
        let delta = relativeLift * baselineMean
        guard controlCount > 0, treatmentCount > 0, alpha > 0, alpha < 1 else { return nil }
        let spread = (controlVariance / Double(controlCount) + treatmentVariance / Double(treatmentCount)).squareRoot()
        guard spread > 0 else { return nil }
        let power = StatisticsDistributions.normalCDF(abs(delta) / spread - critical(alpha: alpha))
        return power.isFinite ? power : nil
    }

    /// A count from a formula, rounded up; nil when it is not finite or does not fit.
    static func wholeCount(_ value: Double) -> Int64? {
        guard value.isFinite, value >= 0, value < 9e18 else { return nil }
        return Int64(exactly: value.rounded(.up))
    }
}
