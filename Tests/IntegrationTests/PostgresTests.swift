import Foundation
import TestSupport
import Testing

@testable import Postgres

// Runs against the server in TEST_DATABASE_URL (Deploy/test sets it). Every test gets its own
// freshly created database, dropped afterwards, so these tests run in parallel with each other
// and with other suites.

/// A database that exists only for one test.
private enum ScratchDatabase {
    static func serverURL() throws -> String {
        // Missing means failed, never skipped: a silently skipped suite looks like a green one.
        try #require(
            ProcessInfo.processInfo.environment["TEST_DATABASE_URL"],
            Comment(rawValue: missingURLMessage))
    }

    static let missingURLMessage =
        "TEST_DATABASE_URL is not set: run Deploy/test, or start PostgreSQL and export e.g."
        + " TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres"

    /// A name made only of [a-z0-9_]: the one identifier these tests splice into SQL, because
    /// CREATE DATABASE cannot take its name as a parameter.
    static func randomName() throws -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let name = "pgtest_" + String((0..<16).map { _ in alphabet.randomElement()! })
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        try #require(name.count <= 63 && name.allSatisfy { allowed.contains($0) })
        return name
    }

    /// Creates a database, runs `body` with its configuration and a pool on it, and drops it,
    /// whether or not `body` throws.
    static func with<Result>(
        poolSize: Int = 4,
        _ body: (PostgresConfig, PostgresPool) async throws -> Result
    ) async throws -> Result {
        let admin = PostgresPool(config: try PostgresConfig(url: try serverURL(), poolSize: 1))
        let name = try randomName()
        try await admin.execute("CREATE DATABASE " + SQL.identifier(name))

        var config = try PostgresConfig(url: try serverURL(), poolSize: poolSize)
        config.database = name
        let pool = PostgresPool(config: config)
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body(config, pool))
        } catch {
            outcome = .failure(error)
        }
        await pool.close()
        try await admin.execute("DROP DATABASE " + SQL.identifier(name) + " WITH (FORCE)")
        await admin.close()
        return try outcome.get()
    }
}

private actor Counter {
    private(set) var value = 0
    func increment() -> Int {
        value += 1
        return value
    }
}

