import Foundation

/// One server of a (possibly multi-host) configuration.
public struct PostgresEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 5432) {
        self.host = host
        self.port = port
    }

    public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}

/// Where and how to connect. Built once at startup and passed down.
///
/// Several endpoints form libpq's multi-host form: libpq tries them in order and, with
/// `targetSessionAttributes` "read-write", keeps the first that accepts writes, so after a
/// failover a new connection finds the new primary without us knowing which server it is.
///
/// `description`, `debugDescription` and the mirror used by `dump` never contain the password.
public struct PostgresConfig: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// Tried in order by libpq; never empty.
    public var endpoints: [PostgresEndpoint]
    /// The first endpoint's host (the only one in a single-host configuration).
    public var host: String { endpoints[0].host }
    /// The first endpoint's port.
    public var port: Int { endpoints[0].port }
    public var user: String
    public var password: String?
    public var database: String
    /// The most connections the pool opens. Callers beyond this wait in FIFO order.
    public var poolSize: Int
    /// libpq's `connect_timeout`; libpq treats 1 as 2.
    public var connectTimeoutSeconds: Int
    /// libpq's `sslmode` (disable, prefer, require, verify-full, ...); nil leaves libpq's default.
    public var sslMode: String?
    /// Shown in `pg_stat_activity`.
    public var applicationName: String?
    /// libpq's `target_session_attrs` (any, read-write, read-only, primary, standby,
    /// prefer-standby); nil leaves libpq's default, any.
    public var targetSessionAttributes: String?

    /// The values libpq 15 accepts for `target_session_attrs`.
    public static let targetSessionAttributeValues: Set<String> = [
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby",
    ]

    public static let defaultPoolSize = 8
    public static let defaultConnectTimeoutSeconds = 10

    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
        poolSize: Int = PostgresConfig.defaultPoolSize,
        connectTimeoutSeconds: Int = PostgresConfig.defaultConnectTimeoutSeconds,
        sslMode: String? = nil, applicationName: String? = nil, targetSessionAttributes: String? = nil
    ) throws {
        try self.init(
            endpoints: [PostgresEndpoint(host: host, port: port)], user: user, password: password,
            database: database, poolSize: poolSize, connectTimeoutSeconds: connectTimeoutSeconds,
            sslMode: sslMode, applicationName: applicationName,
            targetSessionAttributes: targetSessionAttributes)
    }

    public init(
        endpoints: [PostgresEndpoint], user: String, password: String? = nil, database: String,
        poolSize: Int = PostgresConfig.defaultPoolSize,
        connectTimeoutSeconds: Int = PostgresConfig.defaultConnectTimeoutSeconds,
        sslMode: String? = nil, applicationName: String? = nil, targetSessionAttributes: String? = nil
    ) throws {
        self.endpoints = endpoints
        self.user = user
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.sslMode = sslMode
        self.applicationName = applicationName
        self.targetSessionAttributes = targetSessionAttributes
        try validate()
    }

    /// Parses `postgresql://user[:password]@host[:port][,host[:port]...]/dbname[?query]`
    /// (`postgres://` too), libpq's own multi-host form; the query may set `sslmode`,
    /// `application_name` and `target_session_attrs`. User, password and database name may be
    /// percent-encoded; an IPv6 host goes in brackets. Each port defaults to 5432.
    public init(
        url: String, poolSize: Int = PostgresConfig.defaultPoolSize,
        connectTimeoutSeconds: Int = PostgresConfig.defaultConnectTimeoutSeconds
    ) throws {
        // Never echo the URL itself in an error: it may hold the password.
        func invalid(_ reason: String) -> PostgresError {
            PostgresError(code: .invalidConfiguration, message: "invalid database URL: \(reason)")
        }
        func decoded(_ part: Substring, _ what: String) throws -> String {
            guard let value = String(part).removingPercentEncoding else {
                throw invalid("bad percent-encoding in the \(what)")
            }
            return value
        }

        var rest = Substring(url)
        if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else {
            throw invalid("it must start with postgresql:// or postgres://")
        }

        var queryPart: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            queryPart = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw invalid("a database name is required (…/dbname)")
        }
        let authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]

        // The last "@" splits: an unencoded "@" in a password is then still read correctly.
        guard let at = authority.lastIndex(of: "@") else {
            throw invalid("a user name is required (user@host)")
        }
        let userInfo = authority[..<at]
        let hostList = authority[authority.index(after: at)...]

        let user: String
        var password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            user = try decoded(userInfo[..<colon], "user name")
            password = try decoded(userInfo[userInfo.index(after: colon)...], "password")
        } else {
            user = try decoded(userInfo, "user name")
        }

        var endpoints: [PostgresEndpoint] = []
        for hostPort in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            endpoints.append(try Self.endpoint(hostPort, invalid: invalid))
        }

        var sslMode: String?
        var applicationName: String?
        var targetSessionAttributes: String?
        for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            let value = try decoded(parts.count > 1 ? parts[1] : "", "query parameter \(key)")
            switch key {
            case "sslmode": sslMode = value
            case "application_name": applicationName = value
            case "target_session_attrs": targetSessionAttributes = value
            default:
                throw invalid(
                    "unsupported query parameter \"\(key)\" "
                        + "(supported: sslmode, application_name, target_session_attrs)")
            }
        }

        try self.init(
            endpoints: endpoints, user: user, password: password,
            database: try decoded(path, "database name"), poolSize: poolSize,
            connectTimeoutSeconds: connectTimeoutSeconds, sslMode: sslMode,
            applicationName: applicationName, targetSessionAttributes: targetSessionAttributes)
    }

    /// One `host[:port]` or `[ipv6][:port]` of the URL's host list.
    private static func endpoint(
        _ hostPort: Substring, invalid: (String) -> PostgresError
    ) throws -> PostgresEndpoint {
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw invalid("an IPv6 host is missing its closing ]")
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let afterHost = hostPort[hostPort.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else { throw invalid("unexpected text after ]") }
                portText = afterHost.dropFirst()
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else { throw invalid("a host in the host list is empty") }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            port = value
        }
        return PostgresEndpoint(host: String(host), port: port)
    }

    private func validate() throws {
        func invalid(_ reason: String) -> PostgresError {
            PostgresError(
                code: .invalidConfiguration, message: "invalid PostgreSQL configuration: \(reason)")
        }
        if endpoints.isEmpty { throw invalid("at least one host is required") }
        for endpoint in endpoints {
            if endpoint.host.isEmpty { throw invalid("a host is empty") }
            // libpq takes the hosts as one comma-separated list: a comma would split a host.
            if endpoint.host.contains(",") { throw invalid("a host contains a comma") }
            if !(1...65535).contains(endpoint.port) { throw invalid("the port must be from 1 to 65535") }
        }
        if user.isEmpty { throw invalid("the user name is empty") }
        if database.isEmpty { throw invalid("the database name is empty") }
        if poolSize < 1 { throw invalid("poolSize must be at least 1") }
        if connectTimeoutSeconds < 1 { throw invalid("connectTimeoutSeconds must be at least 1") }
        if let targetSessionAttributes,
            !Self.targetSessionAttributeValues.contains(targetSessionAttributes)
        {
            throw invalid(
                "target_session_attrs must be one of "
                    + Self.targetSessionAttributeValues.sorted().joined(separator: ", "))
        }
        // libpq takes these as C strings: an embedded NUL would silently cut them short.
        for field in endpoints.map(\.host) + [user, password ?? "", database, sslMode ?? "", applicationName ?? ""]
        where field.utf8.contains(0) {
            throw invalid("a field contains a NUL character")
        }
    }

    public var description: String {
        let secret = password == nil ? "" : ":***"
        let hostList = endpoints.map(\.description).joined(separator: ",")
        var text = "postgresql://\(user)\(secret)@\(hostList)/\(database)"
        var query: [String] = []
        if let sslMode { query.append("sslmode=\(sslMode)") }
        if let applicationName { query.append("application_name=\(applicationName)") }
        if let targetSessionAttributes { query.append("target_session_attrs=\(targetSessionAttributes)") }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text + " (poolSize \(poolSize), connectTimeout \(connectTimeoutSeconds)s)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoints": endpoints.map(\.description), "user": user,
                "password": password == nil ? "nil" : "***", "database": database,
                "poolSize": poolSize, "connectTimeoutSeconds": connectTimeoutSeconds,
                "sslMode": sslMode as Any, "applicationName": applicationName as Any,
                "targetSessionAttributes": targetSessionAttributes as Any,
            ])
    }
}
