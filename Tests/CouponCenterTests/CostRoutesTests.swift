import Domain
import Postgres
import Testing
import Wire

@testable import CouponCenter

/// The cost-ratio routes in process (`InProcessCouponCenter`): they need PostgreSQL and Redis but
/// neither rule-engine nor risk-control, so templates, orders, evaluations and alerts are driven
/// here; claims and redemptions are in Tests/ClusterTests/CostCeilingTests.
@Suite struct CostRoutesTests {
    static let template = #"""
        {"name":"满100减20","type":"CASH","threshold":100,"discount":20,"startTime":"2026-01-01T00:00:00+08:00",
         "endTime":"2036-01-01T00:00:00+08:00","totalStock":100,"costCeiling":"8.5","costAction":"STOP_ISSUANCE"}
        """#

    @Test func aTemplateKeepsItsCeilingAndActionAndIsWarnedAboutItsWorstCase() async throws {
        try await InProcessCouponCenter.with { center in
            let created = try await center.call("POST", "/api/coupon/template", Self.template)
            #expect(created.status == 200, "\(created.json)")
            #expect(created.json["costCeiling"] == .number("8.50"))
            #expect(created.json["costCeilingInForce"] == .number("8.50"))
            #expect(created.json["costAction"] == .string("STOP_ISSUANCE"))
            #expect(created.json["worstCaseRatio"] == .number("20.00"))
            #expect(created.json["costStopped"] == .bool(false))
            guard case .array(let warnings)? = created.json["warnings"] else {
                Issue.record("no warnings: \(created.json)")
                return
            }
            #expect(warnings.count == 1)
            #expect(warnings.first?["code"] == .string("WORST_CASE_ABOVE_COST_CEILING"))
            let id = try #require(created.json["templateId"]?.text)
            let stored = try await center.database.query("SELECT cost_ceiling_bp, cost_action FROM coupon_template WHERE id = $1", [id])
            #expect(try stored[0].decode(0, as: Int32.self) == 850)
            #expect(try stored[0].decode(1, as: String.self) == "STOP_ISSUANCE")

            // Without its own ceiling a template shows the platform's, and 满100减5 warns of nothing.
            let modest = try await center.call(
                "POST", "/api/coupon/template",
                #"{"name":"满100减5","type":"CASH","threshold":100,"discount":5,"startTime":"2026-01-01T00:00:00+08:00","endTime":"2036-01-01T00:00:00+08:00","totalStock":1}"#
            )
            #expect(modest.json["costCeiling"] == .null)
            #expect(modest.json["costCeilingInForce"] == .number("8.00"))
            #expect(modest.json["costAction"] == .string("ALERT"))
            #expect(modest.json["warnings"] == .array([]))
        }
    }

    @Test func hostileCostInputsGetAClearErrorAndChangeNothing() async throws {
        try await InProcessCouponCenter.with { center in
            let base =
                #""name":"x","type":"CASH","threshold":100,"discount":5,"startTime":"2026-01-01T00:00:00+08:00","endTime":"2036-01-01T00:00:00+08:00","totalStock":1"#
            let cases: [(String, String, String, Int, ErrorCode)] = [
                ("POST", "/api/coupon/template", "{\(base),\"costCeiling\":0}", 400, .invalidArgument),
                ("POST", "/api/coupon/template", "{\(base),\"costCeiling\":\"8.125\"}", 400, .invalidArgument),
                ("POST", "/api/coupon/template", "{\(base),\"costCeiling\":100.01}", 400, .invalidArgument),
                ("POST", "/api/coupon/template", "{\(base),\"costCeiling\":true}", 400, .invalidArgument),
                ("POST", "/api/coupon/template", "{\(base),\"costAction\":\"PANIC\"}", 400, .invalidArgument),
                ("GET", "/api/coupon/stats/cost?window=2h", "", 400, .invalidArgument),
                ("GET", "/api/coupon/stats/cost?templateId=T-none", "", 404, .templateNotFound),
                ("GET", "/api/admin/alerts?status=BURNING", "", 400, .invalidArgument),
                ("GET", "/api/admin/alerts?limit=0", "", 400, .invalidArgument),
                ("GET", "/api/admin/alerts?limit=99999999999", "", 400, .invalidArgument),
                ("GET", "/api/admin/alerts?before=-1", "", 400, .invalidArgument),
                ("POST", "/api/coupon/order", #"{"orderId":"o","userId":"u","amount":1.234}"#, 400, .invalidMoney),
                ("POST", "/api/coupon/order", #"{"orderId":"o","userId":"u","amount":-1}"#, 400, .invalidMoney),
                ("POST", "/api/coupon/order", #"{"orderId":"o'; DROP TABLE alert;--","userId":"","amount":1}"#, 400, .invalidArgument),
                ("POST", "/api/coupon/order", #"{"orderId":"o","userId":"u","amount":1,"extra":1}"#, 400, .invalidArgument),
            ]
            for (method, target, body, status, code) in cases {
                let answer = try await center.call(method, target, body)
                #expect(answer.status == status, "\(method) \(target) \(body)")
                #expect(answer.json.code == Int(code.rawValue), "\(method) \(target) \(body): \(answer.json)")
            }
            let written = try await center.database.query(
                "SELECT (SELECT count(*) FROM coupon_template)::bigint, (SELECT count(*) FROM user_order)::bigint", [])
            #expect(try written[0].decode(0, as: Int64.self) == 0)
            #expect(try written[0].decode(1, as: Int64.self) == 0)
        }
    }

    @Test func reportedOrdersCountOnceInThePlatformWindowsAfterAnEvaluation() async throws {
        try await InProcessCouponCenter.with { center in
            for order in 0..<3 {
                let reported = try await center.call("POST", "/api/coupon/order", #"{"orderId":"o-\#(order)","userId":"u-1","amount":250.5}"#)
                #expect(reported.json["recorded"] == .bool(true))
            }
            let again = try await center.call("POST", "/api/coupon/order", #"{"orderId":"o-0","userId":"u-1","amount":999}"#)
            #expect(again.json["recorded"] == .bool(false))
            // The windows are read from the buckets the evaluation rebuilds: nothing before it.
            let before = try await center.call("GET", "/api/coupon/stats/cost?window=day")
            #expect(before.json["orders"] == .integer(0))
            let evaluation = try await center.call("POST", "/api/admin/alerts/evaluate")
            #expect(evaluation.json["evaluated"] == .bool(true), "\(evaluation.json)")
            #expect(evaluation.json["fired"] == .integer(0))
            for window in ["1h", "24h", "day"] {
                let cost = try await center.call("GET", "/api/coupon/stats/cost?window=\(window)")
                #expect(cost.json["orders"] == .integer(3), "\(window): \(cost.json)")
                #expect(cost.json["orderAmount"] == .number("751.50"))
                #expect(cost.json["discount"] == .number("0.00"))
                #expect(cost.json["ratio"] == .number("0.00"))
                #expect(cost.json["state"] == .string("TOO_FEW_ORDERS"))
                #expect(cost.json["ceiling"] == .number("8.00"))
                #expect(cost.json["warningLevel"] == .number("7.20"))
            }
            // A second evaluation rebuilds the same minutes and counts nothing twice.
            _ = try await center.call("POST", "/api/admin/alerts/evaluate")
            let cost = try await center.call("GET", "/api/coupon/stats/cost")
            #expect(cost.json["orders"] == .integer(3))
            let profile = try await center.database.query("SELECT order_count FROM user_profile WHERE user_id = 'u-1'", [])
            #expect(try profile[0].decode(0, as: Int32.self) == 3)
            let alerts = try await center.call("GET", "/api/admin/alerts")
            #expect(alerts.json["alerts"] == .array([]))
            #expect(alerts.json["nextBefore"] == .null)
        }
    }
}

/// The evaluation's decisions without I/O: which alert rows one evaluation writes.
@Suite struct CostEvaluationPlanTests {
    static let settings = CostSettings(ceilingBasisPoints: 800, warningPercent: 90, minimumOrders: 200, evaluateSeconds: 60, timeZoneName: "UTC")

    static func scope(_ name: String, orders: Int64, discount: Int64, amount: Int64, ceiling: Int32? = nil) -> ScopeCost {
        let window = WindowCost(orders: orders, ratio: CostRatio(discountCents: discount, orderAmountCents: amount))
        return ScopeCost(scope: name, templateCeilingBasisPoints: ceiling, windows: [.lastHour: window, .last24Hours: window, .businessDay: window])
    }

    @Test func bothKindsFireAboveTheCeilingAndATemplateIsJudgedByItsOwn() {
        let plan = CostEvaluationPlan.changes(
            scopes: [
                Self.scope("platform", orders: 1_100, discount: 900_000, amount: 11_000_000),
                // 20% on too few orders: not judged.
                Self.scope("template:T2", orders: 100, discount: 200_000, amount: 1_000_000),
                // 9% against its own 10% ceiling: above its 9% warning level? Exactly 9% is not above.
                Self.scope("template:T3", orders: 300, discount: 27_000, amount: 300_000, ceiling: 1_000),
                // 9.5% against 10%: the warning only.
                Self.scope("template:T4", orders: 300, discount: 28_500, amount: 300_000, ceiling: 1_000),
            ], firing: [], settings: Self.settings)
        #expect(plan.judged == 3)
        #expect(
            plan.changes == [
                .fire(.costRatioWarning, scope: "platform", window: .lastHour, valueBasisPoints: 818, thresholdBasisPoints: 720),
                .fire(.costRatioCeiling, scope: "platform", window: .lastHour, valueBasisPoints: 818, thresholdBasisPoints: 800),
                .fire(.costRatioWarning, scope: "template:T4", window: .lastHour, valueBasisPoints: 950, thresholdBasisPoints: 900),
            ])
    }

    @Test func aFiringAlertIsKeptThenResolvedAndOneWithoutDataCountsAsCalm() {
        let calm = Self.scope("platform", orders: 1_600, discount: 900_000, amount: 16_000_000)
        let firing = [
            FiringAlert(alertId: 1, kind: .costRatioCeiling, scope: "platform", calmEvaluations: 0),
            FiringAlert(alertId: 2, kind: .costRatioWarning, scope: "platform", calmEvaluations: 1),
            FiringAlert(alertId: 3, kind: .costRatioCeiling, scope: "template:gone", calmEvaluations: 1),
        ]
        let plan = CostEvaluationPlan.changes(scopes: [calm], firing: firing, settings: Self.settings)
        #expect(
            plan.changes == [
                .resolve(alertId: 2, window: .lastHour, valueBasisPoints: 563, thresholdBasisPoints: 720),
                .keep(alertId: 1, window: .lastHour, valueBasisPoints: 563, thresholdBasisPoints: 800, calmEvaluations: 1),
                .resolve(alertId: 3, window: nil, valueBasisPoints: nil, thresholdBasisPoints: 800),
            ])
    }

    @Test func theWorstJudgedWindowIsTheOneAlertedOn() {
        let hour = WindowCost(orders: 50, ratio: CostRatio(discountCents: 5_000, orderAmountCents: 10_000))
        let day = WindowCost(orders: 500, ratio: CostRatio(discountCents: 4_500, orderAmountCents: 50_000))
        let business = WindowCost(orders: 300, ratio: CostRatio(discountCents: 3_000, orderAmountCents: 30_000))
        let scope = ScopeCost(
            scope: "platform", templateCeilingBasisPoints: nil, windows: [.lastHour: hour, .last24Hours: day, .businessDay: business])
        let worst = scope.worst(minimumOrders: 200)
        #expect(worst?.window == .businessDay)
        #expect(scope.worst(minimumOrders: 1_000) == nil)
    }
}
