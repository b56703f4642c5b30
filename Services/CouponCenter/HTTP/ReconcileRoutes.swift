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
                return .json(json.reconcileRun(run))
            },
            HTTPRoute("GET", "/api/admin/reconcile/runs") { call in
                guard let date = call.query["date"], !date.isEmpty else { throw ServiceError(.invalidArgument, "date: required (YYYY-MM-DD)") }
                let list = try await reconcile.runs(ReconcileRunsListRequest(businessDate: date))
                return .json([("runs", .array(list.runs.map { .object(json.reconcileRun($0)) }))])
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
                    json.reconcileRun(detail.run) + [
                        ("items", .array(detail.items.map { .object(json.reconcileItem($0)) })),
                        ("nextOffset", detail.nextOffset.map { .integer($0) } ?? .null),
                    ])
            },
            HTTPRoute("POST", "/api/admin/reconcile/feed") { call in
                guard let date = call.query["date"], !date.isEmpty else { throw ServiceError(.invalidArgument, "date: required (YYYY-MM-DD)") }
                guard let ndjson = String(validating: call.request.body, as: UTF8.self) else {
                    throw ServiceError(.malformedJSON, "the feed is not UTF-8 text")
                }
                let result = try await reconcile.submitFeed(FeedSubmitRequest(businessDate: date, ndjson: ndjson))
                return .json(json.feedResult(result))
            },
            HTTPRoute("GET", "/api/admin/incidents") { call in
                let query = call.query
                let list = try await reconcile.incidents(
                    IncidentsListRequest(
                        status: try CouponRoutes.enumeration(query["status"], IncidentStatus.self, field: "status"),
                        limit: try CouponRoutes.number(query["limit"], field: "limit") ?? 100,
                        beforeId: try CouponRoutes.number(query["before"], field: "before")))
                return .json([
                    ("incidents", .array(list.incidents.map { .object(json.incident($0)) })),
                    ("nextBefore", list.nextBeforeId.map { .integer($0) } ?? .null),
                ])
            },
            HTTPRoute("POST", "/api/admin/incidents/{id}/ack") { call in
                .json(json.incident(try await reconcile.acknowledge(IncidentAckRequest(incidentId: try Self.incidentId(call)), by: call.actor)))
            },
            HTTPRoute("POST", "/api/admin/incidents/{id}/accept") { call in
                let fields = try JSONFields(try call.jsonObject(), allowed: ["note"])
                return .json(
                    json.incident(
                        try await reconcile.accept(
                            IncidentAcceptRequest(incidentId: try Self.incidentId(call), note: try fields.string("note")), by: call.actor)))
            },
        ]
    }

    static func incidentId(_ call: HTTPCall) throws(ServiceError) -> Int64 {
        guard let id = Int64(call.pathParameters["id"] ?? ""), id > 0 else { throw ServiceError(.invalidArgument, "id: a positive whole number") }
        return id
    }
}
