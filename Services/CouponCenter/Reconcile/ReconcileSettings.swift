import Domain
import Foundation
import ServiceKit

/// Reconciliation's configuration (README "Configuration"): when the daily run starts, and the
/// safety margin before a run within which events are not judged yet.
struct ReconcileSettings: Sendable {
    /// Minutes after local midnight at which the daily run reconciles the day before.
    var dailyAtMinutes: Int
    var marginSeconds: Int
    var timeZone: TimeZone

    static let options: [ConfigOption] = [
        ConfigOption(
            "reconcile-at", env: "COUPON_RECONCILE_AT", default: "02:00",
            "local time (HH:MM, COUPON_TIME_ZONE) of the daily reconciliation of the day before (one process leads it)"),
        ConfigOption(
            "reconcile-margin", env: "COUPON_RECONCILE_MARGIN_SECONDS", default: "300",
            "seconds before a run within which events are not judged (transactions may still be committing)"),
    ]

    init(_ values: ConfigValues, timeZone: TimeZone) throws(ConfigError) {
        guard let minutes = Self.minutesOfDay(values.string("reconcile-at")) else {
            throw ConfigError("--reconcile-at / COUPON_RECONCILE_AT: '\(values.string("reconcile-at"))' is not a time written HH:MM (00:00…23:59)")
        }
        dailyAtMinutes = minutes
        marginSeconds = try values.int("reconcile-margin", in: 0...86_400)
        self.timeZone = timeZone
    }

    init(dailyAtMinutes: Int, marginSeconds: Int, timeZone: TimeZone) {
        self.dailyAtMinutes = dailyAtMinutes
        self.marginSeconds = marginSeconds
        self.timeZone = timeZone
    }

    static func minutesOfDay(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hours = Int(parts[0]), let minutes = Int(parts[1]),
            (0...23).contains(hours), (0...59).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }

    /// Milliseconds since local midnight at `milliseconds`, read from the same local time the
    /// business day is read from (`Timestamp.day`).
    func localMillisecondsOfDay(_ milliseconds: Int64) -> Int64 {
        let text = Array(Timestamp.formatISO8601(milliseconds, in: timeZone).utf8)
        func number(_ range: Range<Int>) -> Int64 {
            text[range].reduce(0) { $0 * 10 + Int64($1 &- UInt8(ascii: "0")) }
        }
        return ((number(11..<13) * 60 + number(14..<16)) * 60 + number(17..<19)) * 1000 + number(20..<23)
    }

    /// The day the daily run should have reconciled by `milliseconds`: yesterday once today's run
    /// time has passed, else nil.
    func dueDay(_ milliseconds: Int64) -> String? {
        let sinceMidnight = localMillisecondsOfDay(milliseconds)
        guard sinceMidnight >= Int64(dailyAtMinutes) * 60_000 else { return nil }
        return Timestamp.day(milliseconds - sinceMidnight - 1, in: timeZone)
    }

    /// How long to sleep before looking again: until today's (or tomorrow's) run time, at most an
    /// hour (a run that failed is tried again within the hour).
    func untilNextLook(_ milliseconds: Int64) -> Duration {
        let sinceMidnight = localMillisecondsOfDay(milliseconds)
        let at = Int64(dailyAtMinutes) * 60_000
        let wait = sinceMidnight < at ? at - sinceMidnight : 86_400_000 - sinceMidnight + at
        return .milliseconds(max(1000, min(wait, 3_600_000)))
    }
}
