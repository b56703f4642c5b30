import Foundation
import Wire

/// From the counts of each arm to the results and the verdict. What the verdict goes through,
/// in order:
/// 1. **Sample ratio**: exposed users per arm against the weights (chi-squared); p < 0.001 means
///    the split is broken, and the verdict is HOLD whatever the tests say.
/// 2. **Tests** of every arm against the control (the first arm): the pooled two-proportion z on
///    uses ÷ claims and Welch's t on uses per exposed user. The primary metric picks which one
///    decides. With more than one treatment arm alpha is divided among them (Bonferroni).
/// 3. **Data enough?** The samples per arm the primary test needs to see the minimum lift at
///    power 0.8, from the control's own rate (and variances).
/// 4. **Rule**, per arm: `SEED` rolls out when p < alpha and the point lift ≥ minLift;
///    `LOWER_BOUND` also needs the lift interval's lower bound ≥ minLift. Otherwise HOLD when the
///    samples are enough (or the effect is significant but too small or negative), else
///    INSUFFICIENT_DATA.
/// 5. **Verdict**: ROLL_OUT with the arm of the largest lift among those the rule rolls out;
///    else INSUFFICIENT_DATA if any arm still lacks data; else HOLD. Both rules are evaluated and
///    `rulesDisagree` says when they differ.
public enum ExperimentAnalysis {
    /// One arm's sums, as the results query returns them.
    public struct ArmCounts: Sendable, Equatable {
        public var arm: ExperimentArmSpec
        public var exposedUsers: Int64
        public var claims: Int64
        public var uses: Int64
        /// Σ over exposed users of (their uses)², for the per-user variance.
        public var usesSquared: Int64
        public var orderAmountCents: Int64
        public var discountCents: Int64

        public init(
            arm: ExperimentArmSpec, exposedUsers: Int64, claims: Int64, uses: Int64, usesSquared: Int64, orderAmountCents: Int64,
            discountCents: Int64
        ) {
            self.arm = arm
            self.exposedUsers = exposedUsers
            self.claims = claims
            self.uses = uses
            self.usesSquared = usesSquared
            self.orderAmountCents = orderAmountCents
            self.discountCents = discountCents
        }
    }

    /// The power the samples needed are computed for.
    public static let targetPower = 0.8

    public static func results(experimentId: String, status: ExperimentStatus, spec: ExperimentSpec, counts: [ArmCounts]) -> ExperimentResults {
        let arms = counts.map(armResult)
        let sampleRatio = ExperimentStatistics.sampleRatio(observed: counts.map(\.exposedUsers), weights: counts.map(\.arm.weightBuckets))
        let alpha = Double(spec.alphaBasisPoints) / 10_000 / Double(max(1, counts.count - 1))
        let minLift = Double(spec.minLiftBasisPoints) / 10_000
        var comparisons: [ArmComparison] = []
        var reasons: [String] = []
        if let control = counts.first {
            for treatment in counts.dropFirst() {
                let (comparison, why) = compare(
                    control, treatment, metric: spec.primaryMetric, rule: spec.decisionRule, alpha: alpha, minLift: minLift)
                comparisons.append(comparison)
                reasons += why
            }
        }
        if counts.count > 2 { reasons.insert("alpha \(number(alpha)) per comparison (Bonferroni over \(counts.count - 1) arms)", at: 0) }
        let seed = overall(comparisons, \.seedVerdict, metric: spec.primaryMetric)
        let lowerBound = overall(comparisons, \.lowerBoundVerdict, metric: spec.primaryMetric)
        var (verdict, winner) = spec.decisionRule == .seed ? seed : lowerBound
        if sampleRatio.mismatch {
            reasons.insert(
                "SAMPLE_RATIO_MISMATCH: exposed users \(counts.map { String($0.exposedUsers) }.joined(separator: " / ")) do not match the "
                    + "weights (chi-squared \(number(sampleRatio.chiSquared)), p = \(number(sampleRatio.pValue ?? 0)) < 0.001): "
                    + "no verdict until the split is fixed",
                at: 0)
            verdict = .hold
            winner = nil
        }
        let disagree = !sampleRatio.mismatch && seed.verdict != lowerBound.verdict
        if disagree {
            reasons.append("the rules disagree: SEED says \(seed.verdict.rawValue), LOWER_BOUND says \(lowerBound.verdict.rawValue)")
        }
        return ExperimentResults(
            experimentId: experimentId, status: status, primaryMetric: spec.primaryMetric, decisionRule: spec.decisionRule,
            alphaBasisPoints: spec.alphaBasisPoints, minLiftBasisPoints: spec.minLiftBasisPoints, arms: arms, sampleRatio: sampleRatio,
            comparisons: comparisons, verdict: verdict, winner: winner, reasons: reasons, rulesDisagree: disagree)
    }

