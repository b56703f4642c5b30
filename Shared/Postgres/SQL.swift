/// The text of one SQL statement, as written in the source.
///
/// `SQL` can be written as a string literal but deliberately not as an interpolated one, so
/// `"SELECT * FROM t WHERE id = \(id)"` does not compile: values travel as `$1`, `$2`, ...
/// parameters and never become part of the statement text. Fixed fragments (a column list shared
/// by several queries) are combined with `+`, which only accepts other `SQL` values, so the result
/// is still made of literals.
///
/// The rare statement whose text cannot be a literal (a migration script read from a resource) is
/// spelled `SQL(unsafeSQL:)`, which makes every such place easy to find and to review.
public struct SQL: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The statement exactly as it is sent to the server.
    public let text: String

    public init(stringLiteral text: String) {
        self.text = text
    }

    /// Text that is not a literal in the source. The caller vouches that no part of it comes from
    /// input; values must still be bound as parameters.
    public init(unsafeSQL text: String) {
        self.text = text
    }

    /// A name where PostgreSQL takes no parameter (`CREATE DATABASE name`), quoted so that any text
    /// stays one identifier: `"` is doubled inside the quotes. Quoting keeps the name's case, so a
    /// name meant to match an unquoted identifier must already be lower case. Throws
    /// `invalidParameter` for an empty name or one holding NUL, which no identifier can contain.
    public static func identifier(_ name: String) throws -> SQL {
        guard !name.isEmpty, !name.utf8.contains(0) else {
            throw PostgresError(code: .invalidParameter, message: "an identifier must be non-empty and free of NUL bytes")
        }
        return SQL(unsafeSQL: "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"")
    }

    public var description: String { text }

    /// Joins two fragments exactly as written: no space is added, so the fragments carry their own.
    public static func + (lhs: SQL, rhs: SQL) -> SQL {
        SQL(unsafeSQL: lhs.text + rhs.text)
    }
}
