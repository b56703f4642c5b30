import CouponClient
import Foundation
import Messaging
import Postgres
import TestSupport
import Testing
import Wire

/// The crashes and poisonings a hostile client found, each as a regression case against the real
/// executables, over HTTP and the wire. After each one every service must still answer, and
/// risk-control must still write its audit (the queue is not jammed).
@Suite(.serialized) struct HostileInputTests {
    /// Every service answers a ping; risk_audit grows when a claim is decided.
    static func everythingStillServes(_ cluster: TestCluster, _ client: ServiceClient, templateId: String, round: String) async throws {
        for url in [cluster.ruleEngineURL, cluster.riskControlURL] + cluster.couponCenterURLs {
            let peer = try ServiceClient(service: "peer", urls: [url], timeoutMilliseconds: 60_000)
            defer { peer.close() }
            _ = try await peer.call(PingRequest())
        }
        let database = try cluster.database.pool()
        defer { Task { await database.close() } }
        func audited() async throws -> Int64 {
            try await database.query("SELECT count(*)::bigint FROM risk_audit")[0].decode(0, as: Int64.self)
        }
        let before = try await audited()
        _ = try await client.call(ClaimRequest(userId: "after-\(round)", templateId: templateId, channel: "app", deviceId: "d-\(round)"))
        let patience = ContinuousClock.now + .seconds(120)
        while try await audited() <= before {
            #expect(ContinuousClock.now < patience, "risk_audit stopped growing after \(round)")
            if ContinuousClock.now >= patience { return }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    static func template(_ client: ServiceClient, discountCents: Int64 = 500, perUser: Int32 = 100) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: "hostile", type: .cash, thresholdCents: 0, discountCents: discountCents, startMilliseconds: now - 60_000,
                    endMilliseconds: now + 86_400_000, totalStock: 10_000, perUserLimit: perUser))
        ).templateId
    }

    @Test func bareEqualsInAQueryIsIgnoredNotACrash() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let templateId = try await Self.template(client)
            for path in ["/api/coupon/list?=", "/api/coupon/list?=&userId=u1", "/api/coupon/stats?=", "/api/coupon/stats?&=x&"] {
                let answer = try await cluster.http("GET", path)
                #expect(answer.code != nil, "\(path): \(answer.text)")
                #expect(answer.status == 200 || answer.status == 400, "\(path): \(answer.status)")
            }
            try await Self.everythingStillServes(cluster, client, templateId: templateId, round: "query")
        }
    }

    @Test func statsOfATemplateWithAHugeROIAnswer() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            // A 0.01 CASH coupon used on the largest order accepted (10^15 cents): ROI about 10^15, past where ×10^4 fits in Int64.
            let templateId = try await Self.template(client, discountCents: 1)
            let coupon = try await client.call(ClaimRequest(userId: "whale", templateId: templateId, channel: "app"))
            _ = try await client.call(UseRequest(orderId: "huge", couponId: coupon.couponId, amountCents: 1_000_000_000_000_000))
            for _ in 0..<2 {
                let answer = try await cluster.http("GET", "/api/coupon/stats?templateId=\(templateId)")
                #expect(answer.status == 200, "\(answer.text)")
                let stats = try await client.call(StatsRequest(templateId: templateId))
                #expect(stats.uses == 1)
            }
            try await Self.everythingStillServes(cluster, client, templateId: templateId, round: "roi")
        }
    }

    @Test func deadlinesNearTwoToTheSixtyThirdDoNotKillAService() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let templateId = try await Self.template(client)
            for url in [cluster.ruleEngineURL, cluster.riskControlURL, cluster.couponCenterURLs[0]] {
                for deadline: UInt64 in [0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, UInt64.max, 1] {
                    let raw = try RequestClient(configuration: .init(urls: [url], defaultTimeoutMilliseconds: 60_000))
                    defer { raw.close() }
                    let header = FrameHeader(kind: PingRequest.kind, requestId: 7, deadlineMilliseconds: deadline, bodyLength: 0)
                    let reply = try await raw.call(FrameCodec.encode(Frame(header: header, body: [])))
                    let decoded = try FrameCodec.decode(reply)
                    #expect(decoded.header.requestId == 7, "\(url) deadline \(deadline)")
                }
            }
            try await Self.everythingStillServes(cluster, client, templateId: templateId, round: "deadline")
        }
    }

    /// One letter and 4,000 combining marks: one grapheme, 4,001 code points, about 8 kB.
    static let combining = "a" + String(repeating: "\u{0301}", count: 4_000)

    @Test func oversizedIdsAreRefusedAloneAndTheBatchIsAnswered() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let templateId = try await Self.template(client)
            var issued = 0
            var hostile: [ErrorCode] = []
            try await withThrowingTaskGroup(of: ErrorCode?.self) { group in
                for user in 0..<40 {
                    group.addTask {
                        _ = try await client.call(ClaimRequest(userId: "n\(user)", templateId: templateId, channel: "app"))
                        return nil
                    }
                }
                for field in 0..<3 {
                    group.addTask {
                        let request =
                            switch field {
                            case 0: ClaimRequest(userId: Self.combining, templateId: templateId, channel: "app")
                            case 1: ClaimRequest(userId: "x", templateId: templateId, channel: "app", deviceId: Self.combining)
                            default: ClaimRequest(userId: "y", templateId: templateId, channel: "app", requestId: Self.combining)
                            }
                        do {
                            _ = try await client.call(request)
                            return .ok
                        } catch let error as ServiceError {
                            return error.code
                        }
                    }
                }
                for try await code in group {
                    if let code { hostile.append(code) } else { issued += 1 }
                }
            }
            #expect(issued == 40)
            #expect(hostile == [.invalidArgument, .invalidArgument, .invalidArgument])
            let name = try await cluster.http(
                "POST", "/api/coupon/template",
                json: #"{"name":"\#(String(repeating: "e\u{0301}", count: 60))","type":"CASH","threshold":0,"discount":1,"#
                    + #""startTime":"2026-01-01T00:00:00+08:00","endTime":"2036-01-01T00:00:00+08:00","totalStock":1}"#)
            #expect(name.status == 400, "\(name.text)")
            try await Self.everythingStillServes(cluster, client, templateId: templateId, round: "ids")
        }
    }

    @Test func redemptionsRefuseHostileDeviceAndIPAndTheAuditKeepsGrowing() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let templateId = try await Self.template(client)
            for (index, (device, ip)) in [
                ("bad\u{0}device", "1.2.3.4"), ("", "1.2.3.4"), (String(repeating: "d", count: 10_000), "ip"),
                ("dev", "1.2.3.4\u{7}"),
            ].enumerated() {
                let coupon = try await client.call(ClaimRequest(userId: "h\(index)", templateId: templateId, channel: "app"))
                let failure = await #expect(throws: ServiceError.self) {
                    _ = try await client.call(
                        UseRequest(orderId: "o\(index)", couponId: coupon.couponId, amountCents: 10_000, deviceId: device, ip: ip))
                }
                #expect(failure?.code == .invalidArgument)
                let over = try await cluster.http(
                    "POST", "/api/coupon/use",
                    json: JSONValue.object([
                        ("orderId", .string("p\(index)")), ("couponId", .string(coupon.couponId)), ("amount", .number("100")),
                        ("deviceId", .string(device)), ("ip", .string(ip)),
                    ]).serialized())
                #expect(over.status == 400, "\(over.text)")
                // Nothing changed: the coupon is still unused and can be used normally.
                let used = try await client.call(UseRequest(orderId: "ok\(index)", couponId: coupon.couponId, amountCents: 10_000))
                #expect(used.discountCents == 500)
            }
            try await Self.everythingStillServes(cluster, client, templateId: templateId, round: "device")
        }
    }
}
