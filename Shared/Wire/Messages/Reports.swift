/// The health report (0x013C, the seed's quarterly 健康度检查): use-rate changes per template against
/// the previous period of the same length, the fraud trend (risk control's denials by rule), the
/// reconciliation incidents, the cost-ratio alerts and the experiments decided in the period.

/// `health_report` (0x013C): `GET /api/admin/health-report`. The period is [from, to); the
/// previous period is the same length just before it.
public struct HealthReportRequest: WireRequest, Equatable {
    public typealias Response = HealthReport
    public static let kind = MessageKind.healthReport
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64

    public init(fromMilliseconds: Int64, toMilliseconds: Int64) {
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
    }
}

/// One template's use rate (uses ÷ claims of the coupons claimed in a period) in the previous and
/// this period, and the change as a difference of proportions with its 95% interval (`change`
/// absent when a period has no claims).
public struct UseRateChange: Codable, Sendable, Equatable {
    public var templateId: String
    public var name: String
    public var previousClaims: Int64
    public var previousUses: Int64
    public var claims: Int64
    public var uses: Int64
    public var change: EffectTest?

    public init(templateId: String, name: String, previousClaims: Int64, previousUses: Int64, claims: Int64, uses: Int64, change: EffectTest?) {
        self.templateId = templateId
        self.name = name
        self.previousClaims = previousClaims
        self.previousUses = previousUses
        self.claims = claims
        self.uses = uses
        self.change = change
    }
}

/// Risk control's decisions with `verdict` that rule `reason` fired in, then and now.
public struct FraudTrend: Codable, Sendable, Equatable {
    public var verdict: RiskVerdict
    public var reason: String
    public var previous: Int64
    public var current: Int64

    public init(verdict: RiskVerdict, reason: String, previous: Int64, current: Int64) {
        self.verdict = verdict
        self.reason = reason
        self.previous = previous
        self.current = current
    }
}

public struct HealthReport: Codable, Sendable, Equatable {
    public var fromMilliseconds: Int64
    public var toMilliseconds: Int64
    public var previousFromMilliseconds: Int64
    public var useRates: [UseRateChange]
    /// Absent when risk control did not answer (the rest of the report still does; `fraudProblem` says why).
    public var fraud: [FraudTrend]?
    public var fraudProblem: String?
    /// Incidents opened in the period.
    public var incidents: [IncidentView]
    /// Cost-ratio alerts first seen in the period.
    public var alerts: [AlertView]
    /// Experiments stopped or rolled out in the period.
    public var experiments: [ExperimentView]

    public init(
        fromMilliseconds: Int64, toMilliseconds: Int64, previousFromMilliseconds: Int64, useRates: [UseRateChange], fraud: [FraudTrend]?,
        fraudProblem: String?, incidents: [IncidentView], alerts: [AlertView], experiments: [ExperimentView]
    ) {
        self.fromMilliseconds = fromMilliseconds
        self.toMilliseconds = toMilliseconds
        self.previousFromMilliseconds = previousFromMilliseconds
        self.useRates = useRates
        self.fraud = fraud
        self.fraudProblem = fraudProblem
        self.incidents = incidents
        self.alerts = alerts
        self.experiments = experiments
    }
}
