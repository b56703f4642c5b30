/// One Redis server's address: a sentinel, a cluster node, or the master a sentinel named.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How the servers behind one URL are arranged, and so how a `RedisPool` finds the one to ask.
public enum RedisTopology: Sendable, Equatable {
    /// One server at `RedisConfig.host`/`port` (`redis://`).
    case standalone
    /// A master found through Sentinel (`redis-sentinel://`): the sentinels are asked in turn for
    /// the master called `masterName`, and asked again after a failover.
    case sentinel(masterName: String, sentinels: [RedisEndpoint])
    /// A Redis Cluster (`redis-cluster://`): the seeds are asked for the slot map, and each key goes
    /// to the master that serves its slot.
    case cluster(seeds: [RedisEndpoint])
}

/// Where and how to reach Redis. Built once from configuration and passed down explicitly.
///
/// Three URL forms (the password may be percent-encoded in each):
/// - `redis://[[user]:password@]host[:port][/db]`: one server;
/// - `redis-sentinel://[[user]:password@]host[:port],host[:port],…/masterName[/db]`: the sentinels
///   (port 26379 when left out) and the name of the master they watch. The credentials are the
///   master's; the sentinels are asked without them;
/// - `redis-cluster://[[user]:password@]host[:port],host[:port],…`: seed nodes of a Redis Cluster,
///   which has database 0 only.
///
/// `timeoutMilliseconds` bounds both connecting and every command, so a call never blocks its
/// connection's thread for longer than that. `poolSize` is the number of connections per server.
public struct RedisConfig: Sendable, Equatable {
    /// The server of a `redis://` URL; the first sentinel or seed of the other forms.
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6+). With a password but no user, `AUTH password` is sent.
    public var username: String?
    public var password: String?
    /// Database index selected with `SELECT` after connecting when it is not 0.
    public var database: Int
    public var poolSize: Int
    public var timeoutMilliseconds: Int
    public var topology: RedisTopology

    /// The URL schemes `init(url:)` reads, for configuration checks that name them.
    public static let urlSchemes = ["redis", "redis-sentinel", "redis-cluster"]
    public static let defaultPort = 6379
    public static let defaultSentinelPort = 26379
    /// More addresses than this in one URL is a mistake, not a deployment.
    public static let maxEndpoints = 64

    public init(
        host: String = "127.0.0.1",
        port: Int = RedisConfig.defaultPort,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = 8,
        timeoutMilliseconds: Int = 2000,
        topology: RedisTopology = .standalone
    ) throws(RedisError) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.timeoutMilliseconds = timeoutMilliseconds
        self.topology = topology
        try validate()
    }

    /// Parses any of the three URL forms (see the type's comment).
    public init(url: String, poolSize: Int = 8, timeoutMilliseconds: Int = 2000) throws(RedisError) {
        let schemes: [(String, Kind)] = [("redis://", .standalone), ("redis-sentinel://", .sentinel), ("redis-cluster://", .cluster)]
        guard let (scheme, kind) = schemes.first(where: { url.hasPrefix($0.0) }) else {
            throw RedisError(.invalidConfiguration, "a Redis URL starts with redis://, redis-sentinel:// or redis-cluster://")
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

        let topology: RedisTopology
        let first: RedisEndpoint
        var databaseText = path
        switch kind {
        case .standalone:
            let (host, port) = try Self.hostAndPort(rest, defaultPort: Self.defaultPort)
            first = RedisEndpoint(host: host, port: port)
            topology = .standalone
        case .sentinel:
            let sentinels = try Self.endpoints(rest, defaultPort: Self.defaultSentinelPort, what: "sentinel")
            let masterName = path.prefix { $0 != "/" }
            databaseText = path.dropFirst(masterName.count).dropFirst()
            guard !masterName.isEmpty else {
                throw RedisError(.invalidConfiguration, "a redis-sentinel:// URL names its master after the sentinels: …/masterName")
            }
            guard masterName.utf8.count <= 256, masterName.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw RedisError(.invalidConfiguration, "the master name in a redis-sentinel:// URL is at most 256 printable ASCII characters")
            }
            first = sentinels[0]
            topology = .sentinel(masterName: String(masterName), sentinels: sentinels)
        case .cluster:
            let seeds = try Self.endpoints(rest, defaultPort: Self.defaultPort, what: "cluster seed")
            guard path.isEmpty || path == "0" else {
                throw RedisError(.invalidConfiguration, "a Redis Cluster has database 0 only, not '\(path)'")
            }
            first = seeds[0]
            topology = .cluster(seeds: seeds)
        }

        var database = 0
        if !databaseText.isEmpty {
            guard let parsed = Int(databaseText), parsed >= 0 else {
                throw RedisError(.invalidConfiguration, "the database in a Redis URL is a number, not '\(databaseText)'")
            }
            database = parsed
        }

        try self.init(
            host: first.host, port: first.port, username: username, password: password, database: database,
            poolSize: poolSize, timeoutMilliseconds: timeoutMilliseconds, topology: topology)
    }

    private enum Kind { case standalone, sentinel, cluster }

    /// The settings for one server of a sentinel or cluster deployment: its address, with this
    /// configuration's credentials, database, pool size and timeout.
    public func server(_ endpoint: RedisEndpoint) -> RedisConfig {
        var config = self
        config.host = endpoint.host
        config.port = endpoint.port
        config.topology = .standalone
        return config
    }

    /// The settings for asking a sentinel: its address, no credentials, database 0, one connection.
    func sentinel(_ endpoint: RedisEndpoint) -> RedisConfig {
        var config = server(endpoint)
        config.username = nil
        config.password = nil
        config.database = 0
        config.poolSize = 1
        return config
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
        switch topology {
        case .standalone:
            break
        case .sentinel(let masterName, let sentinels):
            if masterName.isEmpty { throw RedisError(.invalidConfiguration, "the Sentinel master name is empty") }
            if sentinels.isEmpty { throw RedisError(.invalidConfiguration, "a Sentinel configuration needs at least one sentinel") }
        case .cluster(let seeds):
            if seeds.isEmpty { throw RedisError(.invalidConfiguration, "a Redis Cluster configuration needs at least one seed node") }
            if database != 0 { throw RedisError(.invalidConfiguration, "a Redis Cluster has database 0 only") }
        }
    }

    /// `host[:port],host[:port],…`, at least one and at most `maxEndpoints`.
    private static func endpoints(_ list: Substring, defaultPort: Int, what: String) throws(RedisError) -> [RedisEndpoint] {
        let parts = list.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= maxEndpoints else {
            throw RedisError(.invalidConfiguration, "a Redis URL lists \(parts.count) \(what) addresses, at most \(maxEndpoints)")
        }
        var endpoints: [RedisEndpoint] = []
        for part in parts {
            guard !part.isEmpty else { throw RedisError(.invalidConfiguration, "an empty \(what) address in a Redis URL (two commas?)") }
            let (host, port) = try hostAndPort(part, defaultPort: defaultPort)
            guard (1...65535).contains(port) else {
                throw RedisError(.invalidConfiguration, "the \(what) port \(port) is outside 1...65535")
            }
            endpoints.append(RedisEndpoint(host: host, port: port))
        }
        return endpoints
    }

    private static func hostAndPort(_ authority: Substring, defaultPort: Int) throws(RedisError) -> (String, Int) {
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
        let target: String
        switch topology {
        case .standalone:
            let hostText = host.contains(":") ? "[\(host)]" : host
            target = "redis://\(credentials)\(hostText):\(port)/\(database)"
        case .sentinel(let masterName, let sentinels):
            target = "redis-sentinel://\(credentials)\(sentinels.map(\.description).joined(separator: ","))/\(masterName)/\(database)"
        case .cluster(let seeds):
            target = "redis-cluster://\(credentials)\(seeds.map(\.description).joined(separator: ","))"
        }
        return target + " (pool \(poolSize), timeout \(timeoutMilliseconds) ms)"
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
                "topology": topology,
            ])
    }
}
