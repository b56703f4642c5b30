import Foundation
import Risk
import ServiceKit
import Wire

/// risk-control's calls. One registration shared by `RiskControlMain` and the risk-control fuzzer
/// (Tests/Fuzz/RiskControlFuzzer.swift), so the frames fuzzed are served by the very handlers
/// that serve in production.
///
/// Every handler is shielded, and the router's error policy is `CallerFacingErrors.policy`: a
/// caller learns what was wrong with its request, never what went wrong inside.
enum RiskControlRoutes {
    /// `rulesFile` is what `risk_rules_reload` reads; empty when risk-control runs on the
    /// built-in defaults, and then a reload is refused.
    ///
    /// Every change of the rules or a list is recorded in `risk_admin_audit` by `adminAudit`, after
    /// it is made: the rules live in memory and the lists in Redis, so no transaction can hold
    /// both. A row that cannot be written is logged and counted, and the caller still gets the
    /// truth: the change was made.
    static func register(on router: inout RPCRouter, engine: RiskEngine, audit: AuditWriter, adminAudit: AdminAudit, rulesFile: String) {
        router.errorPolicy = CallerFacingErrors.policy
        let metrics = router.metrics
        metrics.describe("risk_admin_audit_failures_total", type: "counter", help: "Admin changes whose audit row could not be written")
        @Sendable func record(_ context: RequestContext, _ action: String, _ target: String, before: JSONValue?, after: JSONValue?) async {
            let actor = AdminAudit.Actor(
                name: context.principal?.name ?? "unauthenticated", kind: context.principal?.kind.rawValue ?? "cli",
                requestId: String(context.header.requestId))
            do {
                try await adminAudit.record(actor, action: action, target: target, before: before, after: after)
            } catch {
                metrics.increment("risk_admin_audit_failures_total", [("action", action)])
                context.logger.error("an admin change was made without its audit row", [("action", action), ("error", "\(error)")])
            }
        }
        router.registerShielded(RiskDecisionRequest.self) { request, _ in
            let now = unixMilliseconds()
            let decision = try await engine.decide(request, nowMilliseconds: now)
            audit.record(request, decision, at: now)
            return decision
        }
        router.registerShielded(RiskDecisionBatchRequest.self) { batch, context in
            let now = unixMilliseconds()
            var answers = try await engine.decide(batch, nowMilliseconds: now)
            for (index, (request, outcome)) in zip(batch.decisions, answers.results).enumerated() {
                if let decision = outcome.decision { audit.record(request, decision, at: now) }
                if let error = outcome.error {
                    answers.results[index] = .failed(
                        CallerFacingErrors.shield(error, call: "risk_decide_batch[\(index)]", logger: context.logger))
                }
            }
            return answers
        }
        router.registerShielded(RiskAuditSummaryRequest.self) { request, _ in try await audit.summary(request) }
        router.registerShielded(RiskReportRequest.self) { request, _ in
            RiskReportAck(counted: try await engine.report(request, nowMilliseconds: unixMilliseconds()))
        }
        router.registerShielded(GetRiskRulesRequest.self) { _, _ in engine.rules }
        router.registerShielded(SetRiskRulesRequest.self) { request, context in
            // The rules file's own checks, so a value the file refuses cannot come in this way.
            try RiskRulesFile.validate(request.rules)
            let before = engine.rules
            engine.replaceRules(request.rules)
            context.logger.info("risk rules replaced by an admin call")
            await record(context, "risk.rules_set", "rules", before: json(before), after: json(engine.rules))
            return engine.rules
        }
        router.registerShielded(ReloadRiskRulesRequest.self) { _, context in
            guard !rulesFile.isEmpty else {
                throw ServiceError(.invalidArgument, "risk-control was started without --rules-file; nothing to reload")
            }
            let before = engine.rules
            engine.replaceRules(try RiskRulesFile.load(path: rulesFile))
            context.logger.info("risk rules reloaded", [("rules.file", rulesFile)])
            await record(context, "risk.rules_reload", "rules", before: json(before), after: json(engine.rules))
            return engine.rules
        }
        router.registerShielded(AddRiskListEntryRequest.self) { request, context in
            let entry = try await engine.add(request, nowMilliseconds: unixMilliseconds())
            await record(context, "risk.list_add", "\(entry.list.rawValue):\(entry.subject.rawValue):\(entry.value)", before: nil, after: json(entry))
            return entry
        }
        router.registerShielded(RemoveRiskListEntryRequest.self) { request, context in
            let removed = try await engine.remove(request)
            if removed {
                let entry = RiskListEntry(list: request.list, subject: request.subject, value: request.value, expiresMilliseconds: nil)
                await record(
                    context, "risk.list_remove", "\(request.list.rawValue):\(request.subject.rawValue):\(request.value)", before: json(entry),
                    after: nil)
            }
            return RiskListChange(removed: removed)
        }
        router.registerShielded(GetRiskListRequest.self) { request, _ in
            RiskListView(entries: try await engine.entries(list: request.list, subject: request.subject, nowMilliseconds: unixMilliseconds()))
        }
    }

    /// A value as the JSON object the audit row stores (the same keys as its wire fields).
    static func json(_ value: some Encodable) -> JSONValue? {
        guard let data = try? JSONEncoder().encode(value) else { return nil }
        return try? JSONParser.parse(Array(data))
    }
}
