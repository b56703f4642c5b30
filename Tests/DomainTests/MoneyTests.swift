import Testing

@testable import Domain

@Suite struct MoneyTests {
    @Test(
        arguments: [
            ("0", 0), ("200", 20_000), ("199.99", 19_999), ("0.01", 1), ("30.5", 3_050), ("10.500", 1_050),
            ("1e2", 10_000), ("1.5E1", 1_500), ("12.5e-1", 125), ("0.00", 0), ("-0", 0), ("0.000", 0),
            ("9999999999999.99", 999_999_999_999_999),
        ] as [(String, Int64)])
    func parsesYuanExactly(text: String, cents: Int64) throws {
        #expect(try Money.parseYuan(text) == Money(cents: cents))
    }

    @Test(arguments: ["0.001", "199.999", "1.005", "12.5e-2", "0.1e-2"])
    func refusesMoreThanTwoDecimals(text: String) {
        #expect(throws: Money.ParseError.tooManyDecimals(text)) { try Money.parseYuan(text) }
    }

    @Test(arguments: ["-1", "-0.01", "-200"])
    func refusesNegative(text: String) {
        #expect(throws: Money.ParseError.negative(text)) { try Money.parseYuan(text) }
    }

    @Test(arguments: ["", "abc", "1.2.3", "--1", "1e", "1e999999999", ".", "0x10", " 1"])
    func refusesNonNumbers(text: String) {
        #expect(throws: Money.ParseError.self) { try Money.parseYuan(text) }
    }

    @Test(arguments: ["100000000000000000", "1e30", "92233720368547758.08"])
    func refusesAmountsBeyondTheMaximum(text: String) {
        #expect(throws: Money.ParseError.tooLarge(text)) { try Money.parseYuan(text) }
    }

    @Test func printsYuanWithTwoDecimals() {
        #expect(Money(cents: 19_999).yuanText == "199.99")
        #expect(Money(cents: 5).yuanText == "0.05")
        #expect(Money(cents: 3_000).yuanText == "30.00")
        #expect(Money(cents: -120).yuanText == "-1.20")
    }

    /// The classic float trap: 0.1 + 0.2 in yuan must be exactly 30 cents.
    @Test func sumsAreExact() throws {
        #expect(try Money.parseYuan("0.1").adding(Money.parseYuan("0.2")) == Money(cents: 30))
    }
}