    static func armResult(_ counts: ArmCounts) -> ArmResult {
        func ratio(_ numerator: Int64, _ denominator: Int64) -> Double? {
            denominator > 0 ? Double(numerator) / Double(denominator) : nil
        }
        // Order amount minus discount can only overflow for sums no real experiment reaches; the
        // ROI is then left out rather than trapping.
        let (margin, overflow) = counts.orderAmountCents.subtractingReportingOverflow(counts.discountCents)
        return ArmResult(
            name: counts.arm.name, templateId: counts.arm.templateId, weightBuckets: counts.arm.weightBuckets, exposedUsers: counts.exposedUsers,
            claims: counts.claims, uses: counts.uses, orderAmountCents: counts.orderAmountCents, discountCents: counts.discountCents,
            useRate: ratio(counts.uses, counts.claims), useRatePerExposed: ratio(counts.uses, counts.exposedUsers),
            roi: overflow ? nil : ratio(margin, counts.discountCents), costRatio: ratio(counts.discountCents, counts.orderAmountCents))
    }

    static func compare(
        _ control: ArmCounts, _ treatment: ArmCounts, metric: ExperimentMetric, rule: DecisionRule, alpha: Double, minLift: Double
    ) -> (ArmComparison, [String]) {
        let useRateTest = ExperimentStatistics.twoProportionTest(
            control: .init(trials: control.claims, successes: control.uses), treatment: .init(trials: treatment.claims, successes: treatment.uses),
            alpha: alpha)
        let controlValues = ExperimentStatistics.PerUserValues(count: control.exposedUsers, sum: control.uses, sumOfSquares: control.usesSquared)
        let treatmentValues = ExperimentStatistics.PerUserValues(
            count: treatment.exposedUsers, sum: treatment.uses, sumOfSquares: treatment.usesSquared)
        let perExposedTest = ExperimentStatistics.welchTest(control: controlValues, treatment: treatmentValues, alpha: alpha)

        let primary: EffectTest?
        let samples: Int64
        let needed: Int64?
        let power: Double?
        switch metric {
        case .useRate:
            primary = useRateTest
            samples = min(control.claims, treatment.claims)
            let baseline = control.claims > 0 ? Double(control.uses) / Double(control.claims) : 0
            needed = ExperimentStatistics.proportionSampleSize(baseline: baseline, relativeLift: minLift, alpha: alpha, power: targetPower)
            power = ExperimentStatistics.proportionPower(
                baseline: baseline, relativeLift: minLift, controlTrials: control.claims, treatmentTrials: treatment.claims, alpha: alpha)
        case .useRatePerExposed:
            primary = perExposedTest
            samples = min(control.exposedUsers, treatment.exposedUsers)
            let enough = control.exposedUsers >= 2 && treatment.exposedUsers >= 2
            let baseline = enough ? controlValues.mean : 0
            let (variance1, variance2) = enough ? (controlValues.variance, treatmentValues.variance) : (0, 0)
            needed = ExperimentStatistics.meanSampleSize(
                baselineMean: baseline, controlVariance: variance1, treatmentVariance: variance2, relativeLift: minLift, alpha: alpha,
                power: targetPower)
            power =
                enough
                ? ExperimentStatistics.meanPower(
                    baselineMean: baseline, controlVariance: variance1, treatmentVariance: variance2, relativeLift: minLift,
                    controlCount: control.exposedUsers, treatmentCount: treatment.exposedUsers, alpha: alpha) : nil
        }
        let stillNeeded = needed.map { max(0, $0 - samples) }
        let unit = metric == .useRate ? "claims" : "exposed users"
        let name = treatment.arm.name
        let seed = judge(primary, rule: .seed, alpha: alpha, minLift: minLift, enoughData: stillNeeded == 0)
        let lowerBound = judge(primary, rule: .lowerBound, alpha: alpha, minLift: minLift, enoughData: stillNeeded == 0)
        var reasons = ["\(name) vs \(control.arm.name): " + (rule == .seed ? seed.reason : lowerBound.reason)]
        if let needed, let stillNeeded, stillNeeded > 0 {
            reasons.append("\(name): \(stillNeeded) more \(unit) per arm for power 0.8 at +\(number(minLift * 100))% (\(needed) per arm in all)")
        }
        let comparison = ArmComparison(
            arm: name, control: control.arm.name, useRateTest: useRateTest, perExposedTest: perExposedTest, power: power, neededPerArm: needed,
            stillNeededPerArm: stillNeeded, seedVerdict: seed.verdict, lowerBoundVerdict: lowerBound.verdict)
        return (comparison, reasons)
    }

