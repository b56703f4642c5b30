import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// Reconciliation (对账) from the command line: start a run or read runs and their items, the
/// incidents and their ack/accept, and the order feed from an NDJSON file.
enum ReconcileCommands {
    static let all: [Command] = [reconcile, incidents, feed]

    static let reconcile = Command(
        name: "reconcile",
        summary: "reconcile [start|runs|run]: reconcile a day (POST /api/admin/reconcile), list its runs, or show one run and its items",
        options: [
            ConfigOption("date", default: "", "the business day, YYYY-MM-DD in coupon-center's time zone"),
            ConfigOption("template", default: "", "start: one template only (empty: every template)"),
            ConfigOption.switchOption("rerun", "start: a new attempt even if the day was reconciled"),
            ConfigOption.switchOption("self-check", "start: also plant known faults in a scratch template and find them"),
            ConfigOption("run", default: "", "run: the run id"), ConfigOption("offset", default: "0", "run: items after this position"),
            ConfigOption("limit", default: "100", "run: items per page, 1…1000"), CouponCommands.timeZoneOption,
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let json = try CouponCommands.json(values)
        switch values.positional.first ?? "start" {
        case "start":
            let run = try await client.call(
                ReconcileStartRequest(
                    businessDate: values.string("date"), templateId: values.nonEmpty("template"), rerun: try values.bool("rerun"),
                    selfCheck: try values.bool("self-check")))
            showRun(run, json: json, output)
        case "runs":
            let list = try await client.call(ReconcileRunsListRequest(businessDate: values.string("date")))
            if output.json {
                output.value(.object([("runs", .array(list.runs.map { .object(json.reconcileRun($0)) }))]))
            } else {
                output.table(
                    ["RUN", "SCOPE", "ATTEMPT", "OUTCOME", "ITEMS", "INCIDENTS", "SELF-CHECK", "FINISHED"],
                    list.runs.map {
                        [
                            "\($0.runId)", $0.scope, "\($0.attempt)", $0.outcome.rawValue, "\($0.itemCount)", "\($0.incidentsOpened)",
                            $0.selfCheck?.rawValue ?? "-", Timestamp.formatISO8601($0.finishedMilliseconds, in: json.timeZone),
                        ]
                    })
            }
        case "run":
            guard let runId = Int64(values.string("run")) else { throw ConfigError("--run: '\(values.string("run"))' is not a run id") }
            guard let offset = Int32(values.string("offset")), let limit = Int32(values.string("limit")) else {
                throw ConfigError("--offset and --limit are whole numbers")
            }
            let detail = try await client.call(ReconcileRunGetRequest(runId: runId, offset: offset, limit: limit))
            if output.json {
                output.value(
                    .object(
                        json.reconcileRun(detail.run) + [
                            ("items", .array(detail.items.map { .object(json.reconcileItem($0)) })),
                            ("nextOffset", detail.nextOffset.map { .integer($0) } ?? .null),
                        ]))
            } else {
                showRun(detail.run, json: json, output)
                output.table(
                    ["#", "CHECK", "CODE", "TEMPLATE", "COUPON", "ORDER", "EXPECTED", "ACTUAL"],
                    detail.items.map {
                        [
                            "\($0.position)", $0.check.rawValue, $0.code, $0.templateId ?? "-", $0.couponId ?? "-", $0.orderId ?? "-",
                            $0.expected ?? "-", $0.actual ?? "-",
                        ]
                    })
                if let next = detail.nextOffset { print("more: --offset \(next)") }
            }
        default:
            throw ConfigError("reconcile takes start (the default), runs or run")
        }
    }

    static func showRun(_ run: ReconcileRunSummary, json: CouponJSON, _ output: Output) {
        if output.json {
            output.value(.object(json.reconcileRun(run)))
            return
        }
        print(
            "run \(run.runId) of \(run.businessDate) (\(run.scope), attempt \(run.attempt)\(run.reused ? ", an earlier run" : "")): "
                + "\(run.outcome.rawValue), \(run.itemCount) items, \(run.incidentsOpened) incidents opened, \(run.couponsJudged) coupons, "
                + "\(run.finishedMilliseconds - run.startedMilliseconds) ms"
                + (run.selfCheck.map { ", self-check \($0.rawValue)" } ?? "")
                + (run.selfCheckMissed.isEmpty ? "" : " (missed: \(run.selfCheckMissed.joined(separator: "; ")))"))
        output.table(
            ["CHECK", "TEMPLATE", "ITEMS", "LEDGER", "FEED", "DIFFERENCE", "ALARM"],
            run.checks.map {
                [
                    $0.check.rawValue, $0.templateId ?? "-", "\($0.items)", $0.ledgerCents.map { Money(cents: $0).yuanText } ?? "-",
                    $0.feedCents.map { Money(cents: $0).yuanText } ?? "-", $0.differenceBasisPoints.map { CostPercent.text($0) + "%" } ?? "-",
                    $0.alarm ? "ALARM" : "",
                ]
            })
    }

    static let incidents = Command(
        name: "incidents",
        summary: "incidents [list|ack|accept]: reconciliation incidents, newest first (GET /api/admin/incidents), or an operator's step",
        options: [
            ConfigOption("status", default: "", "list: OPEN, ACKNOWLEDGED, RESOLVED or ACCEPTED (empty: all)"),
            ConfigOption("limit", default: "100", "list: incidents per page, 1…1000"),
            ConfigOption("before", default: "", "list: the page before this incident id"),
            ConfigOption("id", default: "", "ack, accept: the incident id"), ConfigOption("note", default: "", "accept: why it is accepted"),
            CouponCommands.timeZoneOption,
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let json = try CouponCommands.json(values)
        func incidentId() throws -> Int64 {
            guard let id = Int64(values.string("id")) else { throw ConfigError("--id: '\(values.string("id"))' is not an incident id") }
            return id
        }
        switch values.positional.first ?? "list" {
        case "list":
            var status: IncidentStatus?
            if let text = values.nonEmpty("status") {
                guard let parsed = IncidentStatus(rawValue: text.uppercased()) else {
                    throw ConfigError("--status: '\(text)' is not OPEN, ACKNOWLEDGED, RESOLVED or ACCEPTED")
                }
                status = parsed
            }
            guard let limit = Int32(values.string("limit")) else { throw ConfigError("--limit: '\(values.string("limit"))' is not a number") }
            var before: Int64?
            if let text = values.nonEmpty("before") {
                guard let id = Int64(text) else { throw ConfigError("--before: '\(text)' is not an incident id") }
                before = id
            }
            let list = try await client.call(IncidentsListRequest(status: status, limit: limit, beforeId: before))
            if output.json {
                output.value(
                    .object([
                        ("incidents", .array(list.incidents.map { .object(json.incident($0)) })),
                        ("nextBefore", list.nextBeforeId.map { .integer($0) } ?? .null),
                    ]))
            } else {
                output.table(
                    ["ID", "CHECK", "TEMPLATE", "DATE", "STATUS", "ITEMS", "LAST RUN", "UPDATED", "NOTE"],
                    list.incidents.map {
                        [
                            "\($0.incidentId)", $0.check.rawValue, $0.templateId.isEmpty ? "-" : $0.templateId, $0.businessDate, $0.status.rawValue,
                            "\($0.items)", "\($0.lastRunId)", Timestamp.formatISO8601($0.updatedMilliseconds, in: json.timeZone), $0.note ?? "",
                        ]
                    })
                if let next = list.nextBeforeId { print("more: --before \(next)") }
            }
        case "ack":
            CouponCommands.show(json.incident(try await client.call(IncidentAckRequest(incidentId: try incidentId()))), output)
        case "accept":
            let accepted = try await client.call(IncidentAcceptRequest(incidentId: try incidentId(), note: values.string("note")))
            CouponCommands.show(json.incident(accepted), output)
        default:
            throw ConfigError("incidents takes list (the default), ack or accept")
        }
    }

    /// Lines per call: a whole post must fit in one frame and in coupon-center's 10,000-line limit.
    static let linesPerCall = 2_000

    static let feed = Command(
        name: "feed",
        summary: "send the order system's view of a day from an NDJSON file (POST /api/admin/reconcile/feed), in parts",
        options: [
            ConfigOption("file", default: "", "the NDJSON file: one order a line (orderId, couponId, discount, amount, status)"),
            ConfigOption("date", default: "", "the business day the orders belong to, YYYY-MM-DD"),
        ]
    ) { values, output in
        guard let path = values.nonEmpty("file") else { throw ConfigError("--file: required") }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("--file: cannot read \(path) as UTF-8 text (\(error.localizedDescription))")
        }
        let client = try values.client()
        defer { client.close() }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var (stored, replaced, unchanged) = (0, 0, 0)
        var refused: [FeedLineRefusal] = []
        for start in stride(from: 0, to: lines.count, by: linesPerCall) {
            let part = lines[start..<min(start + linesPerCall, lines.count)].joined(separator: "\n")
            let result = try await client.call(FeedSubmitRequest(businessDate: values.string("date"), ndjson: part))
            stored += Int(result.stored)
            replaced += Int(result.replaced)
            unchanged += Int(result.unchanged)
            // Line numbers of the part, made the file's.
            refused += result.refused.map { FeedLineRefusal(line: Int32(clamping: Int($0.line) + start), code: $0.code, message: $0.message) }
        }
        let total = FeedSubmitResult(
            stored: Int32(clamping: stored), replaced: Int32(clamping: replaced), unchanged: Int32(clamping: unchanged), refused: refused)
        if output.json {
            output.value(.object(CouponJSON(timeZone: .gmt).feedResult(total)))
        } else {
            print("stored \(stored), replaced \(replaced), unchanged \(unchanged), refused \(refused.count)")
            output.table(["LINE", "CODE", "MESSAGE"], refused.map { ["\($0.line)", "\($0.code.rawValue) \($0.code.name)", $0.message] })
        }
    }
}
