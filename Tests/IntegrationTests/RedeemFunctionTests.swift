import Foundation
import Postgres
import TestSupport
import Testing
import Wire

// coupon-center's redeem_coupons(jsonb) (as migration 0006 defines it) against a real PostgreSQL. Each test creates
// its own database on TEST_DATABASE_URL (Deploy/test sets it), applies every migration as read
// from the source tree, sets up coupons with plain SQL, sends hand-made batches as one autocommitted
// statement (as Redemptions.redeem does) and checks both the answers and what is stored: the
// coupon rows, the USED ledger rows, the orders, the order counts and the idempotency records.

@Suite(.timeLimit(.minutes(5)))
struct RedeemFunctionTests {
    // MARK: - Using coupons

    @Test func batchOfThreeUsersUsesEveryCouponOnce() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([
                CouponSetup(id: "c1", userId: "u1"), CouponSetup(id: "c2", userId: "u2"), CouponSetup(id: "c3", userId: "u3"),
            ])
            // u3 has ordered before: four orders, counted.
            try await db.addProfile(user: "u3", orders: ["o-old1", "o-old2", "o-old3", "o-old4"])
            let uses = [
                TestUse(couponId: "c1", orderId: "o1", amountCents: 10_000, appliedCents: 500, requestId: "r1"),
                TestUse(couponId: "c2", orderId: "o2", amountCents: 2_999, appliedCents: 1_000),
                TestUse(couponId: "c3", orderId: "o3", amountCents: 700, appliedCents: 700, requestId: "r3"),
            ]

            #expect(try await db.redeem(uses) == [true, true, true])

