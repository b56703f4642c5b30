import Wire

/// One page of a list read newest-first or by position: the store is asked for one row more than
/// the page holds, and that extra row only says whether there is a next page.
struct Page<Item: Sendable>: Sendable {
    var items: [Item]
    var hasMore: Bool

    /// Validates `limit` (1…1000, the bound every list call documents) and `beforeId` (positive
    /// when given) as the caller's input, then reads `limit + 1` rows with `read`.
    static func read(
        limit: Int32, beforeId: Int64? = nil, naming what: String, _ read: (_ rows: Int) async throws -> [Item]
    ) async throws -> Page {
        guard (1...1000).contains(limit) else { throw ServiceError(.invalidArgument, "limit: between 1 and 1000") }
        if let before = beforeId, before < 1 { throw ServiceError(.invalidArgument, "before: must be a positive \(what) id") }
        var items = try await read(Int(limit) + 1)
        let hasMore = items.count > Int(limit)
        if hasMore { items.removeLast() }
        return Page(items: items, hasMore: hasMore)
    }
}
