import Access
import ServiceKit
import Wire

/// Who may call a service, from its environment and flags: the same options on all three services.
public struct AccessSettings: Sendable {
    /// Operator calls need a credential with the role. Off only for test beds that exercise
    /// something else; every deployment keeps the default.
    public var operatorAuthRequired: Bool
    /// The service token of the company's own front-ends and order service; nil: end-user calls
    /// are open. Also the credential this service sends on its own internal calls.
    public var serviceToken: String?

    public var policy: AccessPolicy {
        AccessPolicy(operatorAuthRequired: operatorAuthRequired, serviceTokenRequired: serviceToken != nil)
    }

    public static let options: [ConfigOption] = [
        ConfigOption(
            "operator-auth", env: "COUPON_OPERATOR_AUTH", default: "required",
            "'required': operator and admin calls need a session or API token with the role; 'off' only for test beds"),
        ConfigOption(
            "service-token", env: "COUPON_SERVICE_TOKEN", default: "",
            "the service token end-user calls need (and internal calls send); empty: end-user calls are open"),
        ConfigOption(
            "service-token-file", env: "COUPON_SERVICE_TOKEN_FILE", default: "",
            "a file holding the service token (its first line), instead of --service-token"),
    ]

    public init(operatorAuthRequired: Bool = true, serviceToken: String? = nil) {
        self.operatorAuthRequired = operatorAuthRequired
        self.serviceToken = serviceToken
    }

    public init(_ values: ConfigValues) throws(ConfigError) {
        switch values.string("operator-auth") {
        case "required": operatorAuthRequired = true
        case "off": operatorAuthRequired = false
        case let other: throw ConfigError("--operator-auth / COUPON_OPERATOR_AUTH: '\(other)' is not 'required' or 'off'")
        }
        let inline = values.string("service-token")
        let file = values.string("service-token-file")
        guard inline.isEmpty || file.isEmpty else {
            throw ConfigError("--service-token and --service-token-file: give one of them, not both")
        }
        var token = inline
        if !file.isEmpty { token = try SecretFile.firstLine(of: file, flag: "--service-token-file / COUPON_SERVICE_TOKEN_FILE") }
        if token.isEmpty {
            serviceToken = nil
        } else {
            // Never echoed: the message names the rule, not the value.
            guard (16...Frame.maxCredentialBytes).contains(token.utf8.count), token.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
            else {
                throw ConfigError("the service token: 16 to 512 printable ASCII characters without spaces")
            }
            guard CredentialText.kind(of: token) == .other else {
                throw ConfigError("the service token must not start with 'ccs_' or 'cct_' (the session and API token prefixes)")
            }
            serviceToken = token
        }
    }
}
