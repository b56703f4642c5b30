import Foundation
import Redis
import Risk
import ServiceKit
import TestSupport
import Testing
import Wire

/// The risk rules against a real redis-server of each test's own. Time is driven through
/// `nowMilliseconds`, never the wall clock, so window edges are exact on a slow machine too.
@Suite(.serialized)
struct RiskEngineTests {
    /// 2023-11-14 01:00:00 UTC: an hour into a UTC day.
    static let t0: Int64 = 1_699_923_600_000
    static let hour: Int64 = 3_600_000

    /// Every rule off; each test switches on what it looks at.
    static let quiet = RiskRules(
        velocityWindowSeconds: 60, userLimitPerWindow: 0, deviceLimitPerWindow: 0, ipLimitPerWindow: 0, subnetLimitPerWindow: 0,
        accountsPerDevicePerDay: 0, accountsPerIPPerDay: 0, accountsPerSubnetPerDay: 0, newAccountHours: 0, highValueCents: 10_000,
        failedRedemptionsPerWindow: 0, failedRedemptionWindowSeconds: 600)

    func withEngine(_ rules: RiskRules, _ body: (RiskEngine, Metrics) async throws -> Void) async throws {
        try await RedisTestServer.withPool { pool in
            let metrics = Metrics()
            try await body(RiskEngine(redis: pool, rules: rules, metrics: metrics), metrics)
        }
    }

    func request(
        _ user: String, device: String? = nil, ip: String? = nil, action: RiskAction = .claim, type: CouponType = .cash,
        amount: Int64 = 500
    ) -> RiskDecisionRequest {
        RiskDecisionRequest(action: action, userId: user, deviceId: device, ip: ip, templateId: "T1", couponType: type, amountCents: amount)
    }

