import Postgres

/// Every table's rows, reduced to one digest per table: equal before and after a call means the
/// call changed nothing that is stored. For "refused, and nothing changed" tests.
public enum DatabaseFingerprint {
    /// Tables a service's background jobs write on their own schedule, whoever calls: every lease
    /// of a job's Redis lock records its fence in `lock_fence` (migration 0014), so a job that
    /// takes its turn between the two fingerprints is not a change a call made.
    public static let backgroundTables: Set<String> = ["lock_fence"]

    public static func of(_ database: some PostgresQueryable) async throws -> [String: String] {
        let tables = try await database.query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1")
        var digests: [String: String] = [:]
        for row in tables {
            let name: String = try row.decode(0)
            if backgroundTables.contains(name) { continue }
            let rows = try await database.query(
                "SELECT count(*)::text || ':' || md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) FROM " + (try SQL.identifier(name))
                    + " t")
            digests[name] = try rows[0].decode(0, as: String.self)
        }
        return digests
    }

    /// The tables whose digest differs between two fingerprints.
    public static func changed(_ before: [String: String], _ after: [String: String]) -> [String] {
        Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
    }
}
