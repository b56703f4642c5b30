import Testing

/// Package.swift against the imports of each target's files: a dependency nothing imports is dead
/// weight that hides the real shape of the program, and an import the target does not declare
/// compiles only because the module happens to be reachable through another target.
@Suite struct PackageManifestTests {
    @Test func manifestIsReadCompletely() throws {
        let manifest = try PackageManifest.load()
        let names = Set(manifest.targets.map(\.name))
        for expected in ["CNNG", "Postgres", "Wire", "Domain", "CouponCenter", "RiskControl", "IntegrationTests", "ArchitectureTests"] {
            #expect(names.contains(expected), "Package.swift parsed without target \(expected)")
        }
        let couponCenter = try #require(manifest.targets.first { $0.name == "CouponCenter" })
        #expect(couponCenter.dependencies.contains("Postgres"))
        #expect(couponCenter.path == "Services/CouponCenter")
    }

    @Test func everyDeclaredDependencyIsImported() throws {
        let manifest = try PackageManifest.load()
        var unused: [String] = []
        for target in manifest.targets where target.kind != "systemLibrary" {
            let imported = Set(try SourceTree.swiftFiles(under: target.path).flatMap { try SourceTree.imports(inFile: $0).map(\.module) })
            for dependency in target.dependencies where !imported.contains(dependency) {
                unused.append("\(target.name) declares \(dependency), but no file under \(target.path) imports it")
            }
        }
        #expect(unused.isEmpty, "remove these from Package.swift:\n\(unused.joined(separator: "\n"))")
    }

    @Test func everyImportedTargetIsDeclared() throws {
        let manifest = try PackageManifest.load()
        let packageModules = Set(manifest.targets.map(\.name))
        var undeclared: [String] = []
        for target in manifest.targets where target.kind != "systemLibrary" {
            for file in try SourceTree.swiftFiles(under: target.path) {
                for (module, line) in try SourceTree.imports(inFile: file)
                where packageModules.contains(module) && module != target.name && !target.dependencies.contains(module) {
                    undeclared.append("\(file):\(line) imports \(module), which \(target.name) does not declare")
                }
            }
        }
        #expect(undeclared.isEmpty, "\(undeclared.joined(separator: "\n"))")
    }
}
