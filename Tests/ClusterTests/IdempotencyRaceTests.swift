import CouponClient
import Foundation
import Postgres
import Testing
import TestSupport
import Wire

/// DESIGN invariant 3 under concurrency: the same request id sent many times at once, to several
/// coupon-center processes, takes effect once and every sender gets the first answer.
@Suite(.serialized) struct IdempotencyRaceTests {
    @Test func concurrentRetriesTakeEffectOnce() async throws {
        try await TestCluster.with(couponCenters: 2) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "retry", type: .cash, thresholdCents: 0, discountCents: 500, startMilliseconds: now - 1000,
                        endMilliseconds: now + 3_600_000, totalStock: 100, perUserLimit: 10)))

            // 20 copies of one claim, and 20 copies of one points grant, all at once.
            let claim = ClaimRequest(userId: "same", templateId: template.templateId, channel: "app", requestId: "order-42-claim")
            let grant = GrantPointsRequest(userId: "same", points: 7, requestId: "grant-1")
            var couponIds = Set<String>()
            var balances = Set<Int64>()
            try await withThrowingTaskGroup(of: (String?, Int64?).self) { group in
                for _ in 0..<20 {
                    group.addTask { (try await client.call(claim).couponId, nil) }
                    group.addTask { (nil, try await client.call(grant).points) }
                }
                for try await (couponId, balance) in group {
                    if let couponId { couponIds.insert(couponId) }
                    if let balance { balances.insert(balance) }
                }
            }
            #expect(couponIds.count == 1, "different answers: \(couponIds)")
            #expect(balances == [7])

            let database = try cluster.database.pool()
            let coupons = try await database.query("SELECT count(*)::bigint FROM user_coupon WHERE user_id = 'same'")[0].decode(0, as: Int64.self)
            let points = try await database.query("SELECT points FROM user_points WHERE user_id = 'same'")[0].decode(0, as: Int64.self)
            let grants = try await database.query("SELECT count(*)::bigint FROM points_ledger WHERE user_id = 'same'")[0].decode(0, as: Int64.self)
            await database.close()
            #expect(coupons == 1)
            #expect(points == 7)
            #expect(grants == 1)

            // The same id with another payload is refused.
            let other = await #expect(throws: ServiceError.self) {
                try await client.call(GrantPointsRequest(userId: "same", points: 8, requestId: "grant-1"))
            }
            #expect(other?.code == .idempotencyKeyReused)
        }
    }
}
