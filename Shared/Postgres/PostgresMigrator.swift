/// One schema change, compiled into the binary. `sql` may hold several statements; it runs in a
/// transaction, so it must not contain BEGIN/COMMIT or CREATE INDEX CONCURRENTLY.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Brings a database up to date with the migrations shipped in the binary.
///
/// Contract: each migration runs at most once per database, in its own transaction together
/// with its row in `schema_migrations`, so it is either fully applied and recorded or not at
/// all. Several processes may call `apply` at the same time: a transaction-scoped advisory lock
/// with a fixed key makes them take turns, and each re-reads `schema_migrations` after taking
/// the lock. Versions recorded in the database but absent from the list (written by a newer
/// binary) are left alone; a version missing from the database but lower than applied ones is
/// applied.
public enum PostgresMigrator {
    /// Fixed advisory-lock key shared by every process migrating this database ("CpnMigr1").
    static let advisoryLockKey: Int64 = 0x4370_6E4D_6967_7231

    static let createTableSQL: SQL = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version int PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// Applies the migrations not yet recorded, in order, and returns their versions.
    ///
    /// Throws `invalidMigrations` before touching the database when versions are not strictly
    /// increasing or a name is empty, and `migrationMismatch` before applying anything when a
    /// recorded version carries a different name (the binary and the database disagree about
    /// history).
    public static func apply(_ migrations: [Migration], to pool: PostgresPool) async throws -> [Int] {
        try validate(migrations)

        // Read committed on purpose, here and below: each statement then sees what other
        // processes committed before this one got the lock. Repeatable read would freeze the
        // snapshot at the lock call, before the lock was granted.
        let recorded: [Int: String] = try await pool.transaction(isolation: .readCommitted) { tx in
            try await lock(tx)
            try await tx.execute(createTableSQL)
            var recorded: [Int: String] = [:]
            for row in try await tx.query("SELECT version, name FROM schema_migrations") {
                recorded[try row.decode("version", as: Int.self)] = try row.decode(
                    "name", as: String.self)
            }
            return recorded
        }
        for migration in migrations {
            if let name = recorded[migration.version], name != migration.name {
                throw mismatch(migration, recordedName: name)
            }
        }

        var appliedNow: [Int] = []
        for migration in migrations where recorded[migration.version] == nil {
            let applied = try await pool.transaction(isolation: .readCommitted) { tx in
                try await lock(tx)
                let existing = try await tx.query(
                    "SELECT name FROM schema_migrations WHERE version = $1", [migration.version])
                if let row = existing.first {
                    let name = try row.decode(0, as: String.self)
                    if name != migration.name { throw mismatch(migration, recordedName: name) }
                    return false  // another process applied it meanwhile
                }
                // The one statement text that is not a literal: a migration file compiled into the binary.
                try await tx.runScript(SQL(unsafeSQL: migration.sql))
                try await tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    [migration.version, migration.name])
                return true
            }
            if applied { appliedNow.append(migration.version) }
        }
        return appliedNow
    }

    private static func lock(_ tx: PostgresTransaction) async throws {
        try await tx.execute("SELECT pg_advisory_xact_lock($1::bigint)", [advisoryLockKey])
    }

    static func validate(_ migrations: [Migration]) throws {
        var previous: Migration?
        for migration in migrations {
            if migration.name.isEmpty {
                throw PostgresError(
                    code: .invalidMigrations,
                    message: "migration \(migration.version) has an empty name")
            }
            if let previous, migration.version <= previous.version {
                throw PostgresError(
                    code: .invalidMigrations,
                    message: "migration versions must be strictly increasing: \(migration.version) "
                        + "(\(migration.name)) follows \(previous.version) (\(previous.name))")
            }
            previous = migration
        }
    }

    private static func mismatch(_ migration: Migration, recordedName: String) -> PostgresError {
        PostgresError(
            code: .migrationMismatch,
            message: "migration \(migration.version) is recorded as \"\(recordedName)\" "
                + "but this binary calls it \"\(migration.name)\"")
    }
}
