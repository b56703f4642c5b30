import Foundation
import Testing
import Wire

@testable import Domain

/// A small deterministic generator, so a failing random case can be reproduced from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let shanghai = TimeZone(identifier: "Asia/Shanghai")!
let newYork = TimeZone(identifier: "America/New_York")!
let utc = TimeZone(identifier: "UTC")!

@Suite struct TimestampParseTests {
    /// 2026-11-11T00:00:00+08:00 is 2026-11-10T16:00:00Z, Unix second 1_794_326_400
    /// (`date -u -d 2026-11-10T16:00:00Z +%s`).
    @Test func parsesDoubleElevenInChina() {
        #expect(Timestamp.parseISO8601("2026-11-11T00:00:00+08:00") == 1_794_326_400_000)
        #expect(Timestamp.parseISO8601("2026-11-10T16:00:00Z") == 1_794_326_400_000)
        // One year earlier: 2025-11-10T16:00:00Z is Unix second 1_762_790_400.
        #expect(Timestamp.parseISO8601("2025-11-11T00:00:00+08:00") == 1_762_790_400_000)
    }

    @Test func parsesTheEpoch() {
        #expect(Timestamp.parseISO8601("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parseISO8601("1970-01-01T00:00:00.001Z") == 1)
        #expect(Timestamp.parseISO8601("1970-01-02T00:00:00Z") == 86_400_000)
    }

    @Test func zuluAndZeroOffsetAreEqual() {
        let zulu = Timestamp.parseISO8601("2026-03-01T12:34:56Z")
        #expect(zulu != nil)
        #expect(zulu == Timestamp.parseISO8601("2026-03-01T12:34:56+00:00"))
        #expect(zulu == Timestamp.parseISO8601("2026-03-01T12:34:56-00:00"))
        #expect(zulu == Timestamp.parseISO8601("2026-03-01T20:34:56+08:00"))
    }

    @Test(
        arguments: [
            (".5", 500), (".05", 50), (".123", 123), (".1234", 123), (".123456789", 123), (".999999999", 999), (".000", 0),
            (".0", 0), (".9", 900),
        ] as [(String, Int64)])
    func keepsFractionsToTheMillisecondTruncated(fraction: String, milliseconds: Int64) throws {
        let whole = try #require(Timestamp.parseISO8601("2026-11-11T00:00:00+08:00"))
        #expect(Timestamp.parseISO8601("2026-11-11T00:00:00\(fraction)+08:00") == whole + milliseconds)
        #expect(Timestamp.parseISO8601("2026-11-10T16:00:00\(fraction)Z") == whole + milliseconds)
    }

    @Test func negativeOffsetsAreBehindUTC() throws {
        let utcNoon = try #require(Timestamp.parseISO8601("2026-07-04T12:00:00Z"))
        #expect(Timestamp.parseISO8601("2026-07-04T08:00:00-04:00") == utcNoon)
        #expect(Timestamp.parseISO8601("2026-07-04T08:30:00-03:30") == utcNoon)
        #expect(Timestamp.parseISO8601("2026-07-04T17:45:00+05:45") == utcNoon)
        // Crossing midnight backwards: the 3rd at 21:00 in New York is the 4th at 01:00 UTC.
        #expect(Timestamp.parseISO8601("2026-07-03T21:00:00-04:00") == Timestamp.parseISO8601("2026-07-04T01:00:00Z"))
    }

    @Test func leapDays() throws {
        let leap = try #require(Timestamp.parseISO8601("2028-02-29T00:00:00Z"))
        #expect(Timestamp.parseISO8601("2028-03-01T00:00:00Z") == leap + 86_400_000)
        #expect(Timestamp.parseISO8601("2028-02-28T00:00:00Z") == leap - 86_400_000)
        #expect(Timestamp.parseISO8601("2000-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parseISO8601("2026-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("2100-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("2028-02-30T00:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("2026-04-31T00:00:00Z") == nil)
        #expect(Timestamp.parseISO8601("2026-12-31T23:59:59Z") != nil)
    }