            for use in uses {
                let coupon = try #require(try await db.coupon(use.couponId))
                #expect(
                    coupon
                        == StoredCoupon(
                            status: "USED", orderId: use.orderId, orderAmountCents: use.amountCents,
                            appliedCents: use.appliedCents, hasUsedAt: true))
            }
            #expect(try await db.usedAtIsThisStatement(["c1", "c2", "c3"]))
            #expect(
                try await db.usedLedger() == [
                    "c1 u1 o1 500 UNUSED->USED", "c2 u2 o2 1000 UNUSED->USED", "c3 u3 o3 700 UNUSED->USED",
                ])
            #expect(
                try await db.orders() == [
                    "u1 o1 10000", "u2 o2 2999", "u3 o-old1 100", "u3 o-old2 100", "u3 o-old3 100", "u3 o-old4 100", "u3 o3 700",
                ])
            #expect(try await db.orderCounts() == ["u1": 1, "u2": 1, "u3": 5])
            #expect(try await db.requests() == (try await db.records([uses[0], uses[2]])))
            #expect(try await db.reconcile() == [])
        }
    }

    @Test func couponNamedTwiceGoesToTheLowestIndex() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([CouponSetup(id: "c1", userId: "u1"), CouponSetup(id: "c2", userId: "u2")])
            let uses = [
                TestUse(couponId: "c1", orderId: "o1", amountCents: 10_000, appliedCents: 500, requestId: "r1"),
                TestUse(couponId: "c1", orderId: "o2", amountCents: 8_000, appliedCents: 300, requestId: "r2"),
                TestUse(couponId: "c2", orderId: "o2", amountCents: 8_000, appliedCents: 400, requestId: "r3"),
            ]

            #expect(try await db.redeem(uses) == [true, false, true])

            #expect(
                try await db.coupon("c1")
                    == StoredCoupon(
                        status: "USED", orderId: "o1", orderAmountCents: 10_000, appliedCents: 500,
                        hasUsedAt: true))
            #expect(
                try await db.coupon("c2")
                    == StoredCoupon(
                        status: "USED", orderId: "o2", orderAmountCents: 8_000, appliedCents: 400,
                        hasUsedAt: true))
            #expect(try await db.usedLedger() == ["c1 u1 o1 500 UNUSED->USED", "c2 u2 o2 400 UNUSED->USED"])
            // o2 reached c1's owner only through the use that lost.
            #expect(try await db.orders() == ["u1 o1 10000", "u2 o2 8000"])
            #expect(try await db.orderCounts() == ["u1": 1, "u2": 1])
            #expect(try await db.requests() == (try await db.records([uses[0], uses[2]])))
            #expect(try await db.reconcile() == [])
        }
    }

    @Test func twoCouponsOnOneOrderCountTheOrderOnce() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([
                CouponSetup(id: "c1", userId: "u1"), CouponSetup(id: "c2", userId: "u1"), CouponSetup(id: "c3", userId: "u1"),
            ])
            let uses = [
                TestUse(couponId: "c1", orderId: "o1", amountCents: 10_000, appliedCents: 500, requestId: "r1"),
                TestUse(couponId: "c2", orderId: "o1", amountCents: 10_000, appliedCents: 800, requestId: "r2"),
            ]

            #expect(try await db.redeem(uses) == [true, true])

            #expect(
                try await db.coupon("c1")
                    == StoredCoupon(
                        status: "USED", orderId: "o1", orderAmountCents: 10_000, appliedCents: 500,
                        hasUsedAt: true))
            #expect(
                try await db.coupon("c2")
                    == StoredCoupon(
                        status: "USED", orderId: "o1", orderAmountCents: 10_000, appliedCents: 800,
                        hasUsedAt: true))
            #expect(try await db.usedLedger() == ["c1 u1 o1 500 UNUSED->USED", "c2 u1 o1 800 UNUSED->USED"])
            #expect(try await db.orders() == ["u1 o1 10000"])
            #expect(try await db.orderCounts() == ["u1": 1])
            #expect(try await db.requests() == (try await db.records(uses)))

            // A third coupon on the same order in a later batch: still one order.
            let later = TestUse(couponId: "c3", orderId: "o1", amountCents: 10_000, appliedCents: 100)
            #expect(try await db.redeem([later]) == [true])
            #expect(try await db.orders() == ["u1 o1 10000"])
            #expect(try await db.orderCounts() == ["u1": 1])
            #expect(try await db.usedLedger().count == 3)
            #expect(try await db.reconcile() == [])
        }
    }

    @Test func unusableCouponsWriteNothingButAGoodOneIsUsed() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([
                CouponSetup(id: "c-used", userId: "u-old"),
                CouponSetup(id: "c-late", userId: "u-bad", expired: true),
                CouponSetup(id: "c-expired", userId: "u-bad", status: "EXPIRED", expired: true),
                CouponSetup(id: "c-revoked", userId: "u-bad", status: "REVOKED"),
                CouponSetup(id: "c-good", userId: "u-good"),
            ])
            let earlier = TestUse(couponId: "c-used", orderId: "o-old", amountCents: 5_000, appliedCents: 200, requestId: "r-old")
            #expect(try await db.redeem([earlier]) == [true])
            let before = try await db.coupons()
            let ledgerRows = try await db.count("SELECT count(*) FROM coupon_ledger")

            let uses = [
                TestUse(couponId: "c-used", orderId: "o-new", amountCents: 9_000, appliedCents: 900, requestId: "r-used"),
                TestUse(couponId: "c-late", orderId: "o-bad", amountCents: 9_000, appliedCents: 900, requestId: "r-late"),
                TestUse(couponId: "c-expired", orderId: "o-bad", amountCents: 9_000, appliedCents: 900, requestId: "r-expired"),
                TestUse(couponId: "c-revoked", orderId: "o-bad", amountCents: 9_000, appliedCents: 900, requestId: "r-revoked"),
                TestUse(couponId: "c-missing", orderId: "o-bad", amountCents: 9_000, appliedCents: 900, requestId: "r-missing"),
                TestUse(couponId: "c-good", orderId: "o-good", amountCents: 9_000, appliedCents: 900, requestId: "r-good"),
            ]

            #expect(try await db.redeem(uses) == [false, false, false, false, false, true])

            var after = try await db.coupons()
            #expect(
                after.removeValue(forKey: "c-good")
                    == StoredCoupon(
                        status: "USED", orderId: "o-good", orderAmountCents: 9_000,
                        appliedCents: 900, hasUsedAt: true))
            var unchanged = before
            unchanged["c-good"] = nil
            #expect(after == unchanged)
            #expect(before["c-late"] == StoredCoupon(status: "UNUSED"))
            #expect(before["c-used"]?.orderId == "o-old")
            #expect(try await db.usedLedger() == ["c-good u-good o-good 900 UNUSED->USED", "c-used u-old o-old 200 UNUSED->USED"])
            #expect(try await db.count("SELECT count(*) FROM coupon_ledger") == ledgerRows + 1)
            #expect(try await db.orders() == ["u-good o-good 9000", "u-old o-old 5000"])
            #expect(try await db.orderCounts() == ["u-good": 1, "u-old": 1])
            #expect(try await db.requests() == (try await db.records([uses[5], earlier])))
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Request ids

    @Test func requestIdIsStoredAndAStoredOneFailsTheWholeBatch() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([
                CouponSetup(id: "c0", userId: "u0"), CouponSetup(id: "c1", userId: "u1"), CouponSetup(id: "c2", userId: "u2"),
                CouponSetup(id: "c3", userId: "u3"),
            ])
            // A claim's request id of the same text is another operation's: no collision.
            try await db.pool.execute(
                "INSERT INTO idempotency_record (operation, request_id, payload, response) VALUES ('claim', 'r-new', 'claim', '{}')")
            let first = TestUse(couponId: "c0", orderId: "o0", amountCents: 6_000, appliedCents: 600, requestId: "r-old")
            #expect(try await db.redeem([first]) == [true])
            let firstRecord = try await db.records([first])
            #expect(try await db.requests() == firstRecord)
            #expect(firstRecord.map(\.payload) == ["use|o0|c0|6000|600"])
            #expect(try await db.strings("SELECT response->>'payable' FROM idempotency_record WHERE request_id = 'r-old'") == ["5400"])

            // The retry of that use, as it is: not used again, and no error.
            #expect(try await db.redeem([first]) == [false])
            #expect(try await db.requests() == firstRecord)

            // r-old again, with another coupon that could be used, next to a new request.
            let before = try await db.coupons()
            let ledgerRows = try await db.count("SELECT count(*) FROM coupon_ledger")
            let batch = [
                TestUse(couponId: "c1", orderId: "o1", amountCents: 5_000, appliedCents: 500, requestId: "r-new"),
                TestUse(couponId: "c2", orderId: "o2", amountCents: 5_000, appliedCents: 500, requestId: "r-old"),
                TestUse(couponId: "c3", orderId: "o3", amountCents: 5_000, appliedCents: 500),
            ]
            let error = await #expect(throws: PostgresError.self) { try await db.redeem(batch) }
            #expect(error?.code == .uniqueViolation)
            #expect(error?.sqlState == "23505")
            #expect(error?.constraint == "idempotency_record_pkey")

            #expect(try await db.coupons() == before)
            #expect(before["c1"] == StoredCoupon(status: "UNUSED"))
            #expect(before["c2"] == StoredCoupon(status: "UNUSED"))
            #expect(before["c3"] == StoredCoupon(status: "UNUSED"))
            #expect(try await db.count("SELECT count(*) FROM coupon_ledger") == ledgerRows)
            #expect(try await db.usedLedger() == ["c0 u0 o0 600 UNUSED->USED"])
            #expect(try await db.orders() == ["u0 o0 6000"])
            #expect(try await db.orderCounts() == ["u0": 1])
            #expect(try await db.requests() == firstRecord)
            #expect(try await db.count("SELECT count(*) FROM idempotency_record") == 2)

            // What Redemptions.write does next: each alone. r-old still fails; the others go through.
            #expect(try await db.redeem([batch[0]]) == [true])
            await #expect(throws: PostgresError.self) { try await db.redeem([batch[1]]) }
            #expect(try await db.redeem([batch[2]]) == [true])
            #expect(try await db.coupon("c2") == StoredCoupon(status: "UNUSED"))
            #expect(try await db.usedLedger() == ["c0 u0 o0 600 UNUSED->USED", "c1 u1 o1 500 UNUSED->USED", "c3 u3 o3 500 UNUSED->USED"])
            #expect(try await db.requests() == (try await db.records([batch[0], first])))
            #expect(try await db.requests(operation: "claim").map(\.requestId) == ["r-new"])
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Concurrency

    /// Two connections send, at the same time, batches naming the same ten coupons in different
    /// shuffled orders next to five of their own, twenty rounds on fresh coupons. redeem_coupons locks
    /// a batch's coupons in id order, so the two wait for each other instead of deadlocking; and since
    /// both lock the same first coupon first, whichever gets it holds every shared coupon until it
    /// commits: each round's shared coupons all go to one connection.
    @Test func overlappingBatchesNeitherDeadlockNorUseACouponTwice() async throws {
        let rounds = 20
        let users = (0..<5).map { "u\($0)" }
        func shared(_ round: Int) -> [String] { (0..<10).map { "s\(round)-\($0)" } }
        func own(_ side: String, _ round: Int) -> [String] { (0..<5).map { "\(side)\(round)-\($0)" } }
        func owner(_ couponId: String) -> String { users[Int(couponId.last!.wholeNumberValue!) % users.count] }

        try await RedeemDatabase.with(poolSize: 2) { db in
            let everyCoupon = (0..<rounds).flatMap { shared($0) + own("a", $0) + own("b", $0) }
            try await db.addCoupons(everyCoupon.map { CouponSetup(id: $0, userId: owner($0)) })

            var random = Xorshift64(seed: 0x5EED_2030)
            // coupon -> every order the answers say used it
            var usedBy: [String: [String]] = [:]
            for round in 0..<rounds {
                var batches: [String: [TestUse]] = [:]
                for side in ["a", "b"] {
                    let coupons = (shared(round) + own(side, round)).shuffled(using: &random)
                    batches[side] = coupons.map { couponId in
                        // One order per user and side: a user's coupons in a batch share it.
                        TestUse(
                            couponId: couponId, orderId: "o\(side)\(round)-\(owner(couponId))", amountCents: 5_000, appliedCents: 250,
                            requestId: "r\(side)\(round)-\(couponId)")
                    }
                }
                // The pool has two connections; each child task leases one for its statement.
                let answers = await withTaskGroup(of: (String, Result<[Bool], any Error>).self) { group in
                    // Each side goes first in turn.
                    for side in round.isMultiple(of: 2) ? ["a", "b"] : ["b", "a"] {
                        let uses = batches[side]!
                        group.addTask {
                            do { return (side, .success(try await db.redeem(uses))) } catch { return (side, .failure(error)) }
                        }
                    }
                    var answers: [String: Result<[Bool], any Error>] = [:]
                    for await (side, answer) in group { answers[side] = answer }
                    return answers
                }
                var sharedWonBy: Set<String> = []
                for (side, answer) in answers.sorted(by: { $0.key < $1.key }) {
                    switch answer {
                    case .success(let used):
                        for (use, wasUsed) in zip(batches[side]!, used) where wasUsed {
                            usedBy[use.couponId, default: []].append(use.orderId)
                            if use.couponId.hasPrefix("s") { sharedWonBy.insert(side) }
                        }
                    case .failure(let error as PostgresError) where error.code == .deadlockDetected:
                        Issue.record("round \(round), side \(side): deadlock, which locking in id order should prevent: \(error)")
                    case .failure(let error):
                        Issue.record("round \(round), side \(side): \(error)")
                    }
                }
                #expect(sharedWonBy.count == 1, "round \(round): the shared coupons went to \(sharedWonBy.sorted())")
            }

            #expect(Set(usedBy.keys) == Set(everyCoupon), "never used: \(Set(everyCoupon).subtracting(usedBy.keys).sorted())")
            #expect(usedBy.filter { $0.value.count != 1 }.isEmpty, "used twice: \(usedBy.filter { $0.value.count != 1 })")
            let stored = try await db.coupons()
            #expect(stored.count == everyCoupon.count)
            #expect(stored.filter { $0.value.status != "USED" }.isEmpty)
            let storedOrders = stored.compactMapValues(\.orderId)
            #expect(storedOrders == usedBy.compactMapValues(\.first), "the stored orders differ from the answers")
            #expect(try await db.count("SELECT count(*) FROM coupon_ledger WHERE event = 'USED'") == everyCoupon.count)
            #expect(try await db.count("SELECT count(DISTINCT coupon_id) FROM coupon_ledger WHERE event = 'USED'") == everyCoupon.count)
            #expect(try await db.count("SELECT count(*) FROM idempotency_record WHERE operation = 'use'") == everyCoupon.count)
            let expectedOrders = Set(storedOrders.map { "\(owner($0.key)) \($0.value)" })
            #expect(Set(try await db.strings("SELECT user_id || ' ' || order_id FROM user_order")) == expectedOrders)
            let expectedCounts = Dictionary(grouping: expectedOrders) { String($0.split(separator: " ")[0]) }.mapValues(\.count)
            #expect(try await db.orderCounts() == expectedCounts)
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Reconciliation

    @Test func reconcileHoldsThroughUseRefundAndReuse() async throws {
        try await RedeemDatabase.with { db in
            try await db.addCoupons([
                CouponSetup(id: "c1", userId: "u1"), CouponSetup(id: "c2", userId: "u1"), CouponSetup(id: "c3", userId: "u2"),
                CouponSetup(id: "c4", userId: "u2"), CouponSetup(id: "c5", userId: "u3", status: "REVOKED"),
            ])
            #expect(
                try await db.redeem([
                    TestUse(couponId: "c1", orderId: "o1", amountCents: 3_000, appliedCents: 300, requestId: "r1"),
                    TestUse(couponId: "c2", orderId: "o1", amountCents: 3_000, appliedCents: 200),
                    TestUse(couponId: "c3", orderId: "o3", amountCents: 4_000, appliedCents: 400, requestId: "r3"),
                ]) == [true, true, true])
            #expect(try await db.reconcile() == [])

            // c1 back to UNUSED and used by another order; c3 refunded after its expiry, so EXPIRED.
            #expect(try await db.refund(coupon: "c1", order: "o1") == "UNUSED")
            try await db.pool.execute("UPDATE user_coupon SET expires_at = now() - interval '1 minute' WHERE id = 'c3'")
            #expect(try await db.refund(coupon: "c3", order: "o3") == "EXPIRED")
            #expect(try await db.refund(coupon: "c3", order: "o3") == nil)
            #expect(try await db.reconcile() == [])
            #expect(
                try await db.redeem([
                    TestUse(couponId: "c1", orderId: "o9", amountCents: 2_000, appliedCents: 150, requestId: "r9"),
                    TestUse(couponId: "c3", orderId: "o9", amountCents: 2_000, appliedCents: 150),
                    TestUse(couponId: "c5", orderId: "o9", amountCents: 2_000, appliedCents: 150),
                ]) == [true, false, false])

            let statuses = try await db.coupons().mapValues { "\($0.status) \($0.orderId ?? "-")" }
            #expect(statuses == ["c1": "USED o9", "c2": "USED o1", "c3": "EXPIRED -", "c4": "UNUSED -", "c5": "REVOKED -"])
            #expect(
                try await db.usedLedger() == [
                    "c1 u1 o1 300 UNUSED->USED", "c1 u1 o9 150 UNUSED->USED", "c2 u1 o1 200 UNUSED->USED", "c3 u2 o3 400 UNUSED->USED",
                ])
            #expect(try await db.orderCounts() == ["u1": 2, "u2": 1])
            #expect(try await db.reconcile() == [])

            // The check must see a ledger that disagrees: a stray USED row for the unused c4.
            try await db.pool.execute(
                """
                INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents)
                VALUES ('c4', 't1', 'u2', 'USED', 'UNUSED', 'USED', 'o3', 100)
                """)
            #expect(try await db.reconcile() == ["coupon c4: status UNUSED, order none, USED - REFUNDED ledger rows = 1"])
        }
    }
}

