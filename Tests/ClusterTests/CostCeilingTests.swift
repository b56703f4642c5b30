import CouponClient
import Foundation
import TestSupport
import Testing
import Wire

/// Shared/DESIGN.md §2.5: the platform's cost ratio is alerted above 8%, and a STOP_ISSUANCE
/// template stops issuing while it is, through the real HTTP API of a running cluster. Evaluations
/// run only when the test asks (`POST /api/admin/alerts/evaluate`, the job's own code path; the
/// timer is set to a day), so each step sees exactly the evaluations it expects.
@Suite(.serialized) struct CostCeilingTests {
    static func templateBody(name: String, threshold: String, discount: String, stock: Int, action: String? = nil, ceiling: String? = nil)
        -> String
    {
        let start = TemplateAndClaimAPITests.isoTime(-3600)
        let end = TemplateAndClaimAPITests.isoTime(86_400)
        let extra = action.map { #","costAction":"\#($0)""# } ?? ""
        let ownCeiling = ceiling.map { #","costCeiling":\#($0)"# } ?? ""
        return #"{"name":"\#(name)","type":"CASH","threshold":\#(threshold),"discount":\#(discount),"startTime":"\#(start)","#
            + #""endTime":"\#(end)","totalStock":\#(stock),"perUserLimit":1\#(extra)\#(ownCeiling)}"#
    }

    /// Claims and redeems one coupon of `templateId` for each user, on an order of 100.00, over the
    /// binary protocol with a few calls in flight.
    static func redeemOrders(_ client: ServiceClient, templateId: String, users: Range<Int>, prefix: String) async throws {
        let next = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while true {
                        let user = users.lowerBound + next.next()
                        guard user < users.upperBound else { return }
                        let claimed = try await client.call(ClaimRequest(userId: "\(prefix)-\(user)", templateId: templateId, channel: "app"))
                        _ = try await client.call(
                            UseRequest(
                                orderId: "order-\(prefix)-\(user)", couponId: claimed.couponId, amountCents: 10_000, userId: "\(prefix)-\(user)",
                                items: []))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func evaluate(_ cluster: TestCluster) async throws -> JSONValue {
        let answer = try await cluster.http("POST", "/api/admin/alerts/evaluate")
        #expect(answer.status == 200, "\(answer.text)")
        let json = try #require(answer.json)
        #expect(json["evaluated"] == .bool(true), "\(answer.text)")
        return json
    }

    static func platformCost(_ cluster: TestCluster) async throws -> JSONValue {
        let answer = try await cluster.http("GET", "/api/coupon/stats/cost?window=1h")
        #expect(answer.status == 200, "\(answer.text)")
        return try #require(answer.json)
    }

    static func firing(_ cluster: TestCluster) async throws -> [JSONValue] {
        let answer = try await cluster.http("GET", "/api/admin/alerts?status=FIRING")
        #expect(answer.status == 200, "\(answer.text)")
        guard case .array(let alerts)? = answer.json?["alerts"] else { return [] }
        return alerts
    }

    @Test func thePlatformRatioFiresAtEightPointOneEightPercentStopsIssuanceAndResolvesAfterTwoCalmEvaluations() async throws {
        try await TestCluster.with(environment: ["COUPON_COST_EVALUATE_SECONDS": "86400"]) { cluster in
            let client = try cluster.client()
            defer { client.close() }

            let seven = try await cluster.http(
                "POST", "/api/coupon/template", json: Self.templateBody(name: "满100减7", threshold: "100", discount: "7", stock: 2_000))
            #expect(seven.status == 200, "\(seven.text)")
            #expect(seven.json?["warnings"] == .array([]))
            let sevenId = try #require(TemplateAndClaimAPITests.string(seven.json?["templateId"]))
            let twenty = try await cluster.http(
                "POST", "/api/coupon/template",
                json: Self.templateBody(name: "满100减20", threshold: "100", discount: "20", stock: 1_000, action: "STOP_ISSUANCE"))
            #expect(twenty.status == 200, "\(twenty.text)")
            let twentyId = try #require(TemplateAndClaimAPITests.string(twenty.json?["templateId"]))
            // One order of 100.00 can cost 20% of its amount: above the 8% ceiling, said at creation.
            guard case .array(let warnings)? = twenty.json?["warnings"], let warning = warnings.first else {
                Issue.record("no warning for 满100减20: \(twenty.text)")
                return
            }
            #expect(warning["worstCaseRatio"] == .number("20.00"))
            #expect(warning["costCeiling"] == .number("8.00"))
            #expect(twenty.json?["costAction"] == .string("STOP_ISSUANCE"))

            // 1,000 orders of 100.00 with 7.00 off: 7.00%, no alert.
            try await Self.redeemOrders(client, templateId: sevenId, users: 0..<1_000, prefix: "seven")
            var evaluation = try await Self.evaluate(cluster)
            #expect(evaluation["fired"] == .integer(0))
            var cost = try await Self.platformCost(cluster)
            #expect(cost["orders"] == .integer(1_000))
            #expect(cost["ratio"] == .number("7.00"), "\(cost)")
            #expect(cost["state"] == .string("OK"))
            #expect(try await Self.firing(cluster).isEmpty)

            // 100 orders of 100.00 with 20.00 off: 9,000.00 of 110,000.00 is 8.18%, above the
            // ceiling (and above the 7.20% warning level): both alerts fire, platform-wide.
            let heldCoupon = try await client.call(ClaimRequest(userId: "twenty-held", templateId: twentyId, channel: "app"))
            try await Self.redeemOrders(client, templateId: twentyId, users: 0..<100, prefix: "twenty")
            evaluation = try await Self.evaluate(cluster)
            #expect(evaluation["fired"] == .integer(2), "\(evaluation)")
            #expect(evaluation["stoppedTemplates"] == .integer(1), "\(evaluation)")
            cost = try await Self.platformCost(cluster)
            #expect(cost["orders"] == .integer(1_100))
            #expect(cost["ratio"] == .number("8.18"), "\(cost)")
            #expect(cost["state"] == .string("ABOVE_CEILING"))
            let alerts = try await Self.firing(cluster)
            let ceilingAlert = alerts.first { $0["kind"] == .string("COST_RATIO_CEILING") }
            #expect(ceilingAlert?["scope"] == .string("platform"), "\(alerts)")
            #expect(ceilingAlert?["value"] == .number("8.18"))
            #expect(ceilingAlert?["threshold"] == .number("8.00"))
            #expect(alerts.contains { $0["kind"] == .string("COST_RATIO_WARNING") })
            // 满100减20 has only 100 orders, fewer than the 200 it needs to be judged on its own.
            let own = try await cluster.http("GET", "/api/coupon/stats/cost?templateId=\(twentyId)&window=day")
            #expect(own.json?["ratio"] == .number("20.00"), "\(own.text)")
            #expect(own.json?["state"] == .string("TOO_FEW_ORDERS"))

            // STOP_ISSUANCE: the next claim is refused, a coupon claimed before is still redeemed,
            // and a template that only alerts keeps issuing.
            let refused = try await cluster.http("POST", "/api/coupon/issue", json: #"{"userId":"late","couponType":"\#(twentyId)","channel":"app"}"#)
            #expect(refused.status == 409, "\(refused.text)")
            #expect(refused.code == Int(ErrorCode.costCeiling.rawValue))
            let shown = try await cluster.http("GET", "/api/coupon/template/\(twentyId)")
            #expect(shown.json?["costStopped"] == .bool(true))
            let redeemed = try await cluster.http(
                "POST", "/api/coupon/use",
                json: #"{"orderId":"order-held","couponId":"\#(heldCoupon.couponId)","amount":100,"userId":"twenty-held"}"#)
            #expect(redeemed.status == 200, "\(redeemed.text)")
            #expect(redeemed.json?["discount"] == .number("20.00"))
            let alertOnly = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"late","couponType":"\#(sevenId)","channel":"app"}"#)
            #expect(alertOnly.status == 200, "\(alertOnly.text)")

            // 500 orders without a coupon: 9,020.00 of 160,100.00 is 5.63%, below 95% of both
            // thresholds. The first evaluation below keeps the alerts firing, the second resolves them.
            for order in 0..<500 {
                let reported = try await cluster.http(
                    "POST", "/api/coupon/order", json: #"{"orderId":"plain-\#(order)","userId":"plain-\#(order % 50)","amount":100}"#)
                #expect(reported.status == 200, "\(reported.text)")
            }
            let again = try await cluster.http("POST", "/api/coupon/order", json: #"{"orderId":"plain-0","userId":"plain-0","amount":100}"#)
            #expect(again.json?["recorded"] == .bool(false), "an order reported twice counts once")
            evaluation = try await Self.evaluate(cluster)
            #expect(evaluation["resolved"] == .integer(0), "\(evaluation)")
            #expect(try await Self.firing(cluster).count == 2)
            cost = try await Self.platformCost(cluster)
            #expect(cost["orders"] == .integer(1_601))
            #expect(cost["ratio"] == .number("5.63"), "\(cost)")
            evaluation = try await Self.evaluate(cluster)
            #expect(evaluation["resolved"] == .integer(2), "\(evaluation)")
            #expect(evaluation["stoppedTemplates"] == .integer(0), "\(evaluation)")
            #expect(try await Self.firing(cluster).isEmpty)
            let resolved = try await cluster.http("GET", "/api/admin/alerts?status=resolved&limit=1")
            guard case .array(let page)? = resolved.json?["alerts"] else {
                Issue.record("no resolved alerts: \(resolved.text)")
                return
            }
            #expect(page.count == 1)
            #expect(page.first?["resolvedAt"] != .null)
            #expect(resolved.json?["nextBefore"] != .null, "two resolved alerts, one per page")

            let reopened = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"later","couponType":"\#(twentyId)","channel":"app"}"#)
            #expect(reopened.status == 200, "\(reopened.text)")

            // A refund gives its coupon's cost back: the discount leaves the platform's ratio (the
            // order stays an order seen) and the order leaves the template's.
            let refunded = try await cluster.http(
                "POST", "/api/coupon/refund", json: #"{"orderId":"order-held","couponId":"\#(heldCoupon.couponId)"}"#)
            #expect(refunded.status == 200, "\(refunded.text)")
            _ = try await Self.evaluate(cluster)
            cost = try await Self.platformCost(cluster)
            #expect(cost["orders"] == .integer(1_601))
            #expect(cost["discount"] == .number("9000.00"), "\(cost)")
            let afterRefund = try await cluster.http("GET", "/api/coupon/stats/cost?templateId=\(twentyId)&window=24h")
            #expect(afterRefund.json?["orders"] == .integer(100), "\(afterRefund.text)")
            #expect(afterRefund.json?["discount"] == .number("2000.00"))

            // The gauge per kind, on /metrics.
            let metrics = try await cluster.http("GET", "/metrics")
            #expect(metrics.text.contains(#"coupon_alerts_firing{kind="COST_RATIO_CEILING"} 0"#), "\(metrics.text)")
        }
    }

    /// Every process stops issuing, not only the one that evaluated: with two coupon-center
    /// processes and the timer at one second, a firing ceiling reaches both claim paths, and
    /// resolving it reopens both.
    @Test func everyProcessLearnsThatATemplateStopsAndThatItReopens() async throws {
        try await TestCluster.with(
            couponCenters: 2, environment: ["COUPON_COST_EVALUATE_SECONDS": "1", "COUPON_COST_MIN_ORDERS": "1"]
        ) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let created = try await cluster.http(
                "POST", "/api/coupon/template",
                json: Self.templateBody(name: "满100减20", threshold: "100", discount: "20", stock: 1_000, action: "STOP_ISSUANCE", ceiling: "25"))
            let templateId = try #require(TemplateAndClaimAPITests.string(created.json?["templateId"]))
            // One order with 20% off: the platform is above its 8% ceiling (the template, below its
            // own 25% and its 22.5% warning level, raises nothing of its own).
            try await Self.redeemOrders(client, templateId: templateId, users: 0..<1, prefix: "first")
            let attempts = SharedCounter()
            func claimRefused(on index: Int) async throws -> Bool {
                let answer = try await cluster.http(
                    "POST", "/api/coupon/issue", json: #"{"userId":"try-\#(attempts.next())","couponType":"\#(templateId)","channel":"app"}"#,
                    to: index)
                return answer.code == Int(ErrorCode.costCeiling.rawValue)
            }
            for index in 0..<2 {
                try await Patience.waitUntil("coupon-center \(index) refusing claims with COST_CEILING", every: .milliseconds(200)) {
                    try await claimRefused(on: index)
                }
            }
            // Orders without coupons bring the ratio down to 20.00 ÷ 2,100.00 < 1%: resolved after
            // two evaluations, and both processes issue again.
            for order in 0..<20 {
                _ = try await cluster.http("POST", "/api/coupon/order", json: #"{"orderId":"plain-\#(order)","userId":"plain","amount":100}"#)
            }
            for index in 0..<2 {
                try await Patience.waitUntil("coupon-center \(index) issuing again", every: .milliseconds(200)) {
                    try await !claimRefused(on: index)
                }
            }
            let resolved = try await cluster.http("GET", "/api/admin/alerts?status=RESOLVED", to: 1)
            guard case .array(let alerts)? = resolved.json?["alerts"] else {
                Issue.record("no resolved alerts: \(resolved.text)")
                return
            }
            #expect(alerts.contains { $0["kind"] == .string("COST_RATIO_CEILING") && $0["scope"] == .string("platform") })
        }
    }
}
