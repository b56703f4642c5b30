import Domain
import ServiceKit
import Wire

/// `GET /api/admin/health-report?from=&to=` (README "Health report"), answered by the same
/// `HealthReportService` as `health_report`. `from` and `to` are ISO 8601 with their offset.
struct ReportRoutes {
    let reports: HealthReportService
    let json: CouponJSON

    var routes: [HTTPRoute] {
        [
            HTTPRoute("GET", "/api/admin/health-report") { call in
                func time(_ field: String) throws(ServiceError) -> Int64 {
                    guard let text = call.query[field], !text.isEmpty else {
                        throw ServiceError(.invalidArgument, "\(field): required, ISO 8601 with its offset (2026-12-01T00:00:00+08:00)")
                    }
                    // A '+' of the offset left unencoded in the query arrives as a space.
                    guard let milliseconds = Timestamp.parseISO8601(String(text.map { $0 == " " ? "+" : $0 })) else {
                        throw ServiceError(.invalidArgument, "\(field): '\(text)' is not ISO 8601 with an offset (2026-12-01T00:00:00+08:00)")
                    }
                    return milliseconds
                }
                let report = try await reports.report(HealthReportRequest(fromMilliseconds: try time("from"), toMilliseconds: try time("to")))
                return .json(json.healthReport(report))
            }
        ]
    }
}
