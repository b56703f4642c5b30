internal import CNNG

/// An `http://host[:port][/path][?query]` URL as nng parses it, for the HTTP server (what to
/// listen on) and the client (where to POST).
public struct HTTPURL: Sendable, Equatable {
    public var host: String
    public var port: String
    /// The path with its query, "/" when the URL has none.
    public var requestTarget: String

    /// `host:port` as nng's tcp transport and the Host header spell it (an IPv6 host in brackets).
    public var authority: String { (host.contains(":") ? "[\(host)]" : host) + ":" + port }
    var hostHeader: String { port == "80" ? (host.contains(":") ? "[\(host)]" : host) : authority }

    /// `operation` names what the URL is for in the error ("listen http://…").
    public init(parsing url: String, for operation: @autoclosure () -> String = "parse") throws(MessagingError) {
        var parsed: UnsafeMutablePointer<nng_url>?
        try nngCheck(nng_url_parse(&parsed, url), "\(operation()) \(url)")
        defer { nng_url_free(parsed) }
        guard let parsed, String(cString: parsed.pointee.u_scheme) == "http" else {
            throw MessagingError(code: .invalidAddress, operation: "\(operation()) \(url)", text: "only http:// URLs are served or posted to")
        }
        host = String(cString: parsed.pointee.u_hostname)
        guard !host.isEmpty else { throw MessagingError(code: .invalidAddress, operation: "\(operation()) \(url)", text: "no host") }
        let port = String(cString: parsed.pointee.u_port)
        self.port = port.isEmpty ? "80" : port
        let requestURI = String(cString: parsed.pointee.u_requri)
        requestTarget = requestURI.isEmpty ? "/" : requestURI
    }
}
