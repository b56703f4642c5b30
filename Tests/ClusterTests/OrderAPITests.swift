import Foundation
import Postgres
import TestSupport
import Testing
import Wire

/// The order-side HTTP calls: use, refund and best, with the seed's examples.
@Suite(.serialized) struct OrderAPITests {
    func isoTime(_ offsetSeconds: TimeInterval) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date().addingTimeInterval(offsetSeconds))
    }

    func template(_ cluster: TestCluster, _ fields: String) async throws -> String {
        let body = "{\(fields),\"startTime\":\"\(isoTime(-3600))\",\"endTime\":\"\(isoTime(86_400))\",\"totalStock\":100}"
        let answer = try await cluster.http("POST", "/api/coupon/template", json: body)
        guard case .string(let id)? = answer.json?["templateId"] else { throw TestFailure("template not created: \(answer.text)") }
        return id
    }

    func claim(_ cluster: TestCluster, _ user: String, _ templateId: String) async throws -> String {
        let answer = try await cluster.http(
            "POST", "/api/coupon/issue", json: #"{"userId":"\#(user)","couponType":"\#(templateId)","channel":"app"}"#)
        guard case .string(let id)? = answer.json?["couponId"] else { throw TestFailure("claim failed: \(answer.text)") }
        return id
    }

    @Test func useRefundAndTheTaobaoMatrix() async throws {
        try await TestCluster.with { cluster in
            // 满200减30 on 250.00 → 30.00 off, 220.00 to pay; 199.99 is below the threshold.
            let cash = try await template(cluster, #""name":"满200减30","type":"CASH","threshold":200,"discount":30"#)
            let coupon = try await claim(cluster, "ann", cash)
            let below = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"o1","couponId":"\#(coupon)","amount":199.99}"#)
            #expect(below.status == 409 && below.code == 1210, "\(below.text)")
            let used = try await cluster.http(
                "POST", "/api/coupon/use", json: #"{"orderId":"o1","couponId":"\#(coupon)","amount":250,"userId":"ann"}"#)
            #expect(used.status == 200, "\(used.text)")
            #expect(used.json?["discount"] == .number("30.00"))
            #expect(used.json?["payable"] == .number("220.00"))
            let again = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"o1","couponId":"\#(coupon)","amount":250}"#)
            #expect(again.json?["discount"] == .number("30.00"))
            let other = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"o2","couponId":"\#(coupon)","amount":250}"#)
            #expect(other.status == 409 && other.code == 1207)
            let badMoney = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"o3","couponId":"\#(coupon)","amount":250.001}"#)
            #expect(badMoney.status == 400 && badMoney.code == 1007)
            let refund = try await cluster.http("POST", "/api/coupon/refund", json: #"{"orderId":"o1","couponId":"\#(coupon)"}"#)
            #expect(refund.status == 200 && refund.json?["status"] == .string("UNUSED"), "\(refund.text)")
            let wrong = try await cluster.http("POST", "/api/coupon/refund", json: #"{"orderId":"o9","couponId":"\#(coupon)"}"#)
            #expect(wrong.status == 409 && wrong.code == 1213)

            // 8折最高减50: 100 → 20 off; 300 → capped at 50.
            let rate = try await template(cluster, #""name":"8折最高减50","type":"DISCOUNT","rate":0.8,"maxDiscount":50,"perUserLimit":2"#)
            let first = try await claim(cluster, "ben", rate)
            let second = try await claim(cluster, "ben", rate)
            let hundred = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"r1","couponId":"\#(first)","amount":100}"#)
            #expect(hundred.json?["discount"] == .number("20.00"))
            let three = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"r2","couponId":"\#(second)","amount":300}"#)
            #expect(three.json?["discount"] == .number("50.00"))

            // Taobao 双11: shop 满199减20, category 满500减100, platform 满1000减200 on a 1,000 order
            // of that shop and category → 320 off.
            let shop = try await template(cluster, #""name":"店铺券","type":"CASH","threshold":199,"discount":20,"level":"SHOP","shopId":"S1""#)
            let category = try await template(
                cluster, #""name":"品类券","type":"CASH","threshold":500,"discount":100,"level":"CATEGORY","categories":["digital"]"#)
            let platform = try await template(cluster, #""name":"平台券","type":"CASH","threshold":1000,"discount":200"#)
            var held: [String] = []
            for id in [shop, category, platform] { held.append(try await claim(cluster, "cat", id)) }
            let items = #"[{"sku":"phone","category":"digital","shopId":"S1","amount":1000}]"#
            let best = try await cluster.http("POST", "/api/coupon/best", json: #"{"userId":"cat","amount":1000,"items":\#(items)}"#)
            #expect(best.status == 200, "\(best.text)")
            #expect(best.json?["discount"] == .number("320.00"))
            #expect(best.json?["payable"] == .number("680.00"))
            #expect(best.json?["couponIds"] == .array(held.map { .string($0) }))
            guard case .array(let explain)? = best.json?["explain"] else {
                Issue.record("no explain: \(best.text)")
                return
            }
            #expect(explain.count == 3)
            #expect(explain.allSatisfy { $0["applied"] == .bool(true) })

            // Items outside a SHOP coupon's shop: not applicable.
            let elsewhere = #"[{"sku":"tv","category":"digital","shopId":"S2","amount":300}]"#
            let notHere = try await cluster.http(
                "POST", "/api/coupon/use", json: #"{"orderId":"t1","couponId":"\#(held[0])","amount":300,"items":\#(elsewhere)}"#)
            #expect(notHere.status == 409 && notHere.code == 1209, "\(notHere.text)")
            let mismatch = try await cluster.http(
                "POST", "/api/coupon/use", json: #"{"orderId":"t2","couponId":"\#(held[0])","amount":999,"items":\#(elsewhere)}"#)
            #expect(mismatch.status == 400 && mismatch.code == 1005)
        }
    }

    @Test func statsFollowTheSeedsFormulas() async throws {
        try await TestCluster.with { cluster in
            let cash = try await template(cluster, #""name":"满200减30","type":"CASH","threshold":200,"discount":30,"perUserLimit":2"#)
            for user in ["a", "b", "c", "d"] {
                let shown = try await cluster.http("POST", "/api/coupon/exposure", json: #"{"userId":"\#(user)","templateId":"\#(cash)"}"#)
                #expect(shown.status == 200 && shown.json?["recorded"] == .bool(true))
            }
            let unknown = try await cluster.http("POST", "/api/coupon/exposure", json: #"{"userId":"a","templateId":"TNOPE"}"#)
            #expect(unknown.status == 404 && unknown.code == 1100)
            let first = try await claim(cluster, "a", cash)
            _ = try await claim(cluster, "b", cash)
            _ = try await cluster.http("POST", "/api/coupon/use", json: #"{"orderId":"s1","couponId":"\#(first)","amount":250}"#)

            let stats = try await cluster.http("GET", "/api/coupon/stats?templateId=\(cash)")
            #expect(stats.status == 200, "\(stats.text)")
            #expect(stats.json?["exposures"] == .number("4"))
            #expect(stats.json?["claims"] == .number("2"))
            #expect(stats.json?["uses"] == .number("1"))
            #expect(stats.json?["claimRate"] == .number("0.5000"))
            #expect(stats.json?["useRate"] == .number("0.5000"))
            #expect(stats.json?["orderAmount"] == .number("250.00"))
            #expect(stats.json?["discountAmount"] == .number("30.00"))
            // ROI = (order amount − discount amount) ÷ discount cost = 220 ÷ 30.
            #expect(stats.json?["roi"] == .number("7.3333"))
            #expect(stats.json?["costRatio"] == .number("0.1200"))
            let missing = try await cluster.http("GET", "/api/coupon/stats")
            #expect(missing.status == 400)
        }
    }
}
