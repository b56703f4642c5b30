import Foundation

/// A value that can be bound to a `$n` parameter.
///
/// Parameters go to the server in text format with no declared type, so the server infers each
/// parameter's type from where it appears. Where the context does not fix a type (`SELECT $1`,
/// `$1 IS NULL`), cast in the SQL: `$1::bigint`.
public protocol PostgresBindable: Sendable {
    /// The value in PostgreSQL's text input format, or nil for SQL NULL.
    ///
    /// Throws when the value has no text form the server would read back as the same value, so
    /// that nothing is silently truncated or altered.
    func postgresText() throws -> String?
}

/// A type a result column can be decoded into.
///
/// Results arrive in text format; the session runs with `TimeZone=UTC`, `DateStyle=ISO` and
/// `bytea_output=hex`, which the parsers here rely on.
public protocol PostgresDecodable: Sendable {
    /// Parses the server's text form; nil when the text is not a valid value of this type.
    init?(postgresText: String)
    /// What SQL NULL decodes to, or nil when NULL is not an acceptable value (the default).
    static var postgresNullValue: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNullValue: Self? { nil }
}

// MARK: - Text

extension String: PostgresBindable, PostgresDecodable {
    public func postgresText() throws -> String? {
        // libpq takes parameters as C strings, and PostgreSQL text cannot hold NUL anyway.
        guard !utf8.contains(0) else {
            throw PostgresError(
                code: .invalidParameter, message: "a String parameter contains a NUL character")
        }
        return self
    }

    public init?(postgresText: String) {
        self = postgresText
    }
}

// MARK: - Integers

extension Int: PostgresBindable, PostgresDecodable {
    public func postgresText() throws -> String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText, radix: 10) }
}

extension Int64: PostgresBindable, PostgresDecodable {
    public func postgresText() throws -> String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText, radix: 10) }
}

extension Int32: PostgresBindable, PostgresDecodable {
    public func postgresText() throws -> String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText, radix: 10) }
}

// MARK: - Bool

extension Bool: PostgresBindable, PostgresDecodable {
    public func postgresText() throws -> String? { self ? "true" : "false" }

    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

// MARK: - Date

extension Date: PostgresBindable, PostgresDecodable {
    /// ISO 8601 in UTC with milliseconds (`2024-05-01T12:30:00.250Z`): the date is rounded to
    /// the nearest millisecond. Years outside 1...9999 are refused.
    public func postgresText() throws -> String? {
        guard let text = PostgresTimestamp.format(self) else {
            throw PostgresError(
                code: .invalidParameter,
                message: "a Date parameter is not finite or outside the years 1...9999")
        }
        return text
    }

