import CouponClient
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing
import Wire

/// Issue 16: PostgreSQL high availability. coupon-center runs on a Patroni pair (a primary and a
/// synchronous standby, etcd for the lock) through libpq's multi-host URL with
/// `target_session_attrs=read-write`. A storm of claims, each coupon redeemed as soon as it is
/// issued, all with request ids and retried on failure as a client should; mid-storm the
/// primary's postmaster gets `kill -9`, and once the pair is synchronous again the whole leader
/// node (Patroni and its PostgreSQL) does, then it is started again and rejoins.
///
/// Afterwards: every acknowledged claim has its coupon row and ISSUED ledger row, no request
/// produced two coupons, issued ≤ stock, every acknowledged redemption is recorded for its order
/// and no coupon was used twice. The time from each kill to the first success after it is printed,
/// never asserted; the storm gives up only when nothing was answered for `Patience.limit`.
@Suite struct PostgresFailoverTests {
    static let stock: Int32 = 380
    static let claims = 400
    static let concurrency = 24
    static let clientTimeoutMilliseconds = Patience.milliseconds(5_000)

    /// What the storm saw.
    final class Tally: Sendable {
        struct State {
            /// Request index → the coupon its claim was given.
            var issued: [Int: String] = [:]
            /// Coupon → the order that was told it used it.
            var used: [String: String] = [:]
            var soldOut = 0
            /// Definitive refusals no claim or redemption of this storm should meet.
            var unexpected: [String] = []
            var retried: [ErrorCode: Int] = [:]
            var unanswered: [String] = []
            /// When the latest kill happened, and the first success after it.
            var killedAt: ContinuousClock.Instant?
            var firstSuccessAfterKill: ContinuousClock.Instant?
        }

        let answered = SharedCounter()
        let progress = ProgressWatch()
        private let state = Mutex(State())
        /// The second half of the storm waits for the pair to be synchronous again after the
        /// first kill, so the node kill meets requests in flight rather than an idle cluster.
        private let secondHalfOpen = Atomic<Bool>(false)

        func openSecondHalf() { secondHalfOpen.store(true, ordering: .sequentiallyConsistent) }
        func waitForSecondHalf() async {
            while !secondHalfOpen.load(ordering: .sequentiallyConsistent), !progress.stalled() {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }

        /// A success of an attempt sent at `began`: only one sent after the kill shows the cluster
        /// serving again (one already in flight may have committed before it).
        func succeeded(began: ContinuousClock.Instant, _ change: (inout State) -> Void) {
            let now = ContinuousClock.now
            state.withLock { state in
                change(&state)
                if let killed = state.killedAt, began > killed, state.firstSuccessAfterKill == nil { state.firstSuccessAfterKill = now }
            }
            progress.advanced()
        }
        func note(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }
        /// Marks a kill now; the first success from here on is timed against it.
        func killed() {
            state.withLock {
                $0.killedAt = ContinuousClock.now; $0.firstSuccessAfterKill = nil
            }
        }
        var snapshot: State { state.withLock { $0 } }
    }

    @Test func primaryKilledMidStormLosesAndDoublesNothing() async throws {
        try await PatroniCluster.with { patroni in
            try await TestCluster.with(couponCenters: 1, databaseURL: patroni.url()) { cluster in
                let client = try ServiceClient(
                    service: "coupon-center", urls: cluster.couponCenterURLs, timeoutMilliseconds: Self.clientTimeoutMilliseconds)
                defer { client.close() }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let templateId = try await client.call(
                    CreateTemplateRequest(
                        spec: TemplateSpec(
                            name: "failover storm", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now - 60_000,
                            endMilliseconds: now + 86_400_000, totalStock: Self.stock, perUserLimit: 1))
                ).templateId
                let tally = Tally()

                async let kills = killDuringStorm(patroni, tally: tally)
                await storm(client, templateId: templateId, tally: tally)
                let recoveries = try await kills
                let result = tally.snapshot
                // Batches caught by a kill whose outcome coupon-center tried to find out by reading
                // (answered from the rows when readable within its patience, else 503 and a retry).
                let resolved = cluster.couponCenters.map { $0.log.components(separatedBy: "batch outcome unknown").count - 1 }.reduce(0, +)
                print(
                    "PostgresFailoverTests: failover (kill to first success) after postmaster kill \(recoveries.postmaster.map { "\($0)" } ?? "never"), "
                        + "after node kill \(recoveries.node.map { "\($0)" } ?? "never"); \(result.issued.count) issued, "
                        + "\(result.used.count) redeemed, \(result.soldOut) sold out, retried attempts \(result.retried), "
                        + "\(resolved) batches of unknown outcome read before answering")

                if recoveries.postmaster == nil || recoveries.node == nil || !result.unanswered.isEmpty {
                    print("PostgresFailoverTests: Patroni members \(await patroni.members())")
                    patroni.printLogs()
                    cluster.printLogs()
                }
                #expect(recoveries.postmaster != nil, "nothing succeeded after the postmaster was killed")
                #expect(recoveries.node != nil, "nothing succeeded after the leader node was killed")
                #expect(
                    result.unanswered.isEmpty, "\(result.unanswered.count) still unanswered when the storm stalled: \(result.unanswered.prefix(3))")
                #expect(result.unexpected.isEmpty, "unexpected refusals: \(result.unexpected.prefix(5))")
                #expect(!result.retried.isEmpty, "no request met a failover: the kills missed the storm")

                let database = PostgresPool(config: try PostgresConfig(url: patroni.url(), poolSize: 2))
                do {
                    try await checkInvariants(database, templateId: templateId, result: result)
                    await database.close()
                } catch {
                    await database.close()
                    throw error
                }
            }
        }
    }

