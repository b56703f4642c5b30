import Testing
import Wire

@testable import Domain

@Suite struct MoneyDifferenceTests {
    @Test(
        arguments: [
            // 2 of 1,000 orders of 5.00 missing: 0.2%, above the alarm.
            (500_000, 499_000, 20, true),
            // One order off by a cent: far below it.
            (500_000, 499_999, 0, false),
            // Exactly 0.1% is not above 0.1%.
            (100_000, 99_900, 10, false),
            (100_000, 99_899, 10, true),
            (1_000, 1_002, 19, true),
            (1_000, 1_001, 9, false),
            // Nothing against nothing, and a cent against nothing (the denominator is at least 1).
            (0, 0, 0, false),
            (0, 1, 10_000, true),
            (-500, 500, 20_000, true),
        ] as [(Int64, Int64, Int64, Bool)])
    func relativeDifferenceAndAlarm(ledger: Int64, feed: Int64, basisPoints: Int64, alarm: Bool) {
        #expect(MoneyDifference.basisPoints(ledger, feed) == basisPoints)
        #expect(MoneyDifference.basisPoints(feed, ledger) == basisPoints)
        #expect(MoneyDifference.isAlarm(ledger, feed) == alarm)
        #expect(MoneyDifference.isAlarm(feed, ledger) == alarm)
    }

    @Test func extremesDoNotTrap() {
        #expect(MoneyDifference.basisPoints(.min, .max) == 19_999)
        #expect(MoneyDifference.isAlarm(.min, .max))
        #expect(MoneyDifference.basisPoints(.max, .max) == 0)
        #expect(!MoneyDifference.isAlarm(.min, .min))
    }
}

@Suite struct IncidentTransitionTests {
    @Test func runsOpenResolveAndReopenButNeverTouchAnAcceptedIncident() {
        #expect(IncidentTransitions.afterRun(nil, differences: false) == nil)
        #expect(IncidentTransitions.afterRun(nil, differences: true) == .open)
        #expect(IncidentTransitions.afterRun(.open, differences: true) == .open)
        #expect(IncidentTransitions.afterRun(.open, differences: false) == .resolved)
        #expect(IncidentTransitions.afterRun(.acknowledged, differences: true) == .acknowledged)
        #expect(IncidentTransitions.afterRun(.acknowledged, differences: false) == .resolved)
        #expect(IncidentTransitions.afterRun(.resolved, differences: true) == .open)
        #expect(IncidentTransitions.afterRun(.resolved, differences: false) == .resolved)
        #expect(IncidentTransitions.afterRun(.accepted, differences: true) == .accepted)
        #expect(IncidentTransitions.afterRun(.accepted, differences: false) == .accepted)
    }

    @Test func operatorsAcknowledgeAndAcceptOnlyLiveIncidents() throws {
        #expect(try IncidentTransitions.acknowledge(.open, incidentId: 1) == .acknowledged)
        #expect(try IncidentTransitions.acknowledge(.acknowledged, incidentId: 1) == .acknowledged)
        #expect(try IncidentTransitions.accept(.open, incidentId: 1, note: "refund booked twice by the order system") == .accepted)
        #expect(try IncidentTransitions.accept(.acknowledged, incidentId: 1, note: "known") == .accepted)
        for status in [IncidentStatus.resolved, .accepted] {
            #expect(throws: ServiceError.self) { try IncidentTransitions.acknowledge(status, incidentId: 7) }
            do {
                _ = try IncidentTransitions.accept(status, incidentId: 7, note: "late")
                Issue.record("accepted a \(status) incident")
            } catch {
                #expect(error.code == .incidentState)
            }
        }
    }

