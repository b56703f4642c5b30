import Foundation
import Redis

/// A Redis Sentinel deployment of the test's own: a master, one replica and three sentinels
/// (quorum 2), real `redis-server` processes on free local ports, for tests that kill the master.
/// The sentinels' down-after time is short so a failover takes seconds; nothing here asserts how
/// long it took.
public final class RedisSentinelTestSet: @unchecked Sendable {
    public static let masterName = "coupon"

    public private(set) var master: RedisTestServer
    public private(set) var replica: RedisTestServer
    public let sentinelPorts: [Int]
    private var sentinels: [ChildProcess] = []
    private let folder: URL

    /// The URL a client of this deployment uses.
    public var url: String {
        "redis-sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(Self.masterName)"
    }

    /// Starts the master, the replica (synced) and the sentinels (each seeing the replica and the
    /// other two), runs `body`, then stops everything whether `body` returns or throws.
    public static func with<Result>(_ body: (RedisSentinelTestSet) async throws -> Result) async throws -> Result {
        let master = try await RedisTestServer.launched(extraArguments: [])
        let replica: RedisTestServer
        do {
            replica = try await RedisTestServer.launched(extraArguments: ["--replicaof", "127.0.0.1", String(master.port)])
        } catch {
            await master.stop()
            throw error
        }
        let set = try RedisSentinelTestSet(master: master, replica: replica)
        do {
            try await set.startSentinels()
            let result = try await body(set)
            await set.stop()
            return result
        } catch {
            set.printLogs()
            await set.stop()
            throw error
        }
    }

    private init(master: RedisTestServer, replica: RedisTestServer) throws {
        self.master = master
        self.replica = replica
        var ports: Set<Int> = [master.port, replica.port]
        sentinelPorts = try (0..<3).map { _ in
            while true {
                let port = try freeLocalPort()
                if ports.insert(port).inserted { return port }
            }
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sentinel-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    private func startSentinels() async throws {
        let executable = try RedisTestServer.findExecutable().path
        for port in sentinelPorts {
            // A sentinel rewrites its configuration file as it learns the deployment, so each has
            // its own writable one.
            let file = folder.appendingPathComponent("sentinel-\(port).conf")
            let text = """
                port \(port)
                bind 127.0.0.1
                daemonize no
                dir \(folder.path)
                sentinel monitor \(Self.masterName) 127.0.0.1 \(master.port) 2
                sentinel down-after-milliseconds \(Self.masterName) \(Patience.milliseconds(2_000))
                sentinel failover-timeout \(Self.masterName) \(Patience.milliseconds(20_000))
                sentinel parallel-syncs \(Self.masterName) 1

                """
            try Data(text.utf8).write(to: file)
            sentinels.append(try ChildProcess(name: "sentinel-\(port)", path: executable, arguments: [file.path, "--sentinel"], environment: [:]))
        }
        // Probe connections are freed with their last reference. A failover needs the replica in sync and the sentinels knowing it and each other (they
        // find both through the master, over a few seconds).
        let replicaConnection = RedisConnection(config: try replica.config(poolSize: 1))
        try await Patience.waitUntil("the replica in sync with the master", within: Patience.clusterLimit, every: .milliseconds(100)) {
            let info = (try? await replicaConnection.command(["INFO", "replication"]))?.string ?? ""
            return info.contains("master_link_status:up")
        }
        for port in sentinelPorts {
            let sentinel = RedisConnection(config: try RedisConfig(host: "127.0.0.1", port: port, poolSize: 1))
            try await Patience.waitUntil(
                "sentinel \(port) knowing the replica and two other sentinels", within: Patience.clusterLimit, every: .milliseconds(100)
            ) {
                let replicas = (try? await sentinel.command(["SENTINEL", "replicas", Self.masterName]))?.array?.count ?? 0
                let others = (try? await sentinel.command(["SENTINEL", "sentinels", Self.masterName]))?.array?.count ?? 0
                return replicas >= 1 && others >= 2
            }
        }
    }

    /// `kill -9` of the master.
    public func killMaster() async {
        await master.stop()
    }

    /// The port of the master the sentinels name now (nil while none answers).
    public func namedMasterPort() async -> Int? {
        for port in sentinelPorts {
            guard let sentinelConfig = try? RedisConfig(host: "127.0.0.1", port: port, poolSize: 1) else { continue }
            let sentinel = RedisConnection(config: sentinelConfig)
            let reply = try? await sentinel.command(["SENTINEL", "get-master-addr-by-name", Self.masterName])
            await sentinel.close()
            if let reply, let named = try? RedisSentinelReply.masterAddress(fromReply: reply) { return named.port }
        }
        return nil
    }

    private func stop() async {
        for sentinel in sentinels { await sentinel.killNow() }
        await master.stop()
        await replica.stop()
        for sentinel in sentinels { sentinel.removeLog() }
        try? FileManager.default.removeItem(at: folder)
    }

    private func printLogs() {
        for sentinel in sentinels {
            print("--- \(sentinel.name) (exit \(sentinel.exitStatus.map(String.init) ?? "running")) ---\n\(sentinel.log.suffix(4000))")
        }
    }
}
