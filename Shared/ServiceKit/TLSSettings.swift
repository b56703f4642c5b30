import Foundation
import Messaging

/// Mutual TLS settings, the same for every executable: one switch, the folder `Deploy/certs` made,
/// this process's name in it, and the names allowed to connect to it. Validated here, once, when the
/// configuration is built: every file is read now, so a missing or unreadable certificate stops
/// the process at start with a message naming it, not at its first connection.
///
/// Layout of the folder (see `Deploy/certs`): `NAME.crt` and `NAME.key` for each name, and
/// `issuers/NAME.crt`, the CA that signed NAME's certificate and nothing else.
///
/// How the allow-list is enforced: nng 1.5.2 does not show a peer's certificate name, so a listener
/// trusts the issuers of its allowed peers and no other CA; any other certificate (another root's,
/// or the same root's for a name not listed) fails the TLS handshake. A dialer trusts only the
/// issuer of the service it dials and requires that service's name in its certificate.
public struct TLSSettings: Sendable {
    public let enabled: Bool
    /// This process's certificate name (`--tls-name`).
    public let name: String
    /// Names allowed to connect to this process's listeners.
    public let peers: [String]
    private let directory: String
    private let certificatePEM: String
    private let privateKeyPEM: String
    private let peerIssuersPEM: String

    /// Who connects to a service: coupon-center to the other two, the operator's and the load tools to any.
    public static let defaultPeers = ["coupon-center", "couponctl", "coupon-load"]

    public static func options(name: String, defaultPeers: [String] = defaultPeers) -> [ConfigOption] {
        [
            ConfigOption(
                "tls", env: "COUPON_TLS", default: "off",
                "on: mutual TLS on every binary-protocol address, which must all be tls+tcp:// (plaintext is refused); off: none"),
            ConfigOption("tls-dir", env: "COUPON_TLS_DIR", default: "", "folder made by Deploy/certs (required with --tls on)"),
            ConfigOption("tls-name", env: "COUPON_TLS_NAME", default: name, "this process's certificate: TLS_DIR/NAME.crt and TLS_DIR/NAME.key"),
            ConfigOption(
                "tls-peers", env: "COUPON_TLS_PEERS", default: defaultPeers.joined(separator: ","),
                "names allowed to connect (comma-separated); only their issuers (TLS_DIR/issuers/NAME.crt) are trusted"),
        ]
    }

    public init(_ values: ConfigValues) throws(ConfigError) {
        enabled = try values.bool("tls")
        let name = values.string("tls-name")
        let peers = values.string("tls-peers").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        self.name = name
        self.peers = peers
        directory = values.string("tls-dir")
        guard enabled else {
            (certificatePEM, privateKeyPEM, peerIssuersPEM) = ("", "", "")
            return
        }
        guard !directory.isEmpty else { throw ConfigError("\(values.source("tls-dir")): TLS is on, so the certificates folder is required") }
        try Self.checkName(name, source: values.source("tls-name"))
        guard !peers.isEmpty else { throw ConfigError("\(values.source("tls-peers")): TLS is on, so at least one peer name is required") }
        for peer in peers { try Self.checkName(peer, source: values.source("tls-peers")) }
        certificatePEM = try Self.readPEM(directory + "/\(name).crt", what: "certificate of \(name)")
        privateKeyPEM = try Self.readPEM(directory + "/\(name).key", what: "key of \(name)")
        var issuers = ""
        for peer in peers { issuers += try Self.issuerPEM(of: peer, in: directory) + "\n" }
        peerIssuersPEM = issuers
    }

    /// What this process's listeners use, or nil with TLS off.
    public var listening: TLSConfiguration? {
        guard enabled else { return nil }
        return TLSConfiguration(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM, trustedIssuersPEM: peerIssuersPEM)
    }

    /// What a dialer of `service` uses, or nil with TLS off: it trusts only `service`'s issuer and
    /// requires `service`'s name in the server's certificate.
    public func dialing(_ service: String) throws(ConfigError) -> TLSConfiguration? {
        guard enabled else { return nil }
        try Self.checkName(service, source: "the service dialed")
        return TLSConfiguration(
            certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM, trustedIssuersPEM: try Self.issuerPEM(of: service, in: directory),
            serverName: service)
    }

    /// Refuses an address whose scheme disagrees with the switch: with TLS on a `tcp://` listener
    /// would serve plaintext beside the TLS ones, with TLS off a `tls+tcp://` one has no certificate.
    public func check(_ urls: [String], source: String) throws(ConfigError) {
        for url in urls where TLSConfiguration.isTLS(url) != enabled {
            throw ConfigError(
                enabled
                    ? "\(source): '\(url)' is not \(TLSConfiguration.scheme) but TLS is on (COUPON_TLS); plaintext is never served or dialed with TLS on"
                    : "\(source): '\(url)' is \(TLSConfiguration.scheme) but TLS is off; set COUPON_TLS=on and COUPON_TLS_DIR")
        }
    }

    /// A name becomes a file name and a DNS name: the rule `Deploy/certs` applies, so no `..` or `/`.
    private static func checkName(_ name: String, source: String) throws(ConfigError) {
        let scalars = Array(name.unicodeScalars)
        let allowed = scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard (1...63).contains(scalars.count), allowed, scalars.first != "-" else {
            throw ConfigError("\(source): '\(name)' is not a certificate name (lower-case letters, digits and '-', at most 63)")
        }
    }

    private static func issuerPEM(of name: String, in directory: String) throws(ConfigError) -> String {
        try readPEM(directory + "/issuers/\(name).crt", what: "issuer of \(name) (is it in Deploy/certs' names?)")
    }

    private static func readPEM(_ path: String, what: String) throws(ConfigError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("TLS: cannot read the \(what) at \(path) (missing or not readable; make it with Deploy/certs)")
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains("-----BEGIN ") else { throw ConfigError("TLS: \(path) (the \(what)) is not PEM") }
        return text
    }
}
