import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// The health report (GET /api/admin/health-report): use-rate changes with their intervals, the
/// fraud trend by rule, incidents, alerts and the experiments decided in a period.
enum ReportCommands {
    static let all: [Command] = [report]

    static let report = Command(
        name: "report",
        summary: "report --from T --to T: the health report of a period against the one before (GET /api/admin/health-report)",
        options: [
            ConfigOption("from", default: "", "the period's start, ISO 8601 with its offset (2026-11-01T00:00:00+08:00)"),
            ConfigOption("to", default: "", "the period's end (excluded), ISO 8601 with its offset"),
            CouponCommands.timeZoneOption,
        ]
    ) { values, output in
        func time(_ flag: String) throws -> Int64 {
            guard let milliseconds = Timestamp.parseISO8601(values.string(flag)) else {
                throw ConfigError("--\(flag): '\(values.string(flag))' is not ISO 8601 with an offset (2026-11-01T00:00:00+08:00)")
            }
            return milliseconds
        }
        let client = try values.client()
        defer { client.close() }
        let json = try CouponCommands.json(values)
        let report = try await client.call(HealthReportRequest(fromMilliseconds: try time("from"), toMilliseconds: try time("to")))
        if output.json {
            output.value(.object(json.healthReport(report)))
            return
        }
        func rate(_ uses: Int64, _ claims: Int64) -> String { claims > 0 ? Rate.text(Int32(uses * 10_000 / claims)) : "-" }
        print("use rates (uses ÷ claims of the coupons claimed in each period):")
        output.table(
            ["TEMPLATE", "NAME", "BEFORE", "NOW", "CHANGE", "95% INTERVAL", "P"],
            report.useRates.map {
                [
                    $0.templateId, $0.name, "\(rate($0.previousUses, $0.previousClaims)) (\($0.previousUses)/\($0.previousClaims))",
                    "\(rate($0.uses, $0.claims)) (\($0.uses)/\($0.claims))", $0.change.map { String(format: "%+.4f", $0.difference) } ?? "-",
                    $0.change.map { String(format: "[%+.4f, %+.4f]", $0.differenceLow, $0.differenceHigh) } ?? "-",
                    $0.change.map { String(format: "%.4g", $0.pValue) } ?? "-",
                ]
            })
        if let fraud = report.fraud {
            print("fraud trend (risk control's decisions by rule):")
            output.table(["VERDICT", "RULE", "BEFORE", "NOW"], fraud.map { [$0.verdict.rawValue, $0.reason, "\($0.previous)", "\($0.current)"] })
        } else {
            print("fraud trend: unavailable (\(report.fraudProblem ?? "no answer"))")
        }
        print("incidents opened: \(report.incidents.count)")
        for incident in report.incidents {
            print("  #\(incident.incidentId) \(incident.check.rawValue) \(incident.templateId) \(incident.businessDate) \(incident.status.rawValue)")
        }
        print("alerts first seen: \(report.alerts.count)")
        for alert in report.alerts { print("  #\(alert.alertId) \(alert.kind.rawValue) \(alert.scope) \(alert.status.rawValue)") }
        print("experiments decided: \(report.experiments.count)")
        for experiment in report.experiments {
            print(
                "  \(experiment.experimentId) \(experiment.spec.name): \(experiment.status.rawValue)"
                    + (experiment.rolloutArm.map { " → \($0)" } ?? ""))
        }
    }
}
