import Foundation
import Redis

/// A Redis Cluster of the test's own: six `redis-server` processes with `cluster-enabled yes` on
/// free local ports (each with a free cluster bus port too), joined by `redis-cli --cluster create
/// --cluster-replicas 1` into three masters with one replica each. The node timeout is short so a
/// replica takes over a killed master within seconds; nothing here asserts how long it took.
public final class RedisClusterTestSet: @unchecked Sendable {
    public private(set) var nodes: [RedisTestServer]
    private let folder: URL

    /// The URL a client of this cluster uses (every node a seed).
    public var url: String {
        "redis-cluster://" + nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    public static func with<Result>(_ body: (RedisClusterTestSet) async throws -> Result) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("redis-cluster-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var nodes: [RedisTestServer] = []
        do {
            for index in 0..<6 {
                nodes.append(
                    try await RedisTestServer.launched(extraArguments: [
                        "--cluster-enabled", "yes", "--cluster-config-file", folder.appendingPathComponent("nodes-\(index).conf").path,
                        "--cluster-port", String(try freeLocalPort()), "--cluster-node-timeout", String(Patience.milliseconds(2_000)),
                    ]))
            }
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
        let set = RedisClusterTestSet(nodes: nodes, folder: folder)
        do {
            try await set.create()
            let result = try await body(set)
            await set.stop()
            return result
        } catch {
            await set.stop()
            throw error
        }
    }

    private init(nodes: [RedisTestServer], folder: URL) {
        self.nodes = nodes
        self.folder = folder
    }

    private func create() async throws {
        let cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let cli else { throw TestFailure("redis-cli not found: install the Debian package redis-tools (redis-server depends on it)") }
        let create = try ChildProcess(
            name: "redis-cli-cluster-create", path: cli,
            arguments: ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"],
            environment: [:])
        let status = await create.wait(timeout: Patience.clusterLimit)
        guard status == 0 else {
            throw TestFailure("redis-cli --cluster create ended with \(status.map(String.init) ?? "no exit (still running)"):\n\(create.log)")
        }
        create.removeLog()
        // Every node agrees the cluster is up, and every replica is in sync with its master (else
        // killing a master would leave its slots unserved).
        try await waitUntilHealthy()
    }

    /// Waits until every running node says `cluster_state:ok` and every running replica's link to
    /// its master is up.
    public func waitUntilHealthy() async throws {
        try await Patience.waitUntil("the Redis Cluster healthy on every node", within: Patience.clusterLimit, every: .milliseconds(100)) {
            for node in nodes where node.isRunning {
                let connection = RedisConnection(config: try node.config(poolSize: 1))
                guard let info = (try? await connection.command(["CLUSTER", "INFO"]))?.string, info.contains("cluster_state:ok") else {
                    return false
                }
                guard let role = try? await connection.command(["ROLE"]).array?.first?.string else { return false }
                if role == "slave" {
                    let replication = (try? await connection.command(["INFO", "replication"]))?.string ?? ""
                    if !replication.contains("master_link_status:up") { return false }
                }
            }
            return true
        }
    }

    /// The nodes that are masters now, by their own `ROLE`.
    public func masters() async throws -> [RedisTestServer] {
        var masters: [RedisTestServer] = []
        for node in nodes where node.isRunning {
            let role = try await RedisConnection(config: try node.config(poolSize: 1)).command(["ROLE"])
            if try RedisSentinelReply.isMaster(roleReply: role) { masters.append(node) }
        }
        return masters
    }

    /// The node with this port.
    public func node(port: Int) -> RedisTestServer? { nodes.first { $0.port == port } }

    /// `kill -9` of the node on `port`; it stays in `nodes` (stopped) so ports keep their meaning.
    public func kill(port: Int) async {
        await node(port: port)?.stop()
    }

    private func stop() async {
        for node in nodes { await node.stop() }
        try? FileManager.default.removeItem(at: folder)
    }
}
