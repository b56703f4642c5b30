import Foundation
import Postgres
import Risk
import ServiceKit
import TestSupport
import Testing
import Wire

/// risk-control's audit writer against a real PostgreSQL: a row the database refuses is kept in
/// the dead-letter table and never blocks the rows after it; a failure that is not about the rows
/// keeps them queued.
@Suite(.serialized)
struct AuditWriterTests {
    /// A fresh database, migrated unless `migrated` is false, for `body`; dropped afterwards.
    func withDatabase(migrated: Bool = true, _ body: (PostgresPool) async throws -> Void) async throws {
        let database = try await TestDatabase.create(prefix: "audit")
        let pool = try database.pool(size: 2)
        do {
            if migrated { _ = try await PostgresMigrator.apply(try SourceMigrations.riskControl(), to: pool) }
            try await body(pool)
        } catch {
            await pool.close()
            await database.drop()
            throw error
        }
        await pool.close()
        await database.drop()
    }

    static func entry(_ user: String, device: String? = "phone", at milliseconds: Int64 = 1_699_923_600_000) -> AuditWriter.Entry {
        AuditWriter.Entry(
            request: RiskDecisionRequest(
                action: .claim, userId: user, deviceId: device, ip: "203.0.113.5", templateId: "T1", couponType: .cash, amountCents: 500),
            decision: RiskDecision(verdict: .allow, score: 0, reasons: []), atMilliseconds: milliseconds)
    }

    static func users(_ pool: PostgresPool) async throws -> [String] {
        try await pool.query("SELECT user_id FROM risk_audit ORDER BY id", []).map { try $0.decode(0) }
    }

    static func deadLetters(_ pool: PostgresPool) async throws -> [(payload: String, state: String?)] {
        try await pool.query("SELECT convert_from(payload, 'UTF8'), sql_state FROM risk_audit_dead_letter ORDER BY id", []).map {
            (try $0.decode(0), try $0.decode(1))
        }
    }

    @Test func aRefusedRowIsDeadLetteredAndTheRowsAroundItAreWritten() async throws {
        try await withDatabase { pool in
            let metrics = Metrics()
            let writer = AuditWriter(database: pool, metrics: metrics, logger: Logger(service: "audit-test", level: .error))
            // What risk-control's own validation now refuses, built directly: PostgreSQL refuses
            // a U+0000 in text (jsonb: "\u0000 cannot be converted to text").
            let good = (0..<40).map { "good-\($0)" }
            for user in good[..<17] { writer.record(Self.entry(user)) }
            writer.record(Self.entry("poison", device: "nul\u{0}device"))
            for user in good[17...] { writer.record(Self.entry(user)) }

            #expect(await writer.flush() == 40)
            #expect(try await Self.users(pool) == good, "every good row, in order")
            let letters = try await Self.deadLetters(pool)
            try #require(letters.count == 1)
            #expect(letters[0].payload.contains(#""device_id":"nul\u0000device""#), "\(letters[0].payload)")
            #expect(letters[0].payload.contains(#""user_id":"poison""#))
            #expect(letters[0].state?.hasPrefix("22") == true, "\(letters[0].state ?? "no SQLSTATE")")
            #expect(metrics.counter("risk_audit_dead_letters_total") == 1)
            #expect(metrics.counter("risk_audit_written_total") == 40)

            // Later decisions keep being written, a poisoned batch or not.
            for round in 0..<3 {
                for index in 0..<10 { writer.record(Self.entry("later-\(round)-\(index)")) }
                #expect(await writer.flush() == 10)
                #expect(try await Self.users(pool).count == 40 + 10 * (round + 1))
            }
            #expect(await writer.flush() == 0, "nothing left queued")
            #expect(metrics.counter("risk_audit_dead_letters_total") == 1)
        }
    }

