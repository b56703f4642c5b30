import Foundation
import Redis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A redis-server of the test's own on a free local port, without persistence. If redis-server
/// is not installed the test fails (it never skips): the Debian package is `redis-server`.
public final class RedisTestServer {
    typealias Failure = TestFailure

    public let port: Int
    private let executable: URL
    private let extraArguments: [String]
    private var process: ChildProcess?

    /// Starts a server, runs `body`, and stops the server whether `body` returns or throws.
    public static func with<Result>(
        extraArguments: [String] = [],
        _ body: (RedisTestServer) async throws -> Result
    ) async throws -> Result {
        let server = try await launched(extraArguments: extraArguments)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// A started server, which the caller stops. The free port can be taken by another test (or
    /// another run on the same machine) between choosing and binding it; then it starts again on a
    /// new port.
    public static func launched(extraArguments: [String]) async throws -> RedisTestServer {
        var attempt = 0
        while true {
            attempt += 1
            let server = try RedisTestServer(extraArguments: extraArguments)
            do {
                try await server.launch()
                return server
            } catch let failure as Failure where attempt < 4 && failure.description.contains("Address already in use") {
                continue
            }
        }
    }

    private init(extraArguments: [String]) throws {
        executable = try Self.findExecutable()
        port = try freeLocalPort()
        self.extraArguments = extraArguments
    }

    /// Starts a server and a pool connected to it, runs `body`, then closes both.
    public static func withPool<Result>(
        poolSize: Int = 8, timeoutMilliseconds: Int = Patience.milliseconds(10_000),
        _ body: (RedisPool) async throws -> Result
    ) async throws -> Result {
        try await with { server in
            try await server.withPool(poolSize: poolSize, timeoutMilliseconds: timeoutMilliseconds, body)
        }
    }

    /// A pool connected to this server for the duration of `body`.
    public func withPool<Result>(
        poolSize: Int = 8, timeoutMilliseconds: Int = Patience.milliseconds(10_000),
        _ body: (RedisPool) async throws -> Result
    ) async throws -> Result {
        let pool = RedisPool(config: try config(poolSize: poolSize, timeoutMilliseconds: timeoutMilliseconds))
        do {
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }

    public func config(poolSize: Int = 8, timeoutMilliseconds: Int = Patience.milliseconds(10_000)) throws -> RedisConfig {
        try RedisConfig(url: "redis://127.0.0.1:\(port)", poolSize: poolSize, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Starts the server on `port` and waits until it answers PING (or fails with its log).
    public func launch() async throws {
        let process = try ChildProcess(
            name: "redis-\(port)", path: executable.path,
            arguments: [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", FileManager.default.temporaryDirectory.path,
            ] + extraArguments, environment: [:])
        self.process = process

        let probe = RedisConnection(config: try config(poolSize: 1, timeoutMilliseconds: Patience.milliseconds(1_000)))
        var answered = false
        let deadline = ContinuousClock.now + Patience.limit
        while !answered, process.isRunning, ContinuousClock.now < deadline {
            do {
                _ = try await probe.command(["PING"])
                answered = true
            } catch let error as RedisError where error.code == .serverError {
                answered = true  // NOAUTH (started with --requirepass) also means it is up
            } catch {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        await probe.close()
        if answered { return }
        let output = process.log
        await stop()
        throw Failure("redis-server on port \(port) did not answer PING; its output:\n\(output)")
    }

    /// Kills the server (SIGKILL: nothing is lost without persistence, and the kernel closes its
    /// sockets as a crash would, which is the harder case for clients) and waits until it is gone.
    public func stop() async {
        guard let process else { return }
        self.process = nil
        await process.killNow()
        process.removeLog()
    }

    /// Whether the server process is up (false once stopped or killed).
    public var isRunning: Bool { process?.isRunning ?? false }

    public func restart() async throws {
        await stop()
        try await launch()
    }

    static func findExecutable() throws -> URL {
        var candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        if let override = ProcessInfo.processInfo.environment["REDIS_SERVER"] { candidates.insert(override, at: 0) }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/redis-server")
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Failure(
                "redis-server not found (looked in \(candidates.joined(separator: ", "))); "
                    + "install the Debian package redis-server or set REDIS_SERVER to its path")
        }
        return URL(fileURLWithPath: found)
    }
}
