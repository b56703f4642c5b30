import Foundation

/// The repository as text, found from this file's path: these tests read the sources and the
/// manifest rather than the compiled modules, so they see what a reviewer sees.
enum SourceTree {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// Every `.swift` file under `folder` (relative to the root), as sorted relative paths.
    static func swiftFiles(under folder: String) throws -> [String] {
        let base = root.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(atPath: base.path) else {
            throw ArchitectureFailure("cannot list \(folder)")
        }
        var files: [String] = []
        while let next = walker.nextObject() as? String {
            if next.hasPrefix(".build") || next.contains("/.build/") { continue }
            if next.hasSuffix(".swift") { files.append(folder + "/" + next) }
        }
        return files.sorted()
    }

    /// The modules a file imports, with their line numbers. Reads `import X`, `@testable import X`,
    /// `internal import X`, `import struct X.Y`; lines inside `#if` count too, because they compile
    /// on some platform. Lines inside multi-line string literals do not.
    static func imports(inFile relativePath: String) throws -> [(module: String, line: Int)] {
        parseImports(try text(relativePath))
    }

    static func parseImports(_ source: String) -> [(module: String, line: Int)] {
        var found: [(module: String, line: Int)] = []
        var inMultilineString = false
        for (number, line) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // A line that opens or closes a multi-line string literal is not an import either way.
            if line.components(separatedBy: "\"\"\"").count % 2 == 0 {
                inMultilineString.toggle()
                continue
            }
            if inMultilineString { continue }
            var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })[...]
            while let first = words.first, first.hasPrefix("@") || accessModifiers.contains(String(first)) {
                words = words.dropFirst()
            }
            guard words.first == "import", words.count >= 2 else { continue }
            var target = words.dropFirst()
            if let kind = target.first, declarationKinds.contains(String(kind)) { target = target.dropFirst() }
            guard let path = target.first else { continue }
            let module = path.split(separator: ".")[0]
            found.append((String(module), number + 1))
        }
        return found
    }

    private static let accessModifiers: Set<String> = ["public", "package", "internal", "fileprivate", "private"]
    private static let declarationKinds: Set<String> = [
        "struct", "class", "enum", "protocol", "func", "var", "let", "typealias",
    ]
}

struct ArchitectureFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
