import Redis
import Testing
import Wire

@testable import CouponCenter

/// The claim reserve script's reply read by `ReserveVerdict.decode`: each of the script's answers,
/// and the odd replies, none of which may reserve. Pure: no server.
@Suite struct ReserveVerdictTests {
    static func reply(_ verdict: String, _ generation: String) -> RedisValue {
        .array([.bulk(Array(verdict.utf8)), .bulk(Array(generation.utf8))])
    }

    @Test func everyAnswerOfTheScript() throws {
        let expected: [(String, String, ReserveVerdict)] = [
            ("OK", "g-1a2b", .reserved(generation: "g-1a2b")), ("LOCKED", "", .locked), ("SOLD_OUT", "g1", .refused(.soldOut)),
            ("DAILY_LIMIT", "g1", .refused(.dailyLimitReached)), ("PER_USER_LIMIT", "g1", .refused(.perUserLimitReached)),
            ("BUDGET_EXHAUSTED", "g1", .refused(.budgetExhausted)), ("RELOAD_TEMPLATE", "", .reload(.template)),
            ("RELOAD_DAY", "g1", .reload(.day)), ("RELOAD_USER", "g1", .reload(.user)),
        ]
        for (verdict, generation, answer) in expected {
            #expect(try ReserveVerdict.decode(fromReply: Self.reply(verdict, generation)) == answer)
        }
    }

    /// None of these is the script's OK, so none lets a claim on to PostgreSQL.
    @Test(arguments: [
        RedisValue.null, .integer(1), .status("OK"), .bulk(Array("OK".utf8)), .array([]), .array([.bulk(Array("OK".utf8))]),
        reply("OK", ""), reply("ok", "g1"), reply("SOLD_OUT_SOON", "g1"),
        .array([.bulk(Array("OK".utf8)), .bulk(Array("g1".utf8)), .bulk(Array("extra".utf8))]),
        .array([.bulk(Array("OK".utf8)), .bulk([0xFF, 0xFE])]), .array([.bulk(Array("OK".utf8)), .null]),
        .array([.bulk(Array("OK".utf8)), .integer(7)]), .array([.error("ERR"), .bulk(Array("g1".utf8))]),
    ])
    func oddRepliesAreUnavailableNeverReserved(_ reply: RedisValue) {
        do {
            let verdict = try ReserveVerdict.decode(fromReply: reply)
            Issue.record("\(reply) was read as \(verdict)")
        } catch {
            #expect(error.code == .dependencyUnavailable)
        }
    }
}
