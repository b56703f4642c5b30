import Foundation
import Wire

/// The rules file: one JSON object whose members are `RiskRules` fields by their Swift names
/// (camelCase). An absent member keeps its default from `RiskRules()`; an unknown member, a value
/// that is not a whole number, or a negative one is refused with the member's name.
///
///     {"userLimitPerWindow": 10, "velocityWindowSeconds": 30, "highValueCents": 50000}
public enum RiskRulesFile {
    public static func load(path: String) throws(ServiceError) -> RiskRules {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServiceError(.invalidArgument, "rules file \(path): cannot be read")
        }
        do {
            return try parse([UInt8](data))
        } catch {
            throw ServiceError(error.code, "rules file \(path): \(error.message)")
        }
    }

    public static func parse(_ bytes: [UInt8]) throws(ServiceError) -> RiskRules {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw ServiceError(.invalidArgument, "rules: not valid JSON: \(error)")
        }
        guard case .object(let members) = document else {
            throw ServiceError(.invalidArgument, "rules: expected an object, got \(document.typeName)")
        }
        var rules = RiskRules()
        for (name, value) in members {
            guard let field = fields[name] else {
                throw ServiceError(.invalidArgument, "\(name): unknown field (known: \(fieldNames.joined(separator: ", ")))")
            }
            guard case .number(let text) = value else {
                throw ServiceError(.invalidArgument, "\(name): expected a number, got \(value.typeName)")
            }
            switch field {
            case .int32(let path):
                rules[keyPath: path] = try wholeNumber(text, name: name, as: Int32.self)
            case .int64(let path):
                rules[keyPath: path] = try wholeNumber(text, name: name, as: Int64.self)
            }
        }
        return rules
    }

    /// Every field, in declaration order, as the file writes it.
    public static func json(_ rules: RiskRules) -> JSONValue {
        .object(
            fieldNames.map { name in
                switch fields[name]! {
                case .int32(let path): (name, .integer(rules[keyPath: path]))
                case .int64(let path): (name, .integer(rules[keyPath: path]))
                }
            })
    }

    /// The same checks as the file for rules that arrive another way (`risk_rules_set`).
    public static func validate(_ rules: RiskRules) throws(ServiceError) {
        _ = try parse(json(rules).bytes)
    }

    private enum Field {
        case int32(WritableKeyPath<RiskRules, Int32> & Sendable)
        case int64(WritableKeyPath<RiskRules, Int64> & Sendable)
    }

    private static let fieldList: [(String, Field)] = [
        ("velocityWindowSeconds", .int32(\.velocityWindowSeconds)),
        ("userLimitPerWindow", .int32(\.userLimitPerWindow)),
        ("deviceLimitPerWindow", .int32(\.deviceLimitPerWindow)),
        ("ipLimitPerWindow", .int32(\.ipLimitPerWindow)),
        ("subnetLimitPerWindow", .int32(\.subnetLimitPerWindow)),
        ("accountsPerDevicePerDay", .int32(\.accountsPerDevicePerDay)),
        ("accountsPerIPPerDay", .int32(\.accountsPerIPPerDay)),
        ("accountsPerSubnetPerDay", .int32(\.accountsPerSubnetPerDay)),
        ("newAccountHours", .int32(\.newAccountHours)),
        ("highValueCents", .int64(\.highValueCents)),
        ("failedRedemptionsPerWindow", .int32(\.failedRedemptionsPerWindow)),
        ("failedRedemptionWindowSeconds", .int32(\.failedRedemptionWindowSeconds)),
    ]
    private static let fieldNames = fieldList.map(\.0)
    private static let fields = Dictionary(uniqueKeysWithValues: fieldList)

    private static func wholeNumber<Value: FixedWidthInteger>(_ text: String, name: String, as: Value.Type) throws(ServiceError) -> Value {
        if text.hasPrefix("-") { throw ServiceError(.invalidArgument, "\(name): must not be negative, got \(text)") }
        guard let value = Value(text) else {
            throw ServiceError(.invalidArgument, "\(name): expected a whole number from 0 to \(Value.max), got \(text)")
        }
        return value
    }
}
