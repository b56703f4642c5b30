import CouponClient
import Foundation
import Postgres
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §2, invariant 3, under concurrency: the same request id sent many times at once, to several
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

    /// 20 copies of one redemption at once land in the same group-commit batches: one use, one
    /// ledger row, and every sender gets the same answer (even the copies whose batch hit the
    /// request id's unique key and was written one by one).
    @Test func concurrentRedemptionRetriesTakeEffectOnce() async throws {
        try await TestCluster.with(couponCenters: 2) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "满200减30", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now - 1000,
                        endMilliseconds: now + 3_600_000, totalStock: 10, perUserLimit: 10)))
            let coupon = try await client.call(ClaimRequest(userId: "payer", templateId: template.templateId, channel: "app"))
            let use = UseRequest(orderId: "order-7", couponId: coupon.couponId, amountCents: 25_000, userId: "payer", requestId: "use-7")
            var answers: [UseResponse] = []
            try await withThrowingTaskGroup(of: UseResponse.self) { group in
                for _ in 0..<20 { group.addTask { try await client.call(use) } }
                for try await answer in group { answers.append(answer) }
            }
            #expect(answers.count == 20)
            #expect(Set(answers.map(\.payableCents)) == [22_000])
            #expect(Set(answers.map(\.discountCents)) == [3_000])

            let database = try cluster.database.pool()
            let uses = try await database.query(
                "SELECT count(*)::bigint FROM coupon_ledger WHERE coupon_id = $1 AND event = 'USED'", [coupon.couponId])[0].decode(0, as: Int64.self)
            let orders = try await database.query("SELECT order_count FROM user_profile WHERE user_id = 'payer'")[0].decode(0, as: Int32.self)
            await database.close()
            #expect(uses == 1)
            #expect(orders == 1)

            let other = await #expect(throws: ServiceError.self) {
                try await client.call(
                    UseRequest(orderId: "order-8", couponId: coupon.couponId, amountCents: 25_000, userId: "payer", requestId: "use-7"))
            }
            #expect(other?.code == .idempotencyKeyReused)

            // One request id on eight different coupons at once: one use wins, the others are told
            // the id was used for another request, even when they shared its batch.
            var coupons: [String] = []
            for _ in 0..<8 {
                coupons.append(try await client.call(ClaimRequest(userId: "payer", templateId: template.templateId, channel: "app")).couponId)
            }
            var codes: [ErrorCode?] = []
            try await withThrowingTaskGroup(of: ErrorCode?.self) { group in
                for couponId in coupons {
                    group.addTask {
                        do {
                            _ = try await client.call(
                                UseRequest(
                                    orderId: "order-9-\(couponId)", couponId: couponId, amountCents: 25_000, userId: "payer", requestId: "use-9"))
                            return nil
                        } catch let error as ServiceError {
                            return error.code
                        }
                    }
                }
                for try await code in group { codes.append(code) }
            }
            #expect(codes.filter { $0 == nil }.count == 1, "\(codes)")
            #expect(codes.filter { $0 == .idempotencyKeyReused }.count == 7, "\(codes)")
        }
    }
}
