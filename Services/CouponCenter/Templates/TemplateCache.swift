import Synchronization
import Wire

/// Templates as claims read them, kept for a second. A template's rules never change after
/// creation; only its status does, and a stale status cannot let a claim through because
/// `claim_coupons` checks the status again under the template's row lock. The cache only saves
/// the claim path a database round trip.
final class TemplateCache: Sendable {
    private struct Entry {
        var view: TemplateView
        var fetched: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration = .seconds(1), capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func template(_ id: String, load: () async throws -> TemplateView?) async throws -> TemplateView? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[id] }), now - entry.fetched < lifetime { return entry.view }
        guard let view = try await load() else { return nil }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[id] = Entry(view: view, fetched: now)
        }
        return view
    }

    func forget(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
