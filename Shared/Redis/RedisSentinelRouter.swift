import Synchronization

/// Finds the master of a Sentinel deployment and keeps a pool to it until it stops being the master.
///
/// Resolving: the sentinels are asked in the order configured (`SENTINEL get-master-addr-by-name`);
/// the first address one names is connected to and asked `ROLE`, and used only if it says
/// `master` (a sentinel that has not seen the failover yet names the old one; an old master that
/// came back is a replica until it is told so). A sentinel that is down or names a non-master is
/// passed over for the next.
///
/// Following a failover: a call that fails on the connection (the master died: refused, reset,
/// timed out) or is answered `READONLY` (the server is a replica now), `LOADING` (it restarted and
/// is reading its data) or `MASTERDOWN` drops the pool, and the next call resolves again. The
/// failed call itself is not sent again: whether it ran is unknown to this layer, and its caller
/// decides (the claim path refuses and rebuilds from PostgreSQL).
final class RedisSentinelRouter: Sendable {
    private let config: RedisConfig
    private let masterName: String
    private let sentinels: [RedisEndpoint]
    private let current = Mutex<RedisNodePool?>(nil)
    private let closed = Atomic<Bool>(false)

    init(config: RedisConfig, masterName: String, sentinels: [RedisEndpoint]) {
        self.config = config
        self.masterName = masterName
        self.sentinels = sentinels
    }

    /// Runs `body` on the master's pool; a failure that means the master changed drops the pool
    /// before it is rethrown. `failedItems` reports the same for a pipeline's per-command results.
    func onMaster<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisNodePool) async throws -> Result,
        failedItems: (Result) -> [RedisError] = { _ in [] }
    ) async throws -> Result {
        let pool = try await master()
        let result: Result
        do {
            result = try await body(pool)
        } catch let error as RedisError where Self.meansMasterChanged(error) {
            await drop(pool)
            throw error
        }
        if failedItems(result).contains(where: Self.meansMasterChanged) { await drop(pool) }
        return result
    }

    func close() async {
        closed.store(true, ordering: .sequentiallyConsistent)
        let pool = current.withLock { current in
            defer { current = nil }
            return current
        }
        await pool?.close()
    }

    /// Which failures mean "this server is not the master to use any more".
    static func meansMasterChanged(_ error: RedisError) -> Bool {
        if [.connectionFailed, .timeout, .connectionClosed, .protocolError].contains(error.code) { return true }
        return ["READONLY", "LOADING", "MASTERDOWN"].contains(error.serverErrorKind ?? "")
    }

    private func master() async throws -> RedisNodePool {
        if closed.load(ordering: .sequentiallyConsistent) { throw RedisError(.poolClosed, "the Redis pool is closed") }
        if let pool = current.withLock({ $0 }) { return pool }
        let resolved = try await resolve()
        // Several calls may have resolved at once; the first to finish is kept, the rest closed.
        let kept = current.withLock { current in
            if current == nil, !closed.load(ordering: .sequentiallyConsistent) { current = resolved }
            return current
        }
        guard let kept else {
            await resolved.close()
            throw RedisError(.poolClosed, "the Redis pool is closed")
        }
        if kept !== resolved { await resolved.close() }
        return kept
    }

    private func drop(_ pool: RedisNodePool) async {
        let dropped = current.withLock { current in
            guard current === pool else { return false }
            current = nil
            return true
        }
        if dropped { await pool.close() }
    }

    private func resolve() async throws -> RedisNodePool {
        var failures: [String] = []
        for sentinel in sentinels {
            let asked = RedisConnection(config: config.sentinel(sentinel))
            let named: RedisEndpoint?
            do {
                named = try RedisSentinelReply.masterAddress(
                    fromReply: try await asked.command(["SENTINEL", "get-master-addr-by-name", masterName]))
            } catch {
                failures.append("sentinel \(sentinel): \(error)")
                await asked.close()
                continue
            }
            await asked.close()
            guard let named else {
                failures.append("sentinel \(sentinel) knows no master '\(masterName)'")
                continue
            }
            let pool = RedisNodePool(config: config.server(named))
            do {
                if try RedisSentinelReply.isMaster(roleReply: try await pool.command(["ROLE"])) { return pool }
                failures.append("sentinel \(sentinel) named \(named), which is not a master (yet)")
            } catch {
                failures.append("sentinel \(sentinel) named \(named): \(error)")
            }
            await pool.close()
        }
        throw RedisError(
            .connectionFailed, "no sentinel gave a reachable master '\(masterName)': " + failures.joined(separator: "; "))
    }
}

/// The replies of the Sentinel handshake, read pure and total on any `RedisValue`
/// (Tests/Fuzz/RedisReplyFuzzer.swift).
public enum RedisSentinelReply {
    /// `SENTINEL get-master-addr-by-name`'s reply: `[host, port]`, or nil (the sentinel watches no
    /// master of that name). Anything else throws `unexpectedReply`.
    public static func masterAddress(fromReply reply: RedisValue) throws(RedisError) -> RedisEndpoint? {
        if reply.isNull { return nil }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, !host.isEmpty, host.utf8.count <= 255,
            let port = parts[1].string.flatMap({ Int($0) }), (1...65535).contains(port)
        else {
            throw RedisError(.unexpectedReply, "SENTINEL get-master-addr-by-name answered \(reply), not [host, port]")
        }
        return RedisEndpoint(host: host, port: port)
    }

    /// `ROLE`'s reply: an array whose first element is `master`, `slave` or `sentinel`. True only
    /// for `master`; a reply of another shape throws `unexpectedReply`.
    public static func isMaster(roleReply reply: RedisValue) throws(RedisError) -> Bool {
        guard let parts = reply.array, let role = parts.first?.string else {
            throw RedisError(.unexpectedReply, "ROLE answered \(reply), not [role, …]")
        }
        return role == "master"
    }
}
