import Postgres
import ServiceKit
import Wire

/// A failure belongs to its item: a group-commit batch that PostgreSQL refuses because of what one
/// item holds (a value the schema refuses, a constraint) is written again item by item, so that the
/// item at fault fails alone and the others are answered normally. A failure of the database itself
/// (connection lost, shutting down, timeout) fails the batch, as it would fail each item alone.
enum ItemIsolation {
    /// Runs `write` over the whole batch; when it fails for the data, over each item alone.
    static func write<Item: Sendable, Output: Sendable>(
        _ batch: [Item], what: String, logger: Logger, _ write: @Sendable ([Item]) async throws -> [Output]
    ) async -> [Result<Output, any Error>] {
        do {
            return try await write(batch).map { .success($0) }
        } catch let error as PostgresError where error.refusesValues && batch.count > 1 {
            logger.warning(
                "\(what) batch refused for its data; writing each alone", [("batch.size", String(batch.count)), ("error", error.description)])
            var results: [Result<Output, any Error>] = []
            for item in batch {
                do {
                    results.append(.success(try await write([item])[0]))
                } catch {
                    results.append(.failure(answer(for: error, what: what, logger: logger)))
                }
            }
            return results
        } catch {
            let failure = answer(for: error, what: what, logger: logger)
            return batch.map { _ in .failure(failure) }
        }
    }

    /// What the caller of one item hears; the database's own text goes to the log only.
    static func answer(for error: any Error, what: String, logger: Logger) -> any Error {
        switch error {
        case let error as ServiceError:
            return error
        case let error as PostgresError where error.code == .uniqueViolation:
            // A key stored meanwhile (a retry racing its first attempt): the caller knows what
            // its keys mean and answers as the first attempt was answered.
            return error
        case let error as PostgresError where error.refusesValues:
            logger.warning("\(what) refused by PostgreSQL", [("error", error.description)])
            return ServiceError(.invalidArgument, "the \(what) holds a value the database refuses")
        case let error as PostgresError where error.isTransientTransactionFailure:
            logger.warning("\(what) not written", [("error", error.description)])
            return ServiceError(.dependencyUnavailable, "PostgreSQL could not write the \(what) now; retry with the same request id")
        default:
            logger.warning("\(what) not written", [("error", "\(error)")])
            return ServiceError(.dependencyUnavailable, "PostgreSQL did not take the \(what)")
        }
    }
}
