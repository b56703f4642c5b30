import BatchInputs
import Postgres
import TestSupport
import Testing

/// The batch inputs coupon-center and risk-control write as JSON and PostgreSQL reads through
/// composite types (migrations 0006 and 1003): the Swift cases and the type's attributes must be the same names in the
/// same order, because PostgreSQL reads a key it does not find as NULL instead of failing.
@Suite struct BatchInputShapeTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        var compositeType: String
        var swiftKeys: [String]

        init<Field: BatchInputField>(_ field: Field.Type) {
            compositeType = Field.compositeType
            swiftKeys = Field.allCases.map(\.rawValue)
        }

        var testDescription: String { compositeType }
    }

    static let shapes = [Shape(ClaimInputField.self), Shape(RedeemInputField.self), Shape(AnswerKeyField.self), Shape(AuditInputField.self)]

    @Test func swiftKeysAreTheCompositeTypesAttributes() async throws {
        try await SourceMigrations.withCouponCenterDatabase(prefix: "shapes") { pool in
            // risk-control's shapes too, in the shared schema as each service migrates it.
            _ = try await PostgresMigrator.apply(try SourceMigrations.riskControl(), to: pool)
            for shape in Self.shapes {
                let rows = try await pool.query(
                    """
                    SELECT a.attname FROM pg_attribute a JOIN pg_type t ON t.typrelid = a.attrelid
                     WHERE t.typname = $1 AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped
                     ORDER BY a.attnum
                    """, [shape.compositeType])
                let attributes = try rows.map { try $0.decode(0, as: String.self) }
                #expect(!attributes.isEmpty, "no composite type \(shape.compositeType) after the migrations")
                #expect(
                    attributes == shape.swiftKeys,
                    """
                    \(shape.compositeType): the database has \(attributes), Swift writes \(shape.swiftKeys); \
                    only in SQL: \(attributes.filter { !shape.swiftKeys.contains($0) }), \
                    only in Swift: \(shape.swiftKeys.filter { !attributes.contains($0) })
                    """)
            }
        }
    }

    /// What the comparison relies on: a key missing from the JSON reads as NULL, silently, which is
    /// why the names have to be checked rather than trusted.
    @Test func aMisspelledKeyReadsAsNull() async throws {
        try await SourceMigrations.withCouponCenterDatabase(prefix: "shapes") { pool in
            let rows = try await pool.query(
                """
                SELECT k.operation, k."requestId" FROM jsonb_populate_recordset(NULL::answer_key, $1::jsonb) AS k
                """, [#"[{"operation": "claim", "requestID": "r1"}]"#])
            #expect(try rows[0].decode(0, as: String?.self) == "claim")
            #expect(try rows[0].decode(1, as: String?.self) == nil)
        }
    }
}
