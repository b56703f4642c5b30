import CouponClient
import Foundation
import ServiceKit
import Wire

/// risk-control's admin calls: rules (show, reload from its file) and block/allow lists.
enum RiskCommands {
    static let all: [Command] = [risk]

    static let risk = Command(
        name: "risk",
        summary: "risk rules | risk reload | risk list|add|remove --list BLOCK|ALLOW --subject USER|DEVICE|IP [--value V --ttl S]",
        options: [
            ConfigOption("risk-url", env: "RISK_CONTROL_URL", default: "tcp://127.0.0.1:7102", "risk-control address"),
            ConfigOption("list", default: "BLOCK", "BLOCK or ALLOW"), ConfigOption("subject", default: "USER", "USER, DEVICE or IP"),
            ConfigOption("value", default: "", "the user id, device id or IP"),
            ConfigOption("ttl", default: "", "add: seconds until the entry lapses (none: until removed)"),
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client(service: "risk-control", urlFlag: "risk-url")
        defer { client.close() }
        func listName() throws -> RiskListName {
            guard let list = RiskListName(rawValue: values.string("list").uppercased()) else { throw ConfigError("--list: BLOCK or ALLOW") }
            return list
        }
        func subject() throws -> RiskSubject {
            guard let subject = RiskSubject(rawValue: values.string("subject").uppercased()) else {
                throw ConfigError("--subject: USER, DEVICE or IP")
            }
            return subject
        }
        func showRules(_ rules: RiskRules) {
            let text = String(decoding: (try? JSONEncoder().encode(rules)) ?? Data(), as: UTF8.self)
            if output.json {
                print(text)
            } else {
                let members =
                    ((try? JSONParser.parse(Array(text.utf8))).flatMap { value -> [(String, JSONValue)]? in
                        if case .object(let members) = value { members } else { nil }
                    }) ?? []
                output.table(["RULE", "VALUE"], members.map { [$0.0, $0.1.serialized()] })
            }
        }
        switch values.positional.first ?? "" {
        case "rules": showRules(try await client.call(GetRiskRulesRequest()))
        case "reload": showRules(try await client.call(ReloadRiskRulesRequest()))
        case "list":
            let entries = try await client.call(GetRiskListRequest(list: try listName(), subject: try subject())).entries
            output.table(
                ["LIST", "SUBJECT", "VALUE", "EXPIRES (UNIX MS)"],
                entries.map {
                    [$0.list.rawValue, $0.subject.rawValue, $0.value, $0.expiresMilliseconds.map(String.init) ?? "never"]
                })
        case "add":
            let ttl = values.string("ttl").isEmpty ? nil : Int64(values.string("ttl"))
            if !values.string("ttl").isEmpty && ttl == nil { throw ConfigError("--ttl: a whole number of seconds") }
            let entry = try await client.call(
                AddRiskListEntryRequest(list: try listName(), subject: try subject(), value: values.string("value"), ttlSeconds: ttl))
            print("added \(entry.value) to \(entry.list.rawValue) \(entry.subject.rawValue)")
        case "remove":
            let change = try await client.call(
                RemoveRiskListEntryRequest(list: try listName(), subject: try subject(), value: values.string("value")))
            print(change.removed ? "removed" : "was not listed")
        default:
            throw ConfigError("risk needs an action: rules, reload, list, add or remove")
        }
    }
}
