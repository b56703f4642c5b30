import Wire

/// An amount of money in cents (分). Every amount inside the system is one of these: exact integer
/// arithmetic, never a binary float.
public struct Money: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var cents: Int64
    public var rawValue: Int64 { cents }

    public init(cents: Int64) { self.cents = cents }
    public init(rawValue: Int64) { self.cents = rawValue }

    public static let zero = Money(cents: 0)
    /// The largest amount accepted from outside: 10^13 yuan is far beyond any order, and keeps
    /// sums of many amounts far from Int64's limit.
    public static let maximum = Money(cents: 1_000_000_000_000_000)

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }

    /// Sums and differences are checked, not operators: amounts come from outside, and an Int64 `+`
    /// that overflows would stop the process. Overflow is the caller's `.invalidArgument`.
    public func adding(_ other: Money) throws(ServiceError) -> Money {
        let (sum, overflow) = cents.addingReportingOverflow(other.cents)
        guard !overflow else { throw ServiceError(.invalidArgument, "\(yuanText) + \(other.yuanText) yuan is out of range") }
        return Money(cents: sum)
    }

    public func subtracting(_ other: Money) throws(ServiceError) -> Money {
        let (difference, overflow) = cents.subtractingReportingOverflow(other.cents)
        guard !overflow else { throw ServiceError(.invalidArgument, "\(yuanText) − \(other.yuanText) yuan is out of range") }
        return Money(cents: difference)
    }

    /// Yuan with exactly two decimals ("199.99", "-0.05"), as the HTTP API prints it.
    public var yuanText: String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    public var description: String { "¥" + yuanText }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case notANumber(String)
        case tooManyDecimals(String)
        case negative(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .notANumber(let text): "'\(text)' is not an amount of money"
            case .tooManyDecimals(let text): "'\(text)' has more than 2 decimals (amounts are in yuan, to the cent)"
            case .negative(let text): "'\(text)' is negative"
            case .tooLarge(let text): "'\(text)' is too large"
            }
        }
    }

    /// Parses a JSON number's text in yuan into cents, digit by digit: "199.99" → 19999,
    /// "1e2" → 10000, "0.125" → error (more than two decimals, even as "12.5e-2"), "-1" → error.
    /// Trailing zeros beyond the cent are accepted ("10.500").
    public static func parseYuan(_ text: String) throws(ParseError) -> Money {
        var scalars = Array(text.utf8)[...]
        guard !scalars.isEmpty else { throw .notANumber(text) }
        var negative = false
        if scalars.first == UInt8(ascii: "-") {
            negative = true
            scalars = scalars.dropFirst()
        }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var seenPoint = false
        var exponent = 0
        while let byte = scalars.first {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte - UInt8(ascii: "0"))
                if seenPoint { fractionDigits += 1 }
            } else if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                let rest = String(decoding: scalars.dropFirst(), as: UTF8.self)
                guard rest.utf8.count <= 6, let value = Int(rest) else { throw .notANumber(text) }
                exponent = value
                scalars = []
                break
            } else {
                throw .notANumber(text)
            }
            scalars = scalars.dropFirst()
        }
        guard !digits.isEmpty else { throw .notANumber(text) }
        // value = digits × 10^(exponent − fractionDigits) yuan = digits × 10^(exponent − fractionDigits + 2) cents
        var scale = exponent - fractionDigits + 2
        // Drop trailing zeros that only move the scale.
        while scale < 0, let last = digits.last, last == 0, digits.count > 1 {
            digits.removeLast()
            scale += 1
        }
        if scale < 0 {
            if digits.allSatisfy({ $0 == 0 }) { return .zero }
            throw .tooManyDecimals(text)
        }
        var cents: Int64 = 0
        for digit in digits {
            let (shifted, overflow1) = cents.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { throw .tooLarge(text) }
            cents = sum
        }
        if cents != 0 {
            for _ in 0..<scale {
                let (shifted, overflow) = cents.multipliedReportingOverflow(by: 10)
                guard !overflow, scale <= 20 else { throw .tooLarge(text) }
                cents = shifted
            }
        }
        guard cents <= Money.maximum.cents else { throw .tooLarge(text) }
        if negative && cents != 0 { throw .negative(text) }
        return Money(cents: cents)
    }
}
