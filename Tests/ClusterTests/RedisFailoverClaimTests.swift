import CouponClient
import Foundation
import Postgres
import Redis
import Synchronization
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §2, invariant 1, when Redis fails over: coupon-center and risk-control over a
/// `redis-sentinel://` URL while the master is killed, and over a `redis-cluster://` URL with
/// templates on different masters while one master is killed. Claims may fail while Redis has no
/// master (the claim path refuses rather than guess) and counters rebuilt on the new master may
/// count less than the truth; PostgreSQL keeps every template at or under its stock, and every
/// claim a caller was told succeeded has its row.
@Suite(.serialized) struct RedisFailoverClaimTests {
    static let stock: Int32 = 60
    static let perUserLimit: Int32 = 2
    /// Prime, so over n templates (n < 199) no user claims one template twice in n × 180 claims.
    static let users = 199

    /// The coupon ids callers were given, per template, and errors by code.
    final class Tally: Sendable {
        private let state = Mutex<(issued: [String: [String]], errors: [ErrorCode: Int])>(([:], [:]))
        func issued(_ id: String, template: String) { state.withLock { $0.issued[template, default: []].append(id) } }
        func failed(_ code: ErrorCode) { state.withLock { $0.errors[code, default: 0] += 1 } }
        func issuedIds(_ template: String) -> [String] { state.withLock { $0.issued[template] ?? [] } }
        var errors: [ErrorCode: Int] { state.withLock { $0.errors } }
    }