    @Test(arguments: [
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-11-11T24:00:00Z", "2026-11-11T23:60:00Z", "2026-11-11T23:59:60Z",
        "2026-11-11T00:00:00", "2026-11-11T00:00:00.5", "2026-11-11T00:00:00+08", "2026-11-11T00:00:00+0800",
        "2026-11-11T00:00:00+24:00", "2026-11-11T00:00:00+08:60",
        "2026-11-11T00:00:00Zjunk", "2026-11-11T00:00:00+08:00x", "2026-11-11T00:00:00+08:00 ", "2026-11-11T00:00:00Z\n",
        " 2026-11-11T00:00:00Z", "2026-11-11 00:00:00Z", "2026-11-11T 00:00:00Z", "2026-11-11T00:00:00 Z",
        "2026-1-1T00:00:00Z", "2026-01-1T00:00:00Z", "26-01-01T00:00:00Z", "2026-11-11T0:00:00Z",
        "2026-11-11T00:00:00.Z", "2026-11-11T00:00:00.1234567890Z", "2026-11-11T00:00Z", "2026-11-11",
        "", "T", "2026/11/11T00:00:00Z", "+2026-11-11T00:00:00Z", "2026-11-11T00:00:00.-5Z", "２０２６-11-11T00:00:00Z",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Timestamp.parseISO8601(text) == nil)
    }

    /// An independent oracle: random wall-clock times with random offsets, converted by Foundation's
    /// Gregorian calendar.
    @Test func agreesWithFoundationOnRandomDates() throws {
        var random = SplitMix64(seed: 20_261_111)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        for _ in 0..<2_000 {
            let year = Int.random(in: 1971...2199, using: &random)
            let month = Int.random(in: 1...12, using: &random)
            let day = Int.random(in: 1...28, using: &random)
            let hour = Int.random(in: 0...23, using: &random)
            let minute = Int.random(in: 0...59, using: &random)
            let second = Int.random(in: 0...59, using: &random)
            let millisecond = Int.random(in: 0...999, using: &random)
            let offsetMinutes = Int.random(in: -(23 * 60 + 59)...(23 * 60 + 59), using: &random)
            // Foundation's zones stop at ±18 hours, so convert the wall clock as UTC and apply the offset.
            let date = try #require(
                calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)))
            let expected = (Int64(date.timeIntervalSince1970.rounded()) - Int64(offsetMinutes) * 60) * 1000 + Int64(millisecond)
            func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
            func three(_ value: Int) -> String { value < 10 ? "00\(value)" : value < 100 ? "0\(value)" : "\(value)" }
            let sign = offsetMinutes < 0 ? "-" : "+"
            let text =
                "\(year)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second)).\(three(millisecond))"
                + "\(sign)\(two(abs(offsetMinutes) / 60)):\(two(abs(offsetMinutes) % 60))"
            #expect(Timestamp.parseISO8601(text) == expected, "\(text)")
        }
    }
}

@Suite struct TimestampFormatTests {
    @Test func formatsInTheGivenZone() {
        #expect(Timestamp.formatISO8601(1_794_326_400_000, in: shanghai) == "2026-11-11T00:00:00.000+08:00")
        #expect(Timestamp.formatISO8601(1_794_326_400_000, in: utc) == "2026-11-10T16:00:00.000Z")
        #expect(Timestamp.formatISO8601(1_794_326_400_000, in: newYork) == "2026-11-10T11:00:00.000-05:00")
        #expect(Timestamp.formatISO8601(1_794_326_400_123, in: shanghai) == "2026-11-11T00:00:00.123+08:00")
        #expect(Timestamp.formatISO8601(0, in: utc) == "1970-01-01T00:00:00.000Z")
    }

