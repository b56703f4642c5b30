import Foundation

/// One setting of an executable: a `--flag`, the environment variable behind it, its default and
/// what it means. Flags override the environment, which overrides the default.
public struct ConfigOption: Sendable {
    public var flag: String
    public var environment: String?
    public var defaultValue: String
    public var help: String
    /// A switch takes no value: `--json` means true (`--json=false` still works).
    public var isSwitch: Bool

    public init(_ flag: String, env environment: String? = nil, default defaultValue: String, _ help: String) {
        self.flag = flag
        self.environment = environment
        self.defaultValue = defaultValue
        self.help = help
        self.isSwitch = false
    }

    public static func switchOption(_ flag: String, env environment: String? = nil, _ help: String) -> ConfigOption {
        var option = ConfigOption(flag, env: environment, default: "false", help)
        option.isSwitch = true
        return option
    }
}

public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What `ConfigParser.parse` found: settings by flag name, validated on access with messages that
/// name the flag and the variable, plus positional arguments.
public struct ConfigValues: Sendable {
    public let values: [String: String]
    public let positional: [String]
    let options: [String: ConfigOption]

    public func string(_ flag: String) -> String {
        values[flag] ?? options[flag]?.defaultValue ?? ""
    }

    /// "--flag / ENV", how messages name a setting.
    public func source(_ flag: String) -> String {
        let option = options[flag]
        return "--\(flag)" + (option?.environment.map { " / \($0)" } ?? "")
    }

    public func int(_ flag: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigError) -> Int {
        let text = string(flag)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigError("\(source(flag)): '\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func bool(_ flag: String) throws(ConfigError) -> Bool {
        switch string(flag).lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default: throw ConfigError("\(source(flag)): '\(string(flag))' is not true or false")
        }
    }

    /// A comma-separated list of NNG addresses (tcp://, tls+tcp://, ipc://, inproc://).
    public func nngURLs(_ flag: String) throws(ConfigError) -> [String] {
        let urls = string(flag).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !urls.isEmpty else { throw ConfigError("\(source(flag)): no address given") }
        for url in urls {
            let known = ["tcp://", "tls+tcp://", "ipc://", "inproc://", "tcp4://", "tcp6://"]
            guard known.contains(where: url.hasPrefix) else {
                throw ConfigError("\(source(flag)): '\(url)' is not an NNG address (tcp://host:port, ipc://path, …)")
            }
        }
        return urls
    }

    public func url(_ flag: String, schemes: [String]) throws(ConfigError) -> String {
        let text = string(flag)
        guard schemes.contains(where: { text.hasPrefix("\($0)://") }), text.count > 3 + (schemes.first?.count ?? 0) else {
            throw ConfigError("\(source(flag)): '\(redacted(text))' must start with \(schemes.map { "\($0)://" }.joined(separator: " or "))")
        }
        return text
    }

    public func logLevel(_ flag: String) throws(ConfigError) -> LogLevel {
        guard let level = LogLevel(name: string(flag)) else {
            throw ConfigError("\(source(flag)): '\(string(flag))' is not one of debug, info, warning, error")
        }
        return level
    }
}

/// Removes a password from a URL before it is printed.
public func redacted(_ url: String) -> String {
    guard let schemeEnd = url.range(of: "://"), let at = url.range(of: "@", range: schemeEnd.upperBound..<url.endIndex)
    else { return url }
    let credentials = url[schemeEnd.upperBound..<at.lowerBound]
    guard let colon = credentials.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + ":***" + String(url[at.lowerBound...])
}

public enum ConfigParser {
    public enum Outcome: Sendable {
        case run(ConfigValues)
        case help(String)
    }

    /// `--flag value`, `--flag=value`, `--help`/`-h`; anything else not starting with `--` is positional.
    public static func parse(
        program: String, summary: String, options: [ConfigOption], arguments: [String],
        environment: [String: String], allowPositional: Bool = false
    ) throws(ConfigError) -> Outcome {
        let byFlag = Dictionary(options.map { ($0.flag, $0) }, uniquingKeysWith: { first, _ in first })
        var values: [String: String] = [:]
        for option in options {
            if let name = option.environment, let value = environment[name] { values[option.flag] = value }
        }
        var positional: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" { return .help(usage(program: program, summary: summary, options: options)) }
            guard argument.hasPrefix("--") else {
                guard allowPositional else { throw ConfigError("unexpected argument '\(argument)' (see --help)") }
                positional.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let option = byFlag[name] else { throw ConfigError("unknown option --\(name) (see --help)") }
            if value == nil && option.isSwitch { value = "true" }
            if value == nil {
                guard index < arguments.count else { throw ConfigError("--\(name) needs a value") }
                value = arguments[index]
                index += 1
            }
            values[option.flag] = value
        }
        return .run(ConfigValues(values: values, positional: positional, options: byFlag))
    }

    public static func usage(program: String, summary: String, options: [ConfigOption]) -> String {
        var text = "\(program) — \(summary)\n\nOptions (flags override environment variables):\n"
        let width = (options.map { $0.flag.count }.max() ?? 0) + 6
        for option in options {
            let flag = ("--\(option.flag)" + (option.isSwitch ? "" : " V")).padding(width)
            let env = option.environment.map { "  [\($0)]" } ?? ""
            text +=
                "  \(flag) \(option.help)\(env)\n  \("".padding(width)) default: \(option.defaultValue.isEmpty ? "(none)" : option.defaultValue)\n"
        }
        text += "  \("--help".padding(width)) print this and exit\n"
        return text
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
