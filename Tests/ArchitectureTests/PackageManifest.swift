import Foundation

/// The targets Package.swift declares, read from its text: `.target`, `.executableTarget`,
/// `.testTarget` and `.systemLibrary` calls with their `name:`, `dependencies:` and `path:`.
struct PackageManifest {
    struct Target {
        var kind: String
        var name: String
        var dependencies: [String]
        var path: String
    }

    let targets: [Target]

    static func load() throws -> PackageManifest {
        try PackageManifest(parsing: SourceTree.text("Package.swift"))
    }

    init(parsing text: String) throws {
        var targets: [Target] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            guard characters[index] == ".", let kind = Self.kinds.first(where: { Self.matches($0 + "(", characters, at: index + 1) })
            else {
                index += 1
                continue
            }
            let open = index + 1 + kind.count
            let close = try Self.closingParenthesis(characters, from: open)
            let arguments = String(characters[(open + 1)..<close])
            targets.append(try Self.target(kind: kind, arguments: arguments))
            index = close + 1
        }
        guard !targets.isEmpty else { throw ArchitectureFailure("Package.swift: found no targets to check") }
        self.targets = targets
    }

    /// The target whose folder holds `file` (the longest matching path).
    func target(containing file: String) -> Target? {
        targets.filter { file.hasPrefix($0.path + "/") }.max { $0.path.count < $1.path.count }
    }

    private static let kinds = ["target", "executableTarget", "testTarget", "systemLibrary"]

    private static func matches(_ word: String, _ characters: [Character], at index: Int) -> Bool {
        let word = Array(word)
        return index + word.count <= characters.count && Array(characters[index..<(index + word.count)]) == word
    }

    /// Balanced parentheses, skipping string literals (a path or name could hold a parenthesis).
    private static func closingParenthesis(_ characters: [Character], from open: Int) throws -> Int {
        var depth = 0
        var inString = false
        for index in open..<characters.count {
            let character = characters[index]
            if inString {
                if character == "\"" && characters[index - 1] != "\\" { inString = false }
                continue
            }
            switch character {
            case "\"": inString = true
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
        }
        throw ArchitectureFailure("Package.swift: unbalanced parentheses after offset \(open)")
    }

    private static func target(kind: String, arguments: String) throws -> Target {
        guard let name = stringArgument("name", in: arguments) else {
            throw ArchitectureFailure("Package.swift: a .\(kind) without a literal name: \(arguments)")
        }
        // Every target here names its folder: the tests map files to targets by it.
        guard let path = stringArgument("path", in: arguments) else {
            throw ArchitectureFailure("Package.swift: target \(name) has no literal path:")
        }
        var dependencies: [String] = []
        if let list = listArgument("dependencies", in: arguments) {
            for item in list.split(separator: ",") {
                let item = item.trimmingCharacters(in: .whitespacesAndNewlines)
                if item.isEmpty { continue }
                guard item.count >= 2, item.first == "\"", item.last == "\"" else {
                    throw ArchitectureFailure(
                        "Package.swift: target \(name) has a dependency these tests cannot read: \(item) (only \"Name\" is understood)")
                }
                dependencies.append(String(item.dropFirst().dropLast()))
            }
        }
        return Target(kind: kind, name: name, dependencies: dependencies, path: path)
    }

    private static func stringArgument(_ label: String, in arguments: String) -> String? {
        guard let range = arguments.range(of: label + ":") else { return nil }
        let rest = arguments[range.upperBound...].drop { $0 == " " || $0 == "\n" }
        guard rest.first == "\"" else { return nil }
        return String(rest.dropFirst().prefix { $0 != "\"" })
    }

    private static func listArgument(_ label: String, in arguments: String) -> String? {
        guard let range = arguments.range(of: label + ":") else { return nil }
        let rest = arguments[range.upperBound...].drop { $0 == " " || $0 == "\n" }
        guard rest.first == "[" else { return nil }
        return String(rest.dropFirst().prefix { $0 != "]" })
    }
}
