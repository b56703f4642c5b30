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
        try decode(try position(of: name), as: type)
    }

    /// Decodes a text column into an enum of known values, and throws when the text is none of
    /// them: a value the code does not know (written by a newer binary, or by hand) is reported, not
    /// silently read as some default case. Unlike other decoding errors this one quotes the text,
    /// because a column decoded this way holds one of a few fixed codes, not personal data.
    public func decode<Value: RawRepresentable>(_ column: Int, as type: Value.Type = Value.self) throws -> Value
    where Value.RawValue == String {
        let text = try decode(column, as: String.self)
        guard let value = Value(rawValue: text) else {
            let name = columnIndex.names[column]
            throw PostgresError(
                code: .decodingFailed,
                message: "column \"\(name)\" holds \"\(text)\", which is not a known \(Value.self)", column: name)
        }
        return value
    }

    /// As `decode(_:as:)` by position, for the first column with this name.
    public func decode<Value: RawRepresentable>(_ name: String, as type: Value.Type = Value.self) throws -> Value
    where Value.RawValue == String {
        try decode(try position(of: name), as: type)
    }

    private func position(of name: String) throws -> Int {
        guard let position = columnIndex.positions[name] else {
            throw PostgresError(
                code: .decodingFailed,
                message: "no column named \"\(name)\"; the row has \(columnIndex.names)",
                column: name)
        }
        return position
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