    @Test(arguments: ["", " leading space", "line\nbreak", String(repeating: "长", count: 501)])
    func notesAreRequiredAndBounded(note: String) {
        do {
            _ = try IncidentTransitions.accept(.open, incidentId: 1, note: note)
            Issue.record("accepted the note \(note.prefix(20))")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    @Test func aNoteOf500CodePointsIsAccepted() throws {
        #expect(try IncidentTransitions.accept(.open, incidentId: 1, note: String(repeating: "长", count: 500)) == .accepted)
    }
}

@Suite struct BusinessDayTests {
    @Test(arguments: ["2026-11-30", "2024-02-29", "2000-01-01", "2999-12-31"])
    func realDatesAreAccepted(text: String) throws {
        #expect(try BusinessDay.validated(text) == text)
    }

    @Test(arguments: ["2026-02-29", "2026-11-31", "2026-13-01", "2026-00-10", "2026-1-01", "26-11-30", "2026/11/30", "１０２６-11-30", "", "1999-12-31"])
    func otherTextIsRefused(text: String) {
        #expect(throws: ServiceError.self) { try BusinessDay.validated(text) }
    }
}

@Suite struct OrderFeedTests {
    @Test func eachLineIsParsedExactlyAndABadLineFailsAlone() throws {
        let body = [
            #"{"orderId":"o-1","couponId":"c-1","discount":5.00,"amount":20,"status":"PAID"}"#,
            "",
            #"{"orderId":"o-2","couponId":"c-2","discount":0.1,"amount":19.99,"status":"REFUNDED"}"# + "\r",
            #"{"orderId":"o-3","couponId":"c-3","discount":5.001,"amount":20,"status":"PAID"}"#,
            #"{"orderId":"o-4","couponId":"c-4","discount":-1,"amount":20,"status":"PAID"}"#,
            #"{"orderId":"o-5","couponId":"c-5","discount":5,"amount":20,"status":"SHIPPED"}"#,
            #"{"orderId":"o-6","couponId":"c-6","discount":30,"amount":20,"status":"PAID"}"#,
            #"{"orderId":"o-1","couponId":"c-9","discount":1,"amount":20,"status":"PAID"}"#,
            #"{"orderId":"o-7","discount":0,"amount":88.8,"status":"PAID"}"#,
            #"{"orderId":"o-8","discount":1,"amount":88.8,"status":"PAID"}"#,
            #"{"orderId":"o-9","couponId":"c-9","discount":1,"amount":20,"status":"PAID","extra":true}"#,
            #"not json"#,
            #"{"orderId":"'; DROP TABLE order_feed;--\#(String(repeating: "长", count: 62))","couponId":"c","discount":1,"amount":2,"status":"PAID"}"#,
            "   ",
        ].joined(separator: "\n")
        let parsed = try OrderFeed.parse(Array(body.utf8))
        #expect(parsed.lines.map(\.number) == [1, 3, 9])
        #expect(parsed.lines[0].line == OrderFeedLine(orderId: "o-1", couponId: "c-1", discountCents: 500, amountCents: 2_000, status: .paid))
        #expect(parsed.lines[1].line == OrderFeedLine(orderId: "o-2", couponId: "c-2", discountCents: 10, amountCents: 1_999, status: .refunded))
        #expect(parsed.lines[2].line == OrderFeedLine(orderId: "o-7", couponId: nil, discountCents: 0, amountCents: 8_880, status: .paid))
        #expect(parsed.refused.map(\.line) == [4, 5, 6, 7, 8, 10, 11, 12, 13])
        #expect(
            parsed.refused.map(\.code) == [
                .invalidMoney, .invalidMoney, .invalidArgument, .invalidMoney, .invalidArgument, .invalidArgument, .invalidArgument,
                .malformedJSON, .invalidArgument,
            ])
        #expect(parsed.refused[4].message.contains("line 1"))
    }

    @Test func tooManyLinesRefuseTheBodyAndLongLinesFailAlone() throws {
        let line = #"{"orderId":"o","discount":0,"amount":1,"status":"PAID"}"#
        #expect(throws: ServiceError.self) {
            try OrderFeed.parse(Array(Array(repeating: line, count: OrderFeed.maxLines + 1).joined(separator: "\n").utf8))
        }
        let long = #"{"orderId":"o-1","discount":0,"amount":1,"status":"PAID","pad":""# + String(repeating: "x", count: 2_000) + "\"}"
        let parsed = try OrderFeed.parse(Array((long + "\n" + line).utf8))
        #expect(parsed.refused.map(\.line) == [1])
        #expect(parsed.lines.map(\.number) == [2])
    }
}
