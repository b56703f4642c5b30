/// Where and how to reach Redis. Built once from configuration and passed down explicitly.
///
/// The URL form is `redis://[[user]:password@]host[:port][/db]`; the password may be
/// percent-encoded. `timeoutMilliseconds` bounds both connecting and every command, so a call
/// never blocks its connection's thread for longer than that.
public struct RedisConfig: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6+). With a password but no user, `AUTH password` is sent.
    public var username: String?
    public var password: String?
    /// Database index selected with `SELECT` after connecting when it is not 0.
    public var database: Int
    public var poolSize: Int
    public var timeoutMilliseconds: Int

    public static let defaultPort = 6379

    public init(
        host: String = "127.0.0.1",
        port: Int = RedisConfig.defaultPort,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = 8,
        timeoutMilliseconds: Int = 2000
    ) throws(RedisError) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.timeoutMilliseconds = timeoutMilliseconds
        try validate()
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    public init(url: String, poolSize: Int = 8, timeoutMilliseconds: Int = 2000) throws(RedisError) {
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            throw RedisError(.invalidConfiguration, "a Redis URL starts with redis://")
        }
        var rest = Substring(url.dropFirst(scheme.count))

        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon])
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            } else {
                // `redis://secret@host` is the common shorthand for a password without a user.
                password = try Self.percentDecoded(userInfo)
            }
        }

        let (host, port) = try Self.hostAndPort(rest)

        var database = 0
        if !path.isEmpty {
            guard let parsed = Int(path), parsed >= 0 else {
                throw RedisError(.invalidConfiguration, "the database in a Redis URL is a number, not '\(path)'")
            }
            database = parsed
        }

        try self.init(
            host: host, port: port, username: username, password: password, database: database,
            poolSize: poolSize, timeoutMilliseconds: timeoutMilliseconds)
    }

    private func validate() throws(RedisError) {
        if host.isEmpty { throw RedisError(.invalidConfiguration, "the Redis host is empty") }
        if !(1...65535).contains(port) {
            throw RedisError(.invalidConfiguration, "the Redis port \(port) is outside 1...65535")
        }
        if database < 0 { throw RedisError(.invalidConfiguration, "the Redis database index is negative") }
        if poolSize < 1 { throw RedisError(.invalidConfiguration, "the Redis pool size must be at least 1") }
        if timeoutMilliseconds < 1 {
            throw RedisError(.invalidConfiguration, "the Redis timeout must be at least 1 ms")
        }
    }

    private static func hostAndPort(_ authority: Substring) throws(RedisError) -> (String, Int) {
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            // IPv6 literal: [::1]:6379
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisError(.invalidConfiguration, "unterminated IPv6 address in Redis URL")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw RedisError(.invalidConfiguration, "unexpected text after the IPv6 address in Redis URL")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { throw RedisError(.invalidConfiguration, "a Redis URL needs a host") }
        guard let portText else { return (String(host), defaultPort) }
        guard let port = Int(portText) else {
            throw RedisError(.invalidConfiguration, "the port in a Redis URL is a number, not '\(portText)'")
        }
        return (String(host), port)
    }

    private static func percentDecoded(_ text: Substring) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
            else { throw RedisError(.invalidConfiguration, "bad percent-encoding in the Redis URL credentials") }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

// Both descriptions are written out so that neither `print` nor `String(reflecting:)` shows the
// password; only whether one is set.
extension RedisConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        var credentials = ""
        if username != nil || password != nil {
            credentials = "\(username ?? "")\(password == nil ? "" : ":***")@"
        }
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "redis://\(credentials)\(hostText):\(port)/\(database)"
            + " (pool \(poolSize), timeout \(timeoutMilliseconds) ms)"
    }

    public var debugDescription: String { "RedisConfig(\(description))" }
}

// `dump()` and debuggers walk a Mirror; this one leaves the password out.
extension RedisConfig: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "username": username as Any, "hasPassword": password != nil,
                "database": database, "poolSize": poolSize, "timeoutMilliseconds": timeoutMilliseconds,
            ])
    }
}
