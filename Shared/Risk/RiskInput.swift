import Wire

/// The one check of every text field risk-control receives (`risk_decide`, `risk_decide_batch`,
/// `risk_report`, `risk_list_*`), so the single and batch paths cannot disagree and nothing that
/// reaches Redis keys, the audit table or the logs is empty, huge or carries control characters.
///
/// A field is 1…`maxLength` Unicode scalars (code points: what PostgreSQL's `char_length` counts,
/// and the limit coupon-center uses for identifiers), with no C0 control, DEL or C1 control
/// character (U+0000 is the one PostgreSQL refuses outright). Optional fields may be absent, but
/// not present and empty. The message names the field and never repeats the value.
public enum RiskInput {
    public static let maxLength = 64

    public static func validate(_ request: RiskDecisionRequest) throws(ServiceError) {
        try text(request.userId, field: "userId")
        try text(request.deviceId, field: "deviceId")
        try text(request.ip, field: "ip")
        try text(request.templateId, field: "templateId")
        guard request.amountCents >= 0 else {
            throw ServiceError(.invalidArgument, "amountCents: must not be negative, got \(request.amountCents)")
        }
    }

    public static func validate(_ report: RiskReportRequest) throws(ServiceError) {
        try text(report.userId, field: "userId")
        try text(report.deviceId, field: "deviceId")
        try text(report.ip, field: "ip")
    }

    /// A list entry's value (`risk_list_add`, `risk_list_remove`).
    public static func validate(listValue: String) throws(ServiceError) {
        try text(listValue, field: "value")
    }

    /// An optional field: absent is fine, present must be a valid text.
    public static func text(_ value: String?, field: String) throws(ServiceError) {
        if let value { try text(value, field: field) }
    }

    public static func text(_ value: String, field: String) throws(ServiceError) {
        var length = 0
        for scalar in value.unicodeScalars {
            length += 1
            // Stop counting early: a 10,000-character field costs no more than a 65-character one.
            guard length <= maxLength else { throw ServiceError(.invalidArgument, "\(field): more than \(maxLength) characters") }
            if isControl(scalar) {
                throw ServiceError(
                    .invalidArgument, "\(field): contains the control character U+\(hex4(scalar.value))")
            }
        }
        guard length > 0 else { throw ServiceError(.invalidArgument, "\(field): empty") }
    }

    /// C0 (U+0000…U+001F), DEL (U+007F) and C1 (U+0080…U+009F).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