// MARK: - Helpers

// Nested in the suite so that these names stay out of the test target's namespace.
extension RedeemFunctionTests {
    /// One element of a redeem batch, with the members `Redemptions.UseWrite.json(index:)` writes,
    /// in its order; payload and response shaped like the ones coupon-center stores.
    struct TestUse: Sendable {
        var couponId: String
        var orderId: String
        var amountCents: Int64
        var appliedCents: Int64
        var requestId: String? = nil

        var payload: String { "use|\(orderId)|\(couponId)|\(amountCents)|\(appliedCents)" }

        var response: JSONValue {
            .object([
                ("orderId", .string(orderId)), ("couponId", .string(couponId)), ("discount", .integer(appliedCents)),
                ("payable", .integer(amountCents - appliedCents)),
            ])
        }

        func json(index: Int) -> JSONValue {
            .object([
                ("idx", .integer(index)), ("couponId", .string(couponId)), ("orderId", .string(orderId)), ("amount", .integer(amountCents)),
                ("applied", .integer(appliedCents)), ("requestId", requestId.map { .string($0) } ?? .null), ("payload", .string(payload)),
                ("response", response),
            ])
        }
    }

    struct CouponSetup: Sendable {
        var id: String
        var userId: String
        var status = "UNUSED"
        /// Past its expiry time, whatever the status says (the expiry job has not run yet).
        var expired = false
    }

