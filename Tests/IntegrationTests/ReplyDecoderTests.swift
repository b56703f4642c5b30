import Redis
import Testing
import Wire

@testable import Risk

/// The pure readers of Redis replies (RiskEngine's, RedisLock's, RedisPool's) on the replies their
/// scripts and commands give, and on the odd ones they must refuse. No server: the values are built
/// here, the way Tests/Fuzz/RedisReplyFuzzer.swift builds arbitrary ones.
@Suite struct ReplyDecoderTests {
    static func reasons(_ texts: String...) -> RedisValue { .array(texts.map { .bulk(Array($0.utf8)) }) }

    /// Shapes no decoder reads as an answer: nil, wrong types, huge and negative numbers, non-UTF-8.
    static let odd: [RedisValue] = [
        .null, .integer(0), .integer(-1), .integer(.max), .integer(.min), .status("OK"), .error("ERR boom"),
        .bulk([0xC3, 0x28]), .bulk([]), .array([.null]), .array([.bulk([0xFF, 0xFE])]), .array([.integer(1)]),
    ]

    @Test func noRuleFiredIsAllow() throws {
        #expect(try RiskEngine.decision(fromReply: .array([])) == RiskDecision(verdict: .allow, score: 0, reasons: []))
    }

    @Test func allowListedAloneIsAllow() throws {
        let decision = try RiskEngine.decision(fromReply: Self.reasons("ALLOW_LISTED"))
        #expect(decision == RiskDecision(verdict: .allow, score: 0, reasons: ["ALLOW_LISTED"]))
    }

    @Test func denyingReasonsOutweighReview() throws {
        let decision = try RiskEngine.decision(fromReply: Self.reasons("NEW_ACCOUNT_HIGH_VALUE", "IP_VELOCITY", "DEVICE_ACCOUNTS"))
        #expect(decision.verdict == .deny)
        #expect(decision.score == 250)
        #expect(decision.reasons == ["NEW_ACCOUNT_HIGH_VALUE", "IP_VELOCITY", "DEVICE_ACCOUNTS"])
        #expect(try RiskEngine.decision(fromReply: Self.reasons("NEW_ACCOUNT_HIGH_VALUE")).verdict == .review)
    }

    @Test func everyDenyReasonAtOnceScoresAtMostAThousand() throws {
        let all = RiskEngine.denyReasons.sorted() + RiskEngine.reviewReasons.sorted()
        let decision = try RiskEngine.decision(fromReply: .array(all.map { .status($0) }))
        #expect(decision.verdict == .deny)
        #expect(decision.score == 1000)
    }

    /// A garbled reply is never read as "nothing fired, allow": it is DEPENDENCY_UNAVAILABLE.
    @Test(
        arguments: odd + [
            reasons("SOMETHING_NEW"), reasons("USER_VELOCITY", "USER_VELOCITY"), reasons("ALLOW_LISTED", "BLOCKED_IP"),
            reasons("allow_listed"), .array([.bulk(Array("USER_VELOCITY".utf8)), .null]),
        ])
    func unreadableDecisionReplies(_ reply: RedisValue) {
        #expect(throws: ServiceError.self) { try RiskEngine.decision(fromReply: reply) }
        #expect((try? RiskEngine.decision(fromReply: reply)) == nil)
        do {
            _ = try RiskEngine.decision(fromReply: reply)
        } catch {
            #expect(error.code == .dependencyUnavailable)
        }
    }

    /// Every reason the decision script can be given is one the reader knows.
    @Test func everyReasonTheScriptIsGivenIsKnown() throws {
        let request = RiskDecisionRequest(
            action: .claim, userId: "u1", deviceId: "d1", ip: "10.0.0.1", templateId: "T1", couponType: .free, amountCents: 1)
        let call = try RiskEngine.decisionCall(request, rules: RiskRules(), nowMilliseconds: 1_699_923_600_000)
        // Three shared arguments, then five per operation: kind, reason, a, b, c.
        let given = stride(from: 4, to: call.args.count, by: 5).map { call.args[$0] }.filter { !$0.isEmpty }
        // Every rule is on and every key present, so every reason but the script's own ALLOW_LISTED.
        #expect(Set(given) == RiskEngine.knownReasons.subtracting([RiskEngine.allowListedReason]))
    }

    @Test func zremAnswersZeroOrOne() throws {
        #expect(try RiskEngine.removed(fromReply: .integer(1)))
        #expect(try !RiskEngine.removed(fromReply: .integer(0)))
        for reply in Self.odd where reply != .integer(0) {
            #expect(throws: ServiceError.self) { try RiskEngine.removed(fromReply: reply) }
        }
        #expect(throws: ServiceError.self) { try RiskEngine.removed(fromReply: .integer(2)) }
        #expect(throws: ServiceError.self) { try RiskEngine.removed(fromReply: .bulk(Array("1".utf8))) }
    }

