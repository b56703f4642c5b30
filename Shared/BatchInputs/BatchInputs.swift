import Wire

/// The fields of one element of a batch that a service hands PostgreSQL as a jsonb array.
///
/// Each shape is declared twice, once here and once as a composite type in the database
/// (coupon-center's migration 0006, risk-control's 1003), which the function reads with `jsonb_populate_recordset(NULL::type, $1)`. A key the two
/// sides spell differently would not fail: PostgreSQL reads a missing key as NULL. So the writers
/// build every element through `JSONValue.batchInput`, whose exhaustive `switch` makes the compiler
/// demand a value for each case, and an integration test (BatchInputShapeTests) holds the cases
/// equal, in order, to the composite type's attributes.
public protocol BatchInputField: RawRepresentable<String>, CaseIterable, Sendable {
    /// The composite type with one attribute per case, in case order.
    static var compositeType: String { get }
}

/// One claim for `claim_coupons` (and `claim_coupons_each`, `claim_coupon_steps`).
public enum ClaimInputField: String, BatchInputField {
    case idx, couponId, userId, templateId, channel, day, type, threshold, discount, rate, maxDiscount, segment
    case budgetCost, claimedAt, expiresAt, pointsCost, requestId, operation, payload, response

    public static let compositeType = "claim_input"
}

/// One redemption for `redeem_coupons`.
public enum RedeemInputField: String, BatchInputField {
    case idx, couponId, orderId, amount, applied, requestId, payload, response

    public static let compositeType = "redeem_input"
}

/// One decision for risk-control's `risk_audit` (migration 1003's `risk_audit_input`). snake_case,
/// because the same object is the row's payload in `risk_audit_dead_letter`.
public enum AuditInputField: String, BatchInputField {
    case decidedAtMs = "decided_at_ms", action, userId = "user_id", deviceId = "device_id", ip, templateId = "template_id"
    case couponType = "coupon_type", amountCents = "amount_cents", verdict, score, reasons

    public static let compositeType = "risk_audit_input"
}

/// One request id to look up in `idempotency_record`.
public enum AnswerKeyField: String, BatchInputField {
    case operation, requestId

    public static let compositeType = "answer_key"
}

extension JSONValue {
    /// One batch element with a value for every field, in declaration order:
    /// `.batchInput { (field: RedeemInputField) in switch field { case .idx: ... } }`.
    public static func batchInput<Field: BatchInputField>(_ value: (Field) -> JSONValue) -> JSONValue {
        .object(Field.allCases.map { ($0.rawValue, value($0)) })
    }
}
