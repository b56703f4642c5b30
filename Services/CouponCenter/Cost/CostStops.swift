import Synchronization

/// The templates refusing claims with `COST_CEILING` now, as the claim path reads them: a set in
/// memory, replaced by every evaluation (on the leader) and every refresh (on each process, once
/// per evaluation interval and at start). The claim path is hot, so it never asks PostgreSQL.
///
/// Why a cache is enough here, when stock and limits need PostgreSQL as the final guard: the cost
/// ratio is measured after the fact, over minutes of redemptions, so a claim let through in the
/// seconds before a process learns of a firing alert spends nothing yet (a coupon costs when it is
/// redeemed, and redemptions go on while a template is stopped, by design).
final class CostStops: Sendable {
    private let stopped = Mutex<Set<String>>([])

    func refusesClaims(_ templateId: String) -> Bool { stopped.withLock { $0.contains(templateId) } }

    func replace(_ templates: Set<String>) { stopped.withLock { $0 = templates } }

    var count: Int { stopped.withLock { $0.count } }
}