    static let now: Int64 = 1_790_000_000_000

    @Test func withScoresPairsBecomeSortedEntries() throws {
        let reply = RedisValue.array([
            .bulk(Array("u-2".utf8)), .bulk(Array("9007199254740991".utf8)), .bulk(Array("u-1".utf8)), .bulk(Array("1.7900000001e+12".utf8)),
        ])
        let entries = try RiskEngine.listEntries(fromReply: reply, list: .block, subject: .user, nowMilliseconds: Self.now)
        #expect(
            entries == [
                RiskListEntry(list: .block, subject: .user, value: "u-1", expiresMilliseconds: 1_790_000_000_100),
                RiskListEntry(list: .block, subject: .user, value: "u-2", expiresMilliseconds: nil),
            ])
        #expect(try RiskEngine.listEntries(fromReply: .array([]), list: .allow, subject: .ip, nowMilliseconds: Self.now).isEmpty)
    }

    @Test(
        arguments: odd + [
            .array([.bulk(Array("u-1".utf8))]),  // a value without its score
            .array([.bulk(Array("u-1".utf8)), .bulk(Array("1.5".utf8))]),  // not whole milliseconds
            .array([.bulk(Array("u-1".utf8)), .bulk(Array("inf".utf8))]),
            .array([.bulk(Array("u-1".utf8)), .bulk(Array("1e300".utf8))]),
            .array([.bulk(Array("u-1".utf8)), .bulk(Array("1790000000000".utf8))]),  // expired at now
            .array([.bulk(Array("u-1".utf8)), .bulk(Array("-5".utf8))]),
            .array([.bulk([0xFF]), .bulk(Array("9007199254740991".utf8))]),
            .array([.null, .null]),
        ])
    func unreadableListReplies(_ reply: RedisValue) {
        #expect(throws: ServiceError.self) {
            try RiskEngine.listEntries(fromReply: reply, list: .block, subject: .ip, nowMilliseconds: Self.now)
        }
    }

    @Test func lockReplies() throws {
        #expect(try RedisLock.fence(fromReply: .null) == nil)
        #expect(try RedisLock.fence(fromReply: .integer(7)) == 7)
        for reply: RedisValue in [.integer(0), .integer(-3), .integer(.min), .bulk(Array("7".utf8)), .status("OK"), .array([])] {
            #expect(throws: RedisError.self) { try RedisLock.fence(fromReply: reply) }
        }
        #expect(try RedisLock.succeeded(fromReply: .integer(1)))
        #expect(try !RedisLock.succeeded(fromReply: .integer(0)))
        for reply: RedisValue in [.null, .integer(2), .integer(-1), .bulk(Array("1".utf8))] {
            #expect(throws: RedisError.self) { try RedisLock.succeeded(fromReply: reply) }
        }
    }

    @Test func scriptHashIsFortyLowercaseHexDigits() throws {
        let hash = "8fd2ffa0ec6ef1a3bd0c1f3e27b9a6c1d4e5f607"
        #expect(try RedisPool.scriptHash(fromReply: .bulk(Array(hash.utf8))) == hash)
        for reply: RedisValue in [
            .null, .integer(1), .bulk(Array(hash.uppercased().utf8)), .bulk(Array(hash.dropLast().utf8)), .bulk(Array((hash + "0").utf8)),
            .bulk(Array(hash.dropLast().utf8) + [0xFF]), .array([.bulk(Array(hash.utf8))]),
        ] {
            #expect(throws: RedisError.self) { try RedisPool.scriptHash(fromReply: reply) }
        }
    }

    /// What an "unexpected reply" error prints stays short whatever the reply's size.
    @Test func descriptionIsBounded() {
        let huge = RedisValue.array(Array(repeating: .bulk(Array(repeating: UInt8(ascii: "x"), count: 100_000)), count: 10_000))
        let text = huge.description
        #expect(text.utf8.count < 2_000)
        #expect(text.contains("10000 elements"))
        #expect(text.contains("100000 bytes"))
        #expect(RedisValue.array([.integer(1), .status("OK"), .null, .bulk([0xFF, 0x00])]).description == "[1, +OK, nil, 0xff00]")
        var deep = RedisValue.integer(1)
        for _ in 0..<1_000 { deep = .array([deep]) }
        #expect(deep.description.utf8.count < 100)
    }
}
