// libFuzzer target `rules-file`: arbitrary bytes as risk-control's rules file
// (Shared/Risk/RiskRulesFile.swift). Deploy/fuzz compiles this file and FuzzSupport.swift against the
// Risk module and the modules it imports.
//
// The contract: any bytes give rules or a `ServiceError` naming the problem (INVALID_ARGUMENT),
// never a trap. Rules that parse are written back (`RiskRulesFile.json`) as a file that parses to
// the same rules, and pass `validate` (the check `risk_rules_set` runs).
import Risk
import Wire

func fuzzTarget(_ bytes: [UInt8]) {
    let rules: RiskRules
    do {
        rules = try RiskRulesFile.parse(bytes)
    } catch {
        guard error.code == .invalidArgument else { propertyFailed("a rules file was refused with \(error)", input: bytes) }
        return
    }
    let written = RiskRulesFile.json(rules).bytes
    do {
        guard try RiskRulesFile.parse(written) == rules else { propertyFailed("rules written back read differently", input: bytes) }
        try RiskRulesFile.validate(rules)
    } catch {
        propertyFailed("rules that parsed do not survive being written back: \(error)", input: bytes)
    }
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    [
        ("defaults", RiskRulesFile.json(RiskRules()).bytes),
        ("some", Array(#"{"userLimitPerWindow": 10, "velocityWindowSeconds": 30, "highValueCents": 50000}"#.utf8)),
        ("empty", Array("{}".utf8)),
    ]
}