    /// What redemption writes on a coupon row.
    struct StoredCoupon: Sendable, Equatable {
        var status: String
        var orderId: String? = nil
        var orderAmountCents: Int64? = nil
        var appliedCents: Int64? = nil
        var hasUsedAt = false
    }

    struct StoredRequest: Sendable, Equatable {
        var operation: String
        var requestId: String
        var payload: String
        /// As PostgreSQL prints the jsonb.
        var response: String
    }

    /// A small seeded generator (xorshift64), so a failing shuffle can be replayed.
    struct Xorshift64: RandomNumberGenerator {
        private var state: UInt64

        init(seed: UInt64) { state = seed == 0 ? 1 : seed }

        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    /// A fresh database with coupon-center's schema and one template, t1, for one test.
    struct RedeemDatabase: Sendable {
        let pool: PostgresPool

        /// A fresh database with every migration and template t1 for `body`, dropped afterwards.
        static func with<Result>(poolSize: Int = 2, _ body: (RedeemDatabase) async throws -> Result) async throws -> Result {
            try await SourceMigrations.withCouponCenterDatabase(prefix: "redeemfn", poolSize: poolSize) { pool in
                try await pool.execute(
                    """
                    INSERT INTO coupon_template (id, name, type, discount_cents, start_time, end_time, total_stock)
                    VALUES ('t1', 't1', 'CASH', 500, now() - interval '30 days', now() + interval '30 days', 100000)
                    """)
                return try await body(RedeemDatabase(pool: pool))
            }
        }