    static func judge(_ test: EffectTest?, rule: DecisionRule, alpha: Double, minLift: Double, enoughData: Bool) -> (
        verdict: ExperimentVerdict, reason: String
    ) {
        guard let test else { return (.insufficientData, "no test yet (an arm without enough claims or users, or no variance at all)") }
        guard let lift = test.relativeLift, let low = test.liftLow, let high = test.liftHigh else {
            return (.insufficientData, "the control has no uses, so there is no relative lift yet")
        }
        let measured =
            "lift \(signed(lift * 100))% [\(signed(low * 100))%, \(signed(high * 100))%], p = \(number(test.pValue))"
        let significant = test.pValue < alpha
        if significant && lift >= minLift {
            if rule == .seed { return (.rollOut, "\(measured): p < \(number(alpha)) and lift ≥ +\(number(minLift * 100))%") }
            if low >= minLift { return (.rollOut, "\(measured): p < \(number(alpha)) and the lower bound ≥ +\(number(minLift * 100))%") }
            return (
                enoughData ? .hold : .insufficientData,
                "\(measured): significant, but the lower bound is below +\(number(minLift * 100))%"
            )
        }
        if significant {
            return (.hold, "\(measured): significant, but " + (lift < 0 ? "worse than the control" : "below +\(number(minLift * 100))%"))
        }
        return (enoughData ? .hold : .insufficientData, "\(measured): not significant at \(number(alpha))")
    }

    static func overall(_ comparisons: [ArmComparison], _ verdict: KeyPath<ArmComparison, ExperimentVerdict>, metric: ExperimentMetric) -> (
        verdict: ExperimentVerdict, winner: String?
    ) {
        let rolling = comparisons.filter { $0[keyPath: verdict] == .rollOut }
        if let best = rolling.max(by: { lift($0, metric) < lift($1, metric) }) { return (.rollOut, best.arm) }
        if comparisons.isEmpty || comparisons.contains(where: { $0[keyPath: verdict] == .insufficientData }) { return (.insufficientData, nil) }
        return (.hold, nil)
    }

    /// The lift of the arm's primary test (an arm the rule rolls out always has one).
    static func lift(_ comparison: ArmComparison, _ metric: ExperimentMetric) -> Double {
        let test = metric == .useRate ? comparison.useRateTest : comparison.perExposedTest
        return test?.relativeLift ?? -.greatestFiniteMagnitude
    }

    static func number(_ value: Double) -> String { String(format: "%.4g", value) }
    static func signed(_ value: Double) -> String { String(format: "%+.2f", value) }
}
