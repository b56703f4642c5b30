import Postgres
import Testing

/// libpq's multi-host URL form and `target_session_attrs`, which is how coupon-center follows a
/// Patroni failover: pure parsing, no server needed.
@Suite("PostgresMultiHostConfig")
struct PostgresMultiHostConfigTests {
    @Test func parsesEveryHostWithItsPortAndTheSessionAttributes() throws {
        let config = try PostgresConfig(
            url: "postgresql://coupon:pa%2Css@db1.internal:6001,[fd00::2]:6002,db3/coupons?target_session_attrs=read-write")
        #expect(
            config.endpoints == [
                PostgresEndpoint(host: "db1.internal", port: 6001), PostgresEndpoint(host: "fd00::2", port: 6002),
                PostgresEndpoint(host: "db3", port: 5432),
            ])
        #expect(config.host == "db1.internal")
        #expect(config.port == 6001)
        #expect(config.password == "pa,ss")
        #expect(config.database == "coupons")
        #expect(config.targetSessionAttributes == "read-write")
        #expect(
            config.description.hasPrefix("postgresql://coupon:***@db1.internal:6001,[fd00::2]:6002,db3:5432/coupons?target_session_attrs=read-write"))
        #expect(!config.description.contains("pa,ss"))
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains("pa,ss"))
    }

    @Test func singleHostKeepsLibpqDefaults() throws {
        let config = try PostgresConfig(url: "postgres://app@localhost/x")
        #expect(config.endpoints == [PostgresEndpoint(host: "localhost", port: 5432)])
        #expect(config.targetSessionAttributes == nil)
        #expect(!config.description.contains("target_session_attrs"))
    }

    @Test(arguments: ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"])
    func acceptsEachSessionAttributeOfLibpq15(value: String) throws {
        let config = try PostgresConfig(url: "postgresql://u@h1,h2/db?target_session_attrs=\(value)")
        #expect(config.targetSessionAttributes == value)
        #expect(config.endpoints.count == 2)
    }

    @Test(arguments: [
        "postgresql://u:hunter2@h1,/db", "postgresql://u:hunter2@,h2/db", "postgresql://u:hunter2@h1,,h2/db",
        "postgresql://u:hunter2@h1:5432,h2:0/db", "postgresql://u:hunter2@h1,[::1/db", "postgresql://u:hunter2@h1,[::1]x/db",
        "postgresql://u:hunter2@h1,h2:port/db", "postgresql://u:hunter2@h1,h2/db?target_session_attrs=writable",
        "postgresql://u:hunter2@h1,h2/db?target_session_attrs=",
    ])
    func refusesBadHostListsWithoutEchoingThePassword(url: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfig(url: url) }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("invalid"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test func refusesAHostThatWouldSplitLibpqsList() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConfig(endpoints: [PostgresEndpoint(host: "a,b")], user: "u", password: "hunter2", database: "db")
        }
        #expect(error.message.contains("comma"))
        #expect(!error.description.contains("hunter2"))
        #expect(throws: PostgresError.self) { try PostgresConfig(endpoints: [], user: "u", database: "db") }
    }
}
