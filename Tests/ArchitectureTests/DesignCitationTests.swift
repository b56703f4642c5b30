import Foundation
import Testing

/// Comments cite the design as `Shared/DESIGN.md §N`; a citation of a section that does not exist,
/// or of the design by another name, sends a reader nowhere.
@Suite struct DesignCitationTests {
    /// The numbers of the `## N. Title` headings.
    static func sections() throws -> Set<Int> {
        let headings = try SourceTree.text("Shared/DESIGN.md").split(separator: "\n").filter { $0.hasPrefix("## ") }
        return Set(headings.compactMap { Int($0.dropFirst(3).prefix { $0.isNumber }) })
    }

    @Test func everyCitationNamesASectionThatExists() throws {
        let sections = try Self.sections()
        #expect(sections.count >= 7, "Shared/DESIGN.md has sections \(sections.sorted())")
        let citation = try NSRegularExpression(pattern: #"Shared/DESIGN\.md §(\d+)(?:[–-](\d+))?"#)
        let otherName = try NSRegularExpression(pattern: #"\bDESIGN (section|invariant)s?\b"#)
        var problems: [String] = []
        var citations = 0
        let files = try ["Shared", "Services", "Tests"].flatMap { try SourceTree.swiftFiles(under: $0) } + ["README.md"]
        for file in files {
            let text = try SourceTree.text(file)
            let whole = NSRange(text.startIndex..., in: text)
            for match in citation.matches(in: text, range: whole) {
                citations += 1
                for group in 1...2 {
                    guard let range = Range(match.range(at: group), in: text), let number = Int(text[range]) else { continue }
                    if !sections.contains(number) { problems.append("\(file) cites §\(number), which Shared/DESIGN.md does not have") }
                }
            }
            for match in otherName.matches(in: text, range: whole) {
                let quoted = Range(match.range, in: text).map { String(text[$0]) } ?? ""
                problems.append("\(file) cites \"\(quoted)\"; write Shared/DESIGN.md §N")
            }
        }
        #expect(citations > 0, "found no citation of Shared/DESIGN.md at all")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
