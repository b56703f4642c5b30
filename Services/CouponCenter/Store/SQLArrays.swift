import Postgres
import Wire

/// Text arrays travel as JSON both ways: bound as JSON text, read back with `array_to_json`.
enum SQLArrays {
    static func json(_ values: [String]) -> String { JSONValue.array(values.map { .string($0) }).serialized() }

    static func strings(_ row: PostgresRow, _ column: String) throws -> [String] {
        guard case .array(let values) = try JSONParser.parse(Array(try row.decode(column, as: String.self).utf8)) else {
            throw ServiceError(.internalError, "\(column): not a JSON array")
        }
        return try values.map { value in
            guard case .string(let text) = value else { throw ServiceError(.internalError, "\(column): an element is not text") }
            return text
        }
    }
}
