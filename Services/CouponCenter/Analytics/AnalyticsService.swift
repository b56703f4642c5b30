import Domain
import ServiceKit
import Wire

/// Exposures and the seed's per-template metrics.
struct AnalyticsService: Sendable {
    let store: AnalyticsStore

    func recordExposure(_ request: ExposureRequest) async throws -> ExposureAck {
        try TemplateRules.identifier(request.userId, field: "userId")
        try TemplateRules.identifier(request.templateId, field: "templateId")
        guard try await store.recordExposure(templateId: request.templateId, userId: request.userId) else {
            throw ServiceError(.templateNotFound, "no template \(request.templateId)")
        }
        return ExposureAck(recorded: true)
    }

    func stats(_ request: StatsRequest) async throws -> TemplateStats {
        try TemplateRules.identifier(request.templateId, field: "templateId")
        guard let stats = try await store.stats(request.templateId) else {
            throw ServiceError(.templateNotFound, "no template \(request.templateId)")
        }
        return stats
    }
}