        /// Coupons of template t1 claimed a day ago, each with its ISSUED ledger row (and its
        /// REVOKED or EXPIRED row when it has that status), valid for a week or expired a minute ago.
        func addCoupons(_ coupons: [CouponSetup]) async throws {
            let rows = JSONValue.array(
                coupons.map { coupon in
                    .object([
                        ("id", .string(coupon.id)), ("userId", .string(coupon.userId)), ("status", .string(coupon.status)),
                        ("expired", .bool(coupon.expired)),
                    ])
                }
            ).serialized()
            try await pool.transaction { tx in
                try await tx.execute(
                    """
                    INSERT INTO user_coupon (id, user_id, template_id, status, type, threshold_cents, discount_cents, channel,
                                             claimed_at, expires_at)
                    SELECT x.id, x."userId", 't1', x.status, 'CASH', 0, 500, 'APP', now() - interval '1 day',
                           CASE WHEN x.expired THEN now() - interval '1 minute' ELSE now() + interval '7 days' END
                      FROM jsonb_to_recordset($1::jsonb) AS x(id text, "userId" text, status text, expired boolean)
                    """, [rows])
                try await tx.execute(
                    """
                    INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status)
                    SELECT x.id, 't1', x."userId", 'ISSUED', NULL, 'UNUSED'
                      FROM jsonb_to_recordset($1::jsonb) AS x(id text, "userId" text, status text)
                    UNION ALL
                    SELECT x.id, 't1', x."userId", x.status, 'UNUSED', x.status
                      FROM jsonb_to_recordset($1::jsonb) AS x(id text, "userId" text, status text)
                     WHERE x.status <> 'UNUSED'
                    """, [rows])
                try await tx.execute(
                    "UPDATE coupon_template SET issued_count = issued_count + $1::integer WHERE id = 't1'", [coupons.count])
            }
        }

