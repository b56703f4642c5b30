import Wire

/// The rules of reconciliation (对账) that need no I/O: the money alarm's relative difference, the
/// incident state machine, business days, and the order feed's NDJSON lines. coupon-center's
/// Reconcile/ runs the checks in PostgreSQL and decides with these.
public enum MoneyDifference {
    /// The alarm: a relative difference above 1/1000 (0.1%).
    public static let alarmPerMille: UInt64 = 1

    /// max(|a|, |b|, 1), and |a − b|, exactly (as magnitudes: |Int64.min| does not fit an Int64).
    private static func parts(_ a: Int64, _ b: Int64) -> (difference: UInt64, scale: UInt64) {
        let difference = a >= b ? UInt64(bitPattern: a &- b) : UInt64(bitPattern: b &- a)
        return (difference, max(a.magnitude, b.magnitude, 1))
    }

    /// |a − b| ÷ max(|a|, |b|, 1) in basis points, rounded down (0 … 20,000).
    public static func basisPoints(_ a: Int64, _ b: Int64) -> Int64 {
        let (difference, scale) = parts(a, b)
        let product = difference.multipliedFullWidth(by: 10_000)
        let (quotient, _) = scale.dividingFullWidth((high: product.high, low: product.low))
        return Int64(quotient)
    }

    /// True when |a − b| ÷ max(|a|, |b|, 1) > 0.1%, decided exactly: |a − b| · 1000 > scale.
    public static func isAlarm(_ a: Int64, _ b: Int64) -> Bool {
        let (difference, scale) = parts(a, b)
        let product = difference.multipliedFullWidth(by: 1000 / alarmPerMille)
        return product.high > 0 || product.low > scale
    }
}

/// An incident's life (one per check, template and business day):
///
///     OPEN ──ack──▶ ACKNOWLEDGED ──clean run──▶ RESOLVED ──dirty run──▶ OPEN
///       │                │
///       └──accept(note)──┴──▶ ACCEPTED (stays ACCEPTED whatever later runs find)
///
/// A dirty run opens a new incident; a clean run resolves OPEN and ACKNOWLEDGED ones. Migration
/// 0010's run writer does the run transitions in SQL with these same rules.
public enum IncidentTransitions {
    /// What a run does to an incident of its check, template and day (`nil`: none exists). Answers
    /// the status afterwards (`nil`: still none).
    public static func afterRun(_ status: IncidentStatus?, differences: Bool) -> IncidentStatus? {
        switch (status, differences) {
        case (nil, false): nil
        case (nil, true): .open
        case (.resolved, true): .open
        case (.open, false), (.acknowledged, false): .resolved
        case (let current?, _): current
        }
    }

    /// An operator has seen it. Acknowledging again answers as it is.
    public static func acknowledge(_ status: IncidentStatus, incidentId: Int64) throws(ServiceError) -> IncidentStatus {
        switch status {
        case .open, .acknowledged: return .acknowledged
        case .resolved, .accepted:
            throw ServiceError(.incidentState, "incident \(incidentId) is \(status.rawValue); only OPEN incidents are acknowledged")
        }
    }

    /// An operator explains the difference and accepts it; the note (1…500 code points, no control
    /// characters) says why.
    public static func accept(_ status: IncidentStatus, incidentId: Int64, note: String) throws(ServiceError) -> IncidentStatus {
        try validNote(note)
        switch status {
        case .open, .acknowledged: return .accepted
        case .resolved, .accepted:
            throw ServiceError(.incidentState, "incident \(incidentId) is \(status.rawValue); only OPEN or ACKNOWLEDGED incidents are accepted")
        }
    }

    public static let maxNoteLength = 500

    public static func validNote(_ note: String) throws(ServiceError) {
        let scalars = note.unicodeScalars
        guard let first = scalars.first, !first.properties.isWhitespace else {
            throw ServiceError(.invalidArgument, "note: required, and must not start with a space")
        }
        guard scalars.dropFirst(maxNoteLength).isEmpty else {
            throw ServiceError(.invalidArgument, "note: at most \(maxNoteLength) code points")
        }
        guard !scalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw ServiceError(.invalidArgument, "note: must not contain control characters")
        }
    }
}

/// A business day: a calendar date in the configured time zone, written `YYYY-MM-DD`.
public enum BusinessDay {
    /// The date itself, checked: four-digit year 2000…2999, a month and a day that exist.
    public static func validated(_ text: String, field: String = "date") throws(ServiceError) -> String {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), let year = number(0..<4),
            let month = number(5..<7), let day = number(8..<10), (2000...2999).contains(year), (1...12).contains(month),
            (1...Timestamp.daysIn(month: month, year: year)).contains(day)
        else {
            throw ServiceError(.invalidArgument, "\(field): '\(String(text.prefix(40)))' is not a date written YYYY-MM-DD")
        }
        return text
    }
}

