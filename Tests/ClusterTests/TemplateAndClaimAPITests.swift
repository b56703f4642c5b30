import Foundation
import Postgres
import ServiceKit
import TestSupport
import Testing
import Wire

/// The coupon-center HTTP API for templates, claims, idempotent retries, tiers, points exchange and
/// the wallet, against the real executables: every answer's status and code, the fields it shows,
/// and — after every refusal — that PostgreSQL holds nothing more than before.
@Suite(.serialized) struct TemplateAndClaimAPITests {

    // MARK: Templates

    @Test func templatesAreCreatedShownValidatedPausedAndResumed() async throws {
        try await TestCluster.with { cluster in
            let pool = try cluster.database.pool()
            let start = Self.isoTime(-3600)
            let end = Self.isoTime(7 * 86_400)

            // CASH 满200减30.
            let cashId = try await Self.createTemplate(
                cluster,
                #"{"name":"满200减30","type":"CASH","threshold":200,"discount":30,"startTime":"\#(start)","endTime":"\#(end)","totalStock":100,"perUserLimit":2,"dailyLimit":50,"budget":3000,"channels":["app","web"],"segments":["NEW"],"stacking":"EXCLUSIVE"}"#
            )
            let cash = try await cluster.http("GET", "/api/coupon/template/\(cashId)")
            #expect(cash.status == 200 && cash.code == 0, "\(cash.text)")
            let shown = try #require(cash.json)
            #expect(shown["id"] == .string(cashId))
            #expect(shown["name"] == .string("满200减30"))
            #expect(shown["type"] == .string("CASH"))
            #expect(shown["status"] == .string("ACTIVE"))
            #expect(shown["threshold"] == .number("200.00"))
            #expect(shown["discount"] == .number("30.00"))
            #expect(shown["rate"] == .null)
            #expect(shown["maxDiscount"] == .null)
            #expect(shown["totalStock"] == .number("100"))
            #expect(shown["perUserLimit"] == .number("2"))
            #expect(shown["dailyLimit"] == .number("50"))
            #expect(shown["budget"] == .number("3000.00"))
            #expect(shown["level"] == .string("PLATFORM"))
            #expect(shown["stacking"] == .string("EXCLUSIVE"))
            #expect(shown["channels"] == .array([.string("app"), .string("web")]))
            #expect(shown["segments"] == .array([.string("NEW")]))
            #expect(shown["pointsCost"] == .number("0"))
            for (field, sent) in [("startTime", start), ("endTime", end)] {
                let text = Self.string(shown[field]) ?? ""
                #expect(text.hasSuffix("+08:00"), "\(field): \(text)")
                #expect(Self.parseTime(text) != nil && Self.parseTime(text) == Self.parseTime(sent), "\(field): sent \(sent), shown \(text)")
            }
            let counters = shown["counters"]
            #expect(counters?["issued"] == .number("0"))
            #expect(counters?["issuedToday"] == .number("0"))
            #expect(counters?["used"] == .number("0"))
            #expect(counters?["budgetSpent"] == .number("0.00"))
            #expect(counters?["remainingStock"] == .number("100"))

            // DISCOUNT 8折最高减50.
            let discountId = try await Self.createTemplate(
                cluster,
                #"{"name":"8折最高减50","type":"DISCOUNT","rate":0.8,"maxDiscount":50,"startTime":"\#(start)","endTime":"\#(end)","totalStock":10}"#)
            let discount = try await cluster.http("GET", "/api/coupon/template/\(discountId)")
            #expect(discount.json?["type"] == .string("DISCOUNT"))
            #expect(discount.json?["rate"] == .number("0.8"), "\(discount.text)")
            #expect(discount.json?["maxDiscount"] == .number("50.00"))
            #expect(discount.json?["discount"] == .number("0.00"))
            #expect(discount.json?["threshold"] == .number("0.00"))

            // FREE with a cap.
            let freeId = try await Self.createTemplate(
                cluster,
                #"{"name":"免单","type":"FREE","maxDiscount":20.5,"startTime":"\#(start)","endTime":"\#(end)","totalStock":5}"#)
            let free = try await cluster.http("GET", "/api/coupon/template/\(freeId)")
            #expect(free.json?["type"] == .string("FREE"))
            #expect(free.json?["maxDiscount"] == .number("20.50"), "\(free.text)")

            // EXCHANGE: bought with points.
            let exchangeId = try await Self.createTemplate(
                cluster,
                #"{"name":"积分兑10元","type":"EXCHANGE","pointsCost":1,"discount":10,"startTime":"\#(start)","endTime":"\#(end)","totalStock":5}"#)
            let exchange = try await cluster.http("GET", "/api/coupon/template/\(exchangeId)")
            #expect(exchange.json?["type"] == .string("EXCHANGE"))
            #expect(exchange.json?["pointsCost"] == .number("1"))
            #expect(exchange.json?["discount"] == .number("10.00"))

            // SQL metacharacters are data.
            let hostileName = "'; DROP TABLE coupon_template; --"
            let hostileId = try await Self.createTemplate(
                cluster,
                #"{"name":"'; DROP TABLE coupon_template; --","type":"CASH","discount":5,"startTime":"\#(start)","endTime":"\#(end)","totalStock":1}"#
            )
            let hostile = try await cluster.http("GET", "/api/coupon/template/\(hostileId)")
            #expect(hostile.json?["name"] == .string(hostileName), "\(hostile.text)")
            let storedName = try await pool.query("SELECT name FROM coupon_template WHERE id = $1", [hostileId])
            #expect(try storedName.first?.decode(0, as: String.self) == hostileName)

            let created: Int64 = 5
            #expect(try await Self.count(pool, "SELECT count(*) FROM coupon_template") == created)

            // Refusals: each names its field, and writes nothing.
            let window = #""startTime":"\#(start)","endTime":"\#(end)""#
            let refused: [(String, String, Int, String)] = [
                ("rate 1.2", #"{"name":"d","type":"DISCOUNT","rate":1.2,\#(window),"totalStock":1}"#, 1005, "rate"),
                ("rate 0", #"{"name":"d","type":"DISCOUNT","rate":0,\#(window),"totalStock":1}"#, 1005, "rate"),
                ("rate missing", #"{"name":"d","type":"DISCOUNT",\#(window),"totalStock":1}"#, 1005, "rate"),
                (
                    "discount above threshold", #"{"name":"c","type":"CASH","threshold":200,"discount":250,\#(window),"totalStock":1}"#, 1005,
                    "discount"
                ),
                (
                    "end before start", #"{"name":"c","type":"CASH","discount":5,"startTime":"\#(end)","endTime":"\#(start)","totalStock":1}"#, 1005,
                    "endTime"
                ),
                ("negative stock", #"{"name":"c","type":"CASH","discount":5,\#(window),"totalStock":-1}"#, 1005, "totalStock"),
                ("unknown type", #"{"name":"c","type":"COUPONX","discount":5,\#(window),"totalStock":1}"#, 1005, "type"),
                ("unknown level", #"{"name":"c","type":"CASH","discount":5,"level":"GALAXY",\#(window),"totalStock":1}"#, 1005, "level"),
                ("unknown field", #"{"name":"c","type":"CASH","discount":5,"foo":1,\#(window),"totalStock":1}"#, 1005, "foo"),
                ("stock as string", #"{"name":"c","type":"CASH","discount":5,\#(window),"totalStock":"10"}"#, 1005, "totalStock"),
                ("missing name", #"{"type":"CASH","discount":5,\#(window),"totalStock":1}"#, 1005, "name"),
                ("blank name", #"{"name":"   ","type":"CASH","discount":5,\#(window),"totalStock":1}"#, 1005, "name"),
                (
                    "time without offset",
                    #"{"name":"c","type":"CASH","discount":5,"startTime":"2026-01-01T00:00:00","endTime":"\#(end)","totalStock":1}"#, 1005,
                    "startTime"
                ),
                ("three decimals", #"{"name":"c","type":"CASH","threshold":199.999,"discount":5,\#(window),"totalStock":1}"#, 1007, "threshold"),
                ("negative money", #"{"name":"c","type":"CASH","threshold":-5,"discount":5,\#(window),"totalStock":1}"#, 1007, "threshold"),
                ("money as string", #"{"name":"c","type":"CASH","threshold":"200","discount":5,\#(window),"totalStock":1}"#, 1007, "threshold"),
                (
                    "name of 101 characters",
                    #"{"name":"\#(String(repeating: "n", count: 101))","type":"CASH","discount":5,\#(window),"totalStock":1}"#, 1005, "name"
                ),
                (
                    "DISCOUNT budget without cap", #"{"name":"d","type":"DISCOUNT","rate":0.9,"budget":100,\#(window),"totalStock":1}"#, 1005,
                    "maxDiscount"
                ),
                (
                    "money too large", #"{"name":"c","type":"CASH","threshold":100000000000000,"discount":5,\#(window),"totalStock":1}"#, 1007,
                    "threshold"
                ),
                ("duplicate key", #"{"name":"c","name":"d","type":"CASH","discount":5,\#(window),"totalStock":1}"#, 1006, ""),
                ("truncated JSON", #"{"name":"#, 1006, ""),
                ("array body", "[1,2]", 1006, ""),
                ("empty body", "", 1006, ""),
            ]
            for (label, body, code, field) in refused {
                let answer = try await cluster.http("POST", "/api/coupon/template", json: body)
                Self.expectRefusal(answer, status: 400, code: code, naming: field, label)
                #expect(try await Self.count(pool, "SELECT count(*) FROM coupon_template") == created, "\(label) wrote a template")
            }

            // Unknown ids, paths and methods.
            Self.expectRefusal(try await cluster.http("GET", "/api/coupon/template/T_no_such_template"), status: 404, code: 1100, "unknown template")
            Self.expectRefusal(
                try await cluster.http("POST", "/api/coupon/template/T_no_such_template/pause"), status: 404, code: 1100, "pause unknown")
            Self.expectRefusal(
                try await cluster.http("POST", "/api/coupon/template/T_no_such_template/resume"), status: 404, code: 1100, "resume unknown")
            Self.expectRefusal(try await cluster.http("GET", "/api/coupon/nothing-here"), status: 404, code: 1008, "unknown path")
            Self.expectRefusal(try await cluster.http("DELETE", "/api/coupon/template"), status: 405, code: 1009, "wrong method")

            // Pause and resume.
            let paused = try await cluster.http("POST", "/api/coupon/template/\(cashId)/pause")
            #expect(paused.status == 200 && paused.code == 0, "\(paused.text)")
            #expect(paused.json?["status"] == .string("PAUSED"))
            #expect(try await cluster.http("GET", "/api/coupon/template/\(cashId)").json?["status"] == .string("PAUSED"))
            let resumed = try await cluster.http("POST", "/api/coupon/template/\(cashId)/resume")
            #expect(resumed.status == 200 && resumed.code == 0, "\(resumed.text)")
            #expect(resumed.json?["status"] == .string("ACTIVE"))
            #expect(try await cluster.http("GET", "/api/coupon/template/\(cashId)").json?["status"] == .string("ACTIVE"))

            // The list shows all five.
            let list = try await cluster.http("GET", "/api/coupon/template")
            if case .array(let templates)? = list.json?["templates"] {
                #expect(Set(templates.compactMap { Self.string($0["id"]) }) == [cashId, discountId, freeId, exchangeId, hostileId])
            } else {
                Issue.record("template list: \(list.text)")
            }
            #expect(try await Self.count(pool, "SELECT count(*) FROM coupon_template") == created)
            try await Self.expectLedgerMatches(pool, coupons: 0)
            await pool.close()
        }
    }

    // MARK: Claims

    @Test func claimsSucceedOrAreRefusedEachWithItsOwnCode() async throws {
        try await TestCluster.with { cluster in
            let pool = try cluster.database.pool()
            let start = Self.isoTime(-3600)
            let end = Self.isoTime(7 * 86_400)
            func cash(_ name: String, _ extra: String = "", from: String? = nil, until: String? = nil, stock: Int = 100) async throws -> String {
                try await Self.createTemplate(
                    cluster,
                    #"{"name":"\#(name)","type":"CASH","threshold":100,"discount":30,"startTime":"\#(from ?? start)","endTime":"\#(until ?? end)","totalStock":\#(stock)\#(extra)}"#
                )
            }
            var issued: Int64 = 0

            // Success: couponType or templateId; distinct ids; expiry validHours after the claim.
            let open = try await cash("open", #","perUserLimit":5,"validHours":24"#)
            let before = Date()
            let first = try await Self.claim(cluster, "u1", open)
            let second = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"u1","templateId":"\#(open)","channel":"app"}"#)
            let after = Date()
            for answer in [first, second] {
                #expect(answer.status == 200 && answer.code == 0, "\(answer.text)")
                let couponId = Self.string(answer.json?["couponId"]) ?? ""
                #expect(couponId.hasPrefix("C") && couponId.count >= 20, "couponId \(couponId)")
                let expires = Self.string(answer.json?["expiresAt"]) ?? ""
                #expect(expires.hasSuffix("+08:00"), "expiresAt \(expires)")
                if let expiry = Self.parseTime(expires) {
                    // 24 h after a claim made between `before` and `after` (whole seconds on the wire).
                    let claimedAt = expiry.addingTimeInterval(-24 * 3600)
                    #expect(
                        claimedAt >= before.addingTimeInterval(-1) && claimedAt <= after.addingTimeInterval(1),
                        "expiresAt \(expires) is not 24 h after the claim")
                } else {
                    Issue.record("expiresAt is not ISO 8601: \(expires)")
                }
                #expect(answer.json?["templateId"] == .string(open))
                #expect(answer.json?["threshold"] == .number("100.00"))
                #expect(answer.json?["discount"] == .number("30.00"))
            }
            issued += 2
            #expect(Self.string(first.json?["couponId"]) != Self.string(second.json?["couponId"]))
            #expect(
                try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE user_id = 'u1' AND template_id = $1 AND status = 'UNUSED'", [open])
                    == 2)

            // Paused → 409/1204; resumed → claimable.
            let paused = try await cash("paused")
            _ = try await cluster.http("POST", "/api/coupon/template/\(paused)/pause")
            Self.expectRefusal(try await Self.claim(cluster, "u1", paused), status: 409, code: 1204, "paused")
            _ = try await cluster.http("POST", "/api/coupon/template/\(paused)/resume")
            Self.expectSuccess(try await Self.claim(cluster, "u1", paused), "resumed")
            issued += 1

            // Claim window.
            let future = try await cash("future", from: Self.isoTime(86_400), until: Self.isoTime(2 * 86_400))
            Self.expectRefusal(try await Self.claim(cluster, "u1", future), status: 409, code: 1205, "not started")
            let past = try await cash("past", from: Self.isoTime(-2 * 86_400), until: Self.isoTime(-86_400))
            Self.expectRefusal(try await Self.claim(cluster, "u1", past), status: 409, code: 1206, "ended")

            // Channels.
            let appOnly = try await cash("app only", #","channels":["app"]"#)
            Self.expectRefusal(try await Self.claim(cluster, "u1", appOnly, channel: "web"), status: 403, code: 1301, "channel web")
            Self.expectSuccess(try await Self.claim(cluster, "u1", appOnly, channel: "app"), "channel app")
            issued += 1

            // Segments: a tag set by the operator lets the user in.
            let vip = try await cash("vip", #","segments":["VIP"]"#)
            Self.expectRefusal(try await Self.claim(cluster, "plain", vip), status: 403, code: 1302, "not VIP")
            let profile = try await cluster.http("POST", "/api/user/profile", json: #"{"userId":"plain","tags":["VIP"]}"#)
            #expect(profile.status == 200 && profile.code == 0, "\(profile.text)")
            #expect(profile.json?["tags"] == .array([.string("VIP")]))
            if case .array(let segments)? = profile.json?["segments"] {
                #expect(segments.contains(.string("VIP")) && segments.contains(.string("NEW")), "\(profile.text)")
            }
            Self.expectSuccess(try await Self.claim(cluster, "plain", vip), "VIP")
            issued += 1

            // Stock.
            let scarce = try await cash("stock 2", stock: 2)
            Self.expectSuccess(try await Self.claim(cluster, "s1", scarce), "stock 1/2")
            Self.expectSuccess(try await Self.claim(cluster, "s2", scarce), "stock 2/2")
            Self.expectRefusal(try await Self.claim(cluster, "s3", scarce), status: 409, code: 1200, "sold out")
            issued += 2
            let scarceView = try await cluster.http("GET", "/api/coupon/template/\(scarce)")
            #expect(scarceView.json?["counters"]?["issued"] == .number("2"), "\(scarceView.text)")
            #expect(scarceView.json?["counters"]?["issuedToday"] == .number("2"))
            #expect(scarceView.json?["counters"]?["remainingStock"] == .number("0"))

            // Per-user limit.
            let once = try await cash("once", #","perUserLimit":1"#)
            Self.expectSuccess(try await Self.claim(cluster, "p1", once), "first of one")
            Self.expectRefusal(try await Self.claim(cluster, "p1", once), status: 409, code: 1201, "second of one")
            Self.expectSuccess(try await Self.claim(cluster, "p2", once), "another user")
            issued += 2

            // Daily limit.
            let daily = try await cash("daily 2", #","dailyLimit":2"#)
            Self.expectSuccess(try await Self.claim(cluster, "d1", daily), "daily 1/2")
            Self.expectSuccess(try await Self.claim(cluster, "d2", daily), "daily 2/2")
            Self.expectRefusal(try await Self.claim(cluster, "d3", daily), status: 409, code: 1202, "daily limit")
            issued += 2

            // Budget 50 with 30 off each: the second would spend 60.
            let budget = try await cash("budget 50", #","budget":50"#)
            Self.expectSuccess(try await Self.claim(cluster, "b1", budget), "budget 30/50")
            Self.expectRefusal(try await Self.claim(cluster, "b2", budget), status: 409, code: 1203, "budget")
            issued += 1
            let budgetView = try await cluster.http("GET", "/api/coupon/template/\(budget)")
            #expect(budgetView.json?["counters"]?["budgetSpent"] == .number("30.00"), "\(budgetView.text)")

            // Unknown template.
            Self.expectRefusal(try await Self.claim(cluster, "u1", "T_no_such_template"), status: 404, code: 1100, "unknown template")

            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon") == issued)

            // Bad input: 400, nothing written.
            let longUser = String(repeating: "u", count: 65)
            let badInput: [(String, String, Int, String)] = [
                ("missing userId", #"{"couponType":"\#(open)","channel":"app"}"#, 1005, "userId"),
                ("userId of 65 characters", #"{"userId":"\#(longUser)","couponType":"\#(open)","channel":"app"}"#, 1005, "userId"),
                ("userId with a newline", #"{"userId":"u\nx","couponType":"\#(open)","channel":"app"}"#, 1005, "userId"),
                ("empty userId", #"{"userId":"","couponType":"\#(open)","channel":"app"}"#, 1005, "userId"),
                ("channel as a number", #"{"userId":"u9","couponType":"\#(open)","channel":7}"#, 1005, "channel"),
                ("missing channel", #"{"userId":"u9","couponType":"\#(open)"}"#, 1005, "channel"),
                ("missing template", #"{"userId":"u9","channel":"app"}"#, 1005, "couponType"),
                ("two different templates", #"{"userId":"u9","couponType":"\#(open)","templateId":"\#(once)","channel":"app"}"#, 1005, "templateId"),
                ("unknown field", #"{"userId":"u9","couponType":"\#(open)","channel":"app","amount":5}"#, 1005, "amount"),
                ("malformed JSON", #"{"userId":"u9","#, 1006, ""),
            ]
            for (label, body, code, field) in badInput {
                let answer = try await cluster.http("POST", "/api/coupon/issue", json: body)
                Self.expectRefusal(answer, status: 400, code: code, naming: field, label)
                #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon") == issued, "\(label) wrote a coupon")
            }
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE user_id = 'u9'") == 0)
            try await Self.expectLedgerMatches(pool, coupons: issued)
            await pool.close()
        }
    }

    // MARK: Idempotency and tiers

    @Test func retriesReturnTheFirstAnswerAndTiersSetTheFaceValue() async throws {
        try await TestCluster.with { cluster in
            let pool = try cluster.database.pool()
            let start = Self.isoTime(-3600)
            let end = Self.isoTime(7 * 86_400)

            // The per-user limit would allow a second coupon: only the request id prevents it.
            let template = try await Self.createTemplate(
                cluster,
                #"{"name":"retry","type":"CASH","threshold":50,"discount":5,"startTime":"\#(start)","endTime":"\#(end)","totalStock":100,"perUserLimit":3}"#
            )
            let first = try await Self.claim(cluster, "r1", template, requestId: "req-1")
            Self.expectSuccess(first, "first try")
            let retry = try await Self.claim(cluster, "r1", template, requestId: "req-1")
            Self.expectSuccess(retry, "retry")
            #expect(Self.string(first.json?["couponId"]) != nil)
            #expect(Self.string(retry.json?["couponId"]) == Self.string(first.json?["couponId"]))
            #expect(retry.json?["expiresAt"] == first.json?["expiresAt"])
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE template_id = $1", [template]) == 1)
            Self.expectRefusal(
                try await Self.claim(cluster, "r1", template, channel: "web", requestId: "req-1"), status: 409, code: 1211, "other channel")
            Self.expectRefusal(try await Self.claim(cluster, "r2", template, requestId: "req-1"), status: 409, code: 1211, "other user")
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE template_id = $1", [template]) == 1)
            #expect(try await Self.count(pool, "SELECT count(*) FROM idempotency_record WHERE request_id = 'req-1'") == 1)
            // The same request naming the template as templateId is the same request.
            let asTemplateId = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"r1","templateId":"\#(template)","channel":"app","requestId":"req-1"}"#)
            Self.expectSuccess(asTemplateId, "retry with templateId")
            #expect(Self.string(asTemplateId.json?["couponId"]) == Self.string(first.json?["couponId"]))
            // A refusal is not remembered: once the template is resumed, the same request id succeeds.
            _ = try await cluster.http("POST", "/api/coupon/template/\(template)/pause")
            Self.expectRefusal(try await Self.claim(cluster, "r3", template, requestId: "req-3"), status: 409, code: 1204, "paused with id")
            _ = try await cluster.http("POST", "/api/coupon/template/\(template)/resume")
            Self.expectSuccess(try await Self.claim(cluster, "r3", template, requestId: "req-3"), "resumed with id")
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE template_id = $1", [template]) == 2)
            // A new request id is a new claim.
            let fresh = try await Self.claim(cluster, "r1", template, requestId: "req-2")
            Self.expectSuccess(fresh, "new request id")
            #expect(Self.string(fresh.json?["couponId"]) != Self.string(first.json?["couponId"]))
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE template_id = $1", [template]) == 3)

            // Tiers (Meituan): frequent users 满30减5, infrequent 满20减8, everyone else 满20减3.
            let tiered = try await Self.createTemplate(
                cluster,
                #"{"name":"分层券","type":"CASH","threshold":20,"discount":3,"tiers":[{"segment":"HIGH_FREQ","threshold":30,"discount":5},{"segment":"LOW_FREQ","threshold":20,"discount":8}],"startTime":"\#(start)","endTime":"\#(end)","totalStock":100}"#
            )
            let shown = try await cluster.http("GET", "/api/coupon/template/\(tiered)")
            if case .array(let tiers)? = shown.json?["tiers"] {
                #expect(tiers.count == 2)
                #expect(tiers.first?["segment"] == .string("HIGH_FREQ"))
                #expect(tiers.first?["threshold"] == .number("30.00"))
                #expect(tiers.last?["discount"] == .number("8.00"))
            } else {
                Issue.record("tiers not shown: \(shown.text)")
            }
            try await pool.execute("INSERT INTO user_profile (user_id, order_count) VALUES ('hf', 5), ('lf', 1)")
            try await pool.execute(
                "INSERT INTO user_order (user_id, order_id, amount_cents) SELECT 'hf', 'hf-' || g, 5000 FROM generate_series(1, 5) g")
            try await pool.execute("INSERT INTO user_order (user_id, order_id, amount_cents) VALUES ('lf', 'lf-1', 5000)")

            for (user, threshold, discount, segment, thresholdCents, discountCents) in [
                ("newbie", "20.00", "3.00", nil, 2000, 300), ("hf", "30.00", "5.00", "HIGH_FREQ", 3000, 500),
                ("lf", "20.00", "8.00", "LOW_FREQ", 2000, 800),
            ] as [(String, String, String, String?, Int64, Int64)] {
                let answer = try await Self.claim(cluster, user, tiered)
                Self.expectSuccess(answer, "tier for \(user)")
                #expect(answer.json?["threshold"] == .number(threshold), "\(user): \(answer.text)")
                #expect(answer.json?["discount"] == .number(discount), "\(user): \(answer.text)")
                let rows = try await pool.query(
                    "SELECT threshold_cents, discount_cents, segment FROM user_coupon WHERE user_id = $1 AND template_id = $2", [user, tiered])
                #expect(rows.count == 1)
                if let row = rows.first {
                    #expect(try row.decode(0, as: Int64.self) == thresholdCents)
                    #expect(try row.decode(1, as: Int64.self) == discountCents)
                    #expect(try row.decode(2, as: String?.self) == segment)
                }
            }
            let tieredView = try await cluster.http("GET", "/api/coupon/template/\(tiered)")
            #expect(tieredView.json?["counters"]?["issued"] == .number("3"))
            // Budget spent is the face value each user got: 3 + 5 + 8.
            #expect(tieredView.json?["counters"]?["budgetSpent"] == .number("16.00"), "\(tieredView.text)")
            try await Self.expectLedgerMatches(pool, coupons: 6)
            await pool.close()
        }
    }

    // MARK: Points and wallet

    @Test func pointsBuyExchangeCouponsAndTheWalletShowsEveryCoupon() async throws {
        try await TestCluster.with { cluster in
            let pool = try cluster.database.pool()
            let start = Self.isoTime(-3600)
            let end = Self.isoTime(7 * 86_400)
            func points(_ user: String) async throws -> Int64? {
                try await pool.query("SELECT points FROM user_points WHERE user_id = $1", [user]).first?.decode(0, as: Int64.self)
            }

            let grant = try await cluster.http("POST", "/api/points/grant", json: #"{"userId":"p1","points":3}"#)
            #expect(grant.status == 200 && grant.code == 0, "\(grant.text)")
            #expect(grant.json?["points"] == .number("3"))
            #expect(try await points("p1") == 3)
            for (label, body) in [
                ("zero points", #"{"userId":"p1","points":0}"#), ("negative points", #"{"userId":"p1","points":-4}"#),
                ("fractional points", #"{"userId":"p1","points":1.5}"#), ("points as string", #"{"userId":"p1","points":"3"}"#),
            ] {
                Self.expectRefusal(try await cluster.http("POST", "/api/points/grant", json: body), status: 400, code: 1005, naming: "points", label)
            }
            #expect(try await points("p1") == 3)

            let exchangeTemplate = try await Self.createTemplate(
                cluster,
                #"{"name":"积分兑换券","type":"EXCHANGE","pointsCost":2,"discount":10,"startTime":"\#(start)","endTime":"\#(end)","totalStock":100,"perUserLimit":5}"#
            )
            let cashTemplate = try await Self.createTemplate(
                cluster,
                #"{"name":"钱包券","type":"CASH","threshold":100,"discount":10,"startTime":"\#(start)","endTime":"\#(end)","totalStock":100,"perUserLimit":2}"#
            )
            func exchange(_ user: String, _ template: String, _ requestId: String) async throws -> HTTPAnswer {
                try await cluster.http(
                    "POST", "/api/coupon/exchange", json: #"{"userId":"\#(user)","templateId":"\#(template)","requestId":"\#(requestId)"}"#)
            }

            let bought = try await exchange("p1", exchangeTemplate, "x-1")
            Self.expectSuccess(bought, "exchange")
            let boughtId = Self.string(bought.json?["couponId"])
            #expect(boughtId?.hasPrefix("C") == true)
            #expect(bought.json?["pointsLeft"] == .number("1"), "\(bought.text)")
            #expect(try await points("p1") == 1)

            Self.expectRefusal(try await exchange("p1", exchangeTemplate, "x-2"), status: 409, code: 1212, "not enough points")
            #expect(try await points("p1") == 1)
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE user_id = 'p1'") == 1)

            Self.expectRefusal(try await exchange("p0", exchangeTemplate, "x-0"), status: 409, code: 1212, "no points at all")
            #expect(try await points("p0") ?? 0 == 0)
            Self.expectRefusal(try await exchange("p1", cashTemplate, "x-3"), status: 409, code: 1216, "exchange of a CASH template")
            Self.expectRefusal(try await Self.claim(cluster, "p1", exchangeTemplate), status: 409, code: 1216, "free claim of an EXCHANGE template")
            Self.expectRefusal(
                try await cluster.http("POST", "/api/coupon/exchange", json: #"{"userId":"p1","templateId":"\#(exchangeTemplate)"}"#),
                status: 400, code: 1005, naming: "requestId", "exchange without requestId")
            #expect(try await points("p1") == 1)

            let again = try await exchange("p1", exchangeTemplate, "x-1")
            Self.expectSuccess(again, "retried exchange")
            #expect(Self.string(again.json?["couponId"]) == boughtId)
            #expect(again.json?["pointsLeft"] == .number("1"), "a retry should return the first answer, pointsLeft included: \(again.text)")
            #expect(try await points("p1") == 1)
            #expect(try await Self.count(pool, "SELECT count(*) FROM user_coupon WHERE user_id = 'p1'") == 1)
            #expect(try await Self.count(pool, "SELECT count(*) FROM points_ledger WHERE user_id = 'p1'") == 2)
            #expect(try await Self.count(pool, "SELECT coalesce(sum(delta), 0)::bigint FROM points_ledger WHERE user_id = 'p1'") == 1)

            // Wallet.
            let firstClaim = try await Self.claim(cluster, "w1", cashTemplate)
            let secondClaim = try await Self.claim(cluster, "w1", cashTemplate)
            Self.expectSuccess(firstClaim, "wallet claim 1")
            Self.expectSuccess(secondClaim, "wallet claim 2")
            let claimedIds = Set([firstClaim, secondClaim].compactMap { Self.string($0.json?["couponId"]) })

            let wallet = try await cluster.http("GET", "/api/coupon/list?userId=w1")
            #expect(wallet.status == 200 && wallet.code == 0, "\(wallet.text)")
            let coupons = Self.coupons(wallet)
            #expect(coupons.count == 2, "\(wallet.text)")
            #expect(Set(coupons.compactMap { Self.string($0["couponId"]) }) == claimedIds)
            for coupon in coupons {
                #expect(coupon["templateId"] == .string(cashTemplate))
                #expect(coupon["templateName"] == .string("钱包券"))
                #expect(coupon["type"] == .string("CASH"))
                #expect(coupon["status"] == .string("UNUSED"))
                #expect(coupon["threshold"] == .number("100.00"))
                #expect(coupon["discount"] == .number("10.00"))
                let expires = Self.string(coupon["expiresAt"]) ?? ""
                #expect(Self.parseTime(expires) != nil && Self.parseTime(expires) == Self.parseTime(end), "expiresAt \(expires), template end \(end)")
            }
            #expect(Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=w1&status=USED")).isEmpty)
            #expect(Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=w1&status=UNUSED")).count == 2)
            #expect(Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=nobody")).isEmpty)
            Self.expectRefusal(
                try await cluster.http("GET", "/api/coupon/list?userId=w1&status=BOGUS"), status: 400, code: 1005, naming: "status", "bogus status")
            Self.expectRefusal(try await cluster.http("GET", "/api/coupon/list"), status: 400, code: 1005, naming: "userId", "no userId")
            Self.expectRefusal(try await cluster.http("GET", "/api/coupon/list?userId="), status: 400, code: 1005, naming: "userId", "empty userId")

            let exchanged = Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=p1"))
            #expect(exchanged.count == 1)
            #expect(exchanged.first?["type"] == .string("EXCHANGE"))
            #expect(exchanged.first?["discount"] == .number("10.00"))
            #expect(exchanged.first?["templateName"] == .string("积分兑换券"))

            // Past its expiry, an UNUSED coupon shows as EXPIRED.
            let expiring = try #require(Self.string(firstClaim.json?["couponId"]))
            let updated = try await pool.execute(
                "UPDATE user_coupon SET expires_at = now() - interval '1 hour', claimed_at = now() - interval '2 hours' WHERE id = $1", [expiring])
            #expect(updated == 1)
            let afterExpiry = Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=w1"))
            #expect(afterExpiry.count == 2)
            #expect(afterExpiry.first { $0["couponId"] == .string(expiring) }?["status"] == .string("EXPIRED"))
            #expect(afterExpiry.first { $0["couponId"] != .string(expiring) }?["status"] == .string("UNUSED"))
            let expired = Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=w1&status=EXPIRED"))
            #expect(expired.map { $0["couponId"] } == [.string(expiring)])
            let unused = Self.coupons(try await cluster.http("GET", "/api/coupon/list?userId=w1&status=UNUSED"))
            #expect(unused.count == 1 && unused.first?["couponId"] != .string(expiring))

            try await Self.expectLedgerMatches(pool, coupons: 3)

            await pool.close()
        }
    }

    // MARK: Helpers

    /// Now plus `seconds`, whole seconds, as ISO 8601 in +08:00.
    static func isoTime(_ seconds: TimeInterval) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        return formatter.string(from: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + seconds).rounded(.down)))
    }

    /// ISO 8601 with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    static func string(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value else { return nil }
        return text
    }

    static func coupons(_ answer: HTTPAnswer) -> [JSONValue] {
        guard case .array(let coupons)? = answer.json?["coupons"] else {
            Issue.record("no coupons in \(answer.status) \(answer.text)")
            return []
        }
        return coupons
    }

    static func count(_ pool: PostgresPool, _ sql: SQL, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int64 {
        try await pool.query(sql, parameters)[0].decode(0, as: Int64.self)
    }

    static func createTemplate(_ cluster: TestCluster, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let answer = try await cluster.http("POST", "/api/coupon/template", json: json)
        #expect(answer.status == 200, "create: \(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.code == 0, "create: \(answer.text)", sourceLocation: sourceLocation)
        let id = try #require(string(answer.json?["templateId"]), "no templateId in \(answer.text)", sourceLocation: sourceLocation)
        #expect(!id.isEmpty, sourceLocation: sourceLocation)
        return id
    }

    static func claim(
        _ cluster: TestCluster, _ user: String, _ template: String, channel: String = "app", requestId: String? = nil
    ) async throws -> HTTPAnswer {
        let request = requestId.map { #","requestId":"\#($0)""# } ?? ""
        return try await cluster.http(
            "POST", "/api/coupon/issue", json: #"{"userId":"\#(user)","couponType":"\#(template)","channel":"\#(channel)"\#(request)}"#)
    }

    static func expectSuccess(_ answer: HTTPAnswer, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == 200 && answer.code == 0, "\(label): \(answer.status) \(answer.text)", sourceLocation: sourceLocation)
        #expect(string(answer.json?["couponId"])?.hasPrefix("C") == true, "\(label): \(answer.text)", sourceLocation: sourceLocation)
    }

    static let errorNames: [Int: String] = [
        1005: "INVALID_ARGUMENT", 1006: "MALFORMED_JSON", 1007: "INVALID_MONEY", 1008: "UNKNOWN_PATH", 1009: "METHOD_NOT_ALLOWED",
        1100: "TEMPLATE_NOT_FOUND", 1200: "SOLD_OUT", 1201: "PER_USER_LIMIT", 1202: "DAILY_LIMIT", 1203: "BUDGET_EXHAUSTED",
        1204: "TEMPLATE_PAUSED", 1205: "NOT_STARTED", 1206: "ENDED", 1211: "REQUEST_ID_REUSED", 1212: "INSUFFICIENT_POINTS",
        1216: "NOT_EXCHANGEABLE", 1301: "CHANNEL_NOT_ALLOWED", 1302: "SEGMENT_NOT_ALLOWED",
    ]

    /// A refusal: its HTTP status, code, the code's name in `error`, and a `message` naming the field.
    static func expectRefusal(
        _ answer: HTTPAnswer, status: Int, code: Int, naming field: String = "", _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(answer.status == status, "\(label): expected HTTP \(status), got \(answer.status) \(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.code == code, "\(label): expected code \(code), got \(answer.text)", sourceLocation: sourceLocation)
        if let name = errorNames[code] {
            #expect(answer.json?["error"] == .string(name), "\(label): \(answer.text)", sourceLocation: sourceLocation)
        }
        let message = string(answer.json?["message"]) ?? ""
        #expect(!message.isEmpty, "\(label): no message in \(answer.text)", sourceLocation: sourceLocation)
        if !field.isEmpty {
            #expect(message.contains(field), "\(label): message does not name \(field): \(message)", sourceLocation: sourceLocation)
        }
    }

    /// Every coupon has its ISSUED ledger row and is counted in its template's counter.
    static func expectLedgerMatches(_ pool: PostgresPool, coupons expected: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let ledger = try await count(pool, "SELECT count(*) FROM coupon_ledger WHERE event = 'ISSUED'")
        let coupons = try await count(pool, "SELECT count(*) FROM user_coupon")
        let counters = try await count(pool, "SELECT coalesce(sum(issued_count), 0)::bigint FROM coupon_template")
        #expect(
            ledger == coupons && coupons == counters, "ledger \(ledger), coupons \(coupons), counters \(counters)", sourceLocation: sourceLocation)
        #expect(coupons == expected, "expected \(expected) coupons, found \(coupons)", sourceLocation: sourceLocation)
    }
}
