import Foundation
import Postgres

/// coupon-center's migrations read from the source tree (the executable compiles the same files
/// in), for tests that call its SQL functions directly on a database of their own.
public enum SourceMigrations {
    /// `Services/CouponCenter/Migrations/NNNN_name.sql` up to and including `version`, in order.
    public static func couponCenter(through version: Int) throws -> [Migration] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Services/CouponCenter/Migrations")
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
