import Foundation
import Postgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A highly available PostgreSQL of the test's own: one etcd and two Patroni nodes (a primary and
/// a synchronous standby, `synchronous_mode: true`) on free local ports, in a temporary folder,
/// for tests that kill the primary. The real engines (Debian packages `patroni`, `etcd-server`,
/// `postgresql`); if one is missing the test fails, it never skips.
///
/// Patroni runs PostgreSQL as the user it runs as, and PostgreSQL refuses root: as root (CI) each
/// node runs under `runuser -u postgres` on folders that user owns, as PostgresTestServer does.
/// The TTL and loop are small so a failover takes seconds; nothing here asserts how long it took.
public final class PatroniCluster: Sendable {
    typealias Failure = TestFailure

    /// The database `with` creates before the body runs.
    public static let defaultDatabase = "coupon"

    /// One Patroni node: its PostgreSQL and REST API ports, its folder.
    public struct Node: Sendable {
        public let name: String
        public let postgresPort: Int
        public let restPort: Int
        let folder: URL
        var dataFolder: URL { folder.appendingPathComponent("data") }
        var configFile: URL { folder.appendingPathComponent("patroni.yml") }
        var pidFile: URL { folder.appendingPathComponent("patroni.pid") }
    }

    public let nodes: [Node]
    private let etcdClientPort: Int
    private let etcdPeerPort: Int
    private let folder: URL
    private let binaries: URL
    private let owner: PostgresOwner?
    private let etcd = Mutex<ChildProcess?>(nil)
    private let patronis = Mutex<[String: ChildProcess]>([:])

    /// Starts etcd and both nodes, waits for a leader with a streaming synchronous standby,
    /// creates the database `coupon`, runs `body`, then stops everything and removes the folder
    /// whether `body` returns or throws.
    public static func with<Result>(_ body: (PatroniCluster) async throws -> Result) async throws -> Result {
        let cluster = try PatroniCluster()
        do {
            try await cluster.start()
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            cluster.printLogs()
            await cluster.stop()
            throw error
        }
    }