    /// Reads `timestamptz` output in ISO DateStyle (`2024-05-01 12:30:00.25+00`); a value
    /// without an offset (`timestamp`, `date`) is taken as UTC. `infinity` and BC dates fail.
    public init?(postgresText: String) {
        guard let date = PostgresTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}

// MARK: - bytea

extension Array: PostgresBindable where Element == UInt8 {
    /// bytea hex format: `\x` followed by two lowercase hex digits per byte.
    public func postgresText() throws -> String? {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        text.reserveCapacity(2 + count * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// Reads bytea hex output (`\x0aff`); the older escape format is refused.
    public init?(postgresText: String) {
        let text = [UInt8](postgresText.utf8)
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"),
            text.count % 2 == 0
        else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}

// MARK: - Optional

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    /// nil binds SQL NULL.
    public func postgresText() throws -> String? {
        switch self {
        case .none: return nil
        case .some(let value): return try value.postgresText()
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init?(postgresText: String) {
        guard let value = Wrapped(postgresText: postgresText) else { return nil }
        self = .some(value)
    }

    /// SQL NULL decodes to nil.
    public static var postgresNullValue: Wrapped?? { .some(.none) }
}

// MARK: - Timestamp text

/// Conversions between `Date` and PostgreSQL's timestamp text, done with integer calendar
/// arithmetic so they never depend on the process's locale or time zone.
enum PostgresTimestamp {
    private static let millisecondsPerDay: Int64 = 86_400_000
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in milliseconds since 1970.
    private static let bindableRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    static func format(_ date: Date) -> String? {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return nil }
        let millisecondsDouble = (seconds * 1000).rounded()
        guard abs(millisecondsDouble) < 1e15 else { return nil }
        let milliseconds = Int64(millisecondsDouble)
        guard bindableRange.contains(milliseconds) else { return nil }

        let days = floorDivide(milliseconds, millisecondsPerDay)
        var remainder = milliseconds - days * millisecondsPerDay
        let (year, month, day) = civilDate(daysSince1970: days)
        let hour = remainder / 3_600_000
        remainder %= 3_600_000
        let minute = remainder / 60_000
        remainder %= 60_000
        let second = remainder / 1000
        let millisecond = remainder % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):"
            + "\(pad(second, 2)).\(pad(millisecond, 3))Z"
    }

    /// Parses `YYYY-MM-DD[( |T)HH:MM:SS[.f...]][(+|-)HH[:MM[:SS]]|Z]`. Anything else is nil.
    static func parse(_ text: String) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        guard let year = scanner.number(minDigits: 4, maxDigits: 7), scanner.take("-"),
            let month = scanner.number(minDigits: 2, maxDigits: 2), scanner.take("-"),
            let day = scanner.number(minDigits: 2, maxDigits: 2),
            (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day)
        else { return nil }

        var secondsOfDay: Int64 = 0
        var microseconds: Int64 = 0
        var offsetSeconds: Int64 = 0
        if scanner.take(" ") || scanner.take("T") {
            guard let hour = scanner.number(minDigits: 2, maxDigits: 2), scanner.take(":"),
                let minute = scanner.number(minDigits: 2, maxDigits: 2), scanner.take(":"),
                let second = scanner.number(minDigits: 2, maxDigits: 2),
                hour < 24, minute < 60, second < 61
            else { return nil }
            secondsOfDay = hour * 3600 + minute * 60 + second
            if scanner.take(".") {
                guard let fraction = scanner.fraction() else { return nil }
                microseconds = fraction
            }
            if scanner.take("Z") {
                offsetSeconds = 0
            } else if let sign = scanner.sign() {
                guard let offsetHours = scanner.number(minDigits: 2, maxDigits: 2) else {
                    return nil
                }
                var offset = offsetHours * 3600
                if scanner.take(":") {
                    guard let offsetMinutes = scanner.number(minDigits: 2, maxDigits: 2) else {
                        return nil
                    }
                    offset += offsetMinutes * 60
                    if scanner.take(":") {
                        guard let offsetSecs = scanner.number(minDigits: 2, maxDigits: 2) else {
                            return nil
                        }
                        offset += offsetSecs
                    }
                }
                offsetSeconds = sign * offset
            }
        }
        guard scanner.isAtEnd else { return nil }

        let days = daysSince1970(year: year, month: month, day: day)
        let wholeSeconds = days * 86_400 + secondsOfDay - offsetSeconds
        return Date(timeIntervalSince1970: Double(wholeSeconds) + Double(microseconds) / 1_000_000)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width
            ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    private static func isLeapYear(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 in the proleptic Gregorian calendar, counting years from March so
    /// the leap day falls at the end of the counted year.
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = floorDivide(shiftedYear, 400)
        let yearOfEra = shiftedYear - era * 400
        let monthFromMarch = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        // 719_468 days separate 0000-03-01 from 1970-01-01.
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysSince1970`.
    static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}

/// Reads ASCII digits and punctuation from a byte array; every read is bounds-checked.
private struct DigitScanner {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position == bytes.count }

    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: character) else {
            return false
        }
        position += 1
        return true
    }

    /// +1 or -1 when the next byte is a sign.
    mutating func sign() -> Int64? {
        if take("+") { return 1 }
        if take("-") { return -1 }
        return nil
    }

    mutating func number(minDigits: Int, maxDigits: Int) -> Int64? {
        var value: Int64 = 0
        var count = 0
        while count < maxDigits, position < bytes.count,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position])
        {
            value = value * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
            position += 1
            count += 1
        }
        return count >= minDigits ? value : nil
    }

    /// Fractional digits as microseconds; digits past the sixth are read and dropped.
    mutating func fraction() -> Int64? {
        var micros: Int64 = 0
        var count = 0
        while position < bytes.count,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position])
        {
            if count < 6 { micros = micros * 10 + Int64(bytes[position] - UInt8(ascii: "0")) }
            position += 1
            count += 1
        }
        guard count > 0 else { return nil }
        for _ in count..<max(count, 6) { micros *= 10 }
        return micros
    }
}
