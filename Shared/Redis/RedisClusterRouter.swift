import Synchronization

/// Sends commands to the masters of a Redis Cluster: each by the slot of its first key, through a
/// pool per node, following the cluster when slots move.
///
/// The contract, in the order a call meets it:
/// 1. The slot map comes from `CLUSTER SLOTS`, asked of the known masters and then the seeds
///    until one answers. It is read before the first call and again whenever it went stale (a
///    `MOVED`, `TRYAGAIN`, `CLUSTERDOWN`, a slot nobody serves, or a node that failed); while one
///    call refreshes it the others keep using the old map, which at worst earns them a `MOVED`.
/// 2. Each command goes to the master of its key's slot (`RedisClusterSlot.of`); a command
///    without a key (`PING`, `SCRIPT LOAD`) goes to any master. The commands of one call are
///    grouped per node, one pipeline each, the nodes asked concurrently, and the answers put back
///    in the caller's order.
/// 3. Answers that mean "not here, not now" are followed, each command on its own, up to
///    `maxRounds` rounds: `MOVED` records the slot's new master and resends there; `ASK` resends
///    to the named node once, after `ASKING`, without changing the map (the slot is mid-migration);
///    `TRYAGAIN`/`CLUSTERDOWN` (a failover or migration under way) wait a growing pause, refresh,
///    and resend. None of these ran the command, so resending cannot apply it twice.
/// 4. `EVALSHA` is routed by its first key like any command; a node that answers `NOSCRIPT` gets
///    the script loaded (each node has its own script cache) and the call is sent again.
/// 5. A transport failure of one node (it died: refused, reset, timed out) fails the commands sent
///    to it, and only those, and marks the map stale. They are not resent: whether they ran is
///    unknown, and the caller decides (the claim path refuses and rebuilds from PostgreSQL).
final class RedisClusterRouter: Sendable {
    private let config: RedisConfig
    private let seeds: [RedisEndpoint]
    private let state = Mutex(ClusterState())
    /// Script source → SHA1; the same on every node, as it is the hash of the source.
    private let scriptHashes = Mutex<[String: String]>([:])
    /// How many `MOVED` and `ASK` answers were followed: tests check a migration exercised both.
    let redirectsFollowed = Mutex<(moved: Int, ask: Int)>((0, 0))

    /// Rounds of redirects and retries per command; with the pauses below they span several
    /// seconds, the order of a failover with a short `cluster-node-timeout`.
    static let maxRounds = 12

    private struct ClusterState {
        /// Empty until the first refresh; then one entry per slot, nil where no master serves it.
        var masterBySlot: [RedisEndpoint?] = []
        var pools: [RedisEndpoint: RedisNodePool] = [:]
        var stale = true
        var refreshing = false
        var closed = false
    }

    init(config: RedisConfig, seeds: [RedisEndpoint]) {
        self.config = config
        self.seeds = seeds
    }