    /// What reconnection relies on, on the real pair: libpq given both hosts and
    /// `target_session_attrs=read-write` lands on the primary even with the standby listed first,
    /// and a session whose server refuses a write as read-only (SQLSTATE 25006) is replaced.
    @Test func readWriteTargetFindsThePrimaryAndAReadOnlySessionIsReplaced() async throws {
        try await PatroniCluster.with { patroni in
            try await patroni.waitForLeaderAndSyncStandby()
            let members = await patroni.members()
            let standby = try #require(patroni.nodes.first { members[$0.name]?.role == "sync_standby" })
            let primary = try #require(patroni.nodes.first { members[$0.name]?.role == "leader" })

            let hosts = [standby, primary].map { "127.0.0.1:\($0.postgresPort)" }.joined(separator: ",")
            let routed = PostgresPool(
                config: try PostgresConfig(url: "postgresql://postgres@\(hosts)/postgres?target_session_attrs=read-write", poolSize: 1))
            let inRecovery = try await routed.query("SELECT pg_is_in_recovery()", [])[0].decode(0, as: Bool.self)
            await routed.close()
            #expect(!inRecovery, "target_session_attrs=read-write connected to the standby")

            let onStandby = PostgresPool(
                config: try PostgresConfig(url: "postgresql://postgres@127.0.0.1:\(standby.postgresPort)/postgres", poolSize: 1))
            let before = try await onStandby.query("SELECT pg_backend_pid()", [])[0].decode(0, as: Int32.self)
            let refusal = await #expect(throws: PostgresError.self) {
                _ = try await onStandby.autocommitQuery("CREATE TABLE refused_on_standby (x integer)", [], maxAttempts: 2)
            }
            #expect(refusal?.isReadOnlyServer == true, "expected SQLSTATE 25006, got \(String(describing: refusal))")
            let after = try await onStandby.query("SELECT pg_backend_pid()", [])[0].decode(0, as: Int32.self)
            await onStandby.close()
            #expect(before != after, "the session that met a read-only refusal was kept")
        }
    }

    func checkInvariants(_ database: PostgresPool, templateId: String, result: Tally.State) async throws {
        let coupons = try await database.untilReachable(patience: Patience.clusterLimit) {
            try await database.query(
                """
                SELECT c.id, c.user_id, c.status, c.order_id,
                       (SELECT count(*) FROM coupon_ledger l WHERE l.coupon_id = c.id AND l.event = 'ISSUED')::bigint,
                       (SELECT count(*) FROM coupon_ledger l WHERE l.coupon_id = c.id AND l.event = 'USED')::bigint
                  FROM user_coupon c WHERE c.template_id = $1
                """, [templateId])
        }
        var stored: [String: (user: String, status: String, order: String?, issuedRows: Int64, usedRows: Int64)] = [:]
        var perUser: [String: Int] = [:]
        for row in coupons {
            let id: String = try row.decode(0)
            let user: String = try row.decode(1)
            stored[id] = (user, try row.decode(2), try row.decode(3), try row.decode(4), try row.decode(5))
            perUser[user, default: 0] += 1
        }
        #expect(stored.count <= Int(Self.stock), "issued \(stored.count) > stock \(Self.stock)")
        // One user per request: a request that produced two coupons shows as a user holding two.
        let doubled = perUser.filter { $0.value > 1 }
        #expect(doubled.isEmpty, "requests that produced more than one coupon: \(doubled.prefix(3))")
        let lost = result.issued.values.filter { stored[$0] == nil }
        #expect(lost.isEmpty, "\(lost.count) acknowledged claims without a coupon row, e.g. \(lost.prefix(3))")
        let withoutLedger = result.issued.values.filter { (stored[$0]?.issuedRows ?? 0) != 1 }
        #expect(withoutLedger.isEmpty, "\(withoutLedger.count) acknowledged claims without exactly one ISSUED ledger row")
        let untold = Set(stored.keys).subtracting(result.issued.values)
        #expect(untold.isEmpty, "\(untold.count) coupon rows no caller was given, e.g. \(untold.prefix(3))")
        let unrecorded = result.used.filter { stored[$0.key]?.status != "USED" || stored[$0.key]?.order != $0.value }
        #expect(unrecorded.isEmpty, "\(unrecorded.count) acknowledged redemptions not recorded for their order, e.g. \(unrecorded.prefix(3))")
        let usedTwice = stored.filter { $0.value.usedRows > 1 }
        #expect(usedTwice.isEmpty, "\(usedTwice.count) coupons with more than one USED ledger row")
    }

    /// Every claim (and the redemption of each coupon it yields), `concurrency` at a time.
    func storm(_ client: ServiceClient, templateId: String, tally: Tally) async {
        let next = SharedCounter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.concurrency {
                group.addTask {
                    while !Task.isCancelled {
                        let index = next.next()
                        guard index < Self.claims else { return }
                        if index >= Self.claims / 2 { await tally.waitForSecondHalf() }
                        if let coupon = await claim(index, client: client, templateId: templateId, tally: tally) {
                            await redeem(index, coupon: coupon, client: client, tally: tally)
                        }
                        _ = tally.answered.next()
                    }
                }
            }
        }
    }

    /// Business answers (1100–1399) are definitive; anything else (503, a timeout, a lock still
    /// held) is retried with the same request id.
    static func isDefinitive(_ code: ErrorCode) -> Bool { (1100..<1400).contains(code.rawValue) }

    func claim(_ index: Int, client: ServiceClient, templateId: String, tally: Tally) async -> String? {
        let request = ClaimRequest(userId: "failover-user-\(index)", templateId: templateId, channel: "app", requestId: "failover-claim-\(index)")
        while !tally.progress.stalled() {
            let began = ContinuousClock.now
            do {
                let coupon = try await client.call(request).couponId
                tally.succeeded(began: began) { $0.issued[index] = coupon }
                return coupon
            } catch {
                if error.code == .soldOut {
                    // Not timed as serving again: Redis alone can answer it.
                    tally.note { $0.soldOut += 1 }
                    tally.progress.advanced()
                    return nil
                }
                if Self.isDefinitive(error.code) {
                    tally.note { $0.unexpected.append("claim \(index): \(error)") }
                    return nil
                }
                tally.note { $0.retried[error.code, default: 0] += 1 }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        tally.note { $0.unanswered.append("claim \(index)") }
        return nil
    }

    func redeem(_ index: Int, coupon: String, client: ServiceClient, tally: Tally) async {
        let order = "failover-order-\(index)"
        let request = UseRequest(orderId: order, couponId: coupon, amountCents: 25_000, requestId: "failover-use-\(index)")
        while !tally.progress.stalled() {
            let began = ContinuousClock.now
            do {
                _ = try await client.call(request)
                tally.succeeded(began: began) { $0.used[coupon] = order }
                return
            } catch {
                if Self.isDefinitive(error.code) {
                    tally.note { $0.unexpected.append("use \(index): \(error)") }
                    return
                }
                tally.note { $0.retried[error.code, default: 0] += 1 }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        tally.note { $0.unanswered.append("use \(index)") }
    }

    /// `kill -9` of the leader's postmaster once a fifth of the storm is answered; once the pair is
    /// synchronous again the second half of the storm goes, and when a tenth more is answered,
    /// `kill -9` of the whole leader node, which is then started again. The time from each kill
    /// to the first success of a request sent after it.
    func killDuringStorm(_ patroni: PatroniCluster, tally: Tally) async throws -> (postmaster: Duration?, node: Duration?) {
        func waitForAnswers(_ count: Int) async throws {
            while tally.answered.current < count, !tally.progress.stalled() { try await Task.sleep(for: .milliseconds(5)) }
        }
        func recovery() async throws -> Duration? {
            while !tally.progress.stalled() {
                let state = tally.snapshot
                if let killed = state.killedAt, let first = state.firstSuccessAfterKill { return first - killed }
                try await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }
        try await waitForAnswers(Self.claims / 5)
        tally.killed()
        let first = try await patroni.killLeaderPostmaster()
        let afterPostmaster = try await recovery()
        print("PostgresFailoverTests: killed the postmaster of \(first); first success after \(afterPostmaster.map { "\($0)" } ?? "never")")

        // A commit is on both servers only while the standby is synchronous: wait for that, so the
        // node kill tests failover rather than a lone primary's loss.
        try await patroni.waitForLeaderAndSyncStandby()
        tally.openSecondHalf()
        try await waitForAnswers(Self.claims / 2 + Self.claims / 10)
        tally.killed()
        let second = try await patroni.killLeaderNode()
        let afterNode = try await recovery()
        print("PostgresFailoverTests: killed node \(second) (Patroni and PostgreSQL); first success after \(afterNode.map { "\($0)" } ?? "never")")
        try patroni.startNode(second)
        return (afterPostmaster, afterNode)
    }
}
