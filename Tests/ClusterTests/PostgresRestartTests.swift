import CouponClient
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §7, "Reliability": the invariants of §2 hold while PostgreSQL is restarted
/// during a load run. Two coupon-center processes take a storm of 2,000 claims (64 at a time, 600
/// users, stock 1,000, per-user limit 2) on a PostgreSQL of the test's own (the shared server
/// must stay up for the suites running beside this one); once a third of the claims are answered
/// the server gets a fast shutdown and is started again.
///
/// Claims caught by the outage fail (503 or a timeout). The callers retry them with the same request
/// id after a pause, as a client should, alternating between the processes, so every claim ends
/// with a definitive answer (a coupon, SOLD_OUT or PER_USER_LIMIT) and the totals must be exact.
/// Nothing here is timed: the storm goes on while claims keep getting answers, however slowly, and
/// gives up only when none was answered for `Patience.limit` (a cluster that did not recover):
/// demand (1,200) exceeds the stock, so a recovered cluster sells exactly the stock, and the coupons
/// handed out are exactly the coupon rows.
@Suite struct PostgresRestartTests {
    static let stock: Int32 = 1_000
    static let perUserLimit: Int32 = 2
    static let users = 600
    static let claims = 2_000
    static let concurrency = 64
    /// Short enough that a claim caught by the outage comes back to be retried, long enough that
    /// a healthy claim on a loaded machine does not.
    static let clientTimeoutMilliseconds = Patience.milliseconds(5_000)
    /// Answers that end a claim; anything else (503, timeout, a claim of the same user still
    /// holding its lock) is retried.
    static let definitiveRefusals: Set<ErrorCode> = [.soldOut, .perUserLimitReached]

    /// What the claimers saw.
    final class Tally: Sendable {
        struct State {
            var issued: [String] = []
            var issuedAfterRestart = 0
            var refusals: [ErrorCode: Int] = [:]
            /// Failed attempts that were retried, by code.
            var retried: [ErrorCode: Int] = [:]
            /// Request ids still without a definitive answer when the storm stalled.
            var unanswered: [String] = []
        }

        let answered = SharedCounter()
        /// Advanced by every definitive answer: the storm gives up only once it stops.
        let progress = ProgressWatch()
        private let restartDone = Atomic<Bool>(false)
        private let state = Mutex(State())

        func restarted() { restartDone.store(true, ordering: .sequentiallyConsistent) }
        func issued(_ couponId: String) {
            let after = restartDone.load(ordering: .sequentiallyConsistent)
            state.withLock {
                $0.issued.append(couponId)
                if after { $0.issuedAfterRestart += 1 }
            }
            progress.advanced()
        }
        func refused(_ code: ErrorCode) {
            state.withLock { $0.refusals[code, default: 0] += 1 }
            progress.advanced()
        }
        func retried(_ code: ErrorCode) { state.withLock { $0.retried[code, default: 0] += 1 } }
        func gaveUp(_ requestId: String) { state.withLock { $0.unanswered.append(requestId) } }
        var snapshot: State { state.withLock { $0 } }
    }

    /// When the restart happened and how the cluster came back.
    struct RestartReport: Sendable {
        var issuedBefore: Int
        var outage: Duration
        /// From the end of the restart to the first claim answered on a template created after it.
        var recovery: Duration?
        var lastRecoveryError: String
    }