    /// All at once, answers in the order of `requests`.
    func decideAll(_ engine: RiskEngine, _ requests: [RiskDecisionRequest], at now: Int64) async throws -> [RiskDecision] {
        try await withThrowingTaskGroup(of: (Int, RiskDecision).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { (index, try await engine.decide(request, nowMilliseconds: now)) }
            }
            var answers = [RiskDecision?](repeating: nil, count: requests.count)
            for try await (index, decision) in group { answers[index] = decision }
            return answers.map { $0! }
        }
    }

    // MARK: - Distinct accounts

    @Test func oneDeviceWithFiftyAccountsLetsThreeThrough() async throws {
        try await withEngine(RiskRules()) { engine, metrics in
            let users = (0..<50).map { "user-\($0)" }
            let decisions = try await decideAll(engine, users.map { request($0, device: "farm-phone") }, at: Self.t0)
            let allowed = zip(users, decisions).filter { $0.1.verdict == .allow }.map(\.0)
            #expect(allowed.count == 3)
            let denied = decisions.filter { $0.verdict == .deny }
            #expect(denied.count == 47)
            #expect(denied.allSatisfy { $0.reasons == ["DEVICE_ACCOUNTS"] && $0.score == 100 })
            #expect(metrics.counter("risk_rule_fired_total", [("rule", "DEVICE_ACCOUNTS")]) == 47)
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "DENY")]) == 47)
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == 3)

            // The accounts already seen on the device keep going; the others stay out.
            for user in allowed {
                #expect(try await engine.decide(request(user, device: "farm-phone"), nowMilliseconds: Self.t0 + 1000).verdict == .allow)
            }
            let outsider = try #require(users.first { !allowed.contains($0) })
            #expect(try await engine.decide(request(outsider, device: "farm-phone"), nowMilliseconds: Self.t0 + 1000).reasons == ["DEVICE_ACCOUNTS"])
            // A new UTC day starts a new count.
            #expect(try await engine.decide(request(outsider, device: "farm-phone"), nowMilliseconds: Self.t0 + 24 * Self.hour).verdict == .allow)
            // An empty device id is refused, not read as "no device".
            let empty = await #expect(throws: ServiceError.self) { try await engine.decide(request("blank", device: ""), nowMilliseconds: Self.t0) }
            #expect(empty == ServiceError(.invalidArgument, "deviceId: empty"))
        }
    }

    @Test func oneSubnetWithAThousandAccountsLetsTheLimitThrough() async throws {
        var rules = Self.quiet
        rules.accountsPerSubnetPerDay = 100
        rules.accountsPerIPPerDay = 100_000
        try await withEngine(rules) { engine, _ in
            let requests = (0..<1000).map { request("sub-\($0)", ip: "10.1.2.\($0 % 256)") }
            let decisions = try await decideAll(engine, requests, at: Self.t0)
            #expect(decisions.filter { $0.verdict == .allow }.count == 100)
            let denied = decisions.filter { $0.verdict == .deny }
            #expect(denied.count == 900)
            #expect(denied.allSatisfy { $0.reasons == ["SUBNET_ACCOUNTS"] })
            // Another /24 is counted on its own; a non-IPv4 address has no /24.
            #expect(try await engine.decide(request("other", ip: "10.1.3.9"), nowMilliseconds: Self.t0).verdict == .allow)
            let v6 = try await decideAll(engine, (0..<150).map { request("v6-\($0)", ip: "2001:db8::\($0)") }, at: Self.t0)
            #expect(v6.allSatisfy { $0.verdict == .allow })
        }
    }

    @Test func accountsPerIPAreCounted() async throws {
        var rules = Self.quiet
        rules.accountsPerIPPerDay = 2
        try await withEngine(rules) { engine, _ in
            let decisions = try await decideAll(engine, (0..<5).map { request("ip-\($0)", ip: "198.51.100.4") }, at: Self.t0)
            #expect(decisions.filter { $0.verdict == .allow }.count == 2)
            #expect(decisions.filter { $0.reasons == ["IP_ACCOUNTS"] }.count == 3)
        }
    }

    // MARK: - Velocity

    @Test func velocityIsAnExactSlidingWindow() async throws {
        var rules = Self.quiet
        rules.velocityWindowSeconds = 2
        rules.userLimitPerWindow = 5
        // A start 100 ms before a multiple of the window: fixed 2 s buckets would reset 100 ms later.
        let start = (Self.t0 / 2000 + 1) * 2000 - 100
        try await withEngine(rules) { engine, metrics in
            var allowedAt: [Int64] = []
            func burst(_ count: Int, at now: Int64) async throws -> Int {
                let decisions = try await decideAll(engine, Array(repeating: request("eager"), count: count), at: now)
                let allowed = decisions.filter { $0.verdict == .allow }.count
                #expect(decisions.filter { $0.verdict == .deny }.allSatisfy { $0.reasons == ["USER_VELOCITY"] })
                allowedAt += Array(repeating: now, count: allowed)
                return allowed
            }
            // (offset from the start in ms, requests at once, how many the window must let through)
            let steps: [(Int64, Int, Int)] = [
                (0, 50, 5),  // 10× the rate: exactly the limit
                (200, 5, 0),  // just past a fixed-bucket edge
                (1900, 5, 0), (1999, 5, 0),
                (2000, 5, 5),  // the first burst is now a full window old
                (2100, 5, 0), (3999, 5, 0), (4000, 5, 5),
            ]
            for (offset, count, expected) in steps {
                let allowed = try await burst(count, at: start + offset)
                #expect(allowed == expected, "at +\(offset) ms")
            }
            #expect(allowedAt.count == 15)
            // At most the limit in any 2-second span (a span ending at each allowed event is enough).
            for end in allowedAt {
                #expect(allowedAt.filter { $0 > end - 2000 && $0 <= end }.count <= 5)
            }
            #expect(metrics.counter("risk_rule_fired_total", [("rule", "USER_VELOCITY")]) == 45 + 5 * 5)
            // Windows are per action.
            #expect(try await engine.decide(request("eager", action: .redeem), nowMilliseconds: start + 4000).verdict == .allow)
        }
    }

    @Test func aDeniedRequestUsesNoSlotOfAnotherWindow() async throws {
        var rules = Self.quiet
        rules.userLimitPerWindow = 5
        rules.deviceLimitPerWindow = 2
        rules.ipLimitPerWindow = 100
        rules.subnetLimitPerWindow = 100
        try await withEngine(rules) { engine, _ in
            var verdicts: [RiskVerdict] = []
            for second in 0..<3 {
                verdicts.append(
                    try await engine.decide(request("u", device: "d1", ip: "192.0.2.1"), nowMilliseconds: Self.t0 + Int64(second) * 1000).verdict)
            }
            #expect(verdicts == [.allow, .allow, .deny])
            let third = try await engine.decide(request("u", device: "d1", ip: "192.0.2.1"), nowMilliseconds: Self.t0 + 3000)
            #expect(third.reasons == ["DEVICE_VELOCITY"])
            // The denied ones took no user slot: three more on other devices, then the user limit.
            for second in 4..<7 {
                let decision = try await engine.decide(
                    request("u", device: "d\(second)", ip: "192.0.2.1"), nowMilliseconds: Self.t0 + Int64(second) * 1000)
                #expect(decision.verdict == .allow)
            }
            let sixth = try await engine.decide(request("u", device: "d9", ip: "192.0.2.1"), nowMilliseconds: Self.t0 + 7000)
            #expect(sixth.reasons == ["USER_VELOCITY"])
        }
    }

    // MARK: - Lists

    @Test func blockListedDeviceIsDeniedUntilItsEntryExpires() async throws {
        try await withEngine(Self.quiet) { engine, _ in
            let entry = try await engine.add(
                AddRiskListEntryRequest(list: .block, subject: .device, value: "stolen", ttlSeconds: 60), nowMilliseconds: Self.t0)
            #expect(entry.expiresMilliseconds == Self.t0 + 60_000)
            let blocked = try await engine.decide(request("b1", device: "stolen"), nowMilliseconds: Self.t0 + 59_999)
            #expect(blocked == RiskDecision(verdict: .deny, score: 100, reasons: ["BLOCKED_DEVICE"]))
            #expect(try await engine.decide(request("b1", device: "stolen"), nowMilliseconds: Self.t0 + 60_000).verdict == .allow)

            _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .user, value: "b2"), nowMilliseconds: Self.t0)
            _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .ip, value: "192.0.2.66"), nowMilliseconds: Self.t0)
            _ = try await engine.add(
                AddRiskListEntryRequest(list: .block, subject: .device, value: "stolen", ttlSeconds: 60), nowMilliseconds: Self.t0)
            let all = try await engine.decide(request("b2", device: "stolen", ip: "192.0.2.66"), nowMilliseconds: Self.t0 + 1)
            #expect(all == RiskDecision(verdict: .deny, score: 300, reasons: ["BLOCKED_USER", "BLOCKED_DEVICE", "BLOCKED_IP"]))
            // The IP entry has no expiry; a request without an IP is not matched by it.
            #expect(
                try await engine.decide(request("b3", ip: "192.0.2.66"), nowMilliseconds: Self.t0 + 365 * 24 * Self.hour).reasons == ["BLOCKED_IP"])
            #expect(try await engine.decide(request("b3"), nowMilliseconds: Self.t0).verdict == .allow)
        }
    }

    @Test func allowListedUserPassesOverTheLimits() async throws {
        var rules = Self.quiet
        rules.userLimitPerWindow = 2
        try await withEngine(rules) { engine, metrics in
            _ = try await engine.add(AddRiskListEntryRequest(list: .allow, subject: .user, value: "vip"), nowMilliseconds: Self.t0)
            _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .user, value: "vip"), nowMilliseconds: Self.t0)
            let decisions = try await decideAll(engine, Array(repeating: request("vip", type: .free, amount: 1_000_000), count: 10), at: Self.t0)
            #expect(decisions.allSatisfy { $0 == RiskDecision(verdict: .allow, score: 0, reasons: ["ALLOW_LISTED"]) })
            #expect(metrics.counter("risk_rule_fired_total", [("rule", "ALLOW_LISTED")]) == 10)
            // Nothing was counted while allow-listed: off both lists, the full limit is still there.
            #expect(try await engine.remove(RemoveRiskListEntryRequest(list: .allow, subject: .user, value: "vip")))
            #expect(try await engine.remove(RemoveRiskListEntryRequest(list: .block, subject: .user, value: "vip")))
            let after = try await decideAll(engine, Array(repeating: request("vip"), count: 3), at: Self.t0 + 1)
            #expect(after.filter { $0.verdict == .allow }.count == 2)
            // An allow-listed IP lets any user through too.
            _ = try await engine.add(AddRiskListEntryRequest(list: .allow, subject: .ip, value: "10.0.0.1", ttlSeconds: 5), nowMilliseconds: Self.t0)
            #expect(try await engine.decide(request("vip", ip: "10.0.0.1"), nowMilliseconds: Self.t0 + 2).reasons == ["ALLOW_LISTED"])
            #expect(try await engine.decide(request("vip", ip: "10.0.0.1"), nowMilliseconds: Self.t0 + 5000).reasons == ["USER_VELOCITY"])
        }
    }

    @Test func listEntriesRoundTrip() async throws {
        try await withEngine(Self.quiet) { engine, _ in
            for (value, ttl) in [("carol", Int64?.none), ("alice", 30), ("bob", nil), ("Ünïcode user", nil)] {
                _ = try await engine.add(
                    AddRiskListEntryRequest(list: .block, subject: .user, value: value, ttlSeconds: ttl), nowMilliseconds: Self.t0)
            }
            _ = try await engine.add(AddRiskListEntryRequest(list: .allow, subject: .user, value: "dave"), nowMilliseconds: Self.t0)
            let live = try await engine.entries(list: .block, subject: .user, nowMilliseconds: Self.t0 + 1000)
            #expect(live.map(\.value) == ["alice", "bob", "carol", "Ünïcode user"])
            #expect(live[0].expiresMilliseconds == Self.t0 + 30_000)
            #expect(live[1] == RiskListEntry(list: .block, subject: .user, value: "bob", expiresMilliseconds: nil))
            #expect(try await engine.entries(list: .allow, subject: .user, nowMilliseconds: Self.t0).map(\.value) == ["dave"])
            #expect(try await engine.entries(list: .block, subject: .ip, nowMilliseconds: Self.t0).isEmpty)
            // Expired entries are left out.
            #expect(
                try await engine.entries(list: .block, subject: .user, nowMilliseconds: Self.t0 + 30_000).map(\.value) == [
                    "bob", "carol", "Ünïcode user",
                ])

            #expect(try await engine.remove(RemoveRiskListEntryRequest(list: .block, subject: .user, value: "bob")))
            #expect(try await !engine.remove(RemoveRiskListEntryRequest(list: .block, subject: .user, value: "bob")))
            #expect(try await engine.entries(list: .block, subject: .user, nowMilliseconds: Self.t0).map(\.value) == ["carol", "Ünïcode user"])

            // Adding again replaces the expiry.
            _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .user, value: "carol", ttlSeconds: 10), nowMilliseconds: Self.t0)
            #expect(try await engine.entries(list: .block, subject: .user, nowMilliseconds: Self.t0).first?.expiresMilliseconds == Self.t0 + 10_000)

            let invalid: [AddRiskListEntryRequest] = [
                AddRiskListEntryRequest(list: .block, subject: .user, value: ""),
                AddRiskListEntryRequest(list: .block, subject: .user, value: String(repeating: "x", count: 65)),
                AddRiskListEntryRequest(list: .block, subject: .user, value: "nul\u{0}"),
                AddRiskListEntryRequest(list: .block, subject: .user, value: "two\nlines"),
                AddRiskListEntryRequest(list: .block, subject: .user, value: "ok", ttlSeconds: 0),
                AddRiskListEntryRequest(list: .block, subject: .user, value: "ok", ttlSeconds: -5),
                AddRiskListEntryRequest(list: .block, subject: .user, value: "ok", ttlSeconds: .max),
            ]
            for bad in invalid {
                let error = await #expect(throws: ServiceError.self) { try await engine.add(bad, nowMilliseconds: Self.t0) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.hasPrefix(bad.ttlSeconds == nil ? "value:" : "ttlSeconds:") == true)
            }
            _ = try await engine.add(
                AddRiskListEntryRequest(list: .block, subject: .device, value: String(repeating: "y", count: 64)), nowMilliseconds: Self.t0)
            #expect(try await engine.entries(list: .block, subject: .device, nowMilliseconds: Self.t0).count == 1)
        }
    }

    // MARK: - New accounts

    @Test func newAccountsAskingForValueGoToReview() async throws {
        try await withEngine(RiskRules()) { engine, metrics in
            let free = try await engine.decide(request("newbie", type: .free, amount: 0), nowMilliseconds: Self.t0)
            #expect(free == RiskDecision(verdict: .review, score: 50, reasons: ["NEW_ACCOUNT_HIGH_VALUE"]))
            #expect(try await engine.decide(request("newbie", type: .free, amount: 0), nowMilliseconds: Self.t0 + 25 * Self.hour).verdict == .allow)

            #expect(try await engine.decide(request("rich", amount: 10_000), nowMilliseconds: Self.t0).reasons == ["NEW_ACCOUNT_HIGH_VALUE"])
            #expect(try await engine.decide(request("modest", amount: 9_999), nowMilliseconds: Self.t0).verdict == .allow)
            // First seen stays at the first sighting: still new an hour later, no longer new at exactly 24 h.
            #expect(try await engine.decide(request("modest", type: .free), nowMilliseconds: Self.t0 + Self.hour).verdict == .review)
            #expect(try await engine.decide(request("modest", type: .free), nowMilliseconds: Self.t0 + 24 * Self.hour).verdict == .allow)
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "REVIEW")]) == 3)

            // newAccountHours 0 switches the rule off.
            var rules = RiskRules()
            rules.newAccountHours = 0
            engine.replaceRules(rules)
            #expect(try await engine.decide(request("fresh", type: .free), nowMilliseconds: Self.t0).verdict == .allow)
        }
    }

    // MARK: - Probing

    @Test func failedRedemptionsDenyTheUserAndTheIP() async throws {
        try await withEngine(RiskRules()) { engine, metrics in
            let ip = "203.0.113.7"
            func fail(_ code: ErrorCode, action: RiskAction = .redeem, user: String? = "prober", ip: String? = ip) async throws -> Bool {
                try await engine.report(RiskReportRequest(action: action, userId: user, deviceId: "pd", ip: ip, code: code), nowMilliseconds: Self.t0)
            }
            for code in [ErrorCode.couponNotFound, .notOwner, .couponAlreadyUsed, .couponExpired] {
                #expect(try await fail(code))
            }
            // Not probing: other outcomes, other actions, nobody to count against.
            #expect(try await !fail(.thresholdNotMet))
            #expect(try await !fail(.ok))
            #expect(try await !fail(.couponNotFound, action: .claim))
            #expect(try await !fail(.couponNotFound, user: nil, ip: nil))
            #expect(metrics.counter("risk_failures_reported_total") == 4)

            let redeem = request("prober", ip: ip, action: .redeem)
            #expect(try await engine.decide(redeem, nowMilliseconds: Self.t0 + 1000).verdict == .allow)
            #expect(try await fail(.couponNotFound))
            let denied = try await engine.decide(redeem, nowMilliseconds: Self.t0 + 1000)
            #expect(denied == RiskDecision(verdict: .deny, score: 200, reasons: ["USER_PROBING", "IP_PROBING"]))
            #expect(try await engine.decide(request("neighbour", ip: ip, action: .redeem), nowMilliseconds: Self.t0 + 1000).reasons == ["IP_PROBING"])
            #expect(
                try await engine.decide(request("prober", ip: "198.51.100.1", action: .redeem), nowMilliseconds: Self.t0 + 1000).reasons == [
                    "USER_PROBING"
                ])
            // The window (600 s) slides past the failures.
            #expect(try await engine.decide(redeem, nowMilliseconds: Self.t0 + 600_001).verdict == .allow)
        }
    }

    // MARK: - Rules at run time

    @Test func replacedRulesApplyToTheNextDecision() async throws {
        var rules = Self.quiet
        rules.userLimitPerWindow = 2
        try await withEngine(rules) { engine, _ in
            let verdicts = try await decideAll(engine, Array(repeating: request("r"), count: 3), at: Self.t0).map(\.verdict)
            #expect(verdicts.sorted { $0.rawValue < $1.rawValue } == [.allow, .allow, .deny])

            var off = rules
            off.userLimitPerWindow = 0
            engine.replaceRules(off)
            #expect(engine.rules == off)
            #expect(try await engine.decide(request("r"), nowMilliseconds: Self.t0 + 1).verdict == .allow)

            var three = rules
            three.userLimitPerWindow = 3
            three.accountsPerDevicePerDay = 0
            engine.replaceRules(three)
            #expect(try await engine.decide(request("r"), nowMilliseconds: Self.t0 + 2).verdict == .allow)
            #expect(try await engine.decide(request("r"), nowMilliseconds: Self.t0 + 3).reasons == ["USER_VELOCITY"])
            // accountsPerDevicePerDay 0: any number of accounts on one device.
            let crowd = try await decideAll(engine, (0..<20).map { request("c\($0)", device: "shared") }, at: Self.t0)
            #expect(crowd.allSatisfy { $0.verdict == .allow })
        }
    }

    // MARK: - Legitimate traffic

    @Test func aLegitimatePopulationIsNeverDeniedOrReviewed() async throws {
        try await withEngine(RiskRules()) { engine, metrics in
            let users = 2000
            // 20 users per /24 over 100 subnets; each user has a device and an IP of their own.
            func baseRequest(_ index: Int) -> RiskDecisionRequest {
                request("citizen-\(index)", device: "phone-\(index)", ip: "10.20.\(index / 20).\(index % 20 + 1)")
            }
            // Accounts are created (first seen) a day before.
            let firstSeen = try await decideAll(engine, (0..<users).map(baseRequest), at: Self.t0)
            #expect(firstSeen.allSatisfy { $0.verdict == .allow })

            let t1 = Self.t0 + 25 * Self.hour
            var verdicts: [RiskVerdict: Int] = [:]
            for claim in 0..<3 {
                for chunkStart in stride(from: 0, to: users, by: 250) {
                    let chunk = try await withThrowingTaskGroup(of: RiskVerdict.self) { group in
                        for index in chunkStart..<min(users, chunkStart + 250) {
                            var claimRequest = baseRequest(index)
                            // Every kind of claim, FREE and high value included: these accounts are old.
                            claimRequest.couponType = CouponType.allCases[(index + claim) % CouponType.allCases.count]
                            claimRequest.amountCents = Int64((index * 37 + claim * 1_000) % 50_000)
                            let now = t1 + Int64(claim) * 20_000 + Int64(index % 1000) * 7
                            group.addTask { [claimRequest] in try await engine.decide(claimRequest, nowMilliseconds: now).verdict }
                        }
                        var counts: [RiskVerdict: Int] = [:]
                        for try await verdict in group { counts[verdict, default: 0] += 1 }
                        return counts
                    }
                    verdicts.merge(chunk, uniquingKeysWith: +)
                }
            }
            #expect(verdicts == [.allow: 3 * users])
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == Int64(4 * users))
        }
    }

    // MARK: - Batches

    @Test func aBatchDecidesInOrderLikeOneByOne() async throws {
        var rules = RiskRules()
        rules.accountsPerDevicePerDay = 3
        rules.userLimitPerWindow = 2
        // Six accounts on one device, one user over its velocity limit, a new account asking for a
        // FREE coupon, a block-listed IP and an allow-listed user: every kind of answer.
        let requests =
            (0..<6).map { request("farm-\($0)", device: "farm-phone") }
            + Array(repeating: request("eager", ip: "198.51.100.9"), count: 3)
            + [request("newbie", type: .free, amount: 0), request("shady", ip: "192.0.2.66"), request("vip", device: "farm-phone")]
        func prepare(_ engine: RiskEngine) async throws {
            _ = try await engine.add(AddRiskListEntryRequest(list: .block, subject: .ip, value: "192.0.2.66"), nowMilliseconds: Self.t0)
            _ = try await engine.add(AddRiskListEntryRequest(list: .allow, subject: .user, value: "vip"), nowMilliseconds: Self.t0)
        }

        var oneByOne: [RiskDecision] = []
        var oneByOneCounts: [Int64] = []
        try await withEngine(rules) { engine, metrics in
            try await prepare(engine)
            for request in requests { oneByOne.append(try await engine.decide(request, nowMilliseconds: Self.t0)) }
            oneByOneCounts = Self.decisionCounts(metrics)
        }
        try await withEngine(rules) { engine, metrics in
            try await prepare(engine)
            let batch = try await engine.decide(RiskDecisionBatchRequest(decisions: requests), nowMilliseconds: Self.t0)
            #expect(batch.results == oneByOne.map { .decided($0) })
            #expect(Self.decisionCounts(metrics) == oneByOneCounts)

            let verdicts = batch.results.map { $0.decision?.verdict }
            #expect(Array(verdicts[0..<3]) == [.allow, .allow, .allow], "the first three accounts of the device")
            #expect(batch.results[3..<6].allSatisfy { $0.decision?.reasons == ["DEVICE_ACCOUNTS"] })
            #expect(Array(verdicts[6..<9]) == [.allow, .allow, .deny])
            #expect(batch.results[8].decision?.reasons == ["USER_VELOCITY"])
            #expect(batch.results[9].decision == RiskDecision(verdict: .review, score: 50, reasons: ["NEW_ACCOUNT_HIGH_VALUE"]))
            #expect(batch.results[10].decision?.reasons == ["BLOCKED_IP"])
            #expect(batch.results[11].decision?.reasons == ["ALLOW_LISTED"])

            // What the batch counted stays counted for the next one.
            let next = try await engine.decide(
                RiskDecisionBatchRequest(decisions: [request("farm-1", device: "farm-phone"), request("farm-9", device: "farm-phone")]),
                nowMilliseconds: Self.t0 + 1000)
            #expect(next.results.map { $0.decision?.reasons } == [[], ["DEVICE_ACCOUNTS"]])
        }
    }

    @Test func anInvalidRequestFailsAloneAndCountsNothing() async throws {
        var rules = Self.quiet
        rules.accountsPerDevicePerDay = 2
        try await withEngine(rules) { engine, metrics in
            let batch = RiskDecisionBatchRequest(decisions: [
                request("first", device: "shared"), request("", device: "shared"), request("second", device: "shared"),
                request("third", device: "shared"),
            ])
            let answers = try await engine.decide(batch, nowMilliseconds: Self.t0)
            #expect(
                answers.results == [
                    .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])),
                    .failed(ServiceError(.invalidArgument, "userId: empty")),
                    .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])),
                    .decided(RiskDecision(verdict: .deny, score: 100, reasons: ["DEVICE_ACCOUNTS"])),
                ])
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == 2)
            // A batch of nothing but invalid requests asks Redis nothing and still answers each.
            let invalid = try await engine.decide(RiskDecisionBatchRequest(decisions: [request(""), request("")]), nowMilliseconds: Self.t0)
            #expect(invalid.results.map { $0.error?.code } == [.invalidArgument, .invalidArgument])
            #expect(try await engine.decide(RiskDecisionBatchRequest(decisions: []), nowMilliseconds: Self.t0).results.isEmpty)
        }
    }

    @Test func aRedisErrorReplyFailsOnlyItsDecision() async throws {
        var rules = Self.quiet
        rules.userLimitPerWindow = 5
        try await RedisTestServer.withPool { pool in
            let engine = RiskEngine(redis: pool, rules: rules, metrics: Metrics())
            // A velocity window that is not a sorted set: the script's ZREMRANGEBYSCORE fails.
            _ = try await pool.command(["SET", "risk:vel:CLAIM:user:broken", "not a window"])
            let answers = try await engine.decide(
                RiskDecisionBatchRequest(decisions: [request("fine"), request("broken"), request("also-fine")]), nowMilliseconds: Self.t0)
            try #require(answers.results.count == 3)
            #expect(answers.results[0] == .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])))
            #expect(answers.results[1].decision == nil)
            #expect(answers.results[1].error?.code == .dependencyUnavailable)
            #expect(answers.results[1].error?.message.contains("WRONGTYPE") == true, "\(answers.results[1])")
            #expect(answers.results[2] == .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])))
            // One decision alone gets the same error, as a RedisError risk-control's router translates.
            let alone = await #expect(throws: RedisError.self) { try await engine.decide(request("broken"), nowMilliseconds: Self.t0) }
            #expect(alone?.serverErrorKind == "WRONGTYPE")
        }
    }

    @Test func aBatchOverTheLimitIsRefusedAndOneAtTheLimitIsDecided() async throws {
        var rules = Self.quiet
        rules.accountsPerIPPerDay = 1000
        try await withEngine(rules) { engine, metrics in
            let limit = RiskDecisionBatchRequest.maxDecisions
            let tooMany = RiskDecisionBatchRequest(decisions: (0...limit).map { request("many-\($0)", ip: "203.0.113.1") })
            let refused = await #expect(throws: ServiceError.self) { try await engine.decide(tooMany, nowMilliseconds: Self.t0) }
            #expect(refused?.code == .invalidArgument)
            #expect(refused?.message.hasPrefix("decisions:") == true)
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == 0, "nothing decided")

            let full = RiskDecisionBatchRequest(decisions: Array(tooMany.decisions.prefix(limit)))
            let answers = try await engine.decide(full, nowMilliseconds: Self.t0)
            #expect(answers.results.count == limit)
            #expect(answers.results.prefix(1000).allSatisfy { $0.decision?.verdict == .allow })
            #expect(answers.results.dropFirst(1000).allSatisfy { $0.decision?.reasons == ["IP_ACCOUNTS"] })
        }
    }

    /// Decisions counted per verdict and rule, for comparing two runs.
    static func decisionCounts(_ metrics: Metrics) -> [Int64] {
        RiskVerdict.allCases.map { metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", $0.rawValue)]) }
            + ["DEVICE_ACCOUNTS", "USER_VELOCITY", "NEW_ACCOUNT_HIGH_VALUE", "BLOCKED_IP", "ALLOW_LISTED"].map {
                metrics.counter("risk_rule_fired_total", [("rule", $0)])
            }
    }

    // MARK: - Rules file

    @Test func rulesFileParsesDefaultsAndOverrides() throws {
        #expect(try RiskRulesFile.parse(Array("{}".utf8)) == RiskRules())
        let parsed = try RiskRulesFile.parse(Array(#"{"userLimitPerWindow": 7, "highValueCents": 123456789012, "newAccountHours": 0}"#.utf8))
        var expected = RiskRules()
        expected.userLimitPerWindow = 7
        expected.highValueCents = 123_456_789_012
        expected.newAccountHours = 0
        #expect(parsed == expected)
        #expect(try RiskRulesFile.parse(RiskRulesFile.json(expected).bytes) == expected)
        #expect(RiskRulesFile.json(RiskRules())["failedRedemptionWindowSeconds"] == .number("600"))

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("risk-rules-\(UUID().uuidString).json").path
        try Data(#"{"accountsPerDevicePerDay": 1}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try RiskRulesFile.load(path: path).accountsPerDevicePerDay == 1)
        let missing = #expect(throws: ServiceError.self) { try RiskRulesFile.load(path: path + ".missing") }
        #expect(missing?.code == .invalidArgument)
    }

    @Test(arguments: [
        (#"{"userLimitPerWindw": 3}"#, "userLimitPerWindw"),
        (#"{"ipLimitPerWindow": -1}"#, "ipLimitPerWindow"),
        (#"{"highValueCents": -0}"#, "highValueCents"),
        (#"{"newAccountHours": "24"}"#, "newAccountHours"),
        (#"{"velocityWindowSeconds": 1.5}"#, "velocityWindowSeconds"),
        (#"{"accountsPerIPPerDay": 3000000000}"#, "accountsPerIPPerDay"),
        (#"{"subnetLimitPerWindow": null}"#, "subnetLimitPerWindow"),
        (#"[1, 2]"#, "rules"),
        (#"{"userLimitPerWindow": 1"#, "rules"),
    ])
    func rulesFileRefusesBadFields(text: String, field: String) throws {
        let error = #expect(throws: ServiceError.self) { try RiskRulesFile.parse(Array(text.utf8)) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix(field + ":") == true, "\(error?.message ?? "")")
    }
}

// MARK: - Hostile input

extension RiskEngineTests {
    /// Texts no field may hold, and what the refusal starts with (after the field's name).
    static let hostileTexts: [(text: String, refusal: String)] = [
        ("nul\u{0}device", "contains the control character U+0000"),
        (String(repeating: "d", count: 10_000), "more than 64 characters"),
        ("", "empty"),
        ("line\nbreak", "contains the control character U+000A"),
        ("del\u{7F}", "contains the control character U+007F"),
        ("c1\u{85}", "contains the control character U+0085"),
        // 33 graphemes but 66 code points: the limit counts code points, as PostgreSQL does.
        (String(repeating: "e\u{301}", count: 33), "more than 64 characters"),
    ]

    @Test func everyTextFieldOfADecisionRefusesHostileText() async throws {
        try await withEngine(Self.quiet) { engine, metrics async throws in
            for (text, refusal) in Self.hostileTexts {
                var requests: [(String, RiskDecisionRequest)] = []
                for field in ["userId", "deviceId", "ip", "templateId"] {
                    var hostile = request("u", device: "d", ip: "203.0.113.1")
                    switch field {
                    case "userId": hostile.userId = text
                    case "deviceId": hostile.deviceId = text
                    case "ip": hostile.ip = text
                    default: hostile.templateId = text
                    }
                    requests.append((field, hostile))
                }
                for (field, hostile) in requests {
                    let error = await #expect(throws: ServiceError.self) { try await engine.decide(hostile, nowMilliseconds: Self.t0) }
                    #expect(error == ServiceError(.invalidArgument, "\(field): \(refusal)"))
                }
            }
            var negative = request("u")
            negative.amountCents = -1
            let error = await #expect(throws: ServiceError.self) { try await engine.decide(negative, nowMilliseconds: Self.t0) }
            #expect(error?.message.hasPrefix("amountCents:") == true)
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == 0, "nothing decided")

            // At the limit: 64 code points (32 graphemes of two), and non-ASCII text.
            let longest = String(repeating: "e\u{301}", count: 32)
            #expect(try await engine.decide(request(longest, device: longest, ip: "2001:db8::1"), nowMilliseconds: Self.t0).verdict == .allow)
            #expect(try await engine.decide(request("用户-Ünïcode", device: "设备"), nowMilliseconds: Self.t0).verdict == .allow)
        }
    }

    @Test func oneHostileDecisionAmongFortyFailsAloneEveryRound() async throws {
        var rules = Self.quiet
        rules.accountsPerIPPerDay = 100_000
        try await withEngine(rules) { engine, metrics in
            for round in 0..<24 {
                let (text, refusal) = Self.hostileTexts[round % Self.hostileTexts.count]
                let position = (round * 7) % 41
                var decisions = (0..<40).map { request("r\(round)-\($0)", device: "dev-\(round)-\($0)", ip: "203.0.113.\($0 + 1)") }
                decisions.insert(request("hostile-\(round)", device: text), at: position)
                let answers = try await engine.decide(RiskDecisionBatchRequest(decisions: decisions), nowMilliseconds: Self.t0 + Int64(round))
                try #require(answers.results.count == 41)
                #expect(answers.results[position] == .failed(ServiceError(.invalidArgument, "deviceId: \(refusal)")), "round \(round)")
                var others = answers.results
                others.remove(at: position)
                #expect(others.allSatisfy { $0 == .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])) }, "round \(round)")
            }
            #expect(metrics.counter("risk_decisions_total", [("action", "CLAIM"), ("verdict", "ALLOW")]) == 24 * 40)
        }
    }

    @Test func reportsAndListValuesRefuseHostileText() async throws {
        try await withEngine(RiskRules()) { engine, metrics async throws in
            for (text, refusal) in Self.hostileTexts {
                let reports = [
                    ("userId", RiskReportRequest(action: .redeem, userId: text, deviceId: nil, ip: nil, code: .couponNotFound)),
                    ("deviceId", RiskReportRequest(action: .redeem, userId: "u", deviceId: text, ip: nil, code: .couponNotFound)),
                    ("ip", RiskReportRequest(action: .redeem, userId: "u", deviceId: nil, ip: text, code: .couponNotFound)),
                ]
                for (field, report) in reports {
                    let error = await #expect(throws: ServiceError.self) { try await engine.report(report, nowMilliseconds: Self.t0) }
                    #expect(error == ServiceError(.invalidArgument, "\(field): \(refusal)"))
                }
                let added = await #expect(throws: ServiceError.self) {
                    try await engine.add(AddRiskListEntryRequest(list: .block, subject: .device, value: text), nowMilliseconds: Self.t0)
                }
                #expect(added == ServiceError(.invalidArgument, "value: \(refusal)"))
                let removed = await #expect(throws: ServiceError.self) {
                    try await engine.remove(RemoveRiskListEntryRequest(list: .block, subject: .device, value: text))
                }
                #expect(removed == ServiceError(.invalidArgument, "value: \(refusal)"))
            }
            #expect(metrics.counter("risk_failures_reported_total") == 0)
            #expect(try await engine.entries(list: .block, subject: .device, nowMilliseconds: Self.t0).isEmpty)
        }
    }
}

// MARK: - Rule limits

extension RiskEngineTests {
    static var int32Fields: [(String, WritableKeyPath<RiskRules, Int32>)] {
        [
            ("velocityWindowSeconds", \.velocityWindowSeconds), ("userLimitPerWindow", \.userLimitPerWindow),
            ("deviceLimitPerWindow", \.deviceLimitPerWindow), ("ipLimitPerWindow", \.ipLimitPerWindow),
            ("subnetLimitPerWindow", \.subnetLimitPerWindow), ("accountsPerDevicePerDay", \.accountsPerDevicePerDay),
            ("accountsPerIPPerDay", \.accountsPerIPPerDay), ("accountsPerSubnetPerDay", \.accountsPerSubnetPerDay),
            ("newAccountHours", \.newAccountHours), ("failedRedemptionsPerWindow", \.failedRedemptionsPerWindow),
            ("failedRedemptionWindowSeconds", \.failedRedemptionWindowSeconds),
        ]
    }

    @Test func everyNegativeRuleIsRefusedByTheFileAndByValidateAlike() throws {
        #expect(Set(Self.int32Fields.map(\.0) + ["highValueCents"]) == Set(RiskRulesFile.fieldNames), "every field is tried")
        for (name, path) in Self.int32Fields {
            for value in [Int32(-1), .min] {
                var rules = RiskRules()
                rules[keyPath: path] = value
                let refused = #expect(throws: ServiceError.self) { try RiskRulesFile.validate(rules) }
                #expect(refused == ServiceError(.invalidArgument, "\(name): must not be negative, got \(value)"))
                let inFile = #expect(throws: ServiceError.self) { try RiskRulesFile.parse(Array(#"{"\#(name)": \#(value)}"#.utf8)) }
                #expect(inFile == refused, "the file and risk_rules_set say the same")
            }
        }
        for value in [Int64(-1), .min] {
            var rules = RiskRules()
            rules.highValueCents = value
            let refused = #expect(throws: ServiceError.self) { try RiskRulesFile.validate(rules) }
            #expect(refused == ServiceError(.invalidArgument, "highValueCents: must not be negative, got \(value)"))
        }
        // Above the upper bound: the same message both ways.
        var tooNew = RiskRules()
        tooNew.newAccountHours = 2161
        let refused = #expect(throws: ServiceError.self) { try RiskRulesFile.validate(tooNew) }
        #expect(refused == ServiceError(.invalidArgument, "newAccountHours: expected a whole number from 0 to 2160, got 2161"))
        #expect(throws: refused!) { try RiskRulesFile.parse(Array(#"{"newAccountHours": 2161}"#.utf8)) }
        #expect(RiskRulesFile.range(of: "velocityWindowSeconds") == 0...Int64(Int32.max))
        try RiskRulesFile.validate(RiskRules())
    }

    @Test func windowsOfInt32MaxSecondsDecideWithoutOverflow() async throws {
        var rules = RiskRules()
        for (name, path) in Self.int32Fields where name != "newAccountHours" { rules[keyPath: path] = .max }
        rules.newAccountHours = 2160
        rules.highValueCents = .max
        try RiskRulesFile.validate(rules)
        let now = unixMilliseconds()
        try await withEngine(rules) { engine, _ async throws in
            #expect(try await engine.decide(request("far", device: "d", ip: "203.0.113.1"), nowMilliseconds: now).verdict == .allow)
            let failure = RiskReportRequest(action: .redeem, userId: "far", deviceId: nil, ip: "203.0.113.1", code: .couponNotFound)
            #expect(try await engine.report(failure, nowMilliseconds: now))
            // A clock so far back that the window start is below Int64.min: refused, not trapped.
            let refused = await #expect(throws: ServiceError.self) { try await engine.decide(request("far"), nowMilliseconds: .min + 1) }
            #expect(refused?.code == .invalidArgument)
            #expect(refused?.message.hasPrefix("velocityWindowSeconds:") == true)
            let late = await #expect(throws: ServiceError.self) {
                try await engine.add(AddRiskListEntryRequest(list: .block, subject: .user, value: "x", ttlSeconds: 1), nowMilliseconds: .max - 10)
            }
            #expect(late?.message.hasPrefix("ttlSeconds:") == true)
        }
    }
}
