import Foundation
import Wire

/// The JSON shapes of the experiment API, shared by coupon-center's HTTP front and couponctl.
/// Fractions (alpha, minimum lift, arm weights) are parsed exactly as decimal text with at most
/// four decimals, never through a binary float; statistics go out with six significant digits,
/// and a statistic that is undefined is `null`.
extension CouponJSON {
    public static let experimentFields: Set<String> = [
        "name", "hypothesis", "arms", "primaryMetric", "minLift", "alpha", "decisionRule",
    ]

    /// The JSON names of the enumerations, beside their wire names (both accepted).
    static let metricNames: [(String, ExperimentMetric)] = [("useRate", .useRate), ("useRatePerExposed", .useRatePerExposed)]
    static let ruleNames: [(String, DecisionRule)] = [("seed", .seed), ("lowerBound", .lowerBound)]

    public static func experimentSpec(_ body: JSONValue) throws(ServiceError) -> ExperimentSpec {
        let fields = try JSONFields(body, allowed: experimentFields)
        let armValues = try fields.array("arms")
        var arms: [ExperimentArmSpec] = []
        var weighted = 0
        for (index, value) in armValues.prefix(ExperimentRules.maxArms + 1).enumerated() {
            let arm = try JSONFields(value, allowed: ["name", "weight", "templateId"], path: "arms[\(index)]")
            let weight = try arm.rate("weight")
            if weight != nil { weighted += 1 }
            arms.append(ExperimentArmSpec(name: try arm.string("name"), templateId: try arm.string("templateId"), weightBuckets: weight ?? 0))
        }
        if weighted == 0 && !arms.isEmpty {
            // No weights: an even split, when 10,000 buckets divide evenly among the arms.
            guard ExperimentRules.buckets % Int32(arms.count) == 0 else {
                throw ServiceError(.invalidArgument, "arms: \(arms.count) arms do not split 10,000 buckets evenly; give each a weight")
            }
            for index in arms.indices { arms[index].weightBuckets = ExperimentRules.buckets / Int32(arms.count) }
        } else if weighted != arms.count {
            throw ServiceError(.invalidArgument, "arms: give every arm a weight, or none (an even split)")
        }
        guard let minLift = try fields.rate("minLift") else {
            throw ServiceError(.invalidArgument, "minLift: required, the smallest relative lift worth rolling out (0.12 = +12%)")
        }
        return ExperimentSpec(
            name: try fields.string("name"), hypothesis: try fields.optionalString("hypothesis") ?? "", arms: arms,
            primaryMetric: try named(fields, "primaryMetric", metricNames, default: .useRate), minLiftBasisPoints: minLift,
            alphaBasisPoints: try fields.rate("alpha") ?? 500, decisionRule: try named(fields, "decisionRule", ruleNames, default: .seed))
    }

    static func named<E: RawRepresentable>(_ fields: JSONFields, _ name: String, _ names: [(String, E)], default fallback: E) throws(ServiceError)
        -> E
    where E.RawValue == String {
        guard let text = try fields.optionalString(name) else { return fallback }
        if let match = names.first(where: { $0.0 == text || $0.1.rawValue == text }) { return match.1 }
        throw ServiceError(.invalidArgument, "\(name): '\(text)' is not one of \(names.map(\.0).joined(separator: ", "))")
    }

    static func jsonName<E: RawRepresentable & Equatable>(_ value: E, _ names: [(String, E)]) -> String where E.RawValue == String {
        names.first { $0.1 == value }?.0 ?? value.rawValue
    }

    /// A statistic with six significant digits; null when absent or not finite.
    public static func statistic(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number(String(format: "%.6g", value))
    }

    public func experiment(_ view: ExperimentView) -> [(String, JSONValue)] {
        let spec = view.spec
        return [
            ("experimentId", .string(view.experimentId)), ("name", .string(spec.name)), ("hypothesis", .string(spec.hypothesis)),
            ("status", .string(view.status.rawValue)), ("primaryMetric", .string(Self.jsonName(spec.primaryMetric, Self.metricNames))),
            ("decisionRule", .string(Self.jsonName(spec.decisionRule, Self.ruleNames))),
            ("alpha", .number(Rate.text(spec.alphaBasisPoints))), ("minLift", .number(Rate.text(spec.minLiftBasisPoints))),
            (
                "arms",
                .array(
                    spec.arms.map {
                        .object([
                            ("name", .string($0.name)), ("templateId", .string($0.templateId)), ("weight", .number(Rate.text($0.weightBuckets))),
                        ])
                    })
            ),
            ("rolloutArm", view.rolloutArm.map { .string($0) } ?? .null), ("createdAt", time(view.createdMilliseconds)),
            ("startedAt", view.startedMilliseconds.map(time) ?? .null), ("stoppedAt", view.stoppedMilliseconds.map(time) ?? .null),
        ]
    }