    /// New York in 2026: clocks spring forward at 2026-03-08T07:00Z and fall back at 2026-11-01T06:00Z.
    @Test func followsDaylightSavingInNewYork() throws {
        let springForward = try #require(Timestamp.parseISO8601("2026-03-08T07:00:00Z"))
        #expect(Timestamp.formatISO8601(springForward - 1, in: newYork) == "2026-03-08T01:59:59.999-05:00")
        #expect(Timestamp.formatISO8601(springForward, in: newYork) == "2026-03-08T03:00:00.000-04:00")
        let fallBack = try #require(Timestamp.parseISO8601("2026-11-01T06:00:00Z"))
        let firstOneThirty = Timestamp.formatISO8601(fallBack - 1_800_000, in: newYork)
        let secondOneThirty = Timestamp.formatISO8601(fallBack + 1_800_000, in: newYork)
        #expect(firstOneThirty == "2026-11-01T01:30:00.000-04:00")
        #expect(secondOneThirty == "2026-11-01T01:30:00.000-05:00")
        // The repeated wall-clock hour stays unambiguous because the offset is printed.
        #expect(Timestamp.parseISO8601(firstOneThirty) == fallBack - 1_800_000)
        #expect(Timestamp.parseISO8601(secondOneThirty) == fallBack + 1_800_000)
        #expect(Timestamp.formatISO8601(try #require(Timestamp.parseISO8601("2026-07-01T12:00:00Z")), in: newYork).hasSuffix("-04:00"))
        #expect(Timestamp.formatISO8601(try #require(Timestamp.parseISO8601("2026-01-15T12:00:00Z")), in: newYork).hasSuffix("-05:00"))
    }

    static let zones: [TimeZone] = [
        "Asia/Shanghai", "America/New_York", "UTC", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns",
        "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Pago_Pago",
    ].map { TimeZone(identifier: $0)! }

    @Test(arguments: zones)
    func roundTripsRandomInstants(zone: TimeZone) {
        var random = SplitMix64(seed: UInt64(truncatingIfNeeded: zone.identifier.utf8.reduce(7) { $0 &* 31 &+ Int($1) }))
        let from: Int64 = 946_684_800_000  // 2000-01-01
        let to: Int64 = 4_102_444_800_000  // 2100-01-01
        var samples = (0..<3_000).map { _ in Int64.random(in: from..<to, using: &random) }
        // Around New York's 2026 transitions, to the millisecond.
        for edge: Int64 in [1_772_953_200_000, 1_793_512_800_000] {
            samples += (-2...2).map { edge + $0 } + [edge - 3_600_000, edge + 3_600_000]
        }
        for milliseconds in samples {
            let text = Timestamp.formatISO8601(milliseconds, in: zone)
            #expect(Timestamp.parseISO8601(text) == milliseconds, "\(milliseconds) in \(zone.identifier) printed as \(text)")
        }
    }

    /// The printed wall clock and offset agree with Foundation's calendar in that zone.
    @Test(arguments: zones)
    func agreesWithFoundationCalendar(zone: TimeZone) {
        var random = SplitMix64(seed: 99)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        for _ in 0..<500 {
            let milliseconds = Int64.random(in: 946_684_800_000..<4_102_444_800_000, using: &random)
            let date = Date(timeIntervalSince1970: TimeInterval(milliseconds / 1000))
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            func two(_ value: Int?) -> String { let v = value ?? -1; return v < 10 ? "0\(v)" : "\(v)" }
            let wall = "\(parts.year ?? -1)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
            let text = Timestamp.formatISO8601(milliseconds, in: zone)
            #expect(text.hasPrefix(wall), "\(milliseconds) in \(zone.identifier): \(text) vs \(wall)")
            let offset = zone.secondsFromGMT(for: date)
            let zoneText = offset == 0 ? "Z" : "\(offset < 0 ? "-" : "+")\(two(abs(offset) / 3600)):\(two(abs(offset) / 60 % 60))"
            #expect(text.hasSuffix(zoneText), "\(text) should end in \(zoneText)")
        }
    }

