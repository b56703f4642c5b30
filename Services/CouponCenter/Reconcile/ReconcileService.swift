import Access
import Domain
import Postgres
import Redis
import ServiceKit
import Wire

/// Reconciliation (对账), what a run goes through, in order (README "Reconciliation"):
/// 1. the day and scope are validated; without `rerun` an earlier run of them is the answer;
/// 2. the self-check, when asked for (always in the daily run): `SelfCheck`;
/// 3. Redis's counters of the scope's templates are read, then PostgreSQL's snapshot is taken
///    (one REPEATABLE READ transaction), then Redis is read again: only figures both reads agree
///    on are judged (a claim between them would show as a false difference);
/// 4. the checks (`ReconcileChecks`, Scripts/reconcile_checks.sql) run in the snapshot;
/// 5. the MONEY difference per template is judged here (`MoneyDifference`, alarm above 0.1%);
/// 6. the run, its items, incidents and alerts are written in the same transaction
///    (`ReconcileStore.write`), so a run is stored whole or not at all.
struct ReconcileService: Sendable {
    let store: ReconcileStore
    let redis: RedisPool
    let settings: ReconcileSettings
    let logger: Logger
    let metrics: Metrics
    /// The checks the self-check proves: the real script (a test passes a crippled one to see the
    /// RECONCILER_BLIND path end to end).
    var selfCheckScript: SQL = ReconcileChecks.script

    var database: PostgresPool { store.database }

    func start(_ request: ReconcileStartRequest, trigger: String = "ON_DEMAND") async throws -> ReconcileRunSummary {
        let date = try validDay(request.businessDate)
        if let templateId = request.templateId { try TemplateRules.identifier(templateId, field: "templateId") }
        let scope = ReconcileStore.scope(request.templateId)
        if !request.rerun, let earlier = try await store.latestRun(businessDate: date, scope: scope) { return earlier }
        let templates = try await store.templateIds(request.templateId)
        if let templateId = request.templateId, templates.isEmpty {
            throw ServiceError(.templateNotFound, "no template \(templateId)")
        }
        let started = unixMilliseconds()
        let selfCheck = request.selfCheck ? try await runSelfCheck() : nil
        let before = await redisFigures(templates, day: date)
        let runId: Int64
        do {
            runId = try await database.transaction(isolation: .repeatableRead) { transaction in
                // The snapshot is taken by the first statement; Redis is read again after it.
                _ = try await transaction.query("SELECT 1", [])
                let after = await redisFigures(templates, day: date)
                let day = ReconcileChecks.Day(
                    businessDate: date, timeZone: settings.timeZone.identifier, marginSeconds: settings.marginSeconds,
                    templateId: request.templateId, redis: Self.agreeing(before, after))
                try await ReconcileChecks.prepare(transaction)
                let outcome = try await ReconcileChecks.run(day, in: transaction)
                let judged = Self.judge(outcome)
                return try await store.write(
                    ReconcileStore.RunRecord(
                        businessDate: date, templateId: request.templateId, trigger: trigger, startedMilliseconds: started,
                        timeZone: settings.timeZone.identifier, outcome: outcome, moneyFindings: judged.findings, checks: judged.checks,
                        templates: templates.count, selfCheck: selfCheck, alarms: judged.alarms),
                    in: transaction)
            }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // A concurrent start of the same day and scope wrote its attempt first: answer it.
            guard let winner = try await store.latestRun(businessDate: date, scope: scope) else { throw error }
            return winner
        }
        guard let run = try await store.run(runId) else { throw ServiceError(.internalError, "run \(runId) was written but cannot be read") }
        report(run)
        return run
    }

    private func report(_ run: ReconcileRunSummary) {
        metrics.increment("reconcile_runs_total", [("outcome", run.outcome.rawValue)])
        let fields: [(String, String)] = [
            ("reconcile.run", String(run.runId)), ("reconcile.date", run.businessDate), ("reconcile.scope", run.scope),
            ("reconcile.items", String(run.itemCount)), ("reconcile.incidents_opened", String(run.incidentsOpened)),
            ("reconcile.coupons", String(run.couponsJudged)),
            ("reconcile.milliseconds", String(run.finishedMilliseconds - run.startedMilliseconds)),
        ]
        if run.selfCheck == .blind {
            logger.error("RECONCILER_BLIND: the self-check missed planted faults", fields + [("missed", run.selfCheckMissed.joined(separator: "; "))])
        }
        if run.outcome == .clean {
            logger.info("reconciled", fields)
        } else {
            logger.warning("reconciliation found differences", fields)
        }
    }

    private func runSelfCheck() async throws -> SelfCheck.Result {
        let result = try await SelfCheck.run(database: database, timeZone: settings.timeZone.identifier, script: selfCheckScript)
        metrics.increment("reconcile_self_checks_total", [("outcome", result.outcome.rawValue)])
        return result
    }

    private func validDay(_ text: String) throws(ServiceError) -> String {
        let date = try BusinessDay.validated(text)
        // YYYY-MM-DD compares as text in date order.
        guard date <= Timestamp.day(unixMilliseconds(), in: settings.timeZone) else {
            throw ServiceError(.dayNotBegun, "date: \(date) has not begun in \(settings.timeZone.identifier)")
        }
        return date
    }