/// Lets `parties` tasks continue only once all of them have arrived.
private actor Rendezvous {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) {
        self.parties = parties
    }

    func arriveAndWait() async {
        arrived += 1
        if arrived >= parties {
            for continuation in waiting { continuation.resume() }
            waiting = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}

private struct Boom: Error, Equatable {}

private func milliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

@Suite("Postgres", .timeLimit(.minutes(2)))
struct PostgresTests {
    // MARK: Configuration

    @Test func configParsesURLAndHidesPassword() throws {
        let config = try PostgresConfig(
            url: "postgresql://coupon:s3cr%40t@db.internal:6543/coupons?sslmode=require",
            poolSize: 3)
        #expect(config.user == "coupon")
        #expect(config.password == "s3cr@t")
        #expect(config.host == "db.internal")
        #expect(config.port == 6543)
        #expect(config.database == "coupons")
        #expect(config.sslMode == "require")
        #expect(config.poolSize == 3)
        #expect(config.connectTimeoutSeconds == 10)
        for text in [config.description, String(reflecting: config), "\(config)"] {
            #expect(!text.contains("s3cr"))
            #expect(text.contains("coupon:***@db.internal:6543/coupons"))
        }
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains("s3cr"))

        let short = try PostgresConfig(url: "postgres://app@[::1]/x")
        #expect(short.host == "::1")
        #expect(short.port == 5432)
        #expect(short.password == nil)
        #expect(short.poolSize == 8)
        #expect(!short.description.contains("***"))
    }

    @Test(arguments: [
        "mysql://u:hunter2@h/db", "postgresql://u:hunter2@h", "postgresql://u:hunter2@h:0/db",
        "postgresql://u:hunter2@h:99999/db", "postgresql://h:5432/db",
        "postgresql://u:hunter2@h/db?x=1",
        "postgresql://u:hunter2@/db", "postgresql://u:hunter2@h/",
        "postgresql://u:hunter2@h:abc/db",
    ])
    func configRejectsInvalidURL(url: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfig(url: url) }
        #expect(error.code == .invalidConfiguration)
        #expect(!error.description.contains("hunter2"))
        #expect(error.message.contains("invalid"))
    }

    @Test func configRejectsBadPoolSize() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConfig(url: "postgresql://u@h/db", poolSize: 0)
        }
        #expect(error.code == .invalidConfiguration)
    }

    // MARK: Values

    @Test func timestampTextParsingAndFormatting() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let expected = calendar.date(
            from: DateComponents(year: 2024, month: 2, day: 29, hour: 7, minute: 44, second: 15))!
            .addingTimeInterval(0.123456)
        let parsed = try #require(PostgresTimestamp.parse("2024-02-29 13:14:15.123456+05:30"))
        #expect(abs(parsed.timeIntervalSince(expected)) < 0.000_001)
        #expect(
            PostgresTimestamp.parse("1969-12-31 23:59:59.5+00") == Date(timeIntervalSince1970: -0.5)
        )
        #expect(
            PostgresTimestamp.parse("2024-01-01")
                == calendar.date(from: DateComponents(year: 2024, month: 1, day: 1)))
        for bad in [
            "infinity", "-infinity", "2024-02-30 00:00:00+00", "2023-02-29 00:00:00+00",
            "2024-01-01 00:00:00+00 BC", "2024-01-01 25:00:00+00", "", "2024-1-01",
            "2024-01-01 00:00:00.+00",
            "2024-01-01 00:00:00+0",
        ] {
            #expect(PostgresTimestamp.parse(bad) == nil, "\(bad)")
        }

        #expect(
            try Date(timeIntervalSince1970: 1_700_000_000.1234).postgresText()
                == "2023-11-14T22:13:20.123Z")
        #expect(
            try Date(timeIntervalSince1970: -0.001).postgresText() == "1969-12-31T23:59:59.999Z")
        // Proleptic Gregorian as PostgreSQL counts (Foundation's calendar is Julian before 1582).
        let yearOne = Date(timeIntervalSince1970: -62_135_596_800)
        #expect(try yearOne.postgresText() == "0001-01-01T00:00:00.000Z")
        for unbindable in [
            yearOne.addingTimeInterval(-1), Date(timeIntervalSince1970: 1e12),
            Date(timeIntervalSince1970: .nan),
        ] {
            let error = try #require(throws: PostgresError.self) { try unbindable.postgresText() }
            #expect(error.code == .invalidParameter)
        }
        for days: Int64 in [-719_468, -1, 0, 1, 59, 11_016, 2_932_896] {
            let (y, m, d) = PostgresTimestamp.civilDate(daysSince1970: days)
            #expect(PostgresTimestamp.daysSince1970(year: y, month: m, day: d) == days)
        }
    }

    @Test func byteaTextRejectsMalformedHex() {
        #expect([UInt8](postgresText: "\\x00ff10") == [0, 255, 16])
        #expect([UInt8](postgresText: "\\x") == [])
        #expect([UInt8](postgresText: "\\x0") == nil)
        #expect([UInt8](postgresText: "\\xzz") == nil)
        #expect([UInt8](postgresText: "00ff") == nil)
    }

    @Test func everyTypeRoundTripsIncludingNull() async throws {
        try await ScratchDatabase.with { _, pool in
            try await pool.execute(
                """
                CREATE TABLE everything (
                    id int PRIMARY KEY, s text, i bigint, i64 bigint, i32 int, b boolean,
                    d timestamptz, bytes bytea)
                """)
            let date = Date(timeIntervalSince1970: 1_700_000_000.123)
            let oldDate = Date(timeIntervalSince1970: -1_234_567.891)
            let bytes = [UInt8](0...255)
            let text = "Grüße 🎟️ 券 \"quoted\" \\ back"
            let insert: SQL =
                "INSERT INTO everything (id, s, i, i64, i32, b, d, bytes)"
                + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            let inserted = try await pool.execute(
                insert, [1, text, Int.min, Int64.max, Int32.min, true, date, bytes])
            #expect(inserted == 1)
            try await pool.execute(
                insert, [2, "", Int.max, Int64.min, Int32.max, false, oldDate, [UInt8]()])

            let noString: String? = nil
            let noInt: Int? = nil
            let noDate: Date? = nil
            let noBytes: [UInt8]? = nil
            try await pool.execute(
                insert, [3, noString, noInt, nil, Int32?.none, Bool?.none, noDate, noBytes])
            let someString: String? = "present"
            try await pool.execute(
                insert,
                [
                    4, someString, Int?(7), Int64?(8), Int32?(9), Bool?(true), Date?(date),
                    [UInt8]?([1]),
                ])

            let rows = try await pool.query("SELECT * FROM everything ORDER BY id")
            #expect(rows.count == 4)
            #expect(rows.columns == ["id", "s", "i", "i64", "i32", "b", "d", "bytes"])

            let first = rows[0]
            #expect(try first.decode("s", as: String.self) == text)
            #expect(try first.decode("i", as: Int.self) == Int.min)
            #expect(try first.decode("i64", as: Int64.self) == Int64.max)
            #expect(try first.decode("i32", as: Int32.self) == Int32.min)
            #expect(try first.decode("b", as: Bool.self) == true)
            #expect(milliseconds(try first.decode("d", as: Date.self)) == 1_700_000_000_123)
            #expect(try first.decode("bytes", as: [UInt8].self) == bytes)
            #expect(try first.decode("s", as: String?.self) == text)

            let second = rows[1]
            #expect(try second.decode("s", as: String.self) == "")
            #expect(try second.decode("i", as: Int.self) == Int.max)
            #expect(try second.decode("i64", as: Int64.self) == Int64.min)
            #expect(try second.decode("i32", as: Int32.self) == Int32.max)
            #expect(try second.decode("b", as: Bool.self) == false)
            #expect(milliseconds(try second.decode("d", as: Date.self)) == -1_234_567_891)
            #expect(try second.decode("bytes", as: [UInt8].self) == [])

            let third = rows[2]
            for column in 1..<8 { #expect(third.isNull(column)) }
            #expect(try third.decode("s", as: String?.self) == nil)
            #expect(try third.decode("i", as: Int?.self) == nil)
            #expect(try third.decode("i64", as: Int64?.self) == nil)
            #expect(try third.decode("i32", as: Int32?.self) == nil)
            #expect(try third.decode("b", as: Bool?.self) == nil)
            #expect(try third.decode("d", as: Date?.self) == nil)
            #expect(try third.decode("bytes", as: [UInt8]?.self) == nil)

            let fourth = rows[3]
            #expect(try fourth.decode(1, as: String?.self) == "present")
            #expect(try fourth.decode(2, as: Int?.self) == 7)
            #expect(try fourth.decode(3, as: Int64?.self) == 8)
            #expect(try fourth.decode(4, as: Int32?.self) == 9)
            #expect(try fourth.decode(5, as: Bool?.self) == true)
            #expect(try fourth.decode(6, as: Date?.self).map(milliseconds) == 1_700_000_000_123)
            #expect(try fourth.decode(7, as: [UInt8]?.self) == [1])

            // Text the server produces itself, in the session's UTC / ISO settings.
            let now = try #require(
                try await pool.query(
                    "SELECT now() AS now, '2024-02-29 13:14:15.5+05:30'::timestamptz AS fixed"
                ).first)
            #expect(abs(try now.decode("now", as: Date.self).timeIntervalSinceNow) < 60)
            #expect(milliseconds(try now.decode("fixed", as: Date.self)) == 1_709_192_655_500)
            let settings = try #require(
                try await pool.query(
                    "SELECT current_setting('TimeZone'), current_setting('DateStyle')"
                ).first)
            #expect(try settings.decode(0, as: String.self) == "UTC")
            #expect(try settings.decode(1, as: String.self).hasPrefix("ISO"))
        }
    }

    @Test func sqlMetacharactersAreStoredVerbatim() async throws {
        try await ScratchDatabase.with { _, pool in
            try await pool.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
            let hostile = [
                "'; DROP TABLE notes; --", "Robert'); DROP TABLE notes;--", "$1", "\\x00", "\\'",
                "\"notes\"",
                "%_", "E'\\n'", "';SELECT pg_sleep(10);--",
            ]
            for text in hostile {
                try await pool.execute("INSERT INTO notes (body) VALUES ($1)", [text])
            }
            let stored = try await pool.query("SELECT body FROM notes ORDER BY id").map {
                try $0.decode(0, as: String.self)
            }
            #expect(stored == hostile)
            let matched = try await pool.query(
                "SELECT count(*) FROM notes WHERE body = $1", ["'; DROP TABLE notes; --"])
            #expect(try matched[0].decode(0, as: Int.self) == 1)
        }
    }

    @Test func nulInTextParameterIsRefusedBeforeTheServer() async throws {
        try await ScratchDatabase.with { _, pool in
            let error = try await #require(throws: PostgresError.self) {
                try await pool.query("SELECT $1::text", [1, "a\u{0}b"])
            }
            #expect(error.code == .invalidParameter)
            #expect(error.message.contains("$2"))
        }
    }

    @Test func constraintViolationsCarryCodeAndConstraintName() async throws {
        try await ScratchDatabase.with { _, pool in
            try await pool.runScript(
                """
                CREATE TABLE templates (id int PRIMARY KEY);
                CREATE TABLE coupons (
                    code text NOT NULL,
                    amount_cents bigint NOT NULL,
                    template_id int,
                    CONSTRAINT coupons_code_key UNIQUE (code),
                    CONSTRAINT coupons_amount_positive CHECK (amount_cents > 0),
                    CONSTRAINT coupons_template_fk
                        FOREIGN KEY (template_id) REFERENCES templates (id));
                """)
            let insert: SQL = "INSERT INTO coupons (code, amount_cents, template_id) VALUES ($1, $2, $3)"
            try await pool.execute(insert, ["SAVE10", Int64(1000), nil])

            let unique = try await #require(throws: PostgresError.self) {
                try await pool.execute(insert, ["SAVE10", Int64(500), nil])
            }
            #expect(unique.code == .uniqueViolation)
            #expect(unique.sqlState == "23505")
            #expect(unique.constraint == "coupons_code_key")
            #expect(unique.table == "coupons")
            #expect(unique.query == insert.text)
            #expect(unique.detail?.contains("SAVE10") == true)
            #expect(!unique.description.contains("SAVE10"))

            let check = try await #require(throws: PostgresError.self) {
                try await pool.execute(insert, ["ZERO", Int64(0), nil])
            }
            #expect(check.code == .checkViolation)
            #expect(check.sqlState == "23514")
            #expect(check.constraint == "coupons_amount_positive")

            let foreignKey = try await #require(throws: PostgresError.self) {
                try await pool.execute(insert, ["ORPHAN", Int64(1), 42])
            }
            #expect(foreignKey.code == .foreignKeyViolation)
            #expect(foreignKey.constraint == "coupons_template_fk")

            let notNull = try await #require(throws: PostgresError.self) {
                try await pool.execute(insert, [nil, Int64(1), nil])
            }
            #expect(notNull.code == .notNullViolation)
            #expect(notNull.column == "code")

            let syntax = try await #require(throws: PostgresError.self) {
                try await pool.query("SELEKT 1")
            }
            #expect(syntax.code == .queryFailed)
            #expect(syntax.sqlState == "42601")

            // The pool keeps working after failures.
            #expect(
                try await pool.query("SELECT count(*) FROM coupons")[0].decode(0, as: Int.self) == 1
            )
        }
    }

    @Test func decodingProblemsThrowInsteadOfTrapping() async throws {
        try await ScratchDatabase.with { _, pool in
            let row = try #require(
                try await pool.query(
                    "SELECT NULL::int AS missing, 'abc' AS word, 5000000000::bigint AS big,"
                        + " 12.50::numeric AS price"
                ).first)
            let null = try #require(throws: PostgresError.self) {
                try row.decode("missing", as: Int.self)
            }
            #expect(null.code == .decodingFailed)
            #expect(null.column == "missing")
            #expect(null.message.contains("NULL"))
            #expect(try row.decode("missing", as: Int?.self) == nil)

            let word = try #require(throws: PostgresError.self) {
                try row.decode("word", as: Int.self)
            }
            #expect(word.code == .decodingFailed)
            #expect(word.column == "word")
            #expect(!word.description.contains("abc"))

            #expect(throws: PostgresError.self) { try row.decode("big", as: Int32.self) }
            #expect(try row.decode("big", as: Int64.self) == 5_000_000_000)
            // Money is never read through a fractional type.
            #expect(throws: PostgresError.self) { try row.decode("price", as: Int64.self) }
            #expect(throws: PostgresError.self) { try row.decode("word", as: Bool.self) }
            #expect(throws: PostgresError.self) { try row.decode("word", as: Date.self) }
            #expect(throws: PostgresError.self) { try row.decode("word", as: [UInt8].self) }
            let outOfRange = try #require(throws: PostgresError.self) {
                try row.decode(9, as: String.self)
            }
            #expect(outOfRange.code == .decodingFailed)
            let unknown = try #require(throws: PostgresError.self) {
                try row.decode("nope", as: String.self)
            }
            #expect(unknown.code == .decodingFailed)
            #expect(unknown.column == "nope")
        }
    }

    // MARK: Transactions

    @Test func transactionRollsBackWhenBodyThrows() async throws {
        try await ScratchDatabase.with { _, pool in
            try await pool.execute(
                "CREATE TABLE ledger (id int PRIMARY KEY, amount_cents bigint NOT NULL)")
            await #expect(throws: Boom.self) {
                try await pool.transaction { tx in
                    try await tx.execute("INSERT INTO ledger VALUES ($1, $2)", [1, Int64(100)])
                    try await tx.execute("INSERT INTO ledger VALUES ($1, $2)", [2, Int64(200)])
                    throw Boom()
                }
            }
            #expect(
                try await pool.query("SELECT count(*) FROM ledger")[0].decode(0, as: Int.self) == 0)

            // A body that swallows a failed statement cannot commit the rest.
            let swallowed = try await #require(throws: PostgresError.self) {
                try await pool.transaction { tx in
                    try await tx.execute("INSERT INTO ledger VALUES ($1, $2)", [3, Int64(300)])
                    _ = try? await tx.execute(
                        "INSERT INTO ledger VALUES ($1, $2)", [3, Int64(300)])
                }
            }
            #expect(swallowed.code == .uniqueViolation)
            #expect(
                try await pool.query("SELECT count(*) FROM ledger")[0].decode(0, as: Int.self) == 0)

            // The committed path, returning a value; the escaped transaction is refused later.
            let (sum, escaped) = try await pool.transaction(isolation: .repeatableRead) { tx in
                try await tx.execute("INSERT INTO ledger VALUES ($1, $2)", [4, Int64(400)])
                let sum = try await tx.query("SELECT sum(amount_cents)::bigint FROM ledger")[0]
                    .decode(0, as: Int64.self)
                return (sum, tx)
            }
            #expect(sum == 400)
            let released = try await #require(throws: PostgresError.self) {
                try await escaped.query("SELECT 1")
            }
            #expect(released.code == .connectionReleased)
            #expect(
                try await pool.query("SELECT count(*) FROM ledger")[0].decode(0, as: Int.self) == 1)
        }
    }

    @Test func serializationFailureIsRetried() async throws {
        try await ScratchDatabase.with { _, pool in
            try await pool.execute("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
            try await pool.execute("INSERT INTO counters VALUES (1, 0)")

            // Both first attempts read n before either writes: one of them must lose.
            let attempts = Counter()
            let bothRead = Rendezvous(parties: 2)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await pool.transaction(isolation: .serializable) { tx in
                            let attempt = await attempts.increment()
                            let n = try await tx.query("SELECT n FROM counters WHERE id = 1")[0]
                                .decode(0, as: Int.self)
                            if attempt <= 2 { await bothRead.arriveAndWait() }
                            try await tx.execute("UPDATE counters SET n = $1 WHERE id = 1", [n + 1])
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(await attempts.value == 3)
            #expect(
                try await pool.query("SELECT n FROM counters WHERE id = 1")[0].decode(
                    0, as: Int.self) == 2)

            // Without retries the loser sees the failure.
            let meetAgain = Rendezvous(parties: 2)
            let outcomes = await withTaskGroup(of: PostgresError?.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        do {
                            try await pool.transaction(isolation: .serializable, maxAttempts: 1) {
                                tx in
                                let n = try await tx.query("SELECT n FROM counters WHERE id = 1")[0]
                                    .decode(0, as: Int.self)
                                await meetAgain.arriveAndWait()
                                try await tx.execute(
                                    "UPDATE counters SET n = $1 WHERE id = 1", [n + 1])
                            }
                            return nil
                        } catch {
                            return error as? PostgresError
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let failures = outcomes.compactMap { $0 }
            #expect(failures.count == 1)
            #expect(failures.first?.code == .serializationFailure)
            #expect(failures.first?.sqlState == "40001")
            #expect(
                try await pool.query("SELECT n FROM counters WHERE id = 1")[0].decode(
                    0, as: Int.self) == 3)
        }
    }

    // MARK: Pool

    @Test func poolServesManyMoreTasksThanConnections() async throws {
        try await ScratchDatabase.with(poolSize: 4) { _, pool in
            let results = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let rows = try await pool.query(
                            "SELECT $1::int AS n, pg_backend_pid() AS pid, pg_sleep(0.01)", [index])
                        let row = rows[0]
                        return (
                            try row.decode("n", as: Int.self), try row.decode("pid", as: Int32.self)
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.map(\.0).sorted() == Array(0..<50))
            let backends = Set(results.map(\.1))
            #expect(backends.count >= 1 && backends.count <= 4)
            let sessions = try await pool.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")[0]
                .decode(0, as: Int.self)
            #expect(sessions <= 4)
        }
    }

    @Test func cancelledWaiterStopsWaiting() async throws {
        try await ScratchDatabase.with(poolSize: 1) { _, pool in
            try await pool.withConnection { connection in
                let waiter = Task { try await pool.query("SELECT 1") }
                try await Task.sleep(for: .milliseconds(100))
                waiter.cancel()
                let result = await waiter.result
                #expect(throws: CancellationError.self) { try result.get() }
                #expect(try await connection.query("SELECT 2")[0].decode(0, as: Int.self) == 2)
            }
            #expect(try await pool.query("SELECT 3")[0].decode(0, as: Int.self) == 3)
        }
    }

    @Test func connectionIsReplacedAfterBackendDies() async throws {
        try await ScratchDatabase.with(poolSize: 1) { config, pool in
            let firstPID = try await pool.query("SELECT pg_backend_pid()")[0].decode(
                0, as: Int.self)
            let killer = PostgresPool(config: config)
            #expect(
                try await killer.query("SELECT pg_terminate_backend($1)", [firstPID])[0].decode(
                    0, as: Bool.self))
            try await Patience.waitUntil("backend \(firstPID) gone") {
                let alive = try await killer.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [firstPID])
                return try alive[0].decode(0, as: Int.self) == 0
            }
            let secondPID = try await pool.query("SELECT pg_backend_pid()")[0].decode(
                0, as: Int.self)
            #expect(secondPID != firstPID)
            await killer.close()
        }
    }

    @Test func closedPoolRefusesWorkAndUsedConnectionIsReleased() async throws {
        try await ScratchDatabase.with { config, pool in
            let escaped = try await pool.withConnection { $0 }
            let released = try await #require(throws: PostgresError.self) {
                try await escaped.query("SELECT 1")
            }
            #expect(released.code == .connectionReleased)

            let other = PostgresPool(config: config)
            try await other.connect()
            await other.close()
            let closed = try await #require(throws: PostgresError.self) {
                try await other.query("SELECT 1")
            }
            #expect(closed.code == .poolClosed)
        }
    }

    @Test func unreachableServerIsConnectionFailed() async throws {
        // Port 1 on loopback: nothing listens there.
        let pool = PostgresPool(
            config: try PostgresConfig(url: "postgresql://postgres@127.0.0.1:1/postgres"))
        let error = try await #require(throws: PostgresError.self) { try await pool.connect() }
        #expect(error.code == .connectionFailed)
        await pool.close()
    }

    @Test func runScriptReportsFirstErrorAndLeavesConnectionUsable() async throws {
        try await ScratchDatabase.with(poolSize: 1) { _, pool in
            try await pool.runScript(
                "CREATE TABLE a (x int); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);")
            let error = try await #require(throws: PostgresError.self) {
                try await pool.runScript(
                    "INSERT INTO a VALUES (3); SELECT * FROM missing_table;"
                        + " INSERT INTO a VALUES (4);"
                )
            }
            #expect(error.sqlState == "42P01")
            // A multi-statement simple query is one implicit transaction: insert 3 is undone.
            #expect(try await pool.query("SELECT count(*) FROM a")[0].decode(0, as: Int.self) == 2)
        }
    }

    // MARK: Migrations

    static let migrations = [
        Migration(
            version: 1, name: "create_templates",
            sql: """
                CREATE TABLE templates (id bigserial PRIMARY KEY, name text NOT NULL);
                CREATE INDEX templates_name ON templates (name);
                """),
        Migration(
            version: 2, name: "seed_template",
            sql: "INSERT INTO templates (name) VALUES ('welcome');"),
        Migration(
            version: 5, name: "add_value",
            sql: """
                ALTER TABLE templates ADD COLUMN value_cents bigint NOT NULL DEFAULT 0;
                UPDATE templates SET value_cents = 500;
                """),
    ]

    @Test func migrationsApplyOnce() async throws {
        try await ScratchDatabase.with { _, pool in
            #expect(try await PostgresMigrator.apply(Self.migrations, to: pool) == [1, 2, 5])
            #expect(try await PostgresMigrator.apply(Self.migrations, to: pool) == [])
            let rows = try await pool.query(
                "SELECT version, name FROM schema_migrations ORDER BY version")
            #expect(try rows.map { try $0.decode(0, as: Int.self) } == [1, 2, 5])
            #expect(
                try rows.map { try $0.decode(1, as: String.self) } == [
                    "create_templates", "seed_template", "add_value",
                ])
            #expect(
                try await pool.query("SELECT count(*), sum(value_cents)::bigint FROM templates")[0]
                    .decode(1, as: Int64.self) == 500)

            let more =
                Self.migrations + [
                    Migration(version: 6, name: "more", sql: "CREATE TABLE more (x int);")
                ]
            #expect(try await PostgresMigrator.apply(more, to: pool) == [6])

            let renamed = [
                Migration(version: 1, name: "other_name", sql: "SELECT 1;"),
                Migration(version: 7, name: "never", sql: "CREATE TABLE never (x int);"),
            ]
            let mismatch = try await #require(throws: PostgresError.self) {
                try await PostgresMigrator.apply(renamed, to: pool)
            }
            #expect(mismatch.code == .migrationMismatch)
            #expect(
                try await pool.query("SELECT to_regclass('never') IS NULL")[0].decode(
                    0, as: Bool.self))
        }
    }

    @Test func failingMigrationLeavesNothingBehind() async throws {
        try await ScratchDatabase.with { _, pool in
            let broken = [
                Migration(version: 1, name: "good", sql: "CREATE TABLE good (x int);"),
                Migration(
                    version: 2, name: "bad",
                    sql: "CREATE TABLE half (x int); SELECT * FROM nowhere;"),
            ]
            let error = try await #require(throws: PostgresError.self) {
                try await PostgresMigrator.apply(broken, to: pool)
            }
            #expect(error.sqlState == "42P01")
            let state = try await pool.query(
                "SELECT to_regclass('good') IS NOT NULL, to_regclass('half') IS NULL,"
                    + " (SELECT array_agg(version)::text FROM schema_migrations)"
            )[0]
            #expect(try state.decode(0, as: Bool.self))
            #expect(try state.decode(1, as: Bool.self))
            #expect(try state.decode(2, as: String.self) == "{1}")
        }
    }

    @Test func concurrentMigratorsApplyEachVersionExactlyOnce() async throws {
        try await ScratchDatabase.with { config, pool in
            let pools = (0..<4).map { _ in PostgresPool(config: config) }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for each in pools {
                    group.addTask { try await PostgresMigrator.apply(Self.migrations, to: each) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            for each in pools { await each.close() }
            #expect(applied.sorted() == [1, 2, 5])
            #expect(
                try await pool.query("SELECT count(*) FROM templates")[0].decode(0, as: Int.self)
                    == 1)
            #expect(
                try await pool.query("SELECT count(*) FROM schema_migrations")[0].decode(
                    0, as: Int.self) == 3)
        }
    }

    @Test(arguments: [[2, 1], [1, 1], [1, 3, 2]])
    func badMigrationOrderIsRejectedBeforeTouchingTheDatabase(versions: [Int]) async throws {
        try await ScratchDatabase.with { _, pool in
            let list = versions.map {
                Migration(version: $0, name: "m\($0)", sql: "CREATE TABLE t\($0) (x int);")
            }
            let error = try await #require(throws: PostgresError.self) {
                try await PostgresMigrator.apply(list, to: pool)
            }
            #expect(error.code == .invalidMigrations)
            #expect(
                try await pool.query("SELECT to_regclass('schema_migrations') IS NULL")[0].decode(
                    0, as: Bool.self))
        }
    }
}
