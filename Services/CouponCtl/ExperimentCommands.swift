import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// A/B experiments: create (from a JSON file shaped like `POST /api/admin/experiments`, or flags),
/// start, stop, roll out, read the results with their verdict, and look up a user's arm.
enum ExperimentCommands {
    static let all: [Command] = [experiment]

    static let experiment = Command(
        name: "experiment",
        summary: "experiment create|show|list|start|stop|rollout|results|assign: A/B tests of templates (POST /api/admin/experiments …)",
        options: [
            ConfigOption("file", default: "", "create: a JSON file shaped like the body of POST /api/admin/experiments"),
            ConfigOption("name", default: "", "create: the experiment's name"),
            ConfigOption("hypothesis", default: "", "create: what it should show"),
            ConfigOption("arms", default: "", "create: NAME=TEMPLATE[:WEIGHT],… (the first is the control; no weights: an even split)"),
            ConfigOption("metric", default: "useRate", "create: useRate (uses ÷ claims) or useRatePerExposed"),
            ConfigOption("min-lift", default: "0.12", "create: the smallest relative lift worth rolling out"),
            ConfigOption("alpha", default: "0.05", "create: the significance level"),
            ConfigOption("rule", default: "seed", "create: seed (p < alpha, lift ≥ minLift) or lowerBound (its interval too)"),
            ConfigOption("arm", default: "", "rollout: the arm (empty: the winner of the results)"),
            ConfigOption("user", default: "", "assign: the user id"),
            CouponCommands.timeZoneOption,
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let json = try CouponCommands.json(values)
        let action = values.positional.first ?? ""
        func id() throws -> String {
            guard values.positional.count == 2 else { throw ConfigError("experiment \(action) takes one experiment id") }
            return values.positional[1]
        }
        switch action {
        case "create":
            let view = try await client.call(CreateExperimentRequest(spec: try CouponJSON.experimentSpec(try body(values))))
            CouponCommands.show(json.experiment(view), output)
        case "show": CouponCommands.show(json.experiment(try await client.call(GetExperimentRequest(experimentId: try id()))), output)
        case "start": CouponCommands.show(json.experiment(try await client.call(StartExperimentRequest(experimentId: try id()))), output)
        case "stop": CouponCommands.show(json.experiment(try await client.call(StopExperimentRequest(experimentId: try id()))), output)
        case "rollout":
            let view = try await client.call(RolloutExperimentRequest(experimentId: try id(), arm: values.nonEmpty("arm")))
            CouponCommands.show(json.experiment(view), output)
        case "results":
            let results = try await client.call(ExperimentResultsRequest(experimentId: try id()))
            if output.json {
                output.value(.object(json.experimentResults(results)))
            } else {
                printResults(results)
            }
        case "assign":
            guard let user = values.nonEmpty("user") else { throw ConfigError("assign: --user is required") }
            CouponCommands.show(json.assignment(try await client.call(ExperimentAssignmentRequest(experimentId: try id(), userId: user))), output)
        case "list":
            let list = try await client.call(ListExperimentsRequest())
            if output.json {
                output.value(.object([("experiments", .array(list.experiments.map { .object(json.experiment($0)) }))]))
            } else {
                output.table(
                    ["ID", "NAME", "STATUS", "ARMS", "ROLLED OUT TO"],
                    list.experiments.map {
                        [$0.experimentId, $0.spec.name, $0.status.rawValue, $0.spec.arms.map(\.name).joined(separator: ","), $0.rolloutArm ?? ""]
                    })
            }
        default:
            throw ConfigError("experiment takes create, show, list, start, stop, rollout, results or assign")
        }
    }

    /// The create body: the file as it is, or the flags turned into the same JSON.
    static func body(_ values: ConfigValues) throws -> JSONValue {
        if let file = values.nonEmpty("file") {
            guard let data = FileManager.default.contents(atPath: file) else { throw ConfigError("--file: cannot read \(file)") }
            do {
                return try JSONParser.parse(Array(data))
            } catch {
                throw ServiceError(.malformedJSON, "\(file): \(error)")
            }
        }
        var arms: [JSONValue] = []
        for entry in values.string("arms").split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ConfigError("--arms: '\(entry)' is not NAME=TEMPLATE[:WEIGHT]") }
            let target = parts[1].split(separator: ":", maxSplits: 1)
            var arm: [(String, JSONValue)] = [("name", .string(String(parts[0]))), ("templateId", .string(String(target[0])))]
            if target.count == 2 { arm.append(("weight", .number(String(target[1])))) }
            arms.append(.object(arm))
        }
        return .object([
            ("name", .string(values.string("name"))), ("hypothesis", .string(values.string("hypothesis"))), ("arms", .array(arms)),
            ("primaryMetric", .string(values.string("metric"))), ("minLift", .number(values.string("min-lift"))),
            ("alpha", .number(values.string("alpha"))), ("decisionRule", .string(values.string("rule"))),
        ])
    }

    /// For people: the verdict and its reasons first, then one line per arm and per comparison.
    static func printResults(_ results: ExperimentResults) {
        print("verdict: \(results.verdict.rawValue)" + (results.winner.map { " → \($0)" } ?? "") + "  (rule \(results.decisionRule.rawValue))")
        for reason in results.reasons { print("  - \(reason)") }
        let output = Output(json: false)
        func rate(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
        output.table(
            ["ARM", "WEIGHT", "EXPOSED", "CLAIMS", "USES", "USE RATE", "PER EXPOSED", "ORDERS", "DISCOUNT", "ROI", "COST RATIO"],
            results.arms.map {
                [
                    $0.name, Rate.text($0.weightBuckets), "\($0.exposedUsers)", "\($0.claims)", "\($0.uses)", rate($0.useRate),
                    rate($0.useRatePerExposed),
                    Money(cents: $0.orderAmountCents).yuanText, Money(cents: $0.discountCents).yuanText, rate($0.roi), rate($0.costRatio),
                ]
            })
        let ratio = results.sampleRatio
        print("sample ratio: chi-squared \(rate(ratio.chiSquared)), p \(rate(ratio.pValue))" + (ratio.mismatch ? "  MISMATCH" : ""))
        for comparison in results.comparisons {
            let test = results.primaryMetric == .useRate ? comparison.useRateTest : comparison.perExposedTest
            let lift = test.map {
                "lift \(rate($0.relativeLift)) [\(rate($0.liftLow)), \(rate($0.liftHigh))], p \(String(format: "%.4g", $0.pValue))"
            }
            print(
                "\(comparison.arm) vs \(comparison.control): \(lift ?? "no test yet"); power \(rate(comparison.power)); "
                    + "needed per arm \(comparison.neededPerArm.map(String.init) ?? "-"), still \(comparison.stillNeededPerArm.map(String.init) ?? "-"); "
                    + "seed \(comparison.seedVerdict.rawValue), lowerBound \(comparison.lowerBoundVerdict.rawValue)")
        }
    }
}