    /// The printer writes the local wall clock, so an instant shortly after the epoch in a zone west
    /// of UTC is printed with a 1969 date. That text must still parse back to the same instant.
    @Test func roundTripsJustAfterTheEpochWestOfUTC() {
        let text = Timestamp.formatISO8601(0, in: newYork)
        #expect(text == "1969-12-31T19:00:00.000-05:00")
        #expect(Timestamp.parseISO8601(text) == 0)
    }
}

@Suite struct TimestampDayTests {
    @Test func dayDependsOnTheZone() throws {
        let instant = try #require(Timestamp.parseISO8601("2026-11-10T16:00:00Z"))
        #expect(Timestamp.day(instant, in: shanghai) == "2026-11-11")
        #expect(Timestamp.day(instant, in: utc) == "2026-11-10")
        #expect(Timestamp.day(instant - 1, in: shanghai) == "2026-11-10")
        #expect(Timestamp.day(instant, in: newYork) == "2026-11-10")
    }

    @Test func dayBoundariesInShanghai() throws {
        let midnight = try #require(Timestamp.parseISO8601("2028-03-01T00:00:00+08:00"))
        #expect(Timestamp.day(midnight, in: shanghai) == "2028-03-01")
        #expect(Timestamp.day(midnight - 1, in: shanghai) == "2028-02-29")
        #expect(Timestamp.day(midnight + 86_400_000 - 1, in: shanghai) == "2028-03-01")
        #expect(Timestamp.day(midnight + 86_400_000, in: shanghai) == "2028-03-02")
    }
}

@Suite struct RateTests {
    @Test(
        arguments: [
            ("0.8", 8_000), ("0.85", 8_500), ("0.8500", 8_500), ("0.0001", 1), ("0.9999", 9_999), ("0.5", 5_000),
            ("0.05", 500), ("0.001", 10), ("0.01", 100), ("0.080", 800),
        ] as [(String, Int32)])
    func parsesBasisPoints(text: String, basisPoints: Int32) {
        #expect(Rate.parseBasisPoints(text) == basisPoints)
    }

    @Test(arguments: [
        "1", "0", "0.0", "0.00", "0.0000", "1.0", "0.00001", "0.85000", "-0.5", "0.8e0", "8e-1", ".8", "0.8a", "0.", "",
        " 0.8", "0.8 ", "0,8", "00.8", "0.+8", "0.-8", "1.5", "0.٨",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Rate.parseBasisPoints(text) == nil)
    }

    @Test func printsTheShortestDecimal() {
        #expect(Rate.text(8_500) == "0.85")
        #expect(Rate.text(8_000) == "0.8")
        #expect(Rate.text(1) == "0.0001")
        #expect(Rate.text(9_999) == "0.9999")
        #expect(Rate.text(500) == "0.05")
        #expect(Rate.text(10) == "0.001")
    }

    /// Found by the coupon-center fuzzer (Tests/Fuzz/Crashers/coupon-center/template-rate-zero): a
    /// template read back with a rate of 0 was shown as `"rate":0.`, which is not JSON.
    @Test(
        arguments: [
            (0, "0"), (10_000, "1"), (12_345, "1.2345"), (-5, "-0.0005"), (-8_500, "-0.85"), (Int32.max, "214748.3647"),
            (Int32.min, "-214748.3648"),
        ] as [(Int32, String)])
    func printsAnyRateAsANumber(basisPoints: Int32, text: String) throws {
        #expect(Rate.text(basisPoints) == text)
        guard case .number = try JSONParser.parse(Array(Rate.text(basisPoints).utf8)) else {
            Issue.record("\(Rate.text(basisPoints)) is not a JSON number")
            return
        }
    }

    @Test func printedRatesParseBack() {
        for basisPoints in Int32(1)...9_999 {
            #expect(Rate.parseBasisPoints(Rate.text(basisPoints)) == basisPoints)
        }
    }
}
