import CouponClient
import Foundation
import Postgres
import Redis
import Synchronization
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §2, invariant 1, under fire: 2,000 concurrent claims from three coupon-center processes that
/// share one PostgreSQL and one Redis, for a template with stock 300 and per-user limit 2 over 500
/// users; then the same while Redis is flushed, and while one process is killed with `kill -9`.
@Suite(.serialized) struct NoOversellTests {
    static let stock: Int32 = 300
    static let perUserLimit: Int32 = 2
    static let users = 500
    static let claims = 2_000

    /// What the claimers saw: the coupon ids they were given, and errors by code.
    final class Tally: Sendable {
        private let state = Mutex<(issued: [String], errors: [ErrorCode: Int])>(([], [:]))
        func issued(_ id: String) { state.withLock { $0.issued.append(id) } }
        func failed(_ code: ErrorCode) { state.withLock { $0.errors[code, default: 0] += 1 } }
        var issuedIds: [String] { state.withLock { $0.issued } }
        var errors: [ErrorCode: Int] { state.withLock { $0.errors } }
    }

    func createTemplate(_ cluster: TestCluster) async throws -> String {
        let client = try cluster.client()
        defer { client.close() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let view = try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: "满200减30 storm", type: .cash, thresholdCents: 20_000, discountCents: 3_000,
                    startMilliseconds: now - 60_000, endMilliseconds: now + 86_400_000, totalStock: Self.stock,
                    perUserLimit: Self.perUserLimit)))
        return view.templateId
    }

    /// Sends `claims` claims, 64 at a time, round-robin over every coupon-center; `midway` runs once
    /// after a third of them have been answered.
    /// With `oneSocket`, a single client dials every process and NNG routes around a dead one, as a
    /// real caller's would; otherwise each process gets its own client and exactly a third of the calls.
    func storm(
        _ cluster: TestCluster, templateId: String, timeoutMilliseconds: Int = Patience.callMilliseconds, oneSocket: Bool = false,
        midway: @escaping @Sendable () async -> Void = {}
    ) async throws -> Tally {
        let clients =
            oneSocket
            ? [try cluster.client(timeoutMilliseconds: timeoutMilliseconds)]
            : try cluster.couponCenterURLs.map {
                try ServiceClient(service: "coupon-center", urls: [$0], timeoutMilliseconds: timeoutMilliseconds)
            }
        defer { for client in clients { client.close() } }
        let tally = Tally()
        let next = SharedCounter()
        let answered = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    while true {
                        let index = next.next()
                        guard index < Self.claims else { return }
                        let request = ClaimRequest(userId: "user-\(index % Self.users)", templateId: templateId, channel: "app")
                        do {
                            let response = try await clients[index % clients.count].call(request)
                            tally.issued(response.couponId)
                        } catch let error as ServiceError {
                            tally.failed(error.code)
                        } catch {
                            tally.failed(.internalError)
                        }
                        if answered.next() + 1 == Self.claims / 3 { await midway() }
                    }
                }
            }
            try await group.waitForAll()
        }
        return tally
    }

    /// Every invariant PostgreSQL must show after a storm, whatever happened during it.
    func checkInvariants(_ cluster: TestCluster, templateId: String, tally: Tally) async throws -> Int {
        let database = try cluster.database.pool()
        let coupons = try await database.query("SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1", [templateId])[0]
            .decode(0, as: Int64.self)
        let ledger = try await database.query(
            "SELECT count(*)::bigint FROM coupon_ledger WHERE template_id = $1 AND event = 'ISSUED'", [templateId])[0].decode(0, as: Int64.self)
        let counter = try await database.query("SELECT issued_count FROM coupon_template WHERE id = $1", [templateId])[0]
            .decode(0, as: Int64.self)
        let perUser = try await database.query(
            "SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1 GROUP BY user_id ORDER BY 1 DESC LIMIT 1", [templateId])
        let tableLimit = try await database.query(
            "SELECT coalesce(max(issued), 0)::bigint FROM user_template_issue WHERE template_id = $1", [templateId])[0].decode(0, as: Int64.self)

        #expect(coupons <= Int64(Self.stock), "issued \(coupons) > stock \(Self.stock)")
        #expect(ledger == coupons, "ledger \(ledger) != coupons \(coupons)")
        #expect(counter == coupons, "template counter \(counter) != coupons \(coupons)")
        #expect((try perUser.first?.decode(0, as: Int64.self) ?? 0) <= Int64(Self.perUserLimit))
        #expect(tableLimit <= Int64(Self.perUserLimit))

        // No success without a row: every coupon id a caller was given exists, once.
        let given = tally.issuedIds
        #expect(Set(given).count == given.count, "a coupon id was handed out twice")
        let rows = try await database.query("SELECT id FROM user_coupon WHERE template_id = $1", [templateId])
        let stored = Set(try rows.map { try $0.decode(0, as: String.self) })
        let missing = Set(given).subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) success replies without a row, e.g. \(missing.prefix(3))")
        await database.close()
        return Int(coupons)
    }

    @Test func twoThousandConcurrentClaimsFromThreeProcessesIssueExactlyTheStock() async throws {
        try await TestCluster.with(couponCenters: 3) { cluster in
            let templateId = try await createTemplate(cluster)
            let tally = try await storm(cluster, templateId: templateId)
            let issued = try await checkInvariants(cluster, templateId: templateId, tally: tally)
            #expect(issued == Int(Self.stock), "errors: \(tally.errors)")
            #expect(tally.issuedIds.count == Int(Self.stock))
            // Every refusal is a clean business answer, not a failure.
            let refusals = Set(tally.errors.keys)
            #expect(refusals.isSubset(of: [.soldOut, .perUserLimitReached]), "unexpected errors: \(tally.errors)")
        }
    }

    @Test func redisFlushedMidRunStillNeverOversells() async throws {
        try await TestCluster.with(couponCenters: 3) { cluster in
            let templateId = try await createTemplate(cluster)
            let redisPort = cluster.redis.port
            let tally = try await storm(cluster, templateId: templateId) {
                _ = try? await runRedisFlush(port: redisPort)
            }
            let issued = try await checkInvariants(cluster, templateId: templateId, tally: tally)
            // Counters rebuilt from PostgreSQL never count more than the truth, so with demand to
            // spare the stock still sells out exactly.
            #expect(issued == Int(Self.stock), "errors: \(tally.errors)")
        }
    }

    @Test func couponCenterKilledMidRunStillNeverOversells() async throws {
        try await TestCluster.with(couponCenters: 3) { cluster in
            let templateId = try await createTemplate(cluster)
            let victim = cluster.couponCenters[1]
            // Short enough that calls stuck on the killed process come back soon.
            let tally = try await storm(cluster, templateId: templateId, timeoutMilliseconds: Patience.milliseconds(3_000), oneSocket: true) {
                await victim.killNow()
            }
            let issued = try await checkInvariants(cluster, templateId: templateId, tally: tally)
            #expect(issued > 0)
            let status = victim.exitStatus
            #expect(status == 137, "the victim was not killed by SIGKILL")
        }
    }
}

/// FLUSHALL through our own Redis client, as an operator or a restart without persistence would.
func runRedisFlush(port: Int) async throws {
    let connection = RedisConnection(config: try RedisConfig(url: "redis://127.0.0.1:\(port)/0"))
    _ = try await connection.command(["FLUSHALL"])
    await connection.close()
}
