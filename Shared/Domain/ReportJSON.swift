import Wire

/// The JSON shape of the health report, shared by coupon-center's HTTP front and couponctl; each
/// section in the shape its own API answers with (incidents, alerts, experiments), rates with six
/// significant digits.
extension CouponJSON {
    public func healthReport(_ report: HealthReport) -> [(String, JSONValue)] {
        func rate(_ uses: Int64, _ claims: Int64) -> JSONValue { Self.statistic(claims > 0 ? Double(uses) / Double(claims) : nil) }
        return [
            ("from", time(report.fromMilliseconds)), ("to", time(report.toMilliseconds)), ("previousFrom", time(report.previousFromMilliseconds)),
            (
                "useRates",
                .array(
                    report.useRates.map {
                        .object([
                            ("templateId", .string($0.templateId)), ("name", .string($0.name)), ("previousClaims", .integer($0.previousClaims)),
                            ("previousUses", .integer($0.previousUses)), ("previousUseRate", rate($0.previousUses, $0.previousClaims)),
                            ("claims", .integer($0.claims)), ("uses", .integer($0.uses)), ("useRate", rate($0.uses, $0.claims)),
                            ("change", effect($0.change)),
                        ])
                    })
            ),
            (
                "fraud",
                report.fraud.map { trends in
                    .array(
                        trends.map {
                            .object([
                                ("verdict", .string($0.verdict.rawValue)), ("reason", .string($0.reason)), ("previous", .integer($0.previous)),
                                ("current", .integer($0.current)),
                            ])
                        })
                } ?? .null
            ),
            ("fraudProblem", report.fraudProblem.map { .string($0) } ?? .null),
            ("incidents", .array(report.incidents.map { .object(incident($0)) })),
            ("alerts", .array(report.alerts.map { .object(alert($0)) })),
            ("experiments", .array(report.experiments.map { .object(experiment($0)) })),
        ]
    }
}
