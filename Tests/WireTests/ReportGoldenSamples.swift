@testable import Wire

/// The health report's golden values (0x013C) and risk control's audit summary (0x030A), in
/// PROTOCOL.md beside the others.
extension GoldenSamples {
    static let riskAuditSummary = RiskAuditSummary(
        decisions: 120, denied: 4, reviewed: 1,
        byReason: [
            RiskReasonCount(verdict: .deny, reason: "BLOCKED_DEVICE", decisions: 3),
            RiskReasonCount(verdict: .review, reason: "USER_VELOCITY", decisions: 1),
        ])

    static let healthReport = HealthReport(
        fromMilliseconds: created, toMilliseconds: created + 3_600_000, previousFromMilliseconds: created - 3_600_000,
        useRates: [
            UseRateChange(
                templateId: "tpl-1", name: "满100减20", previousClaims: 10, previousUses: 2, claims: 10, uses: 6,
                change: EffectTest(
                    control: 0.2, treatment: 0.6, difference: 0.4, differenceLow: 0.0078125, differenceHigh: 0.75, relativeLift: 2, liftLow: nil,
                    liftHigh: nil, statistic: 1.75, degreesOfFreedom: nil, pValue: 0.0625))
        ],
        fraud: [FraudTrend(verdict: .deny, reason: "BLOCKED_DEVICE", previous: 1, current: 3)], fraudProblem: nil, incidents: [], alerts: [],
        experiments: [])

    static let reports: [GoldenSample] = [
        GoldenSample(RiskAuditSummaryRequest(fromMilliseconds: created, toMilliseconds: created + 3_600_000), riskAuditSummary),
        GoldenSample(HealthReportRequest(fromMilliseconds: created, toMilliseconds: created + 3_600_000), healthReport),
    ]
}