    /// Redis's counters per template (`issued`, `spent`, and the day's count): what is absent or
    /// unreadable is left out, and then not judged.
    private func redisFigures(_ templates: [String], day: String) async -> [String: [String: Int64]] {
        var figures: [String: [String: Int64]] = [:]
        for templateId in templates {
            let keys = StockCounters.Keys(templateId: templateId, day: day, userId: "")
            guard case .array(let values)? = try? await redis.command(["MGET", keys.issued, keys.spent, keys.day]), values.count == 3 else {
                continue
            }
            var counters: [String: Int64] = [:]
            for (name, value) in zip(["issued", "spent", "day"], values) { counters[name] = value.int }
            figures[templateId] = counters
        }
        return figures
    }

    /// The figures both reads showed alike.
    static func agreeing(_ before: [String: [String: Int64]], _ after: [String: [String: Int64]]) -> [String: [String: Int64]] {
        var agreed: [String: [String: Int64]] = [:]
        for (templateId, counters) in before {
            let same = counters.filter { name, value in after[templateId]?[name] == value }
            if !same.isEmpty { agreed[templateId] = same }
        }
        return agreed
    }

    /// The MONEY check per template, and the summary of every check.
    static func judge(_ outcome: ReconcileChecks.Outcome)
        -> (findings: [ReconcileChecks.Finding], checks: [ReconcileCheckSummary], alarms: [(templateId: String, basisPoints: Int64)])
    {
        var findings: [ReconcileChecks.Finding] = []
        var money: [ReconcileCheckSummary] = []
        var alarms: [(templateId: String, basisPoints: Int64)] = []
        for sums in outcome.money {
            guard let ledger = sums.ledgerCents, let feed = sums.feedCents else {
                findings.append(
                    ReconcileChecks.Finding(
                        check: .money, code: "SUM_OUT_OF_RANGE", templateId: sums.templateId, couponId: nil, orderId: nil, expected: nil, actual: nil)
                )
                alarms.append((sums.templateId, 10_000))
                money.append(
                    ReconcileCheckSummary(
                        check: .money, templateId: sums.templateId, items: 1, ledgerCents: sums.ledgerCents, feedCents: sums.feedCents,
                        differenceBasisPoints: nil, alarm: true))
                continue
            }
            let basisPoints = MoneyDifference.basisPoints(ledger, feed)
            let alarm = MoneyDifference.isAlarm(ledger, feed)
            if alarm {
                findings.append(
                    ReconcileChecks.Finding(
                        check: .money, code: "MONEY_DIFFERENCE", templateId: sums.templateId, couponId: nil, orderId: nil,
                        expected: String(ledger), actual: String(feed)))
                alarms.append((sums.templateId, basisPoints))
            }
            money.append(
                ReconcileCheckSummary(
                    check: .money, templateId: sums.templateId, items: alarm ? 1 : 0, ledgerCents: ledger, feedCents: feed,
                    differenceBasisPoints: basisPoints, alarm: alarm))
        }
        let others = ReconcileCheck.allCases.filter { $0 != .money }.map { check in
            ReconcileCheckSummary(
                check: check, templateId: nil, items: Int32(clamping: outcome.findings.count { $0.check == check }), ledgerCents: nil,
                feedCents: nil, differenceBasisPoints: nil, alarm: false)
        }
        return (findings, others + money, alarms)
    }

    // MARK: Reading runs

    func run(_ request: ReconcileRunGetRequest) async throws -> ReconcileRunDetail {
        guard (1...1000).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 1000") }
        guard request.offset >= 0 else { throw ServiceError(.invalidArgument, "offset: must not be negative") }
        guard let run = try await store.run(request.runId) else {
            throw ServiceError(.reconcileRunNotFound, "no reconciliation run \(request.runId)")
        }
        let page = try await Page.read(limit: request.limit, naming: "item") { rows in
            try await store.items(runId: request.runId, offset: Int(request.offset), limit: rows)
        }
        return ReconcileRunDetail(run: run, items: page.items, nextOffset: page.hasMore ? page.items.last?.position : nil)
    }

    func runs(_ request: ReconcileRunsListRequest) async throws -> ReconcileRunList {
        ReconcileRunList(runs: try await store.runs(businessDate: try BusinessDay.validated(request.businessDate)))
    }

    // MARK: Feed

    func submitFeed(_ request: FeedSubmitRequest) async throws -> FeedSubmitResult {
        let date = try validDay(request.businessDate)
        let parsed = try OrderFeed.parse(Array(request.ndjson.utf8))
        let (stored, replaced, unchanged) = try await store.storeFeed(businessDate: date, lines: parsed.lines.map(\.line))
        return FeedSubmitResult(
            stored: Int32(clamping: stored), replaced: Int32(clamping: replaced), unchanged: Int32(clamping: unchanged), refused: parsed.refused)
    }

    // MARK: Incidents

    func incidents(_ request: IncidentsListRequest) async throws -> IncidentList {
        let page = try await Page.read(limit: request.limit, beforeId: request.beforeId, naming: "incident") { rows in
            try await store.incidents(status: request.status, limit: rows, beforeId: request.beforeId)
        }
        return IncidentList(incidents: page.items, nextBeforeId: page.hasMore ? page.items.last?.incidentId : nil)
    }

    func acknowledge(_ request: IncidentAckRequest, by actor: AuditActor) async throws -> IncidentView {
        let id = request.incidentId
        return try await store.changeIncident(id, action: "incident.ack", by: actor) { status in
            (try IncidentTransitions.acknowledge(status, incidentId: id), nil)
        }
    }

    func accept(_ request: IncidentAcceptRequest, by actor: AuditActor) async throws -> IncidentView {
        let (id, note) = (request.incidentId, request.note)
        try IncidentTransitions.validNote(note)
        return try await store.changeIncident(id, action: "incident.accept", by: actor) { status in
            (try IncidentTransitions.accept(status, incidentId: id, note: note), note)
        }
    }
}
