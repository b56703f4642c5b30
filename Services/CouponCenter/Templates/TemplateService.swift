import Access
import Domain
import ServiceKit
import Wire

/// Templates: created by operators, read by claims (through a one-second cache), paused and resumed.
struct TemplateService: Sendable {
    let store: TemplateStore
    let cache: TemplateCache
    let counters: StockCounters
    let logger: Logger

    func create(_ request: CreateTemplateRequest, by actor: AuditActor) async throws -> TemplateView {
        try TemplateRules.validate(request.spec)
        let view = try await store.createTemplate(request.spec, by: actor)
        // Best effort: without it the first claim rebuilds the counters from PostgreSQL.
        do {
            try await counters.initialize(view)
        } catch {
            logger.warning("could not prime Redis counters", [("template.id", view.templateId), ("error", "\(error)")])
        }
        logger.info("template created", [("template.id", view.templateId), ("template.type", view.spec.type.rawValue)])
        return view
    }

    func template(_ id: String) async throws -> TemplateView {
        try TemplateRules.identifier(id, field: "templateId")
        guard let view = try await store.template(id) else { throw ServiceError(.templateNotFound, "no template \(id)") }
        return view
    }

    /// The template as claims see it: cached for a second (its status is checked again when the
    /// claim is written).
    func forClaim(_ id: String) async throws -> TemplateView {
        guard let view = try await cache.template(id, load: { try await store.template(id) }) else {
            throw ServiceError(.templateNotFound, "no template \(id)")
        }
        return view
    }

    func setStatus(_ id: String, _ status: TemplateStatus, by actor: AuditActor) async throws -> TemplateView {
        try TemplateRules.identifier(id, field: "templateId")
        guard let view = try await store.setStatus(id, status, by: actor) else { throw ServiceError(.templateNotFound, "no template \(id)") }
        cache.forget(id)
        logger.info("template \(status == .paused ? "paused" : "resumed")", [("template.id", id)])
        return view
    }

    func list(_ request: ListTemplatesRequest) async throws -> TemplateList {
        guard (1...1000).contains(request.limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 1000") }
        return TemplateList(templates: try await store.listTemplates(limit: Int(request.limit)))
    }
}
