import CouponClient
import Domain
import Foundation
import ServiceKit
import Wire

/// Operators, API tokens, the audit log and the first admin (README "Sign-in and roles").
/// A password is never an argument (it would sit in the shell history and in `ps`): it is the
/// first line of `--password-file`, or of standard input.
enum OperatorCommands {
    static let all: [Command] = [operatorCommand, token, audit]

    static let passwordFileOption = ConfigOption("password-file", default: "", "a file whose first line is the password (default: stdin)")

    static let operatorCommand = Command(
        name: "operator",
        summary: "operator add|list|role|disable|password|bootstrap --username U [--role viewer|operator|admin]: operator accounts",
        options: [
            ConfigOption("username", default: "", "the operator's username"), ConfigOption("role", default: "", "viewer, operator or admin"),
            passwordFileOption,
            ConfigOption("bootstrap-secret-file", default: "", "bootstrap: the secret file coupon-center was started with"),
            ConfigOption("admin-token-file", default: "", "bootstrap: where to write the new admin API token (created 0600)"),
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        let username = values.string("username")
        switch values.positional.first ?? "list" {
        case "add":
            let role = try Role.parse(values.string("role"), field: "--role")
            show([try await client.call(OperatorCreateRequest(username: username, password: try password(values), role: role))], output)
        case "list": show(try await client.call(OperatorListRequest()).operators, output)
        case "role":
            let role = try Role.parse(values.string("role"), field: "--role")
            show([try await client.call(OperatorRoleSetRequest(username: username, role: role))], output)
        case "disable": show([try await client.call(OperatorDisableRequest(username: username))], output)
        case "password": show([try await client.call(OperatorPasswordSetRequest(username: username, password: try password(values)))], output)
        case "bootstrap":
            let secretFile = values.string("bootstrap-secret-file")
            let tokenFile = values.string("admin-token-file")
            guard !secretFile.isEmpty, !tokenFile.isEmpty else { throw ConfigError("bootstrap needs --bootstrap-secret-file and --admin-token-file") }
            let secret = try SecretFile.firstLine(of: secretFile, flag: "--bootstrap-secret-file")
            let result = try await client.call(
                OperatorBootstrapRequest(secret: secret, username: username, password: try password(values), tokenName: "bootstrap"))
            try writeSecret(result.token.token, to: tokenFile)
            show([result.admin], output)
        case let other: throw ConfigError("operator: unknown action '\(other)' (add, list, role, disable, password, bootstrap)")
        }
    }

    static let token = Command(
        name: "token",
        summary: "token create --name N --role R [--ttl-days D] | token list | token revoke --id N: API tokens for scripts",
        options: [
            ConfigOption("name", default: "", "create: what the token is for"), ConfigOption("role", default: "viewer", "create: its role"),
            ConfigOption("ttl-days", default: "", "create: days until it expires (none: never)"), ConfigOption("id", default: "", "revoke: its id"),
            ConfigOption("output-file", default: "", "create: write the token to this file (created 0600) instead of printing it"),
        ],
        takesPositional: true
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        switch values.positional.first ?? "list" {
        case "create":
            let ttl = values.string("ttl-days").isEmpty ? nil : Int64(values.string("ttl-days"))
            if !values.string("ttl-days").isEmpty && ttl == nil { throw ConfigError("--ttl-days: a whole number") }
            let created = try await client.call(
                TokenCreateRequest(name: values.string("name"), role: try Role.parse(values.string("role"), field: "--role"), ttlDays: ttl))
            if values.string("output-file").isEmpty {
                print(created.token)
            } else {
                try writeSecret(created.token, to: values.string("output-file"))
            }
            showTokens([created.view], output)
        case "list": showTokens(try await client.call(TokenListRequest()).tokens, output)
        case "revoke":
            guard let id = Int64(values.string("id")) else { throw ConfigError("--id: the token's id") }
            showTokens([try await client.call(TokenRevokeRequest(id: id))], output)
        case let other: throw ConfigError("token: unknown action '\(other)' (create, list, revoke)")
        }
    }

    static let audit = Command(
        name: "audit",
        summary: "audit [--actor A --action X --since ISO8601 --limit N]: the operator audit log, newest first",
        options: [
            ConfigOption("actor", default: "", "only this actor"), ConfigOption("action", default: "", "only this action (template.pause, …)"),
            ConfigOption("since", default: "", "only entries at or after this time (ISO 8601)"), ConfigOption("limit", default: "100", "1…1000"),
        ]
    ) { values, output in
        let client = try values.client()
        defer { client.close() }
        var since: Int64?
        if !values.string("since").isEmpty {
            guard let parsed = Timestamp.parseISO8601(values.string("since")) else { throw ConfigError("--since: an ISO 8601 time") }
            since = parsed
        }
        let list = try await client.call(
            AuditListRequest(
                actor: values.nonEmpty("actor"), action: values.nonEmpty("action"), sinceMilliseconds: since,
                limit: Int32(try values.int("limit", in: 1...1000))))
        if output.json {
            output.value(
                .object([
                    (
                        "entries",
                        .array(
                            list.entries.map { entry in
                                .object([
                                    ("id", .integer(entry.id)), ("at", .integer(entry.atMilliseconds)), ("actor", .string(entry.actor)),
                                    ("actorKind", .string(entry.actorKind.rawValue)), ("action", .string(entry.action)),
                                    ("target", .string(entry.target)), ("before", (try? JSONParser.parse(Array(entry.before.utf8))) ?? .null),
                                    ("after", (try? JSONParser.parse(Array(entry.after.utf8))) ?? .null),
                                ])
                            })
                    )
                ]))
        } else {
            output.table(
                ["ID", "AT (UNIX MS)", "ACTOR", "KIND", "ACTION", "TARGET"],
                list.entries.map { [String($0.id), String($0.atMilliseconds), $0.actor, $0.actorKind.rawValue, $0.action, $0.target] })
        }
    }

    /// The first line of `--password-file`, else of standard input.
    static func password(_ values: ConfigValues) throws -> String {
        let file = values.string("password-file")
        if !file.isEmpty { return try SecretFile.firstLine(of: file, flag: "--password-file") }
        guard let line = readLine(strippingNewline: true) else { throw ConfigError("no password: give --password-file or one line on stdin") }
        return line
    }

    /// Writes a secret to a new file readable by its owner only (0600), replacing an older one.
    static func writeSecret(_ secret: String, to path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigError("cannot write \(path)")
        }
    }