        /// A user who has ordered before: the orders (100 cents each) and the profile counting them.
        func addProfile(user: String, orders: [String]) async throws {
            try await pool.transaction { tx in
                for order in orders {
                    try await tx.execute(
                        "INSERT INTO user_order (user_id, order_id, amount_cents, ordered_at) VALUES ($1, $2, 100, now() - interval '1 day')",
                        [user, order])
                }
                try await tx.execute("INSERT INTO user_profile (user_id, order_count) VALUES ($1, $2::integer)", [user, orders.count])
            }
        }

        /// One batch as one autocommitted statement, as Redemptions.redeem sends it; whether each use
        /// went through, in the batch's order. Not retried on deadlock, so that one shows.
        func redeem(_ uses: [TestUse]) async throws -> [Bool] {
            let batch = JSONValue.array(uses.enumerated().map { index, use in use.json(index: index) }).serialized()
            let rows = try await pool.query("SELECT idx, used FROM redeem_coupons($1::jsonb)", [batch])
            let answers = try rows.map { row in (try row.decode(0, as: Int.self), try row.decode(1, as: Bool.self)) }
            #expect(answers.map(\.0) == Array(uses.indices), "one answer per use, in order")
            return answers.map(\.1)
        }

        /// A refund as coupon-center makes one (`refund_coupon`, migration 5): the new status, or nil
        /// when that order does not hold the coupon.
        func refund(coupon: String, order: String) async throws -> String? {
            try await pool.query("SELECT refund_coupon($1, $2)", [coupon, order]).first?.decode(0, as: String?.self)
        }

