import Foundation
import Postgres
import TestSupport
import Testing

/// The schema every migration builds, checked in as Snapshots/schema.sql: a change to it shows up
/// in review as a diff of the live schema, not only as a new migration file to read in one's head.
///
/// After an intended schema change, regenerate the file and commit it with the migration:
/// `UPDATE_SNAPSHOTS=1 FUZZ_SECONDS=0 Deploy/test --filter SchemaSnapshotTests`.
@Suite struct SchemaSnapshotTests {
    static let snapshot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Snapshots/schema.sql")

    @Test func migratedSchemaMatchesTheSnapshot() async throws {
        let schema = try await TestDatabase.withFresh(prefix: "schema", poolSize: 1) { database, pool in
            // coupon-center's and risk-control's, as each service applies its own on startup.
            _ = try await PostgresMigrator.apply(try SourceMigrations.couponCenter(), to: pool)
            _ = try await PostgresMigrator.apply(try SourceMigrations.riskControl(), to: pool)
            return Self.normalised(try await Self.schemaDump(url: database.url))
        }
        #expect(schema.contains("CREATE TABLE public.user_coupon"), "the dump holds no user_coupon table:\n\(schema)")

        if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1" {
            try schema.write(to: Self.snapshot, atomically: true, encoding: .utf8)
            print("SchemaSnapshotTests: wrote \(Self.snapshot.path)")
            return
        }
        let expected = try String(contentsOf: Self.snapshot, encoding: .utf8)
        guard schema != expected else { return }
        let actual = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString.prefix(8)).sql")
        try schema.write(to: actual, atomically: true, encoding: .utf8)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = schema.split(separator: "\n", omittingEmptySubsequences: false)
        let first = expectedLines.indices.first { $0 >= actualLines.count || expectedLines[$0] != actualLines[$0] } ?? expectedLines.count
        Issue.record(
            """
            the migrated schema differs from Tests/IntegrationTests/Snapshots/schema.sql, first at line \(first + 1):
              snapshot: \(first < expectedLines.count ? String(expectedLines[first]) : "(end of file)")
              migrated: \(first < actualLines.count ? String(actualLines[first]) : "(end of file)")
            see everything with: diff -u \(Self.snapshot.path) \(actual.path)
            if the change is intended: UPDATE_SNAPSHOTS=1 FUZZ_SECONDS=0 Deploy/test --filter SchemaSnapshotTests
            """)
    }

    /// `pg_dump --schema-only` of the database, from the server binaries Deploy/test uses.
    static func schemaDump(url: String) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("dump-\(UUID().uuidString.prefix(8)).sql")
        defer { try? FileManager.default.removeItem(at: output) }
        let pgDump = try PostgresTestServer.findBinaries().appendingPathComponent("pg_dump").path
        let process = try ChildProcess(
            name: "pg_dump", path: pgDump,
            arguments: ["--schema-only", "--no-owner", "--no-privileges", "--file=\(output.path)", "--dbname=\(url)"],
            environment: [:])
        defer { process.removeLog() }
        guard let status = await process.wait(timeout: .seconds(120)) else {
            await process.killNow()
            throw TestFailure("pg_dump did not finish within 120 s:\n\(process.log)")
        }
        guard status == 0 else { throw TestFailure("pg_dump exited with \(status):\n\(process.log)") }
        return try String(contentsOf: output, encoding: .utf8)
    }

    /// The dump without what changes from run to run or version to version but is not schema:
    /// comments (they carry the pg_dump version), session SET lines, psql meta-commands
    /// (`\restrict` carries a random key), and runs of blank lines.
    static func normalised(_ dump: String) -> String {
        var lines: [Substring] = []
        for line in dump.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("--") || line.hasPrefix("SET ") || line.hasPrefix("SELECT pg_catalog.set_config") || line.hasPrefix("\\") {
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if lines.last?.isEmpty ?? true { continue }
                lines.append("")
                continue
            }
            lines.append(line)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }
}