    static func show(_ operators: [OperatorView], _ output: Output) {
        if output.json {
            output.value(
                .object([
                    (
                        "operators",
                        .array(
                            operators.map {
                                .object([
                                    ("username", .string($0.username)), ("role", .string($0.role.rawValue)), ("disabled", .bool($0.disabled)),
                                    ("lockedUntil", $0.lockedUntilMilliseconds.map { .integer($0) } ?? .null),
                                ])
                            })
                    )
                ]))
        } else {
            output.table(
                ["USERNAME", "ROLE", "DISABLED", "LOCKED UNTIL (UNIX MS)"],
                operators.map { [$0.username, $0.role.rawValue, $0.disabled ? "yes" : "no", $0.lockedUntilMilliseconds.map(String.init) ?? "-"] })
        }
    }

    static func showTokens(_ tokens: [TokenView], _ output: Output) {
        if output.json {
            output.value(
                .object([
                    (
                        "tokens",
                        .array(
                            tokens.map {
                                .object([
                                    ("id", .integer($0.id)), ("name", .string($0.name)), ("role", .string($0.role.rawValue)),
                                    ("createdBy", .string($0.createdBy)), ("revoked", .bool($0.revokedMilliseconds != nil)),
                                ])
                            })
                    )
                ]))
        } else {
            output.table(
                ["ID", "NAME", "ROLE", "OWNER", "EXPIRES (UNIX MS)", "REVOKED"],
                tokens.map {
                    [
                        String($0.id), $0.name, $0.role.rawValue, $0.createdBy, $0.expiresMilliseconds.map(String.init) ?? "never",
                        $0.revokedMilliseconds == nil ? "no" : "yes",
                    ]
                })
        }
    }
}
