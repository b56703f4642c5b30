import Foundation
import Testing

/// Concurrency is structured (STYLE.md): long-lived work runs in a service's `run()` and per-request
/// work in a task group, so shutdown can wait for it. An unstructured task escapes both; the only
/// ones allowed are listed here with the reason.
@Suite struct StructuredConcurrencyTests {
    /// Files that may start an unstructured task, and why.
    static let allowed: [String: String] = [
        // A health probe blocked in libpq cannot hold the health answer back; it is left to finish
        // alone and its result dropped (answerByDeadline).
        "Services/CouponCenter/Dependencies.swift": "health probes answer by their deadline"
    ]

    @Test func noUnstructuredTasksInServicesOrLibraries() throws {
        var violations: [String] = []
        for file in try ["Shared", "Services"].flatMap({ try SourceTree.swiftFiles(under: $0) }) where Self.allowed[file] == nil {
            for (number, line) in try SourceTree.text(file).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                if Self.startsUnstructuredTask(String(code)) {
                    violations.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(violations.isEmpty, "unstructured tasks (run them in a service's run() or a task group):\n\(violations.joined(separator: "\n"))")
    }

    /// `Task {`, `Task(priority:…) {` or `Task.detached`, but not `group.addTask {`.
    static func startsUnstructuredTask(_ code: String) -> Bool {
        if code.contains("Task.detached") { return true }
        var rest = code[...]
        while let found = rest.range(of: "Task") {
            let before = found.lowerBound == code.startIndex ? nil : code[code.index(before: found.lowerBound)]
            let after = code[found.upperBound...].drop(while: { $0 == " " })
            if before.map({ !$0.isLetter && !$0.isNumber && $0 != "." && $0 != "_" }) ?? true,
                after.hasPrefix("{") || after.hasPrefix("(priority")
            {
                return true
            }
            rest = code[found.upperBound...]
        }
        return false
    }

    @Test func theCheckTellsTasksFromTaskGroupChildren() {
        #expect(Self.startsUnstructuredTask("        Task { await work() }"))
        #expect(Self.startsUnstructuredTask("let probe = Task {"))
        #expect(Self.startsUnstructuredTask("Task(priority: .high) {"))
        #expect(Self.startsUnstructuredTask("Task.detached { }"))
        #expect(!Self.startsUnstructuredTask("group.addTask { await self.runLane() }"))
        #expect(!Self.startsUnstructuredTask("try await Task.sleep(for: interval)"))
        #expect(!Self.startsUnstructuredTask("let task: Task<Void, Never>"))
    }
}