    public func assignment(_ assignment: ExperimentAssignment) -> [(String, JSONValue)] {
        [
            ("experimentId", .string(assignment.experimentId)), ("userId", .string(assignment.userId)), ("arm", .string(assignment.arm)),
            ("templateId", .string(assignment.templateId)), ("bucket", .integer(assignment.bucket)), ("rolledOut", .bool(assignment.rolledOut)),
        ]
    }

    func effect(_ test: EffectTest?) -> JSONValue {
        guard let test else { return .null }
        return .object([
            ("control", Self.statistic(test.control)), ("treatment", Self.statistic(test.treatment)),
            ("difference", Self.statistic(test.difference)),
            ("differenceInterval", .array([Self.statistic(test.differenceLow), Self.statistic(test.differenceHigh)])),
            ("relativeLift", Self.statistic(test.relativeLift)),
            ("liftInterval", .array([Self.statistic(test.liftLow), Self.statistic(test.liftHigh)])),
            ("statistic", Self.statistic(test.statistic)), ("degreesOfFreedom", Self.statistic(test.degreesOfFreedom)),
            ("pValue", Self.statistic(test.pValue)),
        ])
    }

    public func experimentResults(_ results: ExperimentResults) -> [(String, JSONValue)] {
        let arms: [JSONValue] = results.arms.map { arm in
            .object([
                ("name", .string(arm.name)), ("templateId", .string(arm.templateId)), ("weight", .number(Rate.text(arm.weightBuckets))),
                ("exposedUsers", .integer(arm.exposedUsers)), ("claims", .integer(arm.claims)), ("uses", .integer(arm.uses)),
                ("useRate", Self.statistic(arm.useRate)), ("useRatePerExposed", Self.statistic(arm.useRatePerExposed)),
                ("orderAmount", Self.yuan(arm.orderAmountCents)), ("discountAmount", Self.yuan(arm.discountCents)),
                ("roi", Self.statistic(arm.roi)), ("costRatio", Self.statistic(arm.costRatio)),
            ])
        }
        let comparisons: [JSONValue] = results.comparisons.map { comparison in
            .object([
                ("arm", .string(comparison.arm)), ("control", .string(comparison.control)), ("useRateTest", effect(comparison.useRateTest)),
                ("perExposedTest", effect(comparison.perExposedTest)), ("power", Self.statistic(comparison.power)),
                ("neededPerArm", comparison.neededPerArm.map { .integer($0) } ?? .null),
                ("stillNeededPerArm", comparison.stillNeededPerArm.map { .integer($0) } ?? .null),
                ("seedVerdict", .string(comparison.seedVerdict.rawValue)), ("lowerBoundVerdict", .string(comparison.lowerBoundVerdict.rawValue)),
            ])
        }
        let sampleRatio = results.sampleRatio
        return [
            ("experimentId", .string(results.experimentId)), ("status", .string(results.status.rawValue)),
            ("primaryMetric", .string(Self.jsonName(results.primaryMetric, Self.metricNames))),
            ("decisionRule", .string(Self.jsonName(results.decisionRule, Self.ruleNames))), ("alpha", .number(Rate.text(results.alphaBasisPoints))),
            ("minLift", .number(Rate.text(results.minLiftBasisPoints))), ("verdict", .string(results.verdict.rawValue)),
            ("winner", results.winner.map { .string($0) } ?? .null), ("reasons", .array(results.reasons.map { .string($0) })),
            ("rulesDisagree", .bool(results.rulesDisagree)), ("arms", .array(arms)),
            (
                "sampleRatio",
                .object([
                    ("chiSquared", Self.statistic(sampleRatio.chiSquared)), ("degreesOfFreedom", .integer(sampleRatio.degreesOfFreedom)),
                    ("pValue", Self.statistic(sampleRatio.pValue)), ("mismatch", .bool(sampleRatio.mismatch)),
                ])
            ),
            ("comparisons", .array(comparisons)),
        ]
    }
}
