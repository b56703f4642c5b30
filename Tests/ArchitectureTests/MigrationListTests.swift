import Foundation
import Testing

/// A service's migrations are listed by hand in Swift (resources are compiled in by name), while the
/// tests load the folder. These hold the list and the folder equal, so a file added without its
/// line, or a line naming the wrong file, fails here rather than in a database.
@Suite struct MigrationListTests {
    struct Entry: Equatable, CustomStringConvertible {
        var version: Int
        var name: String
        var resource: String

        var description: String { "\(version) \(name) (\(resource))" }
    }

    @Test(arguments: ["CouponCenter", "RiskControl"])
    func listedMigrationsAreTheFolder(target name: String) throws {
        let manifest = try PackageManifest.load()
        let target = try #require(manifest.targets.first { $0.name == name })
        let listed = try Self.listed(under: target.path)
        let folder = try Self.files(in: target.path + "/Migrations")
        #expect(!folder.isEmpty, "no migrations found under \(target.path)/Migrations")
        #expect(listed == folder, "the Migration(...) list under \(target.path) and the files in its Migrations folder differ")
    }

    /// `Migration(version: N, name: "x", sql: ... PackageResources.symbol ...)` in any file of the
    /// target, however the call is broken across lines.
    static func listed(under path: String) throws -> [Entry] {
        let pattern = try NSRegularExpression(
            pattern: #"Migration\(\s*version:\s*(\d+),\s*name:\s*"([^"]*)",\s*sql:[^)]*?PackageResources\.(\w+)"#)
        var entries: [Entry] = []
        for file in try SourceTree.swiftFiles(under: path) {
            let text = try SourceTree.text(file)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                func group(_ number: Int) -> String { String(text[Range(match.range(at: number), in: text)!]) }
                entries.append(Entry(version: Int(group(1))!, name: group(2), resource: group(3)))
            }
        }
        return entries
    }

    /// `NNNN_name.sql`, sorted by number, with the symbol SwiftPM gives the embedded file: every
    /// character that cannot be in an identifier, and a leading digit, becomes `_`.
    static func files(in folder: String) throws -> [Entry] {
        let names = try FileManager.default.contentsOfDirectory(atPath: SourceTree.root.appendingPathComponent(folder).path)
        return try names.filter { $0.hasSuffix(".sql") }.map { file in
            let stem = file.dropLast(".sql".count)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw ArchitectureFailure("\(folder)/\(file) is not named NNNN_name.sql")
            }
            var symbol = file.map { $0.isLetter || $0.isNumber ? $0 : "_" }
            if symbol[0].isNumber { symbol[0] = "_" }
            return Entry(version: version, name: String(stem[stem.index(after: underscore)...]), resource: String(symbol))
        }.sorted { $0.version < $1.version }
    }
}
