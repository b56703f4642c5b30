import ServiceKit
import Wire

/// How coupon-center batches the calls a claim or a redemption makes to another process: claims
/// that arrive while a call is in flight share the next one, so under load each pays a fraction
/// of a round trip at every stage (Shared/DESIGN.md §7).
enum BatchedStages {
    /// Items per batch at most; well under the limits of the batch messages.
    static let maxBatch = 256
    /// Batches in flight per stage: one, so the items arriving meanwhile gather into the next.
    static let lanes = 1

    /// A stage whose batch call answers every item or fails as a whole (a query, a batch message):
    /// `call` must answer as many items as it was given, in order.
    static func batcher<Item: Sendable, Output: Sendable>(
        _ name: String, _ metrics: Metrics, call: @escaping @Sendable ([Item]) async throws -> [Output]
    ) -> Batcher<Item, Output> {
        Batcher(
            name: name, lanes: lanes, maxBatch: maxBatch, metrics: metrics,
            process: Batcher.everyItem { items in
                let answers = try await call(items)
                guard answers.count == items.count else {
                    throw ServiceError(.internalError, "\(name): \(answers.count) answers for \(items.count) items")
                }
                return answers
            })
    }
}
