import Wire

/// The fields of one element of a batch that coupon-center hands a SQL function as a jsonb array.
///
/// Each shape is declared twice, once here and once as a composite type in the database (migration
/// 0006), which the function reads with `jsonb_populate_recordset(NULL::type, $1)`. A key the two
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
