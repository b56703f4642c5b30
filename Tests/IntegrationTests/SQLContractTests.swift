import Postgres
import TestSupport
import Testing

/// The statement-text rails of the Postgres module, against the server: enum columns decode
/// strictly, identifiers are quoted so that any text stays one name.
@Suite struct SQLContractTests {
    enum Status: String {
        case unused = "UNUSED"
        case used = "USED"
    }

    @Test func knownEnumTextDecodesAndUnknownTextThrowsNamingColumnAndValue() async throws {
        try await TestDatabase.withFresh(prefix: "sqlcontract", poolSize: 1) { _, pool in
            let row = try #require(try await pool.query("SELECT 'USED'::text AS status, 'LOST'::text AS other").first)
            #expect(try row.decode("status", as: Status.self) == .used)
            #expect(try row.decode(0, as: Status.self) == .used)
            let error = try #require(throws: PostgresError.self) { try row.decode("other", as: Status.self) }
            #expect(error.code == .decodingFailed)
            #expect(error.column == "other")
            #expect(error.message.contains("\"LOST\""), "the unknown value is named: \(error.message)")
            let missing = try #require(throws: PostgresError.self) { try row.decode("absent", as: Status.self) }
            #expect(missing.code == .decodingFailed)
        }
    }

    @Test func identifierKeepsAnyTextOneName() async throws {
        try await TestDatabase.withFresh(prefix: "sqlcontract", poolSize: 1) { _, pool in
            let name = #"odd "name"; DROP TABLE x"#
            try await pool.execute("CREATE TABLE " + SQL.identifier(name) + " (id integer)")
            let rows = try await pool.query("SELECT relname FROM pg_class WHERE relname = $1", [name])
            #expect(try rows.map { try $0.decode(0, as: String.self) } == [name])
            #expect(throws: PostgresError.self) { try SQL.identifier("") }
            #expect(throws: PostgresError.self) { try SQL.identifier("a\u{0}b") }
        }
    }

    @Test func fragmentsJoinExactlyAsWritten() {
        let columns: SQL = "id, name"
        #expect(("SELECT " + columns + " FROM t").text == "SELECT id, name FROM t")
    }
}
