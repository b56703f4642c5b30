import Foundation
import Postgres

/// The services' migrations read from the source tree (the executables compile the same files in,
/// and ArchitectureTests holds their hand-written lists equal to these folders), for tests that
/// call the SQL functions directly on a database of their own.
public enum SourceMigrations {
    /// `Services/CouponCenter/Migrations/NNNN_name.sql` up to and including `version`, in order.
    public static func couponCenter(through version: Int = .max) throws -> [Migration] {
        try folder("Services/CouponCenter/Migrations", through: version)
    }

    /// `Services/RiskControl/Migrations/NNNN_name.sql`, in order.
    public static func riskControl() throws -> [Migration] {
        try folder("Services/RiskControl/Migrations", through: .max)
    }

    private static func folder(_ path: String, through version: Int) throws -> [Migration] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(path)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        var migrations: [Migration] = []
        for file in files {
            let stem = file.dropLast(".sql".count)
            guard let underscore = stem.firstIndex(of: "_"), let number = Int(stem[..<underscore]), number <= version else { continue }
            let name = String(stem[stem.index(after: underscore)...])
            migrations.append(
                Migration(version: number, name: name, sql: try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)))
        }
        return migrations
    }
}

extension SourceMigrations {
    /// A fresh database on the shared test server with coupon-center's migrations up to `version`
    /// (all of them by default: the functions as they run) applied, for `body`; closed and dropped
    /// afterwards whether or not `body` throws.
    public static func withCouponCenterDatabase<Result>(
        through version: Int = .max, prefix: String, poolSize: Int = 2, _ body: (PostgresPool) async throws -> Result
    ) async throws -> Result {
        try await TestDatabase.withFresh(prefix: prefix, poolSize: poolSize) { _, pool in
            let migrations = try couponCenter(through: version)
            let applied = try await PostgresMigrator.apply(migrations, to: pool)
            guard applied == migrations.map(\.version), !applied.isEmpty else {
                throw TestFailure("migrations applied: \(applied), expected \(migrations.map(\.version))")
            }
            return try await body(pool)
        }
    }
}
