import ServiceKit
import Wire

/// Prints results as aligned tables for people or as JSON for scripts (`--json`).
struct Output: Sendable {
    var json: Bool

    func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in index == cells.count - 1 ? cell : cell.padding(widths[index]) }
                .joined(separator: "  ")
        }
        print(line(headers))
        for row in rows { print(line(row)) }
    }

    func value(_ value: JSONValue) { print(value.serialized()) }

    func failure(_ error: ServiceError) {
        if json {
            print(
                JSONValue.object([("code", .integer(error.code.rawValue)), ("error", .string(error.code.name)), ("message", .string(error.message))])
                    .serialized())
        } else {
            ProcessEnvironment.writeError("error \(error.code.rawValue) \(error.code.name): \(error.message)\n")
        }
    }
}