    func createTemplate(_ client: ServiceClient, stock: Int32 = Self.stock) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let view = try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: "failover storm", type: .cash, thresholdCents: 10_000, discountCents: 1_000, startMilliseconds: now - 60_000,
                    endMilliseconds: now + 86_400_000, totalStock: stock, perUserLimit: Self.perUserLimit)))
        return view.templateId
    }

    /// `claims` claims over `templates`, 32 at a time; `midway` runs once after a third were answered.
    func storm(
        _ client: ServiceClient, templates: [String], claims: Int, midway: @escaping @Sendable () async -> Void = {}
    ) async throws -> Tally {
        let tally = Tally()
        let next = SharedCounter()
        let answered = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    while true {
                        let index = next.next()
                        guard index < claims else { return }
                        let template = templates[index % templates.count]
                        let request = ClaimRequest(userId: "user-\(index % Self.users)", templateId: template, channel: "app")
                        do {
                            tally.issued(try await client.call(request).couponId, template: template)
                        } catch let error as ServiceError {
                            tally.failed(error.code)
                        } catch {
                            tally.failed(.internalError)
                        }
                        if answered.next() + 1 == claims / 3 { await midway() }
                    }
                }
            }
            try await group.waitForAll()
        }
        return tally
    }

    /// Issued ≤ stock, one ledger row per coupon, and no success reply without its row.
    func checkInvariants(_ cluster: TestCluster, templates: [String], tally: Tally, stock: Int32 = Self.stock) async throws -> [Int64] {
        let database = try cluster.database.pool()
        var issued: [Int64] = []
        for template in templates {
            let coupons = try await database.query("SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1", [template])[0]
                .decode(0, as: Int64.self)
            let ledger = try await database.query(
                "SELECT count(*)::bigint FROM coupon_ledger WHERE template_id = $1 AND event = 'ISSUED'", [template])[0]
                .decode(0, as: Int64.self)
            #expect(coupons <= Int64(stock), "template \(template): issued \(coupons) > stock \(stock)")
            #expect(ledger == coupons, "template \(template): ledger \(ledger) != coupons \(coupons)")
            let given = tally.issuedIds(template)
            #expect(Set(given).count == given.count, "a coupon id was handed out twice")
            let rows = try await database.query("SELECT id FROM user_coupon WHERE template_id = $1", [template])
            let missing = Set(given).subtracting(Set(try rows.map { try $0.decode(0, as: String.self) }))
            #expect(missing.isEmpty, "\(missing.count) success replies without a row, e.g. \(missing.prefix(3))")
            issued.append(coupons)
        }
        await database.close()
        return issued
    }

    /// After a failover the service decides claims again: a claim on `template` gets a coupon or a
    /// business refusal (sold out), not a dependency failure (waiting while Redis has no master yet).
    func waitForClaims(_ client: ServiceClient, template: String) async throws {
        let attempt = SharedCounter()
        try await Patience.waitUntil("a claim decided after the failover", within: Patience.clusterLimit, every: .milliseconds(200)) {
            let request = ClaimRequest(userId: "after-\(attempt.next())", templateId: template, channel: "app")
            do {
                _ = try await client.call(request)
                return true
            } catch let error as ServiceError {
                return error.code == .soldOut
            }
        }
    }

    @Test func claimsAcrossASentinelFailoverNeverOversell() async throws {
        try await RedisSentinelTestSet.with { redis in
            try await TestCluster.with(environment: ["COUPON_REDIS_URL": redis.url]) { cluster in
                let client = try cluster.client()
                defer { client.close() }
                // Stock for most of the storm, so claims are still being reserved when the master dies.
                let stock = Int32(2 * Self.users)
                let template = try await createTemplate(client, stock: stock)
                let tally = try await storm(client, templates: [template], claims: 3 * Self.users) {
                    await redis.killMaster()
                }
                _ = try await checkInvariants(cluster, templates: [template], tally: tally, stock: stock)
                let fresh = try await createTemplateAfterFailover(client)
                try await waitForClaims(client, template: fresh)
                #expect(await redis.namedMasterPort() == redis.replica.port)
            }
        }
    }

    @Test func claimsOverAClusterAcrossTemplatesAndAKilledMasterNeverOversell() async throws {
        try await RedisClusterTestSet.with { redis in
            try await TestCluster.with(couponCenters: 2, environment: ["COUPON_REDIS_URL": redis.url]) { cluster in
                let client = try cluster.client()
                defer { client.close() }
                let probe = RedisConnection(config: try redis.nodes[0].config(poolSize: 1))
                let map = try RedisClusterSlotMap.parse(
                    try await probe.command(["CLUSTER", "SLOTS"]), answeredBy: RedisEndpoint(host: "127.0.0.1", port: redis.nodes[0].port))
                func master(of template: String) -> RedisEndpoint? { map.masterBySlot()[RedisClusterSlot.of(key: template)] }

                // Templates whose keys live on at least two different masters.
                var templates: [String] = []
                while Set(templates.compactMap(master)).count < 2 || templates.count < 3 {
                    templates.append(try await createTemplate(client))
                    #expect(templates.count <= 40, "forty templates all hashed to one master")
                    if templates.count > 40 { break }
                }

                // Without a fault: demand above the stock sells every template out exactly.
                let calm = try await storm(client, templates: templates, claims: templates.count * 3 * Int(Self.stock))
                let issued = try await checkInvariants(cluster, templates: templates, tally: calm)
                #expect(issued.allSatisfy { $0 == Int64(Self.stock) }, "issued \(issued), errors \(calm.errors)")

                // A master killed in the middle of a storm over fresh templates.
                var fresh: [String] = []
                for _ in templates { fresh.append(try await createTemplate(client, stock: 150)) }
                let victimEndpoint = try #require(master(of: fresh[0]))
                let victimPort = victimEndpoint.port
                #expect(redis.node(port: victimPort) != nil)
                let stormy = try await storm(client, templates: fresh, claims: fresh.count * 3 * Int(Self.stock)) {
                    await redis.kill(port: victimPort)
                }
                _ = try await checkInvariants(cluster, templates: fresh, tally: stormy, stock: 150)

                // The killed master's replica takes its slots, and claims on its templates go on.
                try await redis.waitUntilHealthy()
                try await waitForClaims(client, template: fresh[0])
                let after = try await checkInvariants(cluster, templates: fresh, tally: stormy, stock: 150)
                #expect(after[0] >= 1)
            }
        }
    }

    /// A template created once Redis has a master again (creation writes its counters to Redis).
    func createTemplateAfterFailover(_ client: ServiceClient) async throws -> String {
        var created: String?
        try await Patience.waitUntil("a template created after the failover", within: Patience.clusterLimit, every: .milliseconds(200)) {
            created = try? await createTemplate(client)
            return created != nil
        }
        return try #require(created)
    }
}