    func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        guard let result = try await pipeline([arguments]).first else {
            throw RedisError(.protocolError, "the cluster pipeline answered no result for one command")
        }
        return try result.get()
    }

    /// See the type's contract; the results are in the order of `commands`.
    func pipeline(_ commands: [[[UInt8]]]) async throws -> [Result<RedisValue, RedisError>] {
        try await send(commands, reloading: nil)
    }

    func evaluateMany(_ script: RedisScript, _ calls: [(keys: [String], args: [String])]) async throws -> [Result<RedisValue, RedisError>] {
        guard !calls.isEmpty else { return [] }
        let hash: String
        if let cached = scriptHashes.withLock({ $0[script.source] }) {
            hash = cached
        } else {
            hash = try await pool(for: try await anyMaster()).load(script)
            scriptHashes.withLock { $0[script.source] = hash }
        }
        let commands = calls.map { call in
            (["EVALSHA", hash, String(call.keys.count)] + call.keys + call.args).map { Array($0.utf8) }
        }
        return try await send(commands, reloading: script)
    }

    func close() async {
        let pools = state.withLock { state in
            state.closed = true
            defer { state.pools = [:] }
            return Array(state.pools.values)
        }
        for pool in pools { await pool.close() }
    }

    // MARK: - Sending

    /// One command on its way: where it goes next, and whether `ASKING` must precede it there.
    private struct Attempt {
        let index: Int
        var target: RedisEndpoint?
        var asking = false
    }

    private func send(_ commands: [[[UInt8]]], reloading script: RedisScript?) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        if let empty = commands.firstIndex(where: \.isEmpty) {
            throw RedisError(.invalidCommand, "command \(empty) of the pipeline is empty")
        }
        var results = [Result<RedisValue, RedisError>?](repeating: nil, count: commands.count)
        var lastFailure = [Int: RedisError]()
        var pending = commands.indices.map { Attempt(index: $0) }
        var pause = Duration.milliseconds(20)

        for round in 0..<Self.maxRounds where !pending.isEmpty {
            try await refreshIfStale()
            var waitBeforeNext = false
            var needsScript: Set<RedisEndpoint> = []

            var byNode: [RedisEndpoint: [Attempt]] = [:]
            var unrouted: [Attempt] = []
            for var attempt in pending {
                if attempt.target == nil { attempt.target = try await target(of: commands[attempt.index]) }
                if let target = attempt.target {
                    byNode[target, default: []].append(attempt)
                } else {
                    lastFailure[attempt.index] = RedisError(.connectionFailed, "no master serves the slot of command \(attempt.index)")
                    waitBeforeNext = true
                    unrouted.append(attempt)
                }
            }
            pending = unrouted

            let answers = await withTaskGroup(of: (RedisEndpoint, [Attempt], Result<[Result<RedisValue, RedisError>], RedisError>).self) { group in
                for (node, attempts) in byNode {
                    let pool = pool(for: node)
                    let batch = attempts.flatMap { attempt in
                        attempt.asking ? [[Array("ASKING".utf8)], commands[attempt.index]] : [commands[attempt.index]]
                    }
                    group.addTask {
                        do {
                            return (node, attempts, .success(try await pool.pipeline(batch)))
                        } catch {
                            return (node, attempts, .failure(error as? RedisError ?? RedisError(.connectionFailed, "\(node): \(error)")))
                        }
                    }
                }
                var all: [(RedisEndpoint, [Attempt], Result<[Result<RedisValue, RedisError>], RedisError>)] = []
                for await answer in group { all.append(answer) }
                return all
            }

            for (node, attempts, answer) in answers {
                let replies: [Result<RedisValue, RedisError>]
                switch answer {
                case .failure(let error):
                    markStale()
                    for attempt in attempts { results[attempt.index] = .failure(error) }
                    continue
                case .success(let all):
                    // The replies to ASKING (+OK) are read past: each command's own reply follows its ASKING.
                    var iterator = all.makeIterator()
                    replies = attempts.map { attempt in
                        if attempt.asking { _ = iterator.next() }
                        return iterator.next() ?? .failure(RedisError(.protocolError, "\(node) answered fewer replies than it was sent"))
                    }
                }
                for (var attempt, reply) in zip(attempts, replies) {
                    guard case .failure(let error) = reply else {
                        results[attempt.index] = reply
                        continue
                    }
                    lastFailure[attempt.index] = error
                    switch error.serverErrorKind {
                    case "MOVED":
                        guard case .moved(let slot, let to)? = RedisRedirect.parse(error.message) else { break }
                        learn(slot: slot, servedBy: to)
                        redirectsFollowed.withLock { $0.moved += 1 }
                        attempt.target = to
                        attempt.asking = false
                        pending.append(attempt)
                        continue
                    case "ASK":
                        guard case .ask(_, let to)? = RedisRedirect.parse(error.message) else { break }
                        redirectsFollowed.withLock { $0.ask += 1 }
                        attempt.target = to
                        attempt.asking = true
                        pending.append(attempt)
                        continue
                    case "TRYAGAIN", "CLUSTERDOWN":
                        markStale()
                        waitBeforeNext = true
                        attempt.target = nil
                        attempt.asking = false
                        pending.append(attempt)
                        continue
                    case "NOSCRIPT" where script != nil:
                        needsScript.insert(node)
                        pending.append(attempt)
                        continue
                    default:
                        break
                    }
                    results[attempt.index] = reply
                }
            }

            if let script {
                for node in needsScript {
                    do {
                        _ = try await pool(for: node).load(script)
                    } catch {
                        let failure = error as? RedisError ?? RedisError(.connectionFailed, "loading a script on \(node): \(error)")
                        for attempt in pending where attempt.target == node { results[attempt.index] = .failure(failure) }
                        pending.removeAll { $0.target == node }
                    }
                }
            }
            pending.sort { $0.index < $1.index }
            if waitBeforeNext && round + 1 < Self.maxRounds && !pending.isEmpty {
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(800))
            }
        }

        return results.indices.map { index in
            results[index]
                ?? .failure(
                    lastFailure[index]
                        ?? RedisError(.connectionFailed, "command \(index) was still redirected after \(Self.maxRounds) rounds"))
        }
    }

    // MARK: - Routing

    private func target(of command: [[UInt8]]) async throws -> RedisEndpoint? {
        guard let key = Self.firstKey(of: command) else { return try await anyMaster() }
        let slot = RedisClusterSlot.of(key: key)
        return state.withLock { state in
            guard state.masterBySlot.indices.contains(slot) else { return nil }
            if state.masterBySlot[slot] == nil { state.stale = true }
            return state.masterBySlot[slot]
        }
    }

    private func anyMaster() async throws -> RedisEndpoint {
        try await refreshIfStale()
        let known = state.withLock { state in state.masterBySlot.lazy.compactMap { $0 }.first }
        guard let known else { throw RedisError(.connectionFailed, "the Redis Cluster has no master serving any slot") }
        return known
    }

    /// Commands that name no key go to any master; the scripting commands name theirs after the
    /// key count; every other command here has its first key first.
    static let keylessCommands: Set<String> = [
        "ASKING", "AUTH", "BGSAVE", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DBSIZE", "DEBUG", "DISCARD", "ECHO", "EXEC",
        "FLUSHALL", "FLUSHDB", "HELLO", "INFO", "KEYS", "LASTSAVE", "MULTI", "PING", "RANDOMKEY", "READONLY", "READWRITE",
        "ROLE", "SAVE", "SCAN", "SCRIPT", "SELECT", "TIME", "WAIT",
    ]

    /// The key a command is routed by: nil for a command without one. Pure; total on any input.
    static func firstKey(of command: [[UInt8]]) -> [UInt8]? {
        guard let name = command.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }) else { return nil }
        if keylessCommands.contains(name) { return nil }
        if ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"].contains(name) {
            guard command.count > 3, let count = Int(String(decoding: command[2], as: UTF8.self)), count > 0 else { return nil }
            return command[3]
        }
        return command.count > 1 ? command[1] : nil
    }

    private func pool(for node: RedisEndpoint) -> RedisNodePool {
        state.withLock { state in
            if let pool = state.pools[node] { return pool }
            let pool = RedisNodePool(config: config.server(node))
            if !state.closed { state.pools[node] = pool }
            return pool
        }
    }

    private func learn(slot: Int, servedBy node: RedisEndpoint) {
        state.withLock { state in
            if state.masterBySlot.indices.contains(slot) { state.masterBySlot[slot] = node }
            state.stale = true
        }
    }

    private func markStale() { state.withLock { $0.stale = true } }

    /// Reads the slot map when it is stale. With no map yet every caller waits for one; with one,
    /// a single caller refreshes and the rest go on with the old map.
    private func refreshIfStale() async throws {
        enum Next { case useCurrent, refresh }
        let next: Next = try state.withLock { state in
            if state.closed { throw RedisError(.poolClosed, "the Redis pool is closed") }
            guard state.stale else { return .useCurrent }
            if state.masterBySlot.isEmpty { return .refresh }
            if state.refreshing { return .useCurrent }
            state.refreshing = true
            return .refresh
        }
        guard next == .refresh else { return }
        do {
            try await refresh()
        } catch {
            state.withLock { $0.refreshing = false }
            // With an old map a failed refresh is not the call's failure; with none, it is.
            if state.withLock({ $0.masterBySlot.isEmpty }) { throw error }
            return
        }
        state.withLock { $0.refreshing = false }
    }

    private func refresh() async throws {
        let known = state.withLock { state in
            var seen: Set<RedisEndpoint> = []
            return state.masterBySlot.compactMap { $0 }.filter { seen.insert($0).inserted }
        }
        var candidates: [RedisEndpoint] = []
        for node in known + seeds where !candidates.contains(node) { candidates.append(node) }
        var failures: [String] = []
        for node in candidates {
            do {
                let map = try RedisClusterSlotMap.parse(
                    try await pool(for: node).command([Array("CLUSTER".utf8), Array("SLOTS".utf8)]), answeredBy: node)
                guard !map.ranges.isEmpty else {
                    failures.append("\(node) serves no slots (not part of a cluster yet?)")
                    continue
                }
                let bySlot = map.masterBySlot()
                state.withLock { state in
                    state.masterBySlot = bySlot
                    state.stale = bySlot.contains(nil)
                }
                return
            } catch {
                failures.append("\(node): \(error)")
            }
        }
        throw RedisError(.connectionFailed, "no Redis Cluster node answered CLUSTER SLOTS: " + failures.joined(separator: "; "))
    }
}
