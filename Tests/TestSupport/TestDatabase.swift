import Foundation
import Postgres

/// A fresh, empty database on the PostgreSQL server Deploy/test started (TEST_DATABASE_URL), so
/// suites run in parallel without seeing each other's rows. Dropped by `drop()`.
public struct TestDatabase: Sendable {
    public let name: String
    public let url: String
    private let adminURL: String

    public static func create(prefix: String = "t") async throws -> TestDatabase {
        let adminURL = try requiredEnvironment("TEST_DATABASE_URL")
        var generator = SystemRandomNumberGenerator()
        // The one identifier built from text: a fixed prefix and hex digits, validated below,
        // because CREATE DATABASE cannot take its name as a parameter.
        let name = "\(prefix)_\(String(generator.next(), radix: 16))"
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw TestFailure("bad generated database name \(name)")
        }
        let admin = PostgresPool(config: try PostgresConfig(url: adminURL, poolSize: 1))
        do {
            try await admin.execute("CREATE DATABASE " + SQL.identifier(name))
            await admin.close()
        } catch {
            await admin.close()
            throw error
        }
        guard let slash = adminURL.lastIndex(of: "/") else { throw TestFailure("TEST_DATABASE_URL has no database part") }
        return TestDatabase(name: name, url: adminURL[..<slash] + "/" + name, adminURL: adminURL)
    }

    public func pool(size: Int = 4) throws -> PostgresPool {
        PostgresPool(config: try PostgresConfig(url: url, poolSize: size))
    }

    /// A fresh database and a pool on it for `body`; the pool is closed and the database dropped
    /// afterwards whether or not `body` throws.
    public static func withFresh<Result>(
        prefix: String, poolSize: Int = 2, _ body: (TestDatabase, PostgresPool) async throws -> Result
    ) async throws -> Result {
        let database = try await create(prefix: prefix)
        let outcome: Swift.Result<Result, any Error>
        do {
            let pool = try database.pool(size: poolSize)
            do {
                outcome = .success(try await body(database, pool))
            } catch {
                outcome = .failure(error)
            }
            await pool.close()
        } catch {
            outcome = .failure(error)
        }
        await database.drop()
        return try outcome.get()
    }

    public func drop() async {
        guard let admin = try? PostgresPool(config: PostgresConfig(url: adminURL, poolSize: 1)) else { return }
        _ = try? await admin.execute("DROP DATABASE IF EXISTS " + SQL.identifier(name) + " WITH (FORCE)")
        await admin.close()
    }
}
