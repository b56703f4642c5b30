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
    static func register(on router: inout RPCRouter, engine: RiskEngine, audit: AuditWriter, rulesFile: String) {
        router.errorPolicy = CallerFacingErrors.policy
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
            engine.replaceRules(request.rules)
            context.logger.info("risk rules replaced by an admin call")
            return engine.rules
        }
        router.registerShielded(ReloadRiskRulesRequest.self) { _, context in
            guard !rulesFile.isEmpty else {
                throw ServiceError(.invalidArgument, "risk-control was started without --rules-file; nothing to reload")
            }
            engine.replaceRules(try RiskRulesFile.load(path: rulesFile))
            context.logger.info("risk rules reloaded", [("rules.file", rulesFile)])
            return engine.rules
        }
        router.registerShielded(AddRiskListEntryRequest.self) { request, _ in
            try await engine.add(request, nowMilliseconds: unixMilliseconds())
        }
        router.registerShielded(RemoveRiskListEntryRequest.self) { request, _ in RiskListChange(removed: try await engine.remove(request)) }
        router.registerShielded(GetRiskListRequest.self) { request, _ in
            RiskListView(entries: try await engine.entries(list: request.list, subject: request.subject, nowMilliseconds: unixMilliseconds()))
        }
    }
}