        // MARK: Reading what is stored

        func count(_ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
            try await pool.query(sql, parameters)[0].decode(0)
        }

        func strings(_ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws -> [String] {
            try await pool.query(sql, parameters).map { try $0.decode(0) }
        }

        func coupons() async throws -> [String: StoredCoupon] {
            let rows = try await pool.query(
                "SELECT id, status, order_id, order_amount_cents, applied_cents, used_at IS NOT NULL FROM user_coupon")
            var coupons: [String: StoredCoupon] = [:]
            for row in rows {
                coupons[try row.decode(0)] = StoredCoupon(
                    status: try row.decode(1), orderId: try row.decode(2), orderAmountCents: try row.decode(3),
                    appliedCents: try row.decode(4),
                    hasUsedAt: try row.decode(5))
            }
            return coupons
        }

        func coupon(_ id: String) async throws -> StoredCoupon? { try await coupons()[id] }

        /// used_at is the time of the redeeming statement: within the last minute, not in the future.
        func usedAtIsThisStatement(_ ids: [String]) async throws -> Bool {
            try await count(
                """
                SELECT count(*) FROM user_coupon
                 WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))
                   AND used_at BETWEEN now() - interval '1 minute' AND now()
                """, [JSONValue.array(ids.map { .string($0) }).serialized()]) == ids.count
        }

        /// "coupon user order amount from->to", by coupon and then time.
        func usedLedger() async throws -> [String] {
            try await strings(
                """
                SELECT coupon_id || ' ' || user_id || ' ' || COALESCE(order_id, '-') || ' ' || amount_cents || ' '
                       || COALESCE(from_status, '-') || '->' || to_status
                  FROM coupon_ledger WHERE event = 'USED' ORDER BY coupon_id, id
                """)
        }

        /// "user order amount", by user and order.
        func orders() async throws -> [String] {
            try await strings("SELECT user_id || ' ' || order_id || ' ' || amount_cents FROM user_order ORDER BY user_id, order_id")
        }

        func orderCounts() async throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for row in try await pool.query("SELECT user_id, order_count FROM user_profile") {
                counts[try row.decode(0)] = try row.decode(1)
            }
            return counts
        }

        /// The idempotency records these uses leave when they go through, by request id, with the
        /// response as PostgreSQL prints jsonb.
        func records(_ uses: [TestUse]) async throws -> [StoredRequest] {
            var records: [StoredRequest] = []
            for use in uses {
                let response: String = try await pool.query("SELECT $1::jsonb::text", [use.response.serialized()])[0].decode(0)
                records.append(
                    StoredRequest(operation: "use", requestId: use.requestId ?? "none", payload: use.payload, response: response))
            }
            return records.sorted { $0.requestId < $1.requestId }
        }

