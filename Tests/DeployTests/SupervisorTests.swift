import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The supervisor `Deploy/cluster` runs each service under (`supervise` in Deploy/lib.sh), driven
/// on tiny stand-in commands: `Deploy/cluster up` itself needs a release build and fixed ports,
/// too heavy for a test run, and it only wires these functions to the real executables.
@Suite struct SupervisorTests {
    static let library = ComposeFileTests.repository.appendingPathComponent("Deploy/lib.sh").path

    /// A folder of its own for one supervisor: its run files and logs.
    struct Supervised {
        let folder: URL
        let process: ChildProcess

        var clusterLog: String { (try? String(contentsOf: folder.appendingPathComponent("cluster.log"), encoding: .utf8)) ?? "" }

        /// The pid in the service's pid file when that process is alive.
        var servicePid: pid_t? {
            guard let text = try? String(contentsOf: folder.appendingPathComponent("fake.pid"), encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, kill(pid, 0) == 0
            else { return nil }
            return pid
        }

        var restarts: Int? {
            guard let text = try? String(contentsOf: folder.appendingPathComponent("fake.restarts"), encoding: .utf8) else { return nil }
            return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }

        /// Stops supervising (as `down` does first; SIGKILL if that fails) and ends whatever
        /// service is left, so a failed test leaves no process behind.
        func stop() async {
            await process.terminate(grace: Patience.limit)
            if let pid = servicePid { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(at: folder)
        }
    }

    /// Starts `supervise fake …` on `command` (a bash script), with the back-off settings given.
    static func supervise(_ command: String, environment: [String: String] = [:]) throws -> Supervised {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let script = #"source "$1"; supervise fake "$2" "$2/fake.log" "$2/cluster.log" bash -c "$3""#
        let process = try ChildProcess(
            name: "supervisor", path: "/bin/bash", arguments: ["-c", script, "supervisor", library, folder.path, command],
            environment: environment)
        return Supervised(folder: folder, process: process)
    }

    @Test func aServiceKilledWithSignalNineIsStartedAgainAndTheRestartIsLogged() async throws {
        let supervised = try Self.supervise("exec sleep 600")
        do {
            var first: pid_t = 0
            try await Patience.waitUntil("the supervised service running") {
                first = supervised.servicePid ?? 0
                return first > 0
            }
            #expect(supervised.restarts == 0)
            kill(first, SIGKILL)
            try await Patience.waitUntil("the service running again after kill -9") {
                if let pid = supervised.servicePid, pid != first { return supervised.restarts == 1 }
                return false
            }
            let log = supervised.clusterLog
            #expect(log.contains("fake: pid \(first) crashed (signal KILL)"), "\(log)")
            #expect(log.contains("restart 1 in 1s"), "\(log)")

            // SIGTERM to the supervisor stops supervising and leaves the service to the caller,
            // so `down` can stop it without a restart racing it.
            let service = try #require(supervised.servicePid)
            kill(supervised.process.pid, SIGTERM)
            #expect(await supervised.process.wait(timeout: Patience.limit) == 0)
            #expect(kill(service, 0) == 0, "the supervisor took its service down with it")
            #expect(supervised.clusterLog.contains("supervision stopped"))
        } catch {
            await supervised.stop()
            throw error
        }
        await supervised.stop()
    }

    /// SIGTERM the moment the service's pid is written, while the supervisor is still logging the
    /// start: it must stop then too (a bare `wait` after the trap ran would wait out the service, and
    /// a trap landing inside a `$(...)` broke bash's parser: 7 stops in 150 missed, before the
    /// supervisor kept to builtins). Twenty tries, some a few milliseconds late, to land in each step.
    @Test func aSupervisorStoppedRightAfterAStartStops() async throws {
        for attempt in 0..<20 {
            let supervised = try Self.supervise("exec sleep 600")
            do {
                try await Patience.waitUntil("the service's pid file", every: .milliseconds(1)) { supervised.servicePid != nil }
                if attempt % 2 == 1 { try await Task.sleep(for: .milliseconds(attempt % 7)) }
                kill(supervised.process.pid, SIGTERM)
                #expect(await supervised.process.wait(timeout: Patience.limit) == 0, "\(supervised.clusterLog)")
            } catch {
                await supervised.stop()
                throw error
            }
            await supervised.stop()
        }
    }

    /// A clean exit and SIGTERM are stops, not crashes: the supervisor ends without restarting.
    @Test(arguments: [("exit 0", "status 0"), ("kill -TERM $$", "signal TERM")])
    func aServiceThatStopsIsNotRestarted(command: String, reason: String) async throws {
        let supervised = try Self.supervise(command)
        let status = await supervised.process.wait(timeout: Patience.limit)
        let log = supervised.clusterLog
        await supervised.stop()
        #expect(status == 0, "the supervisor did not end by itself: \(log)")
        #expect(log.contains("ended with \(reason)") && log.contains("not restarting"), "\(log)")
        #expect(!log.contains("crashed"), "\(log)")
    }

    @Test func aCrashLoopBacksOffDoublingUpToTheCap() async throws {
        let supervised = try Self.supervise("exit 3", environment: ["COUPON_RESTART_FIRST_DELAY": "1", "COUPON_RESTART_MAX_DELAY": "2"])
        do {
            try await Patience.waitUntil("three restarts of a service that always exits 3") { (supervised.restarts ?? 0) >= 3 }
            let log = supervised.clusterLog
            #expect(log.contains("crashed (status 3)"), "\(log)")
            for (restart, delay) in [(1, 1), (2, 2), (3, 2)] {
                #expect(log.contains("restart \(restart) in \(delay)s"), "\(log)")
            }
        } catch {
            await supervised.stop()
            throw error
        }
        await supervised.stop()
    }

    @Test func aRunThatLastedLongEnoughResetsTheBackOff() async throws {
        // Every run counts as stable here, so each crash waits the first delay again.
        let supervised = try Self.supervise("exit 3", environment: ["COUPON_RESTART_STABLE_SECONDS": "0"])
        do {
            try await Patience.waitUntil("two restarts") { (supervised.restarts ?? 0) >= 2 }
            let log = supervised.clusterLog
            #expect(log.contains("restart 1 in 1s") && log.contains("restart 2 in 1s"), "\(log)")
            #expect(!log.contains("in 2s"), "\(log)")
        } catch {
            await supervised.stop()
            throw error
        }
        await supervised.stop()
    }
}
