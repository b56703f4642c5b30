import Foundation
import Wire

/// Times on the wire are Unix milliseconds; in JSON they are ISO 8601 with an offset. Parsing is
/// done by hand so only the one unambiguous form is accepted: `2026-11-11T00:00:00+08:00`,
/// optional fraction of up to 9 digits (kept to the millisecond, truncated), `Z` or `±HH:MM`.
public enum Timestamp {
    /// The instants the API accepts from outside, in Unix milliseconds: the epoch (parsing refuses
    /// anything earlier) to 9999-12-30T23:59:59.999Z, the last instant that is still in year 9999 in
    /// every time zone (offsets stay within ±24 h), so whatever is accepted is also printed with a
    /// four-digit year that `parseISO8601` reads back (9999-12-31T23:59:59Z is year 10000 at +08:00).
    /// PostgreSQL's timestamptz reaches further (294276 AD); this range stays inside it, so a time
    /// from a request is refused here and never by the database.
    public static let earliestMilliseconds: Int64 = 0
    public static let latestMilliseconds: Int64 = 253_402_214_399_999

    /// `.invalidArgument` naming `field` when `milliseconds` is outside
    /// `earliestMilliseconds...latestMilliseconds`.
    public static func checkRange(_ milliseconds: Int64, field: String) throws(ServiceError) {
        guard milliseconds >= earliestMilliseconds, milliseconds <= latestMilliseconds else {
            throw ServiceError(
                .invalidArgument,
                "\(field): \(milliseconds) ms is outside 1970-01-01T00:00:00Z…9999-12-30T23:59:59.999Z")
        }
    }

    public static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + count)] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue! else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            index < bytes.count, bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: "t")
        else { return nil }
        index += 1
        guard let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2) else { return nil }
        var milliseconds = 0
        if expect(".") {
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            let digits = index - start
            guard digits >= 1 && digits <= 9 else { return nil }
            for offset in 0..<3 {
                milliseconds = milliseconds * 10 + (offset < digits ? Int(bytes[start + offset] - 0x30) : 0)
            }
        }
        var offsetSeconds = 0
        if expect("Z") || expect("z") {
            offsetSeconds = 0
        } else {
            guard index < bytes.count else { return nil }
            let sign: Int
            switch bytes[index] {
            case UInt8(ascii: "+"): sign = 1
            case UInt8(ascii: "-"): sign = -1
            default: return nil
            }
            index += 1
            guard let offsetHours = number(2), expect(":"), let offsetMinutes = number(2), offsetHours <= 23, offsetMinutes <= 59 else {
                return nil
            }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard index == bytes.count, (1...12).contains(month), hour <= 23, minute <= 59, second <= 59, year >= 1,
            day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let days = daysFromEpoch(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        let result = seconds * 1000 + Int64(milliseconds)
        // Instants before the Unix epoch have no use here; the bound is on the instant, not on
        // the local date written (1969-12-31T19:00-05:00 is the epoch itself).
        return result >= 0 ? result : nil
    }

    /// `2026-11-11T00:00:00.000+08:00`, in `timeZone`. Total: an instant so near Int64's ends that
    /// the zone's offset would overflow it is written in UTC instead.
    public static func formatISO8601(_ milliseconds: Int64, in timeZone: TimeZone) -> String {
        let seconds = Int64((Double(milliseconds) / 1000).rounded(.down))
        var offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
        var (local, overflow) = milliseconds.addingReportingOverflow(Int64(offset) * 1000)
        if overflow {
            offset = 0
            local = milliseconds
        }
        let (days, dayMilliseconds) = floorDivide(local, 86_400_000)
        let (year, month, day) = civilDate(daysFromEpoch: Int(days))
        let hour = dayMilliseconds / 3_600_000
        let minute = dayMilliseconds / 60_000 % 60
        let second = dayMilliseconds / 1000 % 60
        let millisecond = dayMilliseconds % 1000
        let sign = offset < 0 ? "-" : "+"
        let zone = offset == 0 ? "Z" : "\(sign)\(pad(abs(offset) / 3600, 2)):\(pad(abs(offset) / 60 % 60, 2))"
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(Int(hour), 2)):\(pad(Int(minute), 2)):\(pad(Int(second), 2)).\(pad(Int(millisecond), 3))\(zone)"
    }

    /// The calendar day (`2026-11-11`) that `milliseconds` falls on in `timeZone`: the key of
    /// daily limits.
    public static func day(_ milliseconds: Int64, in timeZone: TimeZone) -> String {
        String(formatISO8601(milliseconds, in: timeZone).prefix(10))
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// Floor division by a positive divisor, for every Int64 (negating `value` would trap at Int64.min).
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    static func daysIn(month: Int, year: Int) -> Int {
        [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilDate(daysFromEpoch days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Rates: a JSON number strictly between 0 and 1 with at most 4 decimals, kept as basis points
/// (0.85 → 8500), parsed digit by digit like money.
public enum Rate {
    public static func parseBasisPoints(_ text: String) -> Int32? {
        guard text.hasPrefix("0."), text.utf8.count >= 3, text.utf8.count <= 6 else { return nil }
        let digits = text.dropFirst(2)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let padded = digits + String(repeating: "0", count: 4 - digits.utf8.count)
        guard let value = Int32(padded), value > 0, value < 10_000 else { return nil }
        return value
    }

    /// The rate as a JSON number ("0.85" for 8500). Total: a stored or received rate outside
    /// (0, 1) is shown as what it is ("0", "1", "-0.0005", "1.2345"), never as text that is not a number.
    public static func text(_ basisPoints: Int32) -> String {
        let whole = basisPoints.magnitude / 10_000
        var fraction = String(basisPoints.magnitude % 10_000)
        fraction = String(repeating: "0", count: 4 - fraction.utf8.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return (basisPoints < 0 ? "-" : "") + String(whole) + (fraction.isEmpty ? "" : "." + fraction)
    }
}