        func requests(operation: String = "use") async throws -> [StoredRequest] {
            try await pool.query(
                "SELECT operation, request_id, payload, response::text FROM idempotency_record WHERE operation = $1 ORDER BY request_id",
                [operation]
            ).map { row in
                StoredRequest(
                    operation: try row.decode(0), requestId: try row.decode(1), payload: try row.decode(2), response: try row.decode(3))
            }
        }

        /// Every way coupons, their ledger, orders, order counts and stored answers disagree, one line
        /// each; empty when all agree. Order counts are checked against user_order, which holds in
        /// these tests because every profile is made with its orders.
        func reconcile() async throws -> [String] {
            let checks: [SQL] = [
                // USED ⇔ an order holds it ⇔ one more USED than REFUNDED ledger row.
                """
                SELECT 'coupon ' || u.id || ': status ' || u.status || ', order ' || COALESCE(u.order_id, 'none')
                       || ', USED - REFUNDED ledger rows = ' || (count(*) FILTER (WHERE g.event = 'USED')
                                                                 - count(*) FILTER (WHERE g.event = 'REFUNDED'))
                  FROM user_coupon u LEFT JOIN coupon_ledger g ON g.coupon_id = u.id
                 GROUP BY u.id, u.status, u.order_id
                HAVING (u.status = 'USED') <> (u.order_id IS NOT NULL)
                    OR count(*) FILTER (WHERE g.event = 'USED') - count(*) FILTER (WHERE g.event = 'REFUNDED')
                       <> CASE WHEN u.status = 'USED' THEN 1 ELSE 0 END
                """,
                // The latest USED row of a used coupon names its order and its discount.
                """
                SELECT 'coupon ' || u.id || ': used by ' || u.order_id || ' for ' || u.applied_cents || ', ledger says '
                       || COALESCE(g.order_id, 'none') || ' for ' || COALESCE(g.amount_cents::text, 'none')
                  FROM user_coupon u
                  LEFT JOIN LATERAL (SELECT order_id, amount_cents FROM coupon_ledger
                                      WHERE coupon_id = u.id AND event = 'USED' ORDER BY id DESC LIMIT 1) g ON true
                 WHERE u.status = 'USED'
                   AND (g.order_id IS DISTINCT FROM u.order_id OR g.amount_cents IS DISTINCT FROM u.applied_cents)
                """,
                // Every USED ledger row's order is among its user's orders.
                """
                SELECT 'ledger ' || g.id || ': order ' || g.order_id || ' of ' || g.user_id || ' is not in user_order'
                  FROM coupon_ledger g
                 WHERE g.event = 'USED'
                   AND NOT EXISTS (SELECT 1 FROM user_order o WHERE o.user_id = g.user_id AND o.order_id = g.order_id)
                """,
                """
                SELECT 'user ' || COALESCE(p.user_id, o.user_id) || ': order_count ' || COALESCE(p.order_count::text, 'none')
                       || ', orders ' || COALESCE(o.n, 0)
                  FROM user_profile p
                  FULL JOIN (SELECT user_id, count(*) AS n FROM user_order GROUP BY 1) o ON o.user_id = p.user_id
                 WHERE p.order_count IS DISTINCT FROM o.n
                """,
                // A stored answer names a use that happened.
                """
                SELECT 'request ' || r.request_id || ': answer names ' || COALESCE(r.response->>'couponId', 'none') || ' on '
                       || COALESCE(r.response->>'orderId', 'none') || ', which no USED ledger row shows'
                  FROM idempotency_record r
                 WHERE r.operation = 'use'
                   AND NOT EXISTS (SELECT 1 FROM coupon_ledger g WHERE g.event = 'USED' AND g.coupon_id = r.response->>'couponId'
                                      AND g.order_id = r.response->>'orderId')
                """,
            ]
            var problems: [String] = []
            for check in checks { problems += try await strings(check) }
            return problems
        }
    }
}
