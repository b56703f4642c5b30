import Foundation
import Postgres
import TestSupport
import Testing
import Wire

// coupon-center's claim_coupons(jsonb) against a real PostgreSQL. Each test creates its own database
// on TEST_DATABASE_URL (Deploy/test sets it), applies every migration as read from the source
// tree, writes hand-made batches and then checks both the answers and what is stored. Most tests run
// twice: once through the set-based claim_coupons and once through claim_coupons_each (both as
// migration 0006 defines them), which is also the set-based version's fallback, so both must give these answers.

@Suite(.timeLimit(.minutes(5)))
struct ClaimFunctionTests {
    // MARK: - Limits

    @Test(arguments: ClaimFunction.allCases)
    func stockOfThreeIssuesThreeOfFive(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-stock", stock: 3))
            let claims = (1...5).map { TestClaim(couponId: "c\($0)", userId: "u\($0)", templateId: "t-stock") }

            let batch = try await db.claim(claims, with: function)

            #expect(batch.outcomes == ["OK", "OK", "OK", "SOLD_OUT", "SOLD_OUT"])
            #expect(batch.couponIds == ["c1", "c2", "c3", nil, nil])
            #expect(batch.tookFallback == false)
            #expect(try await db.template("t-stock").issued == 3)
            #expect(try await db.couponIds(template: "t-stock") == ["c1", "c2", "c3"])
            #expect(try await db.issuedLedgerCouponIds(template: "t-stock") == ["c1", "c2", "c3"])
            #expect(try await db.dailyIssued(template: "t-stock", day: .first) == 3)
            #expect(try await db.userIssued(user: "u4", template: "t-stock") == nil)
            #expect(try await db.reconcile() == [])
        }
    }

    @Test(arguments: ClaimFunction.allCases)
    func perUserLimitCountsTheStoredClaimAndTheBatch(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-user", stock: 10, perUser: 2))
            // An earlier batch leaves u1 with one coupon: user_template_issue (u1, t-user) = 1.
            let earlier = try await db.claim([TestClaim(couponId: "c0", userId: "u1", templateId: "t-user")], with: function)
            #expect(earlier.outcomes == ["OK"])
            #expect(try await db.userIssued(user: "u1", template: "t-user") == 1)

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-user"),
                    TestClaim(couponId: "c2", userId: "u1", templateId: "t-user"),
                    TestClaim(couponId: "c3", userId: "u1", templateId: "t-user"),
                    TestClaim(couponId: "c4", userId: "u2", templateId: "t-user"),
                ], with: function)

            #expect(batch.outcomes == ["OK", "PER_USER_LIMIT", "PER_USER_LIMIT", "OK"])
            #expect(batch.couponIds == ["c1", nil, nil, "c4"])
            #expect(batch.tookFallback == false)
            #expect(try await db.userIssued(user: "u1", template: "t-user") == 2)
            #expect(try await db.userIssued(user: "u2", template: "t-user") == 1)
            #expect(try await db.couponIds(template: "t-user") == ["c0", "c1", "c4"])
            #expect(try await db.template("t-user").issued == 3)
            #expect(try await db.issuedLedgerCouponIds(template: "t-user") == ["c0", "c1", "c4"])
            #expect(try await db.reconcile() == [])
        }
    }

    @Test(arguments: ClaimFunction.allCases)
    func dailyLimitAndBudgetRefuseTheRightClaims(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-budget", stock: 100, budget: 500))
            try await db.addTemplate(TemplateSetup(id: "t-daily", stock: 100, daily: 2))
            try await db.addTemplate(TemplateSetup(id: "t-plenty", stock: 100))
            // One of t-daily's two coupons for the first day went in an earlier batch.
            let earlier = try await db.claim([TestClaim(couponId: "c0", userId: "u0", templateId: "t-daily")], with: function)
            #expect(earlier.outcomes == ["OK"])
            #expect(try await db.dailyIssued(template: "t-daily", day: .first) == 1)

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-budget", budgetCostCents: 200),
                    TestClaim(couponId: "c2", userId: "u2", templateId: "t-budget", budgetCostCents: 200),
                    TestClaim(couponId: "c3", userId: "u3", templateId: "t-budget", budgetCostCents: 200),
                    TestClaim(couponId: "c4", userId: "u1", templateId: "t-daily"),
                    TestClaim(couponId: "c5", userId: "u2", templateId: "t-daily"),
                    TestClaim(couponId: "c6", userId: "u3", templateId: "t-daily"),
                    TestClaim(couponId: "c7", userId: "u4", templateId: "t-daily", day: .second),
                    TestClaim(couponId: "c8", userId: "u1", templateId: "t-plenty"),
                    TestClaim(couponId: "c9", userId: "u2", templateId: "t-plenty"),
                ], with: function)

            #expect(
                batch.outcomes == [
                    "OK", "OK", "BUDGET_EXHAUSTED", "OK", "DAILY_LIMIT", "DAILY_LIMIT", "OK", "OK", "OK",
                ])
            #expect(batch.tookFallback == false)
            let budget = try await db.template("t-budget")
            #expect(budget.issued == 2)
            #expect(budget.spentCents == 400)
            #expect(try await db.template("t-daily").issued == 3)
            #expect(try await db.template("t-plenty").issued == 2)
            #expect(try await db.dailyIssued(template: "t-daily", day: .first) == 2)
            #expect(try await db.dailyIssued(template: "t-daily", day: .second) == 1)
            #expect(try await db.dailyIssued(template: "t-budget", day: .first) == 2)
            #expect(try await db.dailyIssued(template: "t-plenty", day: .first) == 2)
            #expect(try await db.couponIds(template: "t-daily") == ["c0", "c4", "c7"])
            #expect(try await db.couponIds(template: "t-budget") == ["c1", "c2"])
            #expect(try await db.userIssued(user: "u3", template: "t-budget") == nil)
            #expect(try await db.userIssued(user: "u2", template: "t-daily") == nil)
            #expect(try await db.reconcile() == [])
        }
    }

    /// Documented in 0004: within one batch the set-based version counts a refused claim's cost
    /// against the claims after it, so it may refuse what the per-claim version accepts — never
    /// the other way round. Pinned so that a change in either direction is noticed.
    @Test func setBasedBudgetIsConservativeWithinABatch() async throws {
        let claims = [
            TestClaim(couponId: "c1", userId: "u1", templateId: "t-budget", budgetCostCents: 200),
            TestClaim(couponId: "c2", userId: "u2", templateId: "t-budget", budgetCostCents: 400),
            TestClaim(couponId: "c3", userId: "u3", templateId: "t-budget", budgetCostCents: 100),
        ]
        var spent: [ClaimFunction: Int64] = [:]
        for function in ClaimFunction.allCases {
            try await ClaimDatabase.with { db in
                try await db.addTemplate(TemplateSetup(id: "t-budget", stock: 100, budget: 500))
                let batch = try await db.claim(claims, with: function)
                switch function {
                case .perClaim: #expect(batch.outcomes == ["OK", "BUDGET_EXHAUSTED", "OK"])
                case .setBased: #expect(batch.outcomes == ["OK", "BUDGET_EXHAUSTED", "BUDGET_EXHAUSTED"])
                }
                spent[function] = try await db.template("t-budget").spentCents
                #expect(try await db.reconcile() == [])
            }
        }
        #expect(spent == [.perClaim: 300, .setBased: 200])
    }

    /// The same conservatism with points: an exchange refused for stock still counts against the
    /// user's balance for the next exchange in the batch, which the set-based version then refuses
    /// as INSUFFICIENT_POINTS although the balance covers it. Pinned so that a change is noticed.
    @Test func setBasedPointsAreConservativeWithinABatch() async throws {
        let claims = [
            TestClaim(couponId: "c1", userId: "u1", templateId: "t-gone", type: "EXCHANGE", pointsCost: 20, operation: "exchange"),
            TestClaim(couponId: "c2", userId: "u1", templateId: "t-left", type: "EXCHANGE", pointsCost: 20, operation: "exchange"),
        ]
        var pointsLeft: [ClaimFunction: Int64] = [:]
        for function in ClaimFunction.allCases {
            try await ClaimDatabase.with { db in
                try await db.addTemplate(TemplateSetup(id: "t-gone", type: "EXCHANGE", stock: 0, pointsCost: 20))
                try await db.addTemplate(TemplateSetup(id: "t-left", type: "EXCHANGE", stock: 10, pointsCost: 20))
                try await db.grantPoints(user: "u1", points: 30)
                let batch = try await db.claim(claims, with: function)
                switch function {
                case .perClaim: #expect(batch.outcomes == ["SOLD_OUT", "OK"])
                case .setBased: #expect(batch.outcomes == ["SOLD_OUT", "INSUFFICIENT_POINTS"])
                }
                pointsLeft[function] = try await db.points(user: "u1")
                #expect(try await db.reconcile() == [])
            }
        }
        #expect(pointsLeft == [.perClaim: 10, .setBased: 30])
    }

    // MARK: - Templates

    @Test(arguments: ClaimFunction.allCases)
    func pausedAndUnknownTemplatesWriteNothingButTheOthersGoThrough(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-good", stock: 10))
            try await db.addTemplate(TemplateSetup(id: "t-paused", stock: 10, paused: true))

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-good", requestId: "r1"),
                    TestClaim(couponId: "c2", userId: "u1", templateId: "t-paused", requestId: "r2"),
                    TestClaim(couponId: "c3", userId: "u2", templateId: "t-missing", requestId: "r3"),
                    TestClaim(couponId: "c4", userId: "u2", templateId: "t-good", requestId: "r4"),
                ], with: function)

            #expect(batch.outcomes == ["OK", "TEMPLATE_PAUSED", "TEMPLATE_NOT_FOUND", "OK"])
            #expect(batch.couponIds == ["c1", nil, nil, "c4"])
            #expect(batch.tookFallback == false)
            #expect(try await db.couponIds(template: "t-good") == ["c1", "c4"])
            #expect(try await db.template("t-good").issued == 2)
            #expect(try await db.template("t-paused").issued == 0)
            #expect(try await db.couponIds(template: "t-paused") == [])
            #expect(try await db.count("SELECT count(*) FROM user_coupon WHERE id IN ('c2', 'c3')") == 0)
            #expect(try await db.count("SELECT count(*) FROM coupon_ledger WHERE coupon_id IN ('c2', 'c3')") == 0)
            #expect(try await db.count("SELECT count(*) FROM user_template_issue WHERE template_id <> 't-good'") == 0)
            #expect(try await db.count("SELECT count(*) FROM template_daily_issue WHERE template_id <> 't-good'") == 0)
            #expect(try await db.storedRequestIds() == ["r1", "r4"])
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Points

    @Test(arguments: ClaimFunction.allCases)
    func exchangesSpendPointsUntilTheyRunOut(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-points", type: "EXCHANGE", stock: 10, perUser: 5, pointsCost: 30))
            try await db.grantPoints(user: "u1", points: 70)
            func exchange(_ number: Int, _ user: String) -> TestClaim {
                TestClaim(
                    couponId: "c\(number)", userId: user, templateId: "t-points", type: "EXCHANGE", pointsCost: 30, requestId: "r\(number)",
                    operation: "exchange")
            }

            let batch = try await db.claim([exchange(1, "u1"), exchange(2, "u1"), exchange(3, "u1"), exchange(4, "u2")], with: function)

            #expect(batch.outcomes == ["OK", "OK", "INSUFFICIENT_POINTS", "INSUFFICIENT_POINTS"])
            #expect(batch.pointsLeft == [40, 10, nil, nil])
            #expect(batch.couponIds == ["c1", "c2", nil, nil])
            #expect(batch.tookFallback == false)
            #expect(try await db.points(user: "u1") == 10)
            #expect(try await db.points(user: "u2") == nil)
            let spent = try await db.strings(
                "SELECT delta::text || ' ' || coupon_id FROM points_ledger WHERE reason = 'EXCHANGE' ORDER BY id")
            #expect(spent == ["-30 c1", "-30 c2"])
            #expect(try await db.storedPointsLeft(operation: "exchange", requestId: "r1") == 40)
            #expect(try await db.storedPointsLeft(operation: "exchange", requestId: "r2") == 10)
            #expect(try await db.storedRequestIds() == ["r1", "r2"])
            #expect(try await db.userIssued(user: "u1", template: "t-points") == 2)
            #expect(try await db.template("t-points").issued == 2)
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Request ids

    @Test(arguments: ClaimFunction.allCases)
    func storedRequestIdIsADuplicateAndWritesNothing(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-req", stock: 10, perUser: 3))
            let first = try await db.claim(
                [TestClaim(couponId: "c0", userId: "u0", templateId: "t-req", requestId: "r-old")], with: function)
            #expect(first.outcomes == ["OK"])

            // The same request again (a retry), next to a new one.
            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u0", templateId: "t-req", requestId: "r-old"),
                    TestClaim(couponId: "c2", userId: "u2", templateId: "t-req", requestId: "r-new"),
                ], with: function)

            #expect(batch.outcomes == ["DUPLICATE_REQUEST", "OK"])
            #expect(batch.couponIds == [nil, "c2"])
            #expect(batch.tookFallback == false)
            #expect(try await db.couponIds(template: "t-req") == ["c0", "c2"])
            #expect(try await db.userIssued(user: "u0", template: "t-req") == 1)
            #expect(try await db.template("t-req").issued == 2)
            #expect(try await db.dailyIssued(template: "t-req", day: .first) == 2)
            #expect(try await db.storedCouponId(requestId: "r-old") == "c0")
            #expect(try await db.storedCouponId(requestId: "r-new") == "c2")
            #expect(try await db.reconcile() == [])
        }
    }

    /// A retry of an answered request must come back as DUPLICATE_REQUEST (the caller then returns
    /// the first answer), even when the first claim used up the user's limit or the stock.
    @Test(arguments: ClaimFunction.allCases)
    func retryInALaterBatchIsADuplicateEvenAtTheLimit(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-one-each", stock: 10, perUser: 1))
            try await db.addTemplate(TemplateSetup(id: "t-last", stock: 1, perUser: 5))
            let first = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-last", requestId: "r1"),
                    TestClaim(couponId: "c2", userId: "u1", templateId: "t-one-each", requestId: "r2"),
                ], with: function)
            #expect(first.outcomes == ["OK", "OK"])

            let retry = try await db.claim(
                [
                    TestClaim(couponId: "c3", userId: "u1", templateId: "t-last", requestId: "r1"),
                    TestClaim(couponId: "c4", userId: "u1", templateId: "t-one-each", requestId: "r2"),
                ], with: function)

            #expect(retry.outcomes == ["DUPLICATE_REQUEST", "DUPLICATE_REQUEST"])
            #expect(try await db.count("SELECT count(*) FROM user_coupon") == 2)
            #expect(try await db.reconcile() == [])
        }
    }

    /// The same request twice in one batch (a retry racing the original, per-user limit 1, the
    /// default): the second must be DUPLICATE_REQUEST, not a refusal of a claim that succeeded.
    @Test(arguments: ClaimFunction.allCases)
    func retryInTheSameBatchIsADuplicateEvenAtTheLimit(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-one-each", stock: 10, perUser: 1))

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-one-each", requestId: "r1"),
                    TestClaim(couponId: "c2", userId: "u1", templateId: "t-one-each", requestId: "r1"),
                ], with: function)

            #expect(batch.outcomes == ["OK", "DUPLICATE_REQUEST"])
            #expect(batch.couponIds == ["c1", nil])
            #expect(try await db.couponIds(template: "t-one-each") == ["c1"])
            #expect(try await db.storedCouponId(requestId: "r1") == "c1")
            #expect(try await db.reconcile() == [])
        }
    }

    @Test(arguments: ClaimFunction.allCases)
    func requestIdTwiceInOneBatchWritesTheFirstOnly(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-req", stock: 10))

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c1", userId: "u1", templateId: "t-req", requestId: "r-same"),
                    TestClaim(couponId: "c2", userId: "u2", templateId: "t-req", requestId: "r-same"),
                    TestClaim(couponId: "c3", userId: "u3", templateId: "t-req"),
                ], with: function)

            #expect(batch.outcomes == ["OK", "DUPLICATE_REQUEST", "OK"])
            #expect(batch.couponIds == ["c1", nil, "c3"])
            // The set-based version decides the first occurrence, then the repeat, with no fallback.
            #expect(batch.tookFallback == false)
            #expect(try await db.couponIds(template: "t-req") == ["c1", "c3"])
            #expect(try await db.userIssued(user: "u2", template: "t-req") == nil)
            #expect(try await db.storedRequestIds() == ["r-same"])
            #expect(try await db.storedCouponId(requestId: "r-same") == "c1")
            #expect(try await db.template("t-req").issued == 2)
            #expect(try await db.dailyIssued(template: "t-req", day: .first) == 2)
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Constraint fallback

    @Test(arguments: ClaimFunction.allCases)
    func collidingCouponIdIsRefusedAndTheOthersWrittenOnce(function: ClaimFunction) async throws {
        try await ClaimDatabase.with { db in
            try await db.addTemplate(TemplateSetup(id: "t-collide", stock: 10))
            let earlier = try await db.claim([TestClaim(couponId: "c-dup", userId: "u0", templateId: "t-collide")], with: function)
            #expect(earlier.outcomes == ["OK"])

            let batch = try await db.claim(
                [
                    TestClaim(couponId: "c-a", userId: "u1", templateId: "t-collide", requestId: "r-a"),
                    TestClaim(couponId: "c-dup", userId: "u2", templateId: "t-collide", requestId: "r-dup"),
                    TestClaim(couponId: "c-b", userId: "u3", templateId: "t-collide", requestId: "r-b"),
                ], with: function)

            #expect(batch.outcomes[0] == "OK")
            #expect(batch.outcomes[1] != "OK")
            #expect(batch.outcomes[2] == "OK")
            #expect(batch.couponIds == ["c-a", nil, "c-b"])
            // The unique violation rolls the set-based statement back; the per-claim version decides.
            #expect(batch.tookFallback == (function == .setBased))
            #expect(try await db.couponIds(template: "t-collide") == ["c-a", "c-b", "c-dup"])
            #expect(try await db.issuedLedgerCouponIds(template: "t-collide") == ["c-a", "c-b", "c-dup"])
            #expect(try await db.strings("SELECT user_id FROM user_coupon WHERE id = 'c-dup'") == ["u0"])
            #expect(try await db.template("t-collide").issued == 3)
            #expect(try await db.dailyIssued(template: "t-collide", day: .first) == 3)
            #expect(try await db.userIssued(user: "u2", template: "t-collide") == nil)
            #expect(try await db.storedRequestIds() == ["r-a", "r-b"])
            #expect(try await db.reconcile() == [])
        }
    }

    // MARK: - Equivalence

    /// A seeded random batch of 60 claims over three templates with small limits, written by each
    /// version on its own fresh database: the set-based version must decide it without falling back,
    /// stay within every limit with counters equal to the rows, and issue no more than the per-claim
    /// version does. Then a second batch on top of the stored counters.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func setBasedNeverIssuesMoreThanPerClaim(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let firstBatch = RandomBatch.make(count: 60, label: "a", using: &random)
        let secondBatch = RandomBatch.make(count: 30, label: "b", using: &random)

        var answers: [ClaimFunction: [ClaimAnswer]] = [:]
        for function in ClaimFunction.allCases {
            try await ClaimDatabase.with { db in
                try await RandomBatch.setUp(db)
                let batch = try await db.claim(firstBatch, with: function)
                #expect(batch.tookFallback == false, "seed \(seed): the set-based statement broke a constraint")
                answers[function] = batch.answers
                #expect(try await db.reconcile() == [], "seed \(seed), \(function), first batch")
                try await RandomBatch.checkSpending(db, claims: firstBatch, answers: batch.answers)

                let second = try await db.claim(secondBatch, with: function)
                #expect(second.tookFallback == false, "seed \(seed): the set-based statement broke a constraint")
                #expect(try await db.reconcile() == [], "seed \(seed), \(function), second batch")
                try await RandomBatch.checkSpending(db, claims: firstBatch + secondBatch, answers: batch.answers + second.answers)
            }
        }

        let setBased = try #require(answers[.setBased])
        let perClaim = try #require(answers[.perClaim])
        let setBasedOK = setBased.filter { $0.outcome == "OK" }.count
        let perClaimOK = perClaim.filter { $0.outcome == "OK" }.count
        let differences = zip(setBased, perClaim).filter { $0.outcome != $1.outcome }
            .map { "\($0.idx) \(firstBatch[$0.idx].templateId) \(firstBatch[$0.idx].userId): \($1.outcome) -> \($0.outcome)" }
        #expect(setBasedOK <= perClaimOK, "seed \(seed): per-claim -> set-based \(differences)")
        // Some claims go through on both sides, or the batch tests nothing.
        #expect(setBasedOK > 0 && perClaimOK > 0)
        for template in RandomBatch.templates.map(\.id) {
            let mine = setBased.filter { $0.outcome == "OK" && firstBatch[$0.idx].templateId == template }.count
            let theirs = perClaim.filter { $0.outcome == "OK" && firstBatch[$0.idx].templateId == template }.count
            #expect(mine <= theirs, "seed \(seed), \(template): set-based \(mine), per-claim \(theirs); \(differences)")
        }
    }
}

