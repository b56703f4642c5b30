import Testing

@testable import Domain

@Suite struct RandomIdentifierTests {
    static let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    @Test func randomIdsHaveTheirPrefixAndLengthAndDoNotRepeat() {
        let ids = (0..<2_000).map { _ in RandomIdentifier.make(prefix: "T", bytes: 12) }
        #expect(ids.allSatisfy { $0.hasPrefix("T") && $0.count == 1 + 20 && $0.dropFirst().allSatisfy(Self.alphabet.contains) })
        #expect(Set(ids).count == ids.count)
    }

    /// Coupon ids: the claim's millisecond first, so they sort (bytewise, as PostgreSQL's C collation
    /// does) in the order they were made, and a table keyed by them grows at the end of its index.
    @Test func timeOrderedIdsSortByTheirMillisecond() {
        let start: Int64 = 1_795_000_000_000
        let ids = (0..<500).map { step in RandomIdentifier.timeOrdered(prefix: "C", nowMilliseconds: start + Int64(step) * 37) }
        #expect(ids.allSatisfy { $0.count == 1 + 10 + 16 && $0.dropFirst().allSatisfy(Self.alphabet.contains) })
        #expect(ids.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) } == ids.map { Array($0.utf8) })
        // The same millisecond: different ids all the same (80 random bits each).
        let sameTime = (0..<2_000).map { _ in RandomIdentifier.timeOrdered(prefix: "C", nowMilliseconds: start) }
        #expect(Set(sameTime).count == sameTime.count)
        #expect(Set(sameTime.map { $0.prefix(11) }).count == 1)
        // The time part reads back as the millisecond.
        let digits = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        let time = ids[0].dropFirst().prefix(10).reduce(Int64(0)) { $0 * 32 + Int64(digits.firstIndex(of: $1)!) }
        #expect(time == start)
    }
}
