import CouponClient
import Domain
import Postgres
import ServiceKit
import Wire

/// The health report (README "Health report"), the seed's 健康度检查 over any period up to
/// `maxSpanDays`. Each section comes from the part of the system that owns it:
/// 1. **Use rates**: per template, uses ÷ claims of the coupons claimed in the period against the
///    previous period of the same length (`user_coupon`), the change a difference of proportions
///    with its 95% Wald interval (the experiments' two-proportion test).
/// 2. **Fraud trend**: risk control's own audit, asked with `risk_audit_summary` for both periods
///    (its tables are its own); when it does not answer, the section says so and the rest is
///    answered.
/// 3. **Incidents** opened, 4. **alerts** first seen and 5. **experiments** stopped or rolled out
///    in the period, from the same services their own calls use (newest first, at most 1,000 each).
struct HealthReportService: Sendable {
    let database: PostgresPool
    let riskControl: ServiceClient
    let dependencyTimeoutMilliseconds: Int
    let cost: CostService
    let reconcile: ReconcileService
    let experiments: ExperimentService

    static let maxSpanDays: Int64 = 366
    static let sectionLimit = 1_000

    func report(_ request: HealthReportRequest) async throws -> HealthReport {
        let (from, to) = (request.fromMilliseconds, request.toMilliseconds)
        try Timestamp.checkRange(from, field: "from")
        try Timestamp.checkRange(to, field: "to")
        guard from < to else { throw ServiceError(.invalidArgument, "from: must be before to") }
        let span = to - from
        guard span <= Self.maxSpanDays * 86_400_000 else {
            throw ServiceError(.invalidArgument, "to: the period is at most \(Self.maxSpanDays) days")
        }
        let previousFrom = from - span
        try Timestamp.checkRange(previousFrom, field: "from (the previous period starts as long before it)")

        async let useRates = useRates(previousFrom: previousFrom, from: from, to: to)
        async let fraud = fraudTrend(previousFrom: previousFrom, from: from, to: to)
        let incidents = try await collect(from: from, to: to) { before in
            let page = try await reconcile.incidents(IncidentsListRequest(limit: 1_000, beforeId: before))
            return (page.incidents, page.nextBeforeId)
        } time: {
            $0.openedMilliseconds
        }
        let alerts = try await collect(from: from, to: to) { before in
            let page = try await cost.alerts(AlertsListRequest(limit: 1_000, beforeId: before))
            return (page.alerts, page.nextBeforeId)
        } time: {
            $0.firstSeenMilliseconds
        }
        let decided = try await experiments.list(ListExperimentsRequest(limit: 1_000)).experiments.filter {
            guard $0.status == .stopped || $0.status == .rolledOut, let stopped = $0.stoppedMilliseconds else { return false }
            return stopped >= from && stopped < to
        }
        let (trend, problem) = await fraud
        return HealthReport(
            fromMilliseconds: from, toMilliseconds: to, previousFromMilliseconds: previousFrom, useRates: try await useRates, fraud: trend,
            fraudProblem: problem, incidents: incidents, alerts: alerts, experiments: decided)
    }

    /// The items of a newest-first listing whose time is in [from, to), page after page until the
    /// listing is older than `from`, at most `sectionLimit`.
    private func collect<Item>(
        from: Int64, to: Int64, page: (Int64?) async throws -> ([Item], Int64?), time: (Item) -> Int64
    ) async throws -> [Item] {
        var found: [Item] = []
        var before: Int64?
        while found.count < Self.sectionLimit {
            let (items, next) = try await page(before)
            found += items.filter { time($0) >= from && time($0) < to }
            guard let next, let oldest = items.last, time(oldest) >= from else { break }
            before = next
        }
        return Array(found.prefix(Self.sectionLimit))
    }

    private func useRates(previousFrom: Int64, from: Int64, to: Int64) async throws -> [UseRateChange] {
        let rows = try await database.query(
            """
            SELECT c.template_id, t.name,
                   count(*) FILTER (WHERE c.claimed_at < to_timestamp($2::bigint / 1000.0))::bigint AS previous_claims,
                   count(*) FILTER (WHERE c.claimed_at < to_timestamp($2::bigint / 1000.0) AND c.status = 'USED')::bigint AS previous_uses,
                   count(*) FILTER (WHERE c.claimed_at >= to_timestamp($2::bigint / 1000.0))::bigint AS claims,
                   count(*) FILTER (WHERE c.claimed_at >= to_timestamp($2::bigint / 1000.0) AND c.status = 'USED')::bigint AS uses
              FROM user_coupon c JOIN coupon_template t ON t.id = c.template_id
             WHERE c.claimed_at >= to_timestamp($1::bigint / 1000.0) AND c.claimed_at < to_timestamp($3::bigint / 1000.0)
             GROUP BY c.template_id, t.name ORDER BY c.template_id LIMIT 1000
            """, [previousFrom, from, to])
        return try rows.map { row in
            let previous = ExperimentStatistics.Proportion(trials: try row.decode("previous_claims"), successes: try row.decode("previous_uses"))
            let current = ExperimentStatistics.Proportion(trials: try row.decode("claims"), successes: try row.decode("uses"))
            return UseRateChange(
                templateId: try row.decode("template_id"), name: try row.decode("name"), previousClaims: previous.trials,
                previousUses: previous.successes, claims: current.trials, uses: current.successes,
                change: ExperimentStatistics.twoProportionTest(control: previous, treatment: current, alpha: 0.05))
        }
    }

    /// Both periods from risk control; nil and the reason when it does not answer.
    private func fraudTrend(previousFrom: Int64, from: Int64, to: Int64) async -> ([FraudTrend]?, String?) {
        do {
            async let before = riskControl.call(
                RiskAuditSummaryRequest(fromMilliseconds: previousFrom, toMilliseconds: from), timeoutMilliseconds: dependencyTimeoutMilliseconds * 4)
            async let now = riskControl.call(
                RiskAuditSummaryRequest(fromMilliseconds: from, toMilliseconds: to), timeoutMilliseconds: dependencyTimeoutMilliseconds * 4)
            let (previous, current) = try await (before, now)
            var trends: [String: FraudTrend] = [:]
            for count in previous.byReason {
                trends["\(count.verdict.rawValue) \(count.reason)"] = FraudTrend(
                    verdict: count.verdict, reason: count.reason, previous: count.decisions, current: 0)
            }
            for count in current.byReason {
                trends[
                    "\(count.verdict.rawValue) \(count.reason)",
                    default: FraudTrend(verdict: count.verdict, reason: count.reason, previous: 0, current: 0)
                ]
                .current = count.decisions
            }
            return (trends.keys.sorted().compactMap { trends[$0] }, nil)
        } catch let error as ServiceError {
            return (nil, "risk-control: \(error.code.name): \(error.message)")
        } catch {
            return (nil, "risk-control did not answer")
        }
    }
}