// MARK: - Helpers

// Nested in the suite so that these names stay out of the test target's namespace.
extension ClaimFunctionTests {
    /// The two implementations a batch can be written with.
    enum ClaimFunction: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// claim_coupons: one statement for the batch (0006), falling back to claim_coupons_each.
        case setBased
        /// claim_coupons_each: claim by claim, each a subtransaction (0006).
        case perClaim

        var sql: SQL {
            switch self {
            case .setBased: "SELECT idx, outcome, coupon_id, points_left FROM claim_coupons($1::jsonb)"
            case .perClaim: "SELECT idx, outcome, coupon_id, points_left FROM claim_coupons_each($1::jsonb)"
            }
        }

        var testDescription: String { rawValue }
    }

    /// The two days claims fall on, with the Unix time of their midnight (UTC, the zone these tests use
    /// to count coupons per day).
    enum ClaimDay: String, Sendable {
        case first = "2030-01-01"
        case second = "2030-01-02"

        var midnightMilliseconds: Int64 {
            switch self {
            case .first: 1_893_456_000_000
            case .second: 1_893_542_400_000
            }
        }
    }

    /// One element of a claim batch, with the members `ClaimRecord.json(index:)` writes, in its order.
    struct TestClaim: Sendable {
        var couponId: String
        var userId: String
        var templateId: String
        var day: ClaimDay = .first
        var type = "CASH"
        var discountCents: Int64 = 500
        var budgetCostCents: Int64 = 0
        var pointsCost: Int64 = 0
        var requestId: String? = nil
        var operation = "claim"

        func json(index: Int) -> JSONValue {
            let claimedAt = day.midnightMilliseconds + 3_600_000
            let response = JSONValue.object([
                ("couponId", .string(couponId)), ("templateId", .string(templateId)), ("discountCents", .integer(discountCents)),
            ])
            return .object([
                ("idx", .integer(index)), ("couponId", .string(couponId)), ("userId", .string(userId)), ("templateId", .string(templateId)),
                ("channel", .string(pointsCost > 0 ? "POINTS" : "APP")), ("day", .string(day.rawValue)), ("type", .string(type)),
                ("threshold", .integer(0)), ("discount", .integer(discountCents)), ("rate", .null), ("maxDiscount", .null),
                ("segment", .null), ("budgetCost", .integer(budgetCostCents)), ("claimedAt", .integer(claimedAt)),
                ("expiresAt", .integer(claimedAt + 30 * 86_400_000)), ("pointsCost", .integer(pointsCost)),
                ("requestId", requestId.map { .string($0) } ?? .null), ("operation", .string(operation)),
                ("payload", .string("\(operation):\(userId):\(templateId)")), ("response", response),
            ])
        }
    }

    struct ClaimAnswer: Sendable, Equatable {
        var idx: Int
        var outcome: String
        var couponId: String?
        var pointsLeft: Int64?
    }

    struct ClaimBatch: Sendable {
        /// One per claim, in the batch's order.
        var answers: [ClaimAnswer]
        /// Whether claim_coupons handed the batch to claim_coupons_each (always false for `.perClaim`).
        var tookFallback: Bool

        var outcomes: [String] { answers.map(\.outcome) }
        var couponIds: [String?] { answers.map(\.couponId) }
        var pointsLeft: [Int64?] { answers.map(\.pointsLeft) }
    }

    struct TemplateSetup: Sendable {
        var id: String
        var type = "CASH"
        var stock: Int
        var perUser = 1
        var daily: Int? = nil
        var budget: Int64? = nil
        var pointsCost = 0
        var paused = false
    }

    /// A fresh database with coupon-center's schema, for one test.
    struct ClaimDatabase: Sendable {
        let pool: PostgresPool

        /// A fresh database with migrations 0001–0004 for `body`, dropped afterwards.
        static func with<Result>(_ body: (ClaimDatabase) async throws -> Result) async throws -> Result {
            try await SourceMigrations.withCouponCenterDatabase(prefix: "claimfn") { pool in
                try await body(ClaimDatabase(pool: pool))
            }
        }

        func addTemplate(_ template: TemplateSetup) async throws {
            try await pool.execute(
                """
                INSERT INTO coupon_template (id, name, type, discount_cents, start_time, end_time, total_stock, per_user_limit,
                                             daily_limit, budget_cents, points_cost, status)
                VALUES ($1, $1, $2, 500, '2029-12-01T00:00:00Z', '2030-12-31T00:00:00Z', $3, $4, $5, $6, $7, $8)
                """,
                [
                    template.id, template.type, template.stock, template.perUser, template.daily, template.budget, template.pointsCost,
                    template.paused ? "PAUSED" : "ACTIVE",
                ])
        }

        /// A balance with its GRANT row, so that balances reconcile with the points ledger.
        func grantPoints(user: String, points: Int64) async throws {
            try await pool.transaction { tx in
                try await tx.execute("INSERT INTO user_points (user_id, points) VALUES ($1, $2)", [user, points])
                try await tx.execute("INSERT INTO points_ledger (user_id, delta, reason) VALUES ($1, $2, 'GRANT')", [user, points])
            }
        }

        /// Writes one batch in its own transaction, as ClaimWriter does, and says whether the
        /// per-claim version ran underneath (function statistics of the transaction).
        func claim(_ claims: [TestClaim], with function: ClaimFunction = .setBased) async throws -> ClaimBatch {
            let json = JSONValue.array(claims.enumerated().map { index, claim in claim.json(index: index) }).serialized()
            let (answers, perClaimCalls) = try await pool.transaction { tx in
                try await tx.execute("SET LOCAL track_functions = 'pl'")
                let rows = try await tx.query(function.sql, [json])
                let answers = try rows.map { row in
                    ClaimAnswer(
                        idx: try row.decode(0), outcome: try row.decode(1), couponId: try row.decode(2, as: String?.self),
                        pointsLeft: try row.decode(3, as: Int64?.self))
                }
                let calls = try await tx.query(
                    "SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions WHERE funcname = 'claim_coupons_each'")
                return (answers.sorted { $0.idx < $1.idx }, try calls[0].decode(0, as: Int.self))
            }
            #expect(answers.map(\.idx) == Array(claims.indices), "one answer per claim")
            return ClaimBatch(answers: answers, tookFallback: function == .setBased && perClaimCalls > 0)
        }

        // MARK: Reading what is stored

        func count(_ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
            try await pool.query(sql, parameters)[0].decode(0)
        }

        func strings(_ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws -> [String] {
            try await pool.query(sql, parameters).map { try $0.decode(0) }
        }

        func template(_ id: String) async throws -> (issued: Int, spentCents: Int64) {
            let row = try await pool.query("SELECT issued_count, budget_spent_cents FROM coupon_template WHERE id = $1", [id])[0]
            return (try row.decode(0), try row.decode(1))
        }

        func couponIds(template: String) async throws -> [String] {
            try await strings("SELECT id FROM user_coupon WHERE template_id = $1 ORDER BY id", [template])
        }

        func issuedLedgerCouponIds(template: String) async throws -> [String] {
            try await strings(
                "SELECT coupon_id FROM coupon_ledger WHERE template_id = $1 AND event = 'ISSUED' ORDER BY coupon_id", [template])
        }

        func dailyIssued(template: String, day: ClaimDay) async throws -> Int? {
            try await pool.query(
                "SELECT issued FROM template_daily_issue WHERE template_id = $1 AND day = $2::date", [template, day.rawValue]
            ).first?.decode(0)
        }

        func userIssued(user: String, template: String) async throws -> Int? {
            try await pool.query("SELECT issued FROM user_template_issue WHERE user_id = $1 AND template_id = $2", [user, template])
                .first?.decode(0)
        }

        func points(user: String) async throws -> Int64? {
            try await pool.query("SELECT points FROM user_points WHERE user_id = $1", [user]).first?.decode(0)
        }

        func storedRequestIds() async throws -> [String] {
            try await strings("SELECT request_id FROM idempotency_record ORDER BY request_id")
        }

        func storedCouponId(requestId: String) async throws -> String? {
            try await pool.query("SELECT response->>'couponId' FROM idempotency_record WHERE request_id = $1", [requestId])
                .first?.decode(0)
        }

        func storedPointsLeft(operation: String, requestId: String) async throws -> Int64? {
            try await pool.query(
                "SELECT (response->>'pointsLeft')::bigint FROM idempotency_record WHERE operation = $1 AND request_id = $2",
                [operation, requestId]
            ).first?.decode(0, as: Int64?.self) ?? nil
        }

        /// Every way the stored counters, rows, ledgers and limits can disagree, one line each; empty
        /// when all of them agree. Coupons are counted per day by their claim time in UTC.
        func reconcile() async throws -> [String] {
            let checks: [SQL] = [
                """
                SELECT 'template ' || t.id || ': issued_count ' || t.issued_count || ', coupons ' || c.n
                       || ', ISSUED ledger rows ' || l.n || ', stock ' || t.total_stock
                  FROM coupon_template t
                 CROSS JOIN LATERAL (SELECT count(*) AS n FROM user_coupon u WHERE u.template_id = t.id) c
                 CROSS JOIN LATERAL (SELECT count(*) AS n FROM coupon_ledger g
                                      WHERE g.template_id = t.id AND g.event = 'ISSUED') l
                 WHERE t.issued_count <> c.n OR c.n <> l.n OR c.n > t.total_stock
                """,
                """
                SELECT 'template ' || id || ': budget spent ' || budget_spent_cents || ' of ' || budget_cents
                  FROM coupon_template WHERE budget_spent_cents > budget_cents
                """,
                """
                SELECT 'coupon ' || u.id || ': ' || count(g.id) || ' ISSUED ledger rows'
                  FROM user_coupon u LEFT JOIN coupon_ledger g ON g.coupon_id = u.id AND g.event = 'ISSUED'
                 GROUP BY u.id HAVING count(g.id) <> 1
                """,
                """
                SELECT 'day ' || COALESCE(d.template_id, r.template_id) || ' ' || COALESCE(d.day, r.day)
                       || ': template_daily_issue ' || COALESCE(d.issued, 0) || ', coupons ' || COALESCE(r.n, 0)
                       || ', daily limit ' || COALESCE(t.daily_limit::text, 'none')
                  FROM template_daily_issue d
                  FULL JOIN (SELECT template_id, (claimed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
                               FROM user_coupon GROUP BY 1, 2) r ON r.template_id = d.template_id AND r.day = d.day
                  JOIN coupon_template t ON t.id = COALESCE(d.template_id, r.template_id)
                 WHERE COALESCE(d.issued, 0) <> COALESCE(r.n, 0) OR COALESCE(r.n, 0) > COALESCE(t.daily_limit, 2147483647)
                """,
                """
                SELECT 'user ' || COALESCE(i.user_id, r.user_id) || ' on ' || COALESCE(i.template_id, r.template_id)
                       || ': user_template_issue ' || COALESCE(i.issued, 0) || ', coupons ' || COALESCE(r.n, 0)
                       || ', per-user limit ' || t.per_user_limit
                  FROM user_template_issue i
                  FULL JOIN (SELECT user_id, template_id, count(*) AS n FROM user_coupon GROUP BY 1, 2) r
                         ON r.user_id = i.user_id AND r.template_id = i.template_id
                  JOIN coupon_template t ON t.id = COALESCE(i.template_id, r.template_id)
                 WHERE COALESCE(i.issued, 0) <> COALESCE(r.n, 0) OR COALESCE(r.n, 0) > t.per_user_limit
                """,
                """
                SELECT 'points of ' || COALESCE(p.user_id, g.user_id) || ': balance ' || COALESCE(p.points::text, 'none')
                       || ', ledger sum ' || COALESCE(g.total, 0)
                  FROM user_points p
                  FULL JOIN (SELECT user_id, sum(delta) AS total FROM points_ledger GROUP BY 1) g ON g.user_id = p.user_id
                 WHERE COALESCE(p.points, 0) <> COALESCE(g.total, 0)
                """,
                """
                SELECT 'coupon ' || u.id || ': ' || count(g.id) || ' EXCHANGE rows for a price of ' || t.points_cost
                  FROM user_coupon u JOIN coupon_template t ON t.id = u.template_id
                  LEFT JOIN points_ledger g ON g.coupon_id = u.id AND g.reason = 'EXCHANGE' AND g.delta = -t.points_cost
                 GROUP BY u.id, t.points_cost
                HAVING count(g.id) <> CASE WHEN t.points_cost > 0 THEN 1 ELSE 0 END
                """,
                """
                SELECT 'points_ledger ' || g.id || ': no coupon ' || g.coupon_id
                  FROM points_ledger g WHERE g.reason = 'EXCHANGE'
                   AND NOT EXISTS (SELECT 1 FROM user_coupon u WHERE u.id = g.coupon_id)
                """,
                """
                SELECT 'request ' || r.request_id || ': answer names coupon ' || COALESCE(r.response->>'couponId', 'none')
                       || ', which is not stored'
                  FROM idempotency_record r
                 WHERE NOT EXISTS (SELECT 1 FROM user_coupon u WHERE u.id = r.response->>'couponId')
                """,
            ]
            var problems: [String] = []
            for check in checks { problems += try await strings(check) }
            return problems
        }
    }

    /// The seeded random batches of the equivalence test: three templates with small limits (stock,
    /// day, user, budget, points), ten users with 50 points each, claims on two days.
    enum RandomBatch {
        static let templates = [
            TemplateSetup(id: "t-a", stock: 10, perUser: 2, daily: 6),
            TemplateSetup(id: "t-b", stock: 20, perUser: 3, budget: 1_500),
            TemplateSetup(id: "t-c", type: "EXCHANGE", stock: 8, perUser: 1, daily: 5, pointsCost: 20),
        ]
        static let users = (0..<10).map { "u\($0)" }
        static let grantedPoints: Int64 = 50

        static func setUp(_ db: ClaimDatabase) async throws {
            for template in templates { try await db.addTemplate(template) }
            for user in users { try await db.grantPoints(user: user, points: grantedPoints) }
        }

        /// Sorted by template and user, as ClaimWriter sends them.
        static func make(count: Int, label: String, using random: inout SplitMix64) -> [TestClaim] {
            let claims = (0..<count).map { number in
                let template = templates[Int(random.next() % UInt64(templates.count))]
                let user = users[Int(random.next() % UInt64(users.count))]
                let day: ClaimDay = random.next() % 5 == 0 ? .second : .first
                let cost: Int64 = template.budget == nil ? 0 : [100, 200, 300][Int(random.next() % 3)]
                return TestClaim(
                    couponId: "c-\(label)\(number)", userId: user, templateId: template.id, day: day, type: template.type,
                    budgetCostCents: cost, pointsCost: Int64(template.pointsCost), requestId: "r-\(label)\(number)",
                    operation: template.pointsCost > 0 ? "exchange" : "claim")
            }
            return claims.sorted { ($0.templateId, $0.userId) < ($1.templateId, $1.userId) }
        }

        /// Budget spent and points left are exactly what the issued claims cost.
        static func checkSpending(_ db: ClaimDatabase, claims: [TestClaim], answers: [ClaimAnswer]) async throws {
            let issued = zip(claims, answers).filter { $1.outcome == "OK" }.map(\.0)
            for template in templates {
                let cost = issued.filter { $0.templateId == template.id }.map(\.budgetCostCents).reduce(0, +)
                #expect(try await db.template(template.id).spentCents == cost, "budget spent on \(template.id)")
            }
            for user in users {
                let spent = issued.filter { $0.userId == user }.map(\.pointsCost).reduce(0, +)
                #expect(try await db.points(user: user) == grantedPoints - spent, "points left to \(user)")
            }
        }
    }

    /// A small seeded generator (SplitMix64), so a failing random batch can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        private var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