    private init() throws {
        binaries = try PostgresTestServer.findBinaries()
        for tool in ["/usr/bin/patroni", "/usr/bin/etcd", "/usr/bin/curl"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure("\(tool) is missing: install the Debian packages patroni, etcd-server and curl (Deploy/test does)")
        }
        var ports = Set<Int>()
        func port() throws -> Int {
            while true {
                let candidate = try freeLocalPort()
                if ports.insert(candidate).inserted { return candidate }
            }
        }
        etcdClientPort = try port()
        etcdPeerPort = try port()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("patroni-test-\(UUID().uuidString.prefix(8))")
        folder = root
        nodes = try (1...2).map { index in
            Node(
                name: "node\(index)", postgresPort: try port(), restPort: try port(),
                folder: root.appendingPathComponent("node\(index)"))
        }
        owner = geteuid() == 0 ? try PostgresOwner.lookUp() : nil
        for node in nodes {
            try FileManager.default.createDirectory(at: node.folder, withIntermediateDirectories: true)
            try Data(configuration(of: node).utf8).write(to: node.configFile)
        }
        if let owner {
            // The whole tree to the postgres user: PostgreSQL insists its data folder is its own.
            try owner.makeReachable(folder)
            for path in [folder.path] + nodes.flatMap({ [$0.folder.path, $0.configFile.path] }) {
                guard chown(path, owner.uid, owner.gid) == 0 else {
                    throw Failure("cannot give \(path) to the postgres user: \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// libpq's multi-host URL over both nodes: a new connection lands on whichever accepts writes.
    public func url(database: String = PatroniCluster.defaultDatabase) -> String {
        let hosts = nodes.map { "127.0.0.1:\($0.postgresPort)" }.joined(separator: ",")
        return "postgresql://postgres@\(hosts)/\(database)?target_session_attrs=read-write"
    }

    private func configuration(of node: Node) -> String {
        // ttl ≥ loop_wait + 2 × retry_timeout, as Patroni requires. Trust authentication on
        // 127.0.0.1 only, for the test's own user and the replication connection.
        """
        scope: coupon-test
        name: \(node.name)
        restapi:
          listen: 127.0.0.1:\(node.restPort)
          connect_address: 127.0.0.1:\(node.restPort)
        etcd3:
          hosts: 127.0.0.1:\(etcdClientPort)
        bootstrap:
          dcs:
            ttl: 10
            loop_wait: 1
            retry_timeout: 3
            maximum_lag_on_failover: 1048576
            synchronous_mode: true
            postgresql:
              use_pg_rewind: true
              parameters:
                wal_level: replica
                hot_standby: "on"
                max_wal_senders: 5
                max_replication_slots: 5
                wal_log_hints: "on"
          initdb:
            - encoding: UTF8
            - locale: C
            - auth: trust
          pg_hba:
            - host replication replicator 127.0.0.1/32 trust
            - host all all 127.0.0.1/32 trust
        postgresql:
          listen: 127.0.0.1:\(node.postgresPort)
          connect_address: 127.0.0.1:\(node.postgresPort)
          data_dir: \(node.dataFolder.path)
          bin_dir: \(binaries.path)
          pgpass: \(node.folder.appendingPathComponent("pgpass").path)
          authentication:
            superuser:
              username: postgres
            replication:
              username: replicator
          parameters:
            unix_socket_directories: ''
            max_connections: 100
            fsync: "on"
            synchronous_commit: "on"

        """
    }

    private func start() async throws {
        let etcdFolder = folder.appendingPathComponent("etcd")
        let client = "http://127.0.0.1:\(etcdClientPort)"
        let peer = "http://127.0.0.1:\(etcdPeerPort)"
        etcd.withLock {
            $0 = try? ChildProcess(
                name: "etcd-\(etcdClientPort)", path: "/usr/bin/etcd",
                arguments: [
                    "--name", "etcd", "--data-dir", etcdFolder.path, "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "etcd=\(peer)",
                ], environment: [:])
        }
        guard etcd.withLock({ $0 != nil }) else { throw Failure("cannot start /usr/bin/etcd") }
        try await waitFor("etcd to answer on \(client)") { await self.get("\(client)/version")?.contains("etcdserver") == true }
        for node in nodes { try startNode(node.name) }
        try await waitForLeaderAndSyncStandby()
        let pool = PostgresPool(config: try PostgresConfig(url: url(database: "postgres"), poolSize: 1))
        do {
            // Checked first: a CREATE whose answer was lost must not fail its own retry.
            try await pool.untilReachable(patience: Patience.clusterLimit) {
                let exists = try await pool.query("SELECT count(*)::bigint FROM pg_database WHERE datname = $1", [Self.defaultDatabase])
                if try exists[0].decode(0, as: Int64.self) == 0 {
                    _ = try await pool.execute("CREATE DATABASE " + SQL.identifier(Self.defaultDatabase))
                }
            }
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
        // On every node before anyone connects: libpq, given several hosts, does not go on to the
        // next one when the first refuses the session (a standby that has not replayed the CREATE
        // DATABASE yet answers "database does not exist").
        try await waitFor("database \(Self.defaultDatabase) on every node") {
            for node in self.nodes {
                guard await self.hasDatabase(node) else { return false }
            }
            return true
        }
    }

    /// Starts (or starts again) the Patroni node `name`; a node whose leader was lost rejoins as
    /// a standby (pg_rewind when its timeline diverged).
    public func startNode(_ name: String) throws {
        guard let node = nodes.first(where: { $0.name == name }) else { throw Failure("no Patroni node \(name)") }
        // The shell writes its own pid, then becomes Patroni: the pid to kill for "the node
        // dies", which runuser (a parent that waits) is not.
        let script = "cd / && echo $$ > \"$1\" && exec /usr/bin/patroni \"$2\""
        var command = ["/bin/sh", "-c", script, "sh", node.pidFile.path, node.configFile.path]
        if let owner { command = [owner.runuser, "-u", "postgres", "--"] + command }
        let process = try ChildProcess(
            name: "patroni-\(node.name)-\(node.postgresPort)", path: command[0], arguments: Array(command.dropFirst()), environment: [:])
        patronis.withLock { $0[name] = process }
    }

    /// What `GET /cluster` on any live node says: member name → (role, state).
    public func members() async -> [String: (role: String, state: String)] {
        for node in nodes {
            guard let text = await get("http://127.0.0.1:\(node.restPort)/cluster"),
                let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let members = object["members"] as? [[String: Any]]
            else { continue }
            var result: [String: (role: String, state: String)] = [:]
            for member in members {
                guard let name = member["name"] as? String else { continue }
                result[name] = ((member["role"] as? String) ?? "", (member["state"] as? String) ?? "")
            }
            return result
        }
        return [:]
    }

    /// The name of the running leader, waiting (up to `Patience.clusterLimit`) until there is one.
    public func leader() async throws -> String {
        let deadline = ContinuousClock.now + Patience.clusterLimit
        while true {
            if let found = await members().first(where: { $0.value.role == "leader" && $0.value.state == "running" }) { return found.key }
            guard ContinuousClock.now < deadline else { throw Failure("no Patroni leader within \(Patience.clusterLimit)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Waits until there is a leader and the other node is its synchronous standby, so a commit
    /// acknowledged from now on is on both servers. Asked of Patroni (its /sync key, which decides
    /// who may be promoted) and of the leader's PostgreSQL itself (a streaming `sync` replica):
    /// just after a kill Patroni's view may still be the one from before it.
    public func waitForLeaderAndSyncStandby() async throws {
        try await waitFor("a Patroni leader with a synchronous standby") {
            let members = await self.members()
            guard let leader = members.first(where: { $0.value.role == "leader" && $0.value.state == "running" })?.key,
                members.values.contains(where: { $0.role == "sync_standby" && ($0.state == "running" || $0.state == "streaming") }),
                let node = self.nodes.first(where: { $0.name == leader })
            else { return false }
            return await self.streamsToSyncStandby(node)
        }
    }

    private func hasDatabase(_ node: Node) async -> Bool {
        guard
            let config = try? PostgresConfig(
                url: "postgresql://postgres@127.0.0.1:\(node.postgresPort)/\(Self.defaultDatabase)", poolSize: 1, connectTimeoutSeconds: 2)
        else { return false }
        let pool = PostgresPool(config: config)
        let answered = (try? await pool.query("SELECT 1", [])) != nil
        await pool.close()
        return answered
    }

    private func streamsToSyncStandby(_ node: Node) async -> Bool {
        guard
            let config = try? PostgresConfig(
                url: "postgresql://postgres@127.0.0.1:\(node.postgresPort)/postgres", poolSize: 1, connectTimeoutSeconds: 2)
        else { return false }
        let pool = PostgresPool(config: config)
        let rows = try? await pool.query(
            "SELECT count(*)::bigint FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming' AND NOT pg_is_in_recovery()", [])
        await pool.close()
        return ((try? rows?[0].decode(0, as: Int64.self)) ?? 0) > 0
    }

    /// `kill -9` of the leader's postmaster (Patroni stays and reacts); the leader's name.
    @discardableResult
    public func killLeaderPostmaster() async throws -> String {
        let name = try await leader()
        guard let node = nodes.first(where: { $0.name == name }), let postmaster = pid(in: node.dataFolder.appendingPathComponent("postmaster.pid"))
        else { throw Failure("leader \(name) has no postmaster.pid") }
        kill(postmaster, SIGKILL)
        try await waitFor("postmaster \(postmaster) of \(name) to end") { !PostgresTestServer.isAlive(postmaster) }
        return name
    }

    /// `kill -9` of the whole leader node, Patroni and its postmaster; the leader's name.
    @discardableResult
    public func killLeaderNode() async throws -> String {
        let name = try await leader()
        try await killNode(name)
        return name
    }

    /// `kill -9` of Patroni and the postmaster of node `name`, waiting until both are gone.
    public func killNode(_ name: String) async throws {
        guard let node = nodes.first(where: { $0.name == name }) else { throw Failure("no Patroni node \(name)") }
        let victims = [pid(in: node.pidFile), pid(in: node.dataFolder.appendingPathComponent("postmaster.pid"))].compactMap { $0 }
        for victim in victims { kill(victim, SIGKILL) }
        if let process = patronis.withLock({ $0[name] }) { _ = await process.wait(timeout: Patience.limit) }
        try await waitFor("node \(name)'s processes to end") { victims.allSatisfy { !PostgresTestServer.isAlive($0) } }
    }

    /// Stops every node (SIGTERM to Patroni, which stops its PostgreSQL; SIGKILL if that takes too
    /// long), then etcd, and removes the folder.
    public func stop() async {
        for node in nodes {
            guard let process = patronis.withLock({ $0.removeValue(forKey: node.name) }) else { continue }
            if let patroni = pid(in: node.pidFile), process.isRunning { kill(patroni, SIGTERM) }
            if await process.wait(timeout: Patience.scaled(.seconds(30))) == nil {
                if let patroni = pid(in: node.pidFile) { kill(patroni, SIGKILL) }
                await process.killNow()
            }
            if let postmaster = pid(in: node.dataFolder.appendingPathComponent("postmaster.pid")), PostgresTestServer.isAlive(postmaster) {
                kill(postmaster, SIGKILL)
            }
            process.removeLog()
        }
        if let process = etcd.withLock({ process in
            defer { process = nil }
            return process
        }) {
            await process.terminate()
            process.removeLog()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// The last lines of each node's and etcd's log, for a failing test.
    public func printLogs() {
        let processes = patronis.withLock { Array($0.values) } + [etcd.withLock { $0 }].compactMap { $0 }
        for process in processes {
            let lines = process.log.split(separator: "\n", omittingEmptySubsequences: false).suffix(40)
            print("--- \(process.name) ---\n" + lines.joined(separator: "\n"))
        }
    }

    private func waitFor(_ what: String, _ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + Patience.clusterLimit
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw Failure("gave up after \(Patience.clusterLimit) waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The body of a GET through curl (never Foundation's Process in tests), or nil on failure.
    private func get(_ url: String) async -> String? {
        guard
            let process = try? ChildProcess(
                name: "curl-\(UUID().uuidString.prefix(8))", path: "/usr/bin/curl", arguments: ["-sf", "--max-time", "2", url],
                environment: [:])
        else { return nil }
        defer { process.removeLog() }
        guard let status = await process.wait(timeout: Patience.scaled(.seconds(10))) else {
            await process.killNow()
            return nil
        }
        return status == 0 ? process.log : nil
    }

    private func pid(in file: URL) -> pid_t? {
        guard let text = try? String(contentsOf: file, encoding: .utf8), let line = text.split(separator: "\n").first else { return nil }
        return pid_t(line.trimmingCharacters(in: .whitespaces))
    }
}
