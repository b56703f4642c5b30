import Testing

/// Which module may import which. The compiler does not enforce these: a module reachable through
/// any dependency can be imported, so a C type or a socket can creep into any file.
@Suite struct ModuleBoundaryTests {
    /// Each C library and the one Swift module that wraps it (STYLE.md: C stays at the edge).
    static let cWrappers = ["CNNG": "Messaging", "CLibpq": "Postgres", "CHiredis": "Redis", "COpenSSL": "Signatures", "CCrypt": "Signatures"]

    /// Modules that reach the network, the disk, processes or threads: what a pure module must not
    /// import. Foundation is judged apart (see `pureModules`).
    static let ioModules: Set<String> = [
        "Messaging", "Postgres", "Redis", "ServiceKit", "CouponClient", "Risk", "TestSupport", "Signatures", "Credentials",
        "CNNG", "CLibpq", "CHiredis", "COpenSSL", "CCrypt", "Glibc", "Darwin", "Musl", "WinSDK", "Dispatch", "FoundationNetworking",
    ]

    /// The pure modules, with whether they may import Foundation. Domain does, for calendar
    /// arithmetic (TimeZone, Calendar in Timestamp.swift) and JSON numbers; Wire and BatchInputs
    /// never needed it; nor does Access (who may call what, the password and cookie rules).
    static let pureModules: [(folder: String, foundationAllowed: Bool)] = [
        ("Shared/Wire", false), ("Shared/Domain", true), ("Shared/BatchInputs", false), ("Shared/Access", false),
    ]

    /// Foundation APIs that do I/O or read the process's surroundings; a pure module that imports
    /// Foundation must still not call them.
    static let foundationIO = ["FileManager", "FileHandle", "URLSession", "ProcessInfo", "Process(", "contentsOf:", "contentsOfFile:"]

    static func allSwiftFiles() throws -> [String] {
        try ["Shared", "Services", "Tests"].flatMap { try SourceTree.swiftFiles(under: $0) }
    }

    @Test func cLibrariesAreImportedOnlyByTheirWrappers() throws {
        let manifest = try PackageManifest.load()
        var violations: [String] = []
        for file in try Self.allSwiftFiles() {
            let owner = manifest.target(containing: file)?.name
            for (module, line) in try SourceTree.imports(inFile: file) {
                guard let wrapper = Self.cWrappers[module], owner != wrapper else { continue }
                violations.append("\(file):\(line) imports \(module); only \(wrapper) may (wrap what you need there)")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func pureModulesImportNoIO() throws {
        var violations: [String] = []
        for (folder, foundationAllowed) in Self.pureModules {
            for file in try SourceTree.swiftFiles(under: folder) {
                let imports = try SourceTree.imports(inFile: file)
                for (module, line) in imports where Self.ioModules.contains(module) || (module == "Foundation" && !foundationAllowed) {
                    violations.append("\(file):\(line) imports \(module), but \(folder) is pure (no I/O, no C)")
                }
                guard imports.contains(where: { $0.module == "Foundation" }) else { continue }
                let text = try SourceTree.text(file)
                for api in Self.foundationIO where text.contains(api) {
                    violations.append("\(file) uses \(api), but \(folder) is pure: pass the data in instead")
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    /// The import reader on a sample written for the purpose: every form of import is seen, so the
    /// rules above cannot pass by reading nothing.
    @Test func importsAreReadInEveryForm() throws {
        let sample = """
            import Wire
            @testable import Domain
            internal import CLibpq
            #if canImport(Glibc)
                import Glibc
            #endif
            import struct Foundation.Date
            // import Redis (a comment is not an import, but this line does not start with import)
            """
        let modules = SourceTree.parseImports(sample).map(\.module)
        #expect(modules == ["Wire", "Domain", "CLibpq", "Glibc", "Foundation"])
        let quoted = "let example = \"\"\"\nimport CNNG\n\"\"\"\nimport Wire"
        #expect(SourceTree.parseImports(quoted).map(\.module) == ["Wire"], "an import inside a string literal is text, not an import")
    }
}
