internal import CNNG

/// Mutual TLS for a socket's listeners or dialers (nng's `tls+tcp://`, mbedTLS underneath).
///
/// Both sides present `certificatePEM` and require the other's certificate, which must chain to one
/// of `trustedIssuersPEM`. nng 1.5.2 cannot tell the application which name a peer's certificate
/// carries (it only says whether it was verified), so an allow-list of peers is expressed as what a
/// side trusts: the issuers of the allowed names only, each issuer signing one name (see
/// `Deploy/certs`). mbedTLS ends a chain at any trusted CA, self-signed or not, so a certificate
/// from the same root but another issuer fails the handshake.
///
/// A dialer also names the service it expects (`serverName`), which mbedTLS checks against the
/// server certificate's subject alternative names and common name.
public struct TLSConfiguration: Sendable, Equatable {
    public var certificatePEM: String
    public var privateKeyPEM: String
    public var trustedIssuersPEM: String
    /// The name the server's certificate must carry; required for dialers, unused by listeners.
    public var serverName: String?

    public init(certificatePEM: String, privateKeyPEM: String, trustedIssuersPEM: String, serverName: String? = nil) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.trustedIssuersPEM = trustedIssuersPEM
        self.serverName = serverName
    }

    /// The scheme every address must have when TLS is on, and may only have when it is on.
    public static let scheme = "tls+tcp://"

    /// Whether `url` is served or dialed over TLS.
    public static func isTLS(_ url: String) -> Bool { url.hasPrefix(scheme) }
}

/// Listens and dials with or without TLS, refusing the mismatches: with TLS configured, an address
/// that is not `tls+tcp://` would carry plaintext; without it, a `tls+tcp://` address would run
/// TLS with no certificate and no peer check. Neither happens by accident.
enum TLSEndpoints {
    static func listen(_ socket: nng_socket, url: String, tls: TLSConfiguration?) throws(MessagingError) -> nng_listener {
        try checkScheme(url, tls: tls, operation: "listen")
        var listener = nng_listener()
        guard let tls else {
            try nngCheck(nng_listen(socket, url, &listener, 0), "listen \(url)")
            return listener
        }
        try nngCheck(nng_listener_create(&listener, socket, url), "listen \(url)")
        do {
            try withConfig(tls, mode: NNG_TLS_MODE_SERVER, operation: "listen \(url)") { config throws(MessagingError) in
                try nngCheck(nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config)), "listen \(url): set TLS")
            }
            try nngCheck(nng_listener_start(listener, 0), "listen \(url)")
        } catch {
            nng_listener_close(listener)
            throw error
        }
        return listener
    }

    /// Dials without waiting (NNG_FLAG_NONBLOCK): the peer is connected to when it is up. A
    /// refused handshake is retried like a refused connection, so a refused client never gets in
    /// but is not stopped either; its calls time out.
    static func dial(_ socket: nng_socket, url: String, tls: TLSConfiguration?) throws(MessagingError) {
        try checkScheme(url, tls: tls, operation: "dial")
        guard let tls else {
            try nngCheck(nng_dial(socket, url, nil, Int32(NNG_FLAG_NONBLOCK)), "dial \(url)")
            return
        }
        guard let serverName = tls.serverName, !serverName.isEmpty else {
            throw MessagingError(
                code: .invalidAddress, operation: "dial \(url)", text: "a TLS dialer needs the name the server's certificate must carry")
        }
        var dialer = nng_dialer()
        try nngCheck(nng_dialer_create(&dialer, socket, url), "dial \(url)")
        do {
            try withConfig(tls, mode: NNG_TLS_MODE_CLIENT, operation: "dial \(url)") { config throws(MessagingError) in
                try nngCheck(nng_tls_config_server_name(config, serverName), "dial \(url): set TLS server name")
                try nngCheck(nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config)), "dial \(url): set TLS")
            }
            try nngCheck(nng_dialer_start(dialer, Int32(NNG_FLAG_NONBLOCK)), "dial \(url)")
        } catch {
            nng_dialer_close(dialer)
            throw error
        }
    }

    private static func checkScheme(_ url: String, tls: TLSConfiguration?, operation: String) throws(MessagingError) {
        if tls != nil, !TLSConfiguration.isTLS(url) {
            throw MessagingError(
                code: .invalidAddress, operation: "\(operation) \(url)", text: "TLS is on, so the address must be \(TLSConfiguration.scheme)")
        }
        if tls == nil, TLSConfiguration.isTLS(url) {
            throw MessagingError(
                code: .invalidAddress, operation: "\(operation) \(url)",
                text: "a \(TLSConfiguration.scheme) address needs TLS certificates (TLS is off)")
        }
    }

    /// Builds an nng TLS configuration, hands it to `body` and drops our reference: a listener or
    /// dialer that took it holds its own (nng_tls_config_hold), so it lives as long as they do.
    private static func withConfig(
        _ tls: TLSConfiguration, mode: nng_tls_mode, operation: String, _ body: (OpaquePointer) throws(MessagingError) -> Void
    ) throws(MessagingError) {
        var config: OpaquePointer?
        try nngCheck(nng_tls_config_alloc(&config, mode), "\(operation): allocate TLS configuration")
        guard let config else {
            throw MessagingError(code: .other, operation: operation, text: "nng returned no TLS configuration")
        }
        defer { nng_tls_config_free(config) }
        // mbedTLS 2.28 speaks TLS 1.2 only; asking nng for 1.3 would fail with "not supported".
        try nngCheck(nng_tls_config_version(config, NNG_TLS_1_2, NNG_TLS_1_2), "\(operation): set TLS version")
        try nngCheck(nng_tls_config_auth_mode(config, NNG_TLS_AUTH_MODE_REQUIRED), "\(operation): require the peer's certificate")
        try nngCheck(nng_tls_config_ca_chain(config, tls.trustedIssuersPEM, nil), "\(operation): load trusted issuers")
        try nngCheck(nng_tls_config_own_cert(config, tls.certificatePEM, tls.privateKeyPEM, nil), "\(operation): load certificate and key")
        try body(config)
    }

    /// The address actually bound, with port 0 replaced by the port the system chose.
    static func resolvedURL(_ url: String, listener: nng_listener) -> String {
        guard url.hasPrefix("tcp://") || TLSConfiguration.isTLS(url), url.hasSuffix(":0") else { return url }
        var port: Int32 = 0
        guard nng_listener_get_int(listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0 else { return url }
        return String(url.dropLast(1)) + String(port)
    }
}
