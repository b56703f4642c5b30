import Foundation
import Wire

/// The rules file: one JSON object whose members are `RiskRules` fields by their Swift names
/// (camelCase). An absent member keeps its default from `RiskRules()`; an unknown member, a value
/// that is not a whole number, or one outside the field's range is refused with the member's name.
///
///     {"userLimitPerWindow": 10, "velocityWindowSeconds": 30, "highValueCents": 50000}
///
/// `validate` holds the same ranges for rules that arrive another way (`risk_rules_set`): both go
/// through `checked(_:_:text:)`, so a value is refused with the same message whichever way it came.
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
            let number = try checked(field, Int64(text), text: text)
            switch field.access {
            case .int32(let path):
                guard let narrow = Int32(exactly: number) else { throw outOfRange(field, text) }
                rules[keyPath: path] = narrow
            case .int64(let path):
                rules[keyPath: path] = number
            }
        }
        return rules
    }

    /// Every field, in declaration order, as the file writes it.
    public static func json(_ rules: RiskRules) -> JSONValue {
        .object(fieldList.map { field in (field.name, .integer(value(of: field, in: rules))) })
    }

    /// The file's checks for rules that arrive another way (`risk_rules_set`): the first field
    /// outside its range is refused, named, with the message the file would give.
    public static func validate(_ rules: RiskRules) throws(ServiceError) {
        for field in fieldList {
            let number = value(of: field, in: rules)
            _ = try checked(field, number, text: String(number))
        }
    }

    /// The values each field may take, for documentation and tests.
    public static func range(of name: String) -> ClosedRange<Int64>? { fields[name]?.range }

    public static var fieldNames: [String] { fieldList.map(\.name) }

    // MARK: - Fields

    private enum Access {
        case int32(WritableKeyPath<RiskRules, Int32> & Sendable)
        case int64(WritableKeyPath<RiskRules, Int64> & Sendable)
    }

    private struct Field {
        var name: String
        var access: Access
        var range: ClosedRange<Int64>
    }

    private static let int32Range: ClosedRange<Int64> = 0...Int64(Int32.max)

    private static let fieldList: [Field] = [
        Field(name: "velocityWindowSeconds", access: .int32(\.velocityWindowSeconds), range: int32Range),
        Field(name: "userLimitPerWindow", access: .int32(\.userLimitPerWindow), range: int32Range),
        Field(name: "deviceLimitPerWindow", access: .int32(\.deviceLimitPerWindow), range: int32Range),
        Field(name: "ipLimitPerWindow", access: .int32(\.ipLimitPerWindow), range: int32Range),
        Field(name: "subnetLimitPerWindow", access: .int32(\.subnetLimitPerWindow), range: int32Range),
        Field(name: "accountsPerDevicePerDay", access: .int32(\.accountsPerDevicePerDay), range: int32Range),
        Field(name: "accountsPerIPPerDay", access: .int32(\.accountsPerIPPerDay), range: int32Range),
        Field(name: "accountsPerSubnetPerDay", access: .int32(\.accountsPerSubnetPerDay), range: int32Range),
        // A first sighting is kept `RiskEngine.firstSeenTTLMilliseconds` (90 days): an account can
        // only be told new or old within that, so a longer "new" period would mean nothing.
        Field(
            name: "newAccountHours", access: .int32(\.newAccountHours),
            range: 0...(RiskEngine.firstSeenTTLMilliseconds / RiskEngine.millisecondsPerHour)),
        Field(name: "highValueCents", access: .int64(\.highValueCents), range: 0...Int64.max),
        Field(name: "failedRedemptionsPerWindow", access: .int32(\.failedRedemptionsPerWindow), range: int32Range),
        Field(name: "failedRedemptionWindowSeconds", access: .int32(\.failedRedemptionWindowSeconds), range: int32Range),
    ]
    private static let fields = Dictionary(uniqueKeysWithValues: fieldList.map { ($0.name, $0) })

    private static func value(of field: Field, in rules: RiskRules) -> Int64 {
        switch field.access {
        case .int32(let path): Int64(rules[keyPath: path])
        case .int64(let path): rules[keyPath: path]
        }
    }

    /// `number` is the value `text` spells, nil when it spells no Int64 (a fraction, an exponent,
    /// too many digits). "-0" is refused as negative too: the file must say what it means.
    private static func checked(_ field: Field, _ number: Int64?, text: String) throws(ServiceError) -> Int64 {
        if text.hasPrefix("-") { throw ServiceError(.invalidArgument, "\(field.name): must not be negative, got \(text)") }
        guard let number, field.range.contains(number) else { throw outOfRange(field, text) }
        return number
    }

    private static func outOfRange(_ field: Field, _ text: String) -> ServiceError {
        ServiceError(
            .invalidArgument,
            "\(field.name): expected a whole number from \(field.range.lowerBound) to \(field.range.upperBound), got \(text)")
    }
}
