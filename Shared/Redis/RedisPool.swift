/// Connections to Redis shared by many tasks, whatever the deployment behind the URL:
/// - `redis://`: `poolSize` connections to the one server (`RedisNodePool`);
/// - `redis-sentinel://`: the same to the master the sentinels name, re-resolved after a failover
///   (`RedisSentinelRouter`);
/// - `redis-cluster://`: `poolSize` connections per master, each command sent to the master of
///   its key's slot, following `MOVED`/`ASK` (`RedisClusterRouter`).
///
/// In all three, a command that failed on the transport is not sent again (whether it ran is
/// unknown), and an error reply fails its own command only.
public final class RedisPool: Sendable {
    public let config: RedisConfig
    private let route: Route

    private enum Route: Sendable {
        case single(RedisNodePool)
        case sentinel(RedisSentinelRouter)
        case cluster(RedisClusterRouter)
    }

    /// Does no I/O: servers are found and connected to by the first command.
    public init(config: RedisConfig) {
        self.config = config
        switch config.topology {
        case .standalone:
            route = .single(RedisNodePool(config: config))
        case .sentinel(let masterName, let sentinels):
            route = .sentinel(RedisSentinelRouter(config: config, masterName: masterName, sentinels: sentinels))
        case .cluster(let seeds):
            route = .cluster(RedisClusterRouter(config: config, seeds: seeds))
        }
    }

    /// Runs `body` with a connection of its own, for command sequences that must share one
    /// connection (`WATCH`/`MULTI`/`EXEC`). The connection goes back to the pool afterwards.
    /// With Sentinel it is a connection to the current master. A cluster has no single
    /// connection for all keys: there this throws `invalidCommand`.
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        switch route {
        case .single(let pool):
            return try await pool.withConnection(body)
        case .sentinel(let router):
            return try await router.onMaster { pool in try await pool.withConnection(body) }
        case .cluster:
            throw RedisError(.invalidCommand, "a Redis Cluster pool has no single connection for every key; send commands through the pool")
        }
    }

    public func command(_ arguments: [String]) async throws -> RedisValue {
        try await command(arguments.map { Array($0.utf8) })
    }

    public func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        switch route {
        case .single(let pool): try await pool.command(arguments)
        case .sentinel(let router): try await router.onMaster { pool in try await pool.command(arguments) }
        case .cluster(let router): try await router.command(arguments)
        }
    }

    /// Sends every command in one round trip per server; the results are in the order of
    /// `commands`. See `RedisConnection.pipeline`; in a cluster, a node that fails on the
    /// transport fails the commands sent to it (each gets the error), the others are answered.
    public func pipeline(_ commands: [[String]]) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        let raw = commands.map { command in command.map { Array($0.utf8) } }
        switch route {
        case .single(let pool): return try await pool.pipeline(raw)
        case .sentinel(let router): return try await router.onMaster({ pool in try await pool.pipeline(raw) }, failedItems: Self.failures)
        case .cluster(let router): return try await router.pipeline(raw)
        }
    }

    /// Runs `script` with `EVALSHA`. The hash comes from `SCRIPT LOAD` the first time and is cached;
    /// when the server answers `NOSCRIPT` (it restarted, or someone ran `SCRIPT FLUSH`) the script
    /// is loaded again and run once more. Errors the script raises are thrown as `serverError`.
    /// In a cluster, every key of one call must share a slot (hash tags), as Redis requires.
    public func evaluate(_ script: RedisScript, keys: [String], args: [String]) async throws -> RedisValue {
        guard let result = try await evaluateMany(script, [(keys: keys, args: args)]).first else {
            throw RedisError(.protocolError, "EVALSHA answered no result")
        }
        return try result.get()
    }

    /// Runs `script` once per call, with one `EVALSHA` each, in one pipeline per server. On one
    /// server the calls run in the order of `calls`; the calls answered `NOSCRIPT` are run again,
    /// in their order, in one more pipeline after loading the script (those are the calls after
    /// the moment the script vanished, so the order holds unless another client loads the script
    /// meanwhile). In a cluster, calls for different nodes have no order between them.
    /// An error the script raises fails its own call only; a transport error throws (in a cluster:
    /// fails the calls sent to that node).
    public func evaluateMany(
        _ script: RedisScript, _ calls: [(keys: [String], args: [String])]
    ) async throws -> [Result<RedisValue, RedisError>] {
        switch route {
        case .single(let pool):
            return try await pool.evaluateMany(script, calls)
        case .sentinel(let router):
            return try await router.onMaster({ pool in try await pool.evaluateMany(script, calls) }, failedItems: Self.failures)
        case .cluster(let router):
            return try await router.evaluateMany(script, calls)
        }
    }

    private static func failures(_ results: [Result<RedisValue, RedisError>]) -> [RedisError] {
        results.compactMap { result in
            if case .failure(let error) = result { error } else { nil }
        }
    }

    /// Fails every waiting task with `poolClosed` and closes the idle connections; connections in
    /// use are closed when they are given back. Later calls throw `poolClosed`.
    public func close() async {
        switch route {
        case .single(let pool): await pool.close()
        case .sentinel(let router): await router.close()
        case .cluster(let router): await router.close()
        }
    }

    /// How many tasks wait for a connection right now (one server only): tests wait on it for a
    /// queue to form instead of guessing how long that takes.
    var waitingCount: Int {
        if case .single(let pool) = route { pool.waitingCount } else { 0 }
    }

    /// The `MOVED` and `ASK` answers a cluster pool followed (nil for the other deployments).
    var clusterRedirectsFollowed: (moved: Int, ask: Int)? {
        if case .cluster(let router) = route { router.redirectsFollowed.withLock { $0 } } else { nil }
    }

    /// `SCRIPT LOAD`'s reply: the script's SHA1 as 40 lowercase hex digits. Pure and total on any
    /// `RedisValue`; anything else throws `unexpectedReply` rather than being cached and sent as
    /// the name of every later `EVALSHA`.
    public static func scriptHash(fromReply reply: RedisValue) throws(RedisError) -> String {
        guard let hash = reply.string, hash.utf8.count == 40,
            hash.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else {
            throw RedisError(.unexpectedReply, "SCRIPT LOAD answered \(reply), not a SHA1 in hex")
        }
        return hash
    }
}
