import Wire

/// Reads the fields of a JSON request body with one precise error per problem: a missing field,
/// a wrong type, money with more than two decimals or below zero, an unknown field name.
public struct JSONFields {
    private let members: [String: JSONValue]
    /// Where this object sits in the body ("items[2]"), so errors name the whole path.
    private let path: String

    public init(_ value: JSONValue, allowed: Set<String>, path: String = "") throws(ServiceError) {
        self.path = path
        guard case .object(let pairs) = value else {
            throw ServiceError(path.isEmpty ? .malformedJSON : .invalidArgument, "\(path.isEmpty ? "body" : path) must be a JSON object")
        }
        for (name, _) in pairs where !allowed.contains(name) {
            throw ServiceError(
                .invalidArgument,
                "\(path.isEmpty ? name : path + "." + name): unknown field (expected one of \(allowed.sorted().joined(separator: ", ")))")
        }
        members = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    private func qualified(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// A field that is absent or JSON null.
    public func isAbsent(_ name: String) -> Bool {
        guard let value = members[name] else { return true }
        return value == .null
    }

    private func present(_ name: String) -> JSONValue? {
        guard let value = members[name], value != .null else { return nil }
        return value
    }

    private func wrongType(_ name: String, _ expected: String, _ value: JSONValue) -> ServiceError {
        ServiceError(.invalidArgument, "\(qualified(name)): expected \(expected), got \(value.typeName)")
    }

    public func string(_ name: String) throws(ServiceError) -> String {
        guard let value = try optionalString(name) else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
        return value
    }

    public func optionalString(_ name: String) throws(ServiceError) -> String? {
        guard let value = present(name) else { return nil }
        guard case .string(let text) = value else { throw wrongType(name, "a string", value) }
        return text
    }

    public func strings(_ name: String) throws(ServiceError) -> [String] {
        guard let value = present(name) else { return [] }
        guard case .array(let elements) = value else { throw wrongType(name, "an array of strings", value) }
        var result: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else { throw wrongType("\(qualified(name))[\(index)]", "a string", element) }
            result.append(text)
        }
        return result
    }

    public func integer(_ name: String) throws(ServiceError) -> Int64 {
        guard let value = try optionalInteger(name) else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
        return value
    }

    /// Whole numbers only: "2", not "2.0" or "2e0".
    public func optionalInteger(_ name: String) throws(ServiceError) -> Int64? {
        guard let value = present(name) else { return nil }
        guard case .number(let text) = value else { throw wrongType(name, "a whole number", value) }
        guard let number = Int64(text) else { throw ServiceError(.invalidArgument, "\(qualified(name)): \(text) is not a whole number in range") }
        return number
    }

    public func int32(_ name: String, default fallback: Int32? = nil) throws(ServiceError) -> Int32 {
        if let value = try optionalInt32(name) { return value }
        guard let fallback else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
        return fallback
    }

    public func optionalInt32(_ name: String) throws(ServiceError) -> Int32? {
        guard let value = try optionalInteger(name) else { return nil }
        guard let narrow = Int32(exactly: value) else { throw ServiceError(.invalidArgument, "\(qualified(name)): \(value) is out of range") }
        return narrow
    }

    public func bool(_ name: String, default fallback: Bool) throws(ServiceError) -> Bool {
        guard let value = present(name) else { return fallback }
        guard case .bool(let flag) = value else { throw wrongType(name, "true or false", value) }
        return flag
    }

    /// Yuan as a JSON number with at most two decimals, never negative; returned in cents.
    public func optionalMoney(_ name: String) throws(ServiceError) -> Int64? {
        guard let value = present(name) else { return nil }
        return try Self.money(value, field: qualified(name))
    }

    public func money(_ name: String) throws(ServiceError) -> Int64 {
        guard let value = try optionalMoney(name) else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
        return value
    }

    public static func money(_ value: JSONValue, field: String) throws(ServiceError) -> Int64 {
        guard case .number(let text) = value else {
            throw ServiceError(.invalidMoney, "\(field): expected an amount in yuan as a JSON number, got \(value.typeName)")
        }
        do {
            return try Money.parseYuan(text).cents
        } catch {
            throw ServiceError(.invalidMoney, "\(field): \(error)")
        }
    }

    /// ISO 8601 with an offset, in Unix milliseconds.
    public func time(_ name: String) throws(ServiceError) -> Int64 {
        guard let value = present(name) else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
        guard case .string(let text) = value else { throw wrongType(name, "an ISO 8601 time string", value) }
        guard let milliseconds = Timestamp.parseISO8601(text) else {
            throw ServiceError(
                .invalidArgument, "\(qualified(name)): '\(text)' is not an ISO 8601 time with an offset, e.g. 2026-11-11T00:00:00+08:00")
        }
        return milliseconds
    }

    public func rate(_ name: String) throws(ServiceError) -> Int32? {
        guard let value = present(name) else { return nil }
        guard case .number(let text) = value else { throw wrongType(name, "a number between 0 and 1", value) }
        guard let basisPoints = Rate.parseBasisPoints(text) else {
            throw ServiceError(
                .invalidArgument, "\(qualified(name)): \(text) must be between 0 and 1 (exclusive) with at most 4 decimals, e.g. 0.8 for 8折")
        }
        return basisPoints
    }

    /// A percent of an order amount (a number or a string, at most two decimals), in basis points.
    public func optionalPercent(_ name: String) throws(ServiceError) -> Int32? {
        guard let value = present(name) else { return nil }
        return try CostPercent.parseBasisPoints(value, field: qualified(name))
    }

    public func enumeration<E: RawRepresentable>(_ name: String, _: E.Type, default fallback: E? = nil) throws(ServiceError) -> E
    where E.RawValue == String, E: CaseIterable {
        guard let text = try optionalString(name) else {
            guard let fallback else { throw ServiceError(.invalidArgument, "\(qualified(name)): required") }
            return fallback
        }
        guard let value = E(rawValue: text) else {
            throw ServiceError(.invalidArgument, "\(qualified(name)): '\(text)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    public func array(_ name: String) throws(ServiceError) -> [JSONValue] {
        guard let value = present(name) else { return [] }
        guard case .array(let elements) = value else { throw wrongType(name, "an array", value) }
        return elements
    }
}
