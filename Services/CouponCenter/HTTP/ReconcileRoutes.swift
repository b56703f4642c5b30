import Domain
import ServiceKit
import Wire

/// Reconciliation's HTTP/JSON routes (README "Reconciliation"): runs, their items, the order feed
/// and incidents, answered by the same `ReconcileService` as the binary protocol. Money in yuan,
/// times in ISO 8601 in the configured zone.
struct ReconcileRoutes {
    let reconcile: ReconcileService
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("POST", "/api/admin/reconcile") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["date", "templateId", "rerun", "selfCheck"])
                let run = try await reconcile.start(
                    ReconcileStartRequest(
                        businessDate: try fields.string("date"), templateId: try fields.optionalString("templateId"),
                        rerun: try fields.bool("rerun", default: false), selfCheck: try fields.bool("selfCheck", default: false)))
                return .json(summary(run))
            },
            HTTPRoute("GET", "/api/admin/reconcile/runs") { call in
                guard let date = call.query["date"], !date.isEmpty else { throw ServiceError(.invalidArgument, "date: required (YYYY-MM-DD)") }
                let list = try await reconcile.runs(ReconcileRunsListRequest(businessDate: date))
                return .json([("runs", .array(list.runs.map { .object(summary($0)) }))])
            },
            HTTPRoute("GET", "/api/admin/reconcile/runs/{runId}") { call in
                let query = call.query
                guard let runId = Int64(call.pathParameters["runId"] ?? "") else {
                    throw ServiceError(.invalidArgument, "runId: a whole number")
                }
                let detail = try await reconcile.run(
                    ReconcileRunGetRequest(
                        runId: runId, offset: try CouponRoutes.number(query["offset"], field: "offset") ?? 0,
                        limit: try CouponRoutes.number(query["limit"], field: "limit") ?? 100))
                return .json(
                    summary(detail.run) + [
                        ("items", .array(detail.items.map { .object(item($0)) })),
                        ("nextOffset", detail.nextOffset.map { .integer($0) } ?? .null),
                    ])
            },
            HTTPRoute("POST", "/api/admin/reconcile/feed") { call in
                guard let date = call.query["date"], !date.isEmpty else { throw ServiceError(.invalidArgument, "date: required (YYYY-MM-DD)") }
                guard let ndjson = String(validating: call.request.body, as: UTF8.self) else {
                    throw ServiceError(.malformedJSON, "the feed is not UTF-8 text")
                }
                let result = try await reconcile.submitFeed(FeedSubmitRequest(businessDate: date, ndjson: ndjson))
                return .json([
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
                ])
            },
            HTTPRoute("GET", "/api/admin/incidents") { call in
                let query = call.query
                let list = try await reconcile.incidents(
                    IncidentsListRequest(
                        status: try CouponRoutes.enumeration(query["status"], IncidentStatus.self, field: "status"),
                        limit: try CouponRoutes.number(query["limit"], field: "limit") ?? 100,
                        beforeId: try CouponRoutes.number(query["before"], field: "before")))
                return .json([
                    ("incidents", .array(list.incidents.map { .object(incident($0)) })),
                    ("nextBefore", list.nextBeforeId.map { .integer($0) } ?? .null),
                ])
            },
            HTTPRoute("POST", "/api/admin/incidents/{id}/ack") { call in
                .json(incident(try await reconcile.acknowledge(IncidentAckRequest(incidentId: try Self.incidentId(call)))))
            },
            HTTPRoute("POST", "/api/admin/incidents/{id}/accept") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["note"])
                return .json(
                    incident(
                        try await reconcile.accept(IncidentAcceptRequest(incidentId: try Self.incidentId(call), note: try fields.string("note")))))
            },
        ]
    }

    static func incidentId(_ call: HTTPCall) throws(ServiceError) -> Int64 {
        guard let id = Int64(call.pathParameters["id"] ?? ""), id > 0 else { throw ServiceError(.invalidArgument, "id: a positive whole number") }
        return id
    }

    func summary(_ run: ReconcileRunSummary) -> [(String, JSONValue)] {
        [
            ("runId", .integer(run.runId)), ("date", .string(run.businessDate)), ("scope", .string(run.scope)), ("attempt", .integer(run.attempt)),
            ("outcome", .string(run.outcome.rawValue)), ("startedAt", json.time(run.startedMilliseconds)),
            ("finishedAt", json.time(run.finishedMilliseconds)), ("judgedUntil", json.time(run.judgedUntilMilliseconds)),
            ("milliseconds", .integer(run.finishedMilliseconds - run.startedMilliseconds)), ("templates", .integer(run.templates)),
            ("couponsJudged", .integer(run.couponsJudged)), ("feedOrders", .integer(run.feedOrders)), ("itemCount", .integer(run.itemCount)),
            ("incidentsOpened", .integer(run.incidentsOpened)),
            ("checks", .array(run.checks.map { .object(check($0)) })),
            ("selfCheck", run.selfCheck.map { .string($0.rawValue) } ?? .null),
            ("selfCheckMissed", .array(run.selfCheckMissed.map { .string($0) })), ("reused", .bool(run.reused)),
        ]
    }

    func check(_ check: ReconcileCheckSummary) -> [(String, JSONValue)] {
        [
            ("check", .string(check.check.rawValue)), ("templateId", check.templateId.map { .string($0) } ?? .null),
            ("items", .integer(check.items)), ("ledger", check.ledgerCents.map(CouponJSON.yuan) ?? .null),
            ("feed", check.feedCents.map(CouponJSON.yuan) ?? .null),
            ("difference", check.differenceBasisPoints.map(CouponJSON.percent) ?? .null), ("alarm", .bool(check.alarm)),
        ]
    }

    func item(_ item: ReconcileItemView) -> [(String, JSONValue)] {
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return [
            ("position", .integer(item.position)), ("check", .string(item.check.rawValue)), ("code", .string(item.code)),
            ("templateId", text(item.templateId)), ("couponId", text(item.couponId)), ("orderId", text(item.orderId)),
            ("expected", text(item.expected)), ("actual", text(item.actual)),
        ]
    }

    func incident(_ incident: IncidentView) -> [(String, JSONValue)] {
        [
            ("incidentId", .integer(incident.incidentId)), ("check", .string(incident.check.rawValue)),
            ("templateId", .string(incident.templateId)), ("date", .string(incident.businessDate)), ("status", .string(incident.status.rawValue)),
            ("items", .integer(incident.items)), ("firstRunId", .integer(incident.firstRunId)), ("lastRunId", .integer(incident.lastRunId)),
            ("note", incident.note.map { .string($0) } ?? .null), ("openedAt", json.time(incident.openedMilliseconds)),
            ("updatedAt", json.time(incident.updatedMilliseconds)),
        ]
    }
}