    @Test func manyRefusedRowsEachFailAlone() async throws {
        try await withDatabase { pool async throws in
            let metrics = Metrics()
            let writer = AuditWriter(database: pool, metrics: metrics, logger: Logger(service: "audit-test", level: .error))
            var expected: [String] = []
            for index in 0..<300 {
                // Refused: the first, the last and every 37th row, alone or next to each other.
                if index == 0 || index == 299 || index % 37 == 0 || index == 38 {
                    writer.record(Self.entry("bad\u{0}\(index)"))
                } else {
                    writer.record(Self.entry("row-\(index)"))
                    expected.append("row-\(index)")
                }
            }
            let refused = 300 - expected.count
            #expect(await writer.flush() == expected.count)
            #expect(try await Self.users(pool) == expected)
            #expect(try await Self.deadLetters(pool).count == refused)
            #expect(metrics.counter("risk_audit_dead_letters_total") == Int64(refused))
        }
    }

    @Test func anIndexRowTooLargeIsDeadLetteredToo() async throws {
        try await withDatabase { pool in
            let metrics = Metrics()
            let writer = AuditWriter(database: pool, metrics: metrics, logger: Logger(service: "audit-test", level: .error))
            // 8,000 random hex digits barely compress: too large for risk_audit's btree index on
            // user_id (SQLSTATE 54000), a refusal with no NUL in sight.
            var generator = SystemRandomNumberGenerator()
            let huge = (0..<500).map { _ in String(generator.next() | 1 << 63, radix: 16) }.joined()
            writer.record(Self.entry("before"))
            writer.record(Self.entry(huge))
            writer.record(Self.entry("after"))
            #expect(await writer.flush() == 2)
            #expect(try await Self.users(pool) == ["before", "after"])
            let letters = try await Self.deadLetters(pool)
            #expect(letters.map(\.state) == ["54000"])
            #expect(letters.first?.payload.contains(huge) == true)
            #expect(metrics.counter("risk_audit_dead_letters_total") == 1)
        }
    }

    @Test func aFailureThatIsNotAboutTheRowsKeepsThemQueued() async throws {
        // No tables yet: PostgreSQL refuses the statement (undefined table, SQLSTATE 42P01),
        // which says nothing about the rows, so nothing is dead-lettered or lost.
        try await withDatabase(migrated: false) { pool in
            let metrics = Metrics()
            let writer = AuditWriter(database: pool, metrics: metrics, logger: Logger(service: "audit-test", level: .error))
            for index in 0..<25 { writer.record(Self.entry("kept-\(index)")) }
            #expect(await writer.flush() == 0)
            #expect(await writer.flush() == 0, "still queued, still not written")
            #expect(metrics.counter("risk_audit_dead_letters_total") == 0)

            _ = try await PostgresMigrator.apply(try SourceMigrations.riskControl(), to: pool)
            #expect(await writer.flush() == 25)
            #expect(try await Self.users(pool) == (0..<25).map { "kept-\($0)" })
            #expect(try await Self.deadLetters(pool).isEmpty)
        }
    }

    @Test func refusalsOfDataAreToldFromOtherFailures() {
        func error(_ code: PostgresError.Code, _ state: String?) -> PostgresError { PostgresError(code: code, message: "m", sqlState: state) }
        #expect(error(.queryFailed, "22P05").refusesValues)
        #expect(error(.queryFailed, "22001").refusesValues)
        #expect(error(.checkViolation, "23514").refusesValues)
        #expect(error(.notNullViolation, "23502").refusesValues)
        #expect(error(.queryFailed, "54000").refusesValues)
        #expect(error(.invalidParameter, nil).refusesValues)
        #expect(!error(.connectionFailed, nil).refusesValues)
        #expect(!error(.connectionFailed, "08006").refusesValues)
        #expect(!error(.connectionFailed, "57P01").refusesValues)
        #expect(!error(.timeout, "57014").refusesValues)
        #expect(!error(.queryFailed, "42P01").refusesValues)
        #expect(!error(.poolClosed, nil).refusesValues)
    }
}
