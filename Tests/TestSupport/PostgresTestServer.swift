import Foundation
import Postgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PostgreSQL server of the test's own, in a temporary folder on a free local port, for tests
/// that stop or restart it: the server Deploy/test starts (TEST_DATABASE_URL) is shared by suites
/// running in parallel and must never go away. fsync and synchronous_commit stay on, as in
/// production, so a restart loses nothing that was acknowledged. If the PostgreSQL server binaries
/// are missing the test fails (it never skips): the Debian package is `postgresql`.
///
/// initdb and pg_ctl refuse to run as root; as root (CI) they run as the `postgres` system user on
/// a folder that user owns, as Deploy/lib.sh does.
public final class PostgresTestServer: Sendable {
    typealias Failure = TestFailure

    /// The database `with` creates before the body runs.
    public static let defaultDatabase = "coupon"

    public let port: Int
    private let binaries: URL
    private let folder: URL
    private let owner: PostgresOwner?
    private let isRunning = Mutex(false)

    private var dataFolder: URL { folder.appendingPathComponent("data") }
    private var logFile: URL { folder.appendingPathComponent("postgres.log") }

    /// Initialises and starts a server with the database `coupon`, runs `body`, then stops the
    /// server and removes its folder whether `body` returns or throws.
    public static func with<Result>(_ body: (PostgresTestServer) async throws -> Result) async throws -> Result {
        let server = try await started()
        do {
            let result = try await body(server)
            await server.stop()
            server.removeFolder()
            return result
        } catch {
            await server.stop()
            server.removeFolder()
            throw error
        }
    }

    /// A started server with its database. The free port can be taken by another test (or another
    /// run on the same machine) between choosing and binding it; then it starts anew on a new port.
    private static func started() async throws -> PostgresTestServer {
        var attempt = 0
        while true {
            attempt += 1
            let server = try PostgresTestServer()
            do {
                try await server.initialise()
                try await server.start()
                try await server.createDatabase(defaultDatabase)
                return server
            } catch {
                await server.stop()
                server.removeFolder()
                let portTaken = (error as? Failure)?.description.contains("Address already in use") == true
                guard portTaken, attempt < 4 else { throw error }
            }
        }
    }

