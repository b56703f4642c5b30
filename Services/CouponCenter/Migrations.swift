import Postgres

/// The schema, in order. Each file under Migrations/ is compiled into the binary and applied once
/// (recorded in `schema_migrations`); a published migration is never edited, only followed.
/// The list is written out because resources are compiled in by name; ArchitectureTests holds it
/// equal to the folder (every file listed once, with its number and name), and the tests load the
/// same folder through TestSupport's `SourceMigrations`.
enum CouponMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "core_schema", sql: text(PackageResources._001_core_schema_sql)),
        Migration(version: 2, name: "claim_function", sql: text(PackageResources._002_claim_function_sql)),
        Migration(version: 3, name: "exposures", sql: text(PackageResources._003_exposures_sql)),
        Migration(version: 4, name: "claim_function_set_based", sql: text(PackageResources._004_claim_function_set_based_sql)),
        Migration(version: 5, name: "redeem_function", sql: text(PackageResources._005_redeem_function_sql)),
        Migration(version: 6, name: "batch_input_types", sql: text(PackageResources._006_batch_input_types_sql)),
        Migration(version: 7, name: "event_outbox", sql: text(PackageResources._007_event_outbox_sql)),
        Migration(version: 8, name: "cost_ceiling", sql: text(PackageResources._008_cost_ceiling_sql)),
        Migration(version: 9, name: "alert_events", sql: text(PackageResources._009_alert_events_sql)),
        Migration(version: 10, name: "reconciliation", sql: text(PackageResources._010_reconciliation_sql)),
        Migration(version: 11, name: "experiments", sql: text(PackageResources._011_experiments_sql)),
        Migration(version: 12, name: "operators_and_audit", sql: text(PackageResources._012_operators_and_audit_sql)),
        Migration(version: 13, name: "recommendations", sql: text(PackageResources._013_recommendations_sql)),
        Migration(version: 14, name: "lock_fence", sql: text(PackageResources._014_lock_fence_sql)),
    ]

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