    @Test func postgresRestartedMidStormKeepsEveryInvariantAndServesAgain() async throws {
        try await PostgresTestServer.with { server in
            try await TestCluster.with(couponCenters: 2, databaseURL: server.url()) { cluster in
                let clients = try cluster.couponCenterURLs.map {
                    try ServiceClient(service: "coupon-center", urls: [$0], timeoutMilliseconds: Self.clientTimeoutMilliseconds)
                }
                defer { for client in clients { client.close() } }
                let templateId = try await createTemplate(
                    clients[0], name: "restart storm", stock: Self.stock, perUserLimit: Self.perUserLimit)
                let tally = Tally()
                let started = ContinuousClock.now

                async let restart = restartWhenAThirdIsAnswered(server, cluster: cluster, tally: tally)
                await storm(clients, templateId: templateId, tally: tally)
                let report = try await restart
                let result = tally.snapshot
                print(
                    "PostgresRestartTests: storm \(ContinuousClock.now - started), \(report.issuedBefore) issued before the restart, "
                        + "outage \(report.outage), new template served \(report.recovery.map { "\($0)" } ?? "never") after it; "
                        + "\(result.issued.count) issued (\(result.issuedAfterRestart) after the restart), refusals \(result.refusals), "
                        + "retried attempts \(result.retried)")

                #expect(
                    report.recovery != nil,
                    "no claim on a new template succeeded within \(Patience.limit) of the restart; last error: \(report.lastRecoveryError)")
                let stalled = "no claim had been answered for \(Patience.limit)"
                #expect(
                    result.unanswered.count == 0,
                    "\(result.unanswered.count) claims still unanswered when \(stalled), e.g. \(result.unanswered.prefix(3))")
                #expect(!result.retried.isEmpty, "no claim met the outage: the restart missed the storm")
                #expect(result.issuedAfterRestart > 0, "no claim of the storm succeeded after the restart")
                #expect(result.issued.count + result.refusals.values.reduce(0, +) + result.unanswered.count == Self.claims)

                try await server.withPool { database in
                    try await checkInvariants(database, templateId: templateId, given: result.issued)
                }
            }
        }
    }

    /// Every invariant PostgreSQL must show once the storm is over, exactly.
    func checkInvariants(_ database: PostgresPool, templateId: String, given: [String]) async throws {
        func count(_ sql: SQL) async throws -> Int64 {
            try await database.query(sql, [templateId])[0].decode(0, as: Int64.self)
        }
        let coupons = try await count("SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1")
        let ledger = try await count("SELECT count(*)::bigint FROM coupon_ledger WHERE template_id = $1 AND event = 'ISSUED'")
        let counter = try await count("SELECT issued_count::bigint FROM coupon_template WHERE id = $1")
        let perUserCounters = try await count("SELECT coalesce(sum(issued), 0)::bigint FROM user_template_issue WHERE template_id = $1")
        let mostHeld = try await count(
            "SELECT coalesce(max(held), 0)::bigint FROM (SELECT count(*) AS held FROM user_coupon WHERE template_id = $1 GROUP BY user_id) AS t")
        let mostCounted = try await count("SELECT coalesce(max(issued), 0)::bigint FROM user_template_issue WHERE template_id = $1")

        #expect(coupons <= Int64(Self.stock), "issued \(coupons) > stock \(Self.stock)")
        // Demand exceeds the stock and every claim was answered: a recovered cluster sells it all.
        #expect(coupons == Int64(Self.stock), "issued \(coupons) of a stock of \(Self.stock)")
        #expect(ledger == coupons, "ledger ISSUED rows \(ledger) != coupons \(coupons)")
        #expect(counter == coupons, "template issued_count \(counter) != coupons \(coupons)")
        #expect(perUserCounters == coupons, "per-user counters sum to \(perUserCounters), coupons \(coupons)")
        #expect(mostHeld <= Int64(Self.perUserLimit), "a user holds \(mostHeld) coupons, limit \(Self.perUserLimit)")
        #expect(mostCounted <= Int64(Self.perUserLimit), "a per-user counter reads \(mostCounted), limit \(Self.perUserLimit)")

        #expect(Set(given).count == given.count, "a coupon id was handed out twice")
        let rows = try await database.query("SELECT id FROM user_coupon WHERE template_id = $1", [templateId])
        let stored = Set(try rows.map { try $0.decode(0, as: String.self) })
        let withoutRow = Set(given).subtracting(stored)
        #expect(withoutRow.count == 0, "\(withoutRow.count) success replies without a coupon row, e.g. \(withoutRow.prefix(3))")
        // Retried with their request ids, claims that committed while their answer was lost got
        // that answer on a retry: no coupon exists that nobody was told about.
        let untold = stored.subtracting(given)
        #expect(untold.count == 0, "\(untold.count) coupon rows no caller was given, e.g. \(untold.prefix(3))")
    }

    /// Sends every claim, `concurrency` at a time, spread over the coupon-center processes; once no
    /// claim has been answered for `Patience.limit` nothing more is sent and the claims left are given up.
    func storm(_ clients: [ServiceClient], templateId: String, tally: Tally) async {
        let next = SharedCounter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.concurrency {
                group.addTask {
                    while !Task.isCancelled {
                        let index = next.next()
                        guard index < Self.claims else { return }
                        await claimUntilAnswered(index, clients: clients, templateId: templateId, tally: tally)
                        _ = tally.answered.next()
                    }
                }
            }
        }
    }

    /// One claim, retried with its request id on the next process after each failed attempt
    /// until it gets a definitive answer or the storm stalls.
    func claimUntilAnswered(_ index: Int, clients: [ServiceClient], templateId: String, tally: Tally) async {
        let requestId = "restart-storm-\(index)"
        let request = ClaimRequest(userId: "user-\(index % Self.users)", templateId: templateId, channel: "app", requestId: requestId)
        var attempt = 0
        while true {
            guard !tally.progress.stalled(), !Task.isCancelled else {
                tally.gaveUp(requestId)
                return
            }
            do {
                let response = try await clients[(index + attempt) % clients.count].call(request)
                tally.issued(response.couponId)
                return
            } catch {
                if Self.definitiveRefusals.contains(error.code) {
                    tally.refused(error.code)
                    return
                }
                tally.retried(error.code)
                attempt += 1
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Waits until a third of the claims are answered, restarts PostgreSQL, then waits (up to
    /// `Patience.limit`) until the cluster serves a claim on a template created after the restart;
    /// how long that took is printed, not asserted.
    func restartWhenAThirdIsAnswered(_ server: PostgresTestServer, cluster: TestCluster, tally: Tally) async throws -> RestartReport {
        // The storm either reaches a third or stalls (and then fails on its own counts).
        while tally.answered.current < Self.claims / 3, !tally.progress.stalled() {
            try await Task.sleep(for: .milliseconds(2))
        }
        let issuedBefore = tally.snapshot.issued.count
        let restartBegan = ContinuousClock.now
        try await server.restart()
        let restarted = ContinuousClock.now
        tally.restarted()

        let client = try cluster.client(timeoutMilliseconds: Patience.milliseconds(2_000))
        defer { client.close() }
        var templateId: String?
        var lastError = ""
        while ContinuousClock.now - restarted < Patience.limit {
            do {
                let id: String
                if let templateId {
                    id = templateId
                } else {
                    id = try await createTemplate(client, name: "after restart", stock: 10, perUserLimit: 1)
                    templateId = id
                }
                _ = try await client.call(ClaimRequest(userId: "first-after-restart", templateId: id, channel: "app"))
                return RestartReport(
                    issuedBefore: issuedBefore, outage: restarted - restartBegan, recovery: ContinuousClock.now - restarted,
                    lastRecoveryError: "")
            } catch {
                lastError = "\(error)"
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        return RestartReport(issuedBefore: issuedBefore, outage: restarted - restartBegan, recovery: nil, lastRecoveryError: lastError)
    }

    func createTemplate(_ client: ServiceClient, name: String, stock: Int32, perUserLimit: Int32) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let view = try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: name, type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now - 60_000,
                    endMilliseconds: now + 86_400_000, totalStock: stock, perUserLimit: perUserLimit)))
        return view.templateId
    }
}