    private init() throws {
        binaries = try Self.findBinaries()
        owner = geteuid() == 0 ? try PostgresOwner.lookUp() : nil
        port = try freeLocalPort()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("postgres-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let owner {
            try owner.makeReachable(folder)
            guard chown(folder.path, owner.uid, owner.gid) == 0 else {
                throw Failure("cannot give \(folder.path) to the postgres user: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// A URL for `database` on this server (trust authentication, user `postgres`).
    public func url(database: String = PostgresTestServer.defaultDatabase) -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// A pool on `database` for the duration of `body`.
    public func withPool<Result>(
        database: String = PostgresTestServer.defaultDatabase, poolSize: Int = 4, _ body: (PostgresPool) async throws -> Result
    ) async throws -> Result {
        let pool = PostgresPool(config: try PostgresConfig(url: url(database: database), poolSize: poolSize))
        do {
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }

    /// CREATE DATABASE `name`; the name is a lowercase identifier (CREATE DATABASE takes no parameter).
    public func createDatabase(_ name: String) async throws {
        guard let first = name.first, first.isLetter,
            name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else { throw Failure("not a plain database name: \(name)") }
        try await withPool(database: "postgres", poolSize: 1) { pool in
            _ = try await pool.execute("CREATE DATABASE " + SQL.identifier(name))
        }
    }

    /// `pg_ctl stop -m fast` (open transactions are rolled back, sessions end, a checkpoint is
    /// written), then a start on the same port and data: what clients see of an operator's restart.
    public func restart() async throws {
        await stop()
        try await start()
    }

    /// Starts the server and waits until it accepts connections (or fails with its log).
    public func start() async throws {
        // Marked first: a start that fails half-way may leave a postmaster that `stop` must end.
        isRunning.withLock { $0 = true }
        let started = try await runAsOwner(
            "pg_ctl", ["-D", dataFolder.path, "-l", logFile.path, "-w", "-t", String(Patience.seconds(60)), "start"],
            within: Patience.scaled(.seconds(90)))
        guard started.status == 0 else {
            throw Failure("PostgreSQL on port \(port) did not start:\n\(started.output)\n\(serverLog())")
        }
    }

    /// Fast shutdown, waiting until it is done; SIGKILL to the postmaster if that fails, so the
    /// caller never finds the old server still running. Does nothing when it is not running.
    public func stop() async {
        guard
            isRunning.withLock({ running in
                defer { running = false }; return running
            })
        else { return }
        let postmaster = postmasterPid()
        let stopped = try? await runAsOwner(
            "pg_ctl", ["-D", dataFolder.path, "-m", "fast", "-w", "-t", String(Patience.seconds(30)), "stop"],
            within: Patience.scaled(.seconds(45)))
        guard stopped?.status != 0, let postmaster else { return }
        print("pg_ctl stop failed on port \(port); killing postmaster \(postmaster):\n\(stopped?.output ?? "")")
        kill(postmaster, SIGKILL)
        let deadline = ContinuousClock.now + Patience.limit
        while Self.isAlive(postmaster), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func initialise() async throws {
        // --no-sync only spares initdb's own flushes of the fresh cluster; the server runs with fsync.
        let initialised = try await runAsOwner(
            "initdb", ["-D", dataFolder.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            within: Patience.scaled(.seconds(120)))
        guard initialised.status == 0 else { throw Failure("initdb failed in \(dataFolder.path):\n\(initialised.output)") }
        // Appended, not rewritten: the file keeps its owner. TCP only, so no socket folder is needed.
        let settings = """

            # PostgresTestServer
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = ''
            max_connections = 100
            fsync = on
            synchronous_commit = on

            """
        let configuration = try FileHandle(forWritingTo: dataFolder.appendingPathComponent("postgresql.conf"))
        defer { try? configuration.close() }
        try configuration.seekToEnd()
        try configuration.write(contentsOf: Data(settings.utf8))
    }

    private func removeFolder() {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs one of the server's tools to completion, as the `postgres` user when we are root, from
    /// `/` so that user never trips over a working folder it cannot read.
    private func runAsOwner(_ tool: String, _ arguments: [String], within timeout: Duration) async throws -> (status: Int32, output: String) {
        var command = [binaries.appendingPathComponent(tool).path] + arguments
        if let owner { command = [owner.runuser, "-u", "postgres", "--"] + command }
        let process = try ChildProcess(
            name: "\(tool)-\(port)", path: "/bin/sh", arguments: ["-c", "cd / && exec \"$@\"", "sh"] + command, environment: [:])
        defer { process.removeLog() }
        guard let status = await process.wait(timeout: timeout) else {
            await process.killNow()
            throw Failure("\(tool) \(arguments.joined(separator: " ")) did not finish within \(timeout):\n\(process.log)")
        }
        return (status, process.log)
    }

    private func postmasterPid() -> pid_t? {
        let file = dataFolder.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: file, encoding: .utf8), let line = text.split(separator: "\n").first else { return nil }
        return pid_t(line.trimmingCharacters(in: .whitespaces))
    }

    private func serverLog() -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? "(no server log at \(logFile.path))"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
    }

    /// Alive and not a zombie: the postmaster is not our child, and whoever reaps orphans here may
    /// not do it at once.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return !stat[close...].hasPrefix(") Z")
    }

    /// The newest installed server (as Deploy/lib.sh picks it), or POSTGRES_BIN_DIR.
    public static func findBinaries() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let override = environment["POSTGRES_BIN_DIR"] { candidates.append(override) }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        // Numeric order: "9.6" must not beat "15".
        let newestFirst = versions.sorted {
            $0.split(separator: ".").compactMap { Int($0) }.lexicographicallyPrecedes($1.split(separator: ".").compactMap { Int($0) })
        }.reversed()
        candidates += newestFirst.map { "\(root)/\($0)/bin" }
        guard
            let found = candidates.first(where: {
                FileManager.default.isExecutableFile(atPath: "\($0)/pg_ctl") && FileManager.default.isExecutableFile(atPath: "\($0)/initdb")
            })
        else {
            throw Failure(
                "no PostgreSQL server binaries (initdb, pg_ctl) under \(root)/*/bin; "
                    + "install the Debian package postgresql or set POSTGRES_BIN_DIR")
        }
        return URL(fileURLWithPath: found)
    }
}

/// The `postgres` system user the server tools run as when the tests run as root.
struct PostgresOwner: Sendable {
    let uid: uid_t
    let gid: gid_t
    let runuser: String

    static func lookUp() throws -> PostgresOwner {
        guard let entry = getpwnam("postgres") else {
            throw TestFailure("running as root, but there is no `postgres` user to run initdb and pg_ctl as (package postgresql creates it)")
        }
        let candidates = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        guard let runuser = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestFailure("running as root, but runuser is not found (looked in \(candidates.joined(separator: ", ")))")
        }
        return PostgresOwner(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, runuser: runuser)
    }

    /// Grants search (x, not read) to others on each parent folder that denies it, so the
    /// `postgres` user can reach `folder`, as Deploy/lib.sh's make_reachable_by_postgres does.
    func makeReachable(_ folder: URL) throws {
        var parent = folder.deletingLastPathComponent().standardizedFileURL
        while parent.path != "/" && !parent.path.isEmpty {
            var info = stat()
            guard stat(parent.path, &info) == 0 else { throw TestFailure("cannot stat \(parent.path): \(String(cString: strerror(errno)))") }
            if info.st_mode & S_IXOTH == 0 {
                guard chmod(parent.path, (info.st_mode & 0o7777) | S_IXOTH) == 0 else {
                    throw TestFailure("cannot let PostgreSQL reach \(parent.path): \(String(cString: strerror(errno)))")
                }
            }
            parent = parent.deletingLastPathComponent()
        }
    }
}