/// One order of the order system's feed (`POST /api/admin/reconcile/feed`).
public struct OrderFeedLine: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case paid = "PAID", refunded = "REFUNDED" }

    public var orderId: String
    public var couponId: String?
    public var discountCents: Int64
    public var amountCents: Int64
    public var status: Status

    public init(orderId: String, couponId: String?, discountCents: Int64, amountCents: Int64, status: Status) {
        self.orderId = orderId
        self.couponId = couponId
        self.discountCents = discountCents
        self.amountCents = amountCents
        self.status = status
    }
}

/// The feed's body: NDJSON, one JSON object per line (`\n` or `\r\n`), blank lines skipped. Each
/// line is checked on its own and a refused line fails alone, named by its 1-based number.
public enum OrderFeed {
    /// Lines one post may hold, and bytes one line may hold (README "Order feed").
    public static let maxLines = 10_000
    public static let maxLineBytes = 1_024

    public struct Parsed: Sendable, Equatable {
        public var lines: [(number: Int32, line: OrderFeedLine)]
        public var refused: [FeedLineRefusal]

        public static func == (lhs: Parsed, rhs: Parsed) -> Bool {
            lhs.refused == rhs.refused && lhs.lines.map(\.number) == rhs.lines.map(\.number) && lhs.lines.map(\.line) == rhs.lines.map(\.line)
        }
    }

    /// The whole body; more than `maxLines` non-blank lines refuses the body (INVALID_ARGUMENT).
    /// An order id twice in one body: the first is kept and the later lines are refused.
    public static func parse(_ body: [UInt8]) throws(ServiceError) -> Parsed {
        var parsed = Parsed(lines: [], refused: [])
        var seen: [String: Int32] = [:]
        var number: Int32 = 0
        var nonBlank = 0
        for rawLine in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var line = rawLine[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.contains(where: { ![UInt8(ascii: " "), UInt8(ascii: "\t")].contains($0) }) else { continue }
            nonBlank += 1
            guard nonBlank <= maxLines else {
                throw ServiceError(.invalidArgument, "the feed holds more than \(maxLines) lines; post it in parts")
            }
            do throws(ServiceError) {
                let order = try self.line(Array(line))
                if let first = seen[order.orderId] {
                    throw ServiceError(.invalidArgument, "orderId \(order.orderId) is on line \(first) already")
                }
                seen[order.orderId] = number
                parsed.lines.append((number, order))
            } catch {
                parsed.refused.append(FeedLineRefusal(line: number, code: error.code, message: error.message))
            }
        }
        return parsed
    }

    /// One line: `{"orderId", "couponId" (absent or null for an order without coupon), "discount",
    /// "amount" (yuan, as the HTTP API writes money), "status": "PAID" | "REFUNDED"}`.
    public static func line(_ bytes: [UInt8]) throws(ServiceError) -> OrderFeedLine {
        guard bytes.count <= maxLineBytes else { throw ServiceError(.invalidArgument, "a line holds at most \(maxLineBytes) bytes") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw ServiceError(.malformedJSON, "not a JSON object: \(error)")
        }
        let fields = try JSONFields(value, allowed: ["orderId", "couponId", "discount", "amount", "status"])
        let orderId = try fields.string("orderId")
        try TemplateRules.identifier(orderId, field: "orderId")
        let couponId = try fields.optionalString("couponId")
        if let couponId { try TemplateRules.identifier(couponId, field: "couponId") }
        let discount = try fields.money("discount")
        let amount = try fields.money("amount")
        guard discount <= Money.maximum.cents, amount <= Money.maximum.cents else {
            throw ServiceError(.invalidMoney, "amounts: at most \(Money.maximum.yuanText) yuan")
        }
        guard discount <= amount else { throw ServiceError(.invalidMoney, "discount: more than the order's amount") }
        guard couponId != nil || discount == 0 else { throw ServiceError(.invalidArgument, "discount: an order without couponId has none") }
        let statusText = try fields.string("status")
        guard let status = OrderFeedLine.Status(rawValue: statusText) else {
            throw ServiceError(.invalidArgument, "status: '\(String(statusText.prefix(20)))' is not PAID or REFUNDED")
        }
        return OrderFeedLine(orderId: orderId, couponId: couponId, discountCents: discount, amountCents: amount, status: status)
    }
}
