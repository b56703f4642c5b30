import CouponClient
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §2, invariant 2: a coupon is used by one order at a time, a refund returns it exactly once,
/// and every state change has its ledger row, under concurrency across three processes.
/// Which orders won each coupon, and the codes of the refused ones; shared by the sending tasks.
final class Outcomes: Sendable {
    struct State: Sendable {
        var winners: [String: [String]] = [:]
        var refusals: [ErrorCode: Int] = [:]
    }
    let state = Mutex(State())
}

@Suite(.serialized) struct RedemptionTests {
    static func createCashTemplate(_ client: ServiceClient, stock: Int32, perUser: Int32, validHours: Int32? = nil) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: "满200减30", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now - 60_000,
                    endMilliseconds: now + 86_400_000, validHours: validHours, totalStock: stock, perUserLimit: perUser))
        ).templateId
    }

    /// Ledger and rows agree: USED rows = USED events − REFUNDED events that left USED, etc.
    static func checkLedger(_ database: PostgresPool, templateId: String) async throws {
        let rows = try await database.query(
            """
            SELECT (SELECT count(*) FROM user_coupon WHERE template_id = $1 AND status = 'USED')::bigint,
                   (SELECT count(*) FROM coupon_ledger WHERE template_id = $1 AND event = 'USED')::bigint,
                   (SELECT count(*) FROM coupon_ledger WHERE template_id = $1 AND event = 'REFUNDED')::bigint,
                   (SELECT count(*) FROM user_coupon WHERE template_id = $1)::bigint,
                   (SELECT count(*) FROM coupon_ledger WHERE template_id = $1 AND event = 'ISSUED')::bigint,
                   (SELECT issued_count FROM coupon_template WHERE id = $1)::bigint,
                   (SELECT count(*) FROM user_coupon WHERE template_id = $1 AND status = 'USED' AND order_id IS NULL)::bigint
            """, [templateId])
        let used = try rows[0].decode(0, as: Int64.self)
        let usedEvents = try rows[0].decode(1, as: Int64.self)
        let refundEvents = try rows[0].decode(2, as: Int64.self)
        #expect(used == usedEvents - refundEvents, "USED rows \(used), USED events \(usedEvents), REFUNDED events \(refundEvents)")
        #expect(try rows[0].decode(3, as: Int64.self) == rows[0].decode(4, as: Int64.self))
        #expect(try rows[0].decode(3, as: Int64.self) == rows[0].decode(5, as: Int64.self))
        #expect(try rows[0].decode(6, as: Int64.self) == 0)
    }

    @Test func eachCouponRedeemedByTwentyOrdersAtOnceIsUsedExactlyOnce() async throws {
        try await TestCluster.with(couponCenters: 3) { cluster in
            let setup = try cluster.client()
            defer { setup.close() }
            let coupons = 1_000
            let orders = 20
            let templateId = try await Self.createCashTemplate(setup, stock: Int32(coupons), perUser: 10)
            var couponIds: [String] = []
            for user in 0..<(coupons / 10) {
                for _ in 0..<10 {
                    couponIds.append(try await setup.call(ClaimRequest(userId: "buyer-\(user)", templateId: templateId, channel: "app")).couponId)
                }
            }
            let clients = try cluster.couponCenterURLs.map {
                try ServiceClient(service: "coupon-center", urls: [$0], timeoutMilliseconds: Patience.callMilliseconds)
            }
            defer { for client in clients { client.close() } }

            // Every coupon gets 20 different orders, sent at once across the three processes.
            let outcome = Outcomes()
            let ids = couponIds
            let next = SharedCounter()
            let total = coupons * orders
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        while true {
                            let index = next.next()
                            guard index < total else { return }
                            // Interleave so the 20 orders of one coupon are in flight together.
                            let coupon = ids[index % coupons]
                            let order = "order-\(index / coupons)-\(coupon)"
                            do {
                                let response = try await clients[index % clients.count].call(
                                    UseRequest(orderId: order, couponId: coupon, amountCents: 25_000))
                                #expect(response.discountCents == 3_000 && response.payableCents == 22_000)
                                outcome.state.withLock { $0.winners[coupon, default: []].append(order) }
                            } catch let error as ServiceError {
                                outcome.state.withLock { $0.refusals[error.code, default: 0] += 1 }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let result = outcome.state.withLock { $0 }
            #expect(result.winners.count == coupons)
            #expect(result.winners.values.allSatisfy { $0.count == 1 }, "a coupon was used by two orders")
            #expect(result.refusals == [.couponAlreadyUsed: coupons * (orders - 1)], "\(result.refusals)")

            let database = try cluster.database.pool()
            let rows = try await database.query("SELECT id, order_id FROM user_coupon WHERE template_id = $1 AND status = 'USED'", [templateId])
            #expect(rows.count == coupons)
            for row in rows {
                let id: String = try row.decode(0)
                #expect(result.winners[id] == [try row.decode(1, as: String.self)])
            }
            try await Self.checkLedger(database, templateId: templateId)
            await database.close()
        }
    }

    @Test func redeemRefundRedeemCyclesKeepLedgerAndRowsEqual() async throws {
        try await TestCluster.with(couponCenters: 2) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let templateId = try await Self.createCashTemplate(client, stock: 50, perUser: 50)
            var coupons: [String] = []
            for _ in 0..<20 { coupons.append(try await client.call(ClaimRequest(userId: "cycler", templateId: templateId, channel: "app")).couponId) }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for coupon in coupons {
                    group.addTask {
                        for round in 0..<3 {
                            let order = "o-\(round)-\(coupon)"
                            let used = try await client.call(UseRequest(orderId: order, couponId: coupon, amountCents: 30_000))
                            #expect(used.payableCents == 27_000)
                            // The same (order, coupon) again: the same answer, no second use.
                            #expect(try await client.call(UseRequest(orderId: order, couponId: coupon, amountCents: 30_000)) == used)
                            let refunded = try await client.call(RefundRequest(orderId: order, couponId: coupon))
                            #expect(refunded.status == .unused)
                            // A retried refund answers the same and changes nothing.
                            #expect(try await client.call(RefundRequest(orderId: order, couponId: coupon)).status == .unused)
                        }
                        _ = try await client.call(UseRequest(orderId: "final-\(coupon)", couponId: coupon, amountCents: 30_000))
                    }
                }
                try await group.waitForAll()
            }
            let database = try cluster.database.pool()
            try await Self.checkLedger(database, templateId: templateId)
            let events = try await database.query(
                "SELECT event, count(*)::bigint FROM coupon_ledger WHERE template_id = $1 GROUP BY event ORDER BY event", [templateId])
            let counts = Dictionary(uniqueKeysWithValues: try events.map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int64.self)) })
            #expect(counts == ["ISSUED": 20, "USED": 80, "REFUNDED": 60])
            // The orders counted towards the user's profile: RETURNING, HIGH_FREQ.
            let profile = try await client.call(SetProfileRequest(userId: "cycler", tags: []))
            #expect(profile.orderCount == 80)
            #expect(profile.segments == ["RETURNING", "HIGH_FREQ"])
            await database.close()

            // Refusals: another order on a used coupon, a refund by an order that did not use it,
            // someone else's coupon (looks unknown), an unknown coupon.
            let coupon = coupons[0]
            let other = await #expect(throws: ServiceError.self) {
                try await client.call(UseRequest(orderId: "intruder", couponId: coupon, amountCents: 30_000))
            }
            #expect(other?.code == .couponAlreadyUsed)
            let wrongRefund = await #expect(throws: ServiceError.self) { try await client.call(RefundRequest(orderId: "intruder", couponId: coupon)) }
            #expect(wrongRefund?.code == .refundNotMatching)
            let fresh = try await client.call(ClaimRequest(userId: "cycler", templateId: templateId, channel: "app")).couponId
            let notYours = await #expect(throws: ServiceError.self) {
                try await client.call(UseRequest(orderId: "x", couponId: fresh, amountCents: 30_000, userId: "someone-else"))
            }
            #expect(notYours?.code == .couponNotFound)
            let unknown = await #expect(throws: ServiceError.self) {
                try await client.call(UseRequest(orderId: "x", couponId: "CNOSUCHCOUPON", amountCents: 30_000))
            }
            #expect(unknown?.code == .couponNotFound)
            let below = await #expect(throws: ServiceError.self) {
                try await client.call(UseRequest(orderId: "x", couponId: fresh, amountCents: 19_999))
            }
            #expect(below?.code == .thresholdNotMet)
        }
    }

    @Test func expiredCouponsAreRefusedByTimeAndMarkedByOneLeader() async throws {
        try await TestCluster.with(couponCenters: 2, environment: ["COUPON_EXPIRY_INTERVAL_SECONDS": "1"]) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let templateId = try await Self.createCashTemplate(client, stock: 20, perUser: 20)
            var coupons: [String] = []
            for _ in 0..<10 { coupons.append(try await client.call(ClaimRequest(userId: "late", templateId: templateId, channel: "app")).couponId) }
            let database = try cluster.database.pool()
            // Time passes: five coupons expire, one of them used and refunded afterwards.
            try await database.execute(
                """
                UPDATE user_coupon SET claimed_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
                 WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
                """, [JSONValue.array(coupons.prefix(5).map { .string($0) }).serialized()])
            let refused = await #expect(throws: ServiceError.self) {
                try await client.call(UseRequest(orderId: "late-order", couponId: coupons[0], amountCents: 30_000))
            }
            #expect(refused?.code == .couponExpired)

            // Within a few sweeps the job marks exactly those five, each with one ledger row.
            func expired() async throws -> Int64 {
                try await database.query(
                    "SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1 AND status = 'EXPIRED'", [templateId])[0].decode(0)
            }
            try await Patience.waitUntil("the expiry job marking five coupons", every: .milliseconds(200)) { try await expired() >= 5 }
            #expect(try await expired() == 5)
            // Room for more sweeps of the 1 s job (none may mark a coupon twice). Not a budget: on
            // a slower machine fewer sweeps fit in, which can only hide a double mark, never fake one.
            try await Task.sleep(for: Patience.scaled(.seconds(3)))
            let ledger = try await database.query(
                "SELECT count(*)::bigint FROM coupon_ledger WHERE template_id = $1 AND event = 'EXPIRED'", [templateId])[0]
                .decode(0, as: Int64.self)
            #expect(ledger == 5, "one EXPIRED ledger row per expired coupon")
            let wallet = try await client.call(WalletRequest(userId: "late", status: .expired))
            #expect(wallet.coupons.count == 5)
            await database.close()
        }
    }
}
