import Wire

/// Reconciliation's JSON (README "Reconciliation"): what the HTTP routes answer and what couponctl
/// prints with `--json`. Money in yuan, differences as percents, times in the configured zone.
extension CouponJSON {
    public func reconcileRun(_ run: ReconcileRunSummary) -> [(String, JSONValue)] {
        [
            ("runId", .integer(run.runId)), ("date", .string(run.businessDate)), ("scope", .string(run.scope)), ("attempt", .integer(run.attempt)),
            ("outcome", .string(run.outcome.rawValue)), ("startedAt", time(run.startedMilliseconds)),
            ("finishedAt", time(run.finishedMilliseconds)), ("judgedUntil", time(run.judgedUntilMilliseconds)),
            ("milliseconds", .integer(run.finishedMilliseconds - run.startedMilliseconds)), ("templates", .integer(run.templates)),
            ("couponsJudged", .integer(run.couponsJudged)), ("feedOrders", .integer(run.feedOrders)), ("itemCount", .integer(run.itemCount)),
            ("incidentsOpened", .integer(run.incidentsOpened)),
            ("checks", .array(run.checks.map { .object(reconcileCheck($0)) })),
            ("selfCheck", run.selfCheck.map { .string($0.rawValue) } ?? .null),
            ("selfCheckMissed", .array(run.selfCheckMissed.map { .string($0) })), ("reused", .bool(run.reused)),
        ]
    }

    public func reconcileCheck(_ check: ReconcileCheckSummary) -> [(String, JSONValue)] {
        [
            ("check", .string(check.check.rawValue)), ("templateId", check.templateId.map { .string($0) } ?? .null),
            ("items", .integer(check.items)), ("ledger", check.ledgerCents.map(Self.yuan) ?? .null),
            ("feed", check.feedCents.map(Self.yuan) ?? .null),
            ("difference", check.differenceBasisPoints.map(Self.percent) ?? .null), ("alarm", .bool(check.alarm)),
        ]
    }

    public func reconcileItem(_ item: ReconcileItemView) -> [(String, JSONValue)] {
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return [
            ("position", .integer(item.position)), ("check", .string(item.check.rawValue)), ("code", .string(item.code)),
            ("templateId", text(item.templateId)), ("couponId", text(item.couponId)), ("orderId", text(item.orderId)),
            ("expected", text(item.expected)), ("actual", text(item.actual)),
        ]
    }

    public func incident(_ incident: IncidentView) -> [(String, JSONValue)] {
        [
            ("incidentId", .integer(incident.incidentId)), ("check", .string(incident.check.rawValue)),
            ("templateId", .string(incident.templateId)), ("date", .string(incident.businessDate)), ("status", .string(incident.status.rawValue)),
            ("items", .integer(incident.items)), ("firstRunId", .integer(incident.firstRunId)), ("lastRunId", .integer(incident.lastRunId)),
            ("note", incident.note.map { .string($0) } ?? .null), ("openedAt", time(incident.openedMilliseconds)),
            ("updatedAt", time(incident.updatedMilliseconds)),
        ]
    }

    public func feedResult(_ result: FeedSubmitResult) -> [(String, JSONValue)] {
        [
            ("stored", .integer(result.stored)), ("replaced", .integer(result.replaced)), ("unchanged", .integer(result.unchanged)),
            (
                "refused",
                .array(
                    result.refused.map {
                        .object([
                            ("line", .integer($0.line)), ("code", .integer($0.code.rawValue)), ("error", .string($0.code.name)),
                            ("message", .string($0.message)),
                        ])
                    })
            ),
        ]
    }
}
