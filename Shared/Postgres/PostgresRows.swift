/// The result of one statement, fully read into memory before the connection is handed back.
public struct PostgresRows: RandomAccessCollection, Sendable {
    public let rows: [PostgresRow]
    /// Column names in result order.
    public var columns: [String] { columnIndex.names }
    /// Rows inserted, updated, deleted, selected, ... as the server's command tag reports it;
    /// 0 for commands that report no count.
    public let affectedRows: Int
    /// The server's command tag, e.g. `INSERT 0 1`, `UPDATE 3`, `COMMIT`.
    public let commandTag: String

    private let columnIndex: PostgresColumnIndex

    init(
        columnIndex: PostgresColumnIndex, rows: [PostgresRow], affectedRows: Int, commandTag: String
    ) {
        self.columnIndex = columnIndex
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }
}

/// One result row. Values are the server's text; decoding happens on demand and throws
/// `decodingFailed` (naming the column) rather than trapping.
public struct PostgresRow: Sendable {
    private let columnIndex: PostgresColumnIndex
    private let values: [String?]

    init(columnIndex: PostgresColumnIndex, values: [String?]) {
        self.columnIndex = columnIndex
        self.values = values
    }

    public var columns: [String] { columnIndex.names }

    /// Decodes the value at a zero-based column position.
    public func decode<Value: PostgresDecodable>(_ column: Int, as type: Value.Type = Value.self)
        throws -> Value
    {
        guard values.indices.contains(column) else {
            throw PostgresError(
                code: .decodingFailed,
                message: "no column at position \(column); the row has \(values.count)")
        }
        let name = columnIndex.names[column]
        guard let text = values[column] else {
            guard let nullValue = Value.postgresNullValue else {
                throw PostgresError(
                    code: .decodingFailed,
                    message:
                        "column \"\(name)\" is NULL but \(Value.self) cannot hold NULL;"
                        + " decode as Optional",
                    column: name)
            }
            return nullValue
        }
        guard let value = Value(postgresText: text) else {
            // The text itself stays out of the error: it may be personal data.
            throw PostgresError(
                code: .decodingFailed,
                message: "column \"\(name)\" holds text that is not a valid \(Value.self)",
                column: name)
        }
        return value
    }

    /// Decodes the value of the first column with this name (names are case-sensitive, as the
    /// server returns them: unquoted identifiers are lower case).
    public func decode<Value: PostgresDecodable>(_ name: String, as type: Value.Type = Value.self)
        throws -> Value
    {
        guard let position = columnIndex.positions[name] else {
            throw PostgresError(
                code: .decodingFailed,
                message: "no column named \"\(name)\"; the row has \(columnIndex.names)",
                column: name)
        }
        return try decode(position, as: type)
    }

    /// True when the value is SQL NULL; false also for a position out of range.
    public func isNull(_ column: Int) -> Bool {
        values.indices.contains(column) && values[column] == nil
    }
}

/// Column names shared by every row of one result.
final class PostgresColumnIndex: Sendable {
    let names: [String]
    let positions: [String: Int]

    init(names: [String]) {
        self.names = names
        var positions: [String: Int] = [:]
        for (position, name) in names.enumerated() where positions[name] == nil {
            positions[name] = position
        }
        self.positions = positions
    }
}
