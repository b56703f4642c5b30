import Foundation
import Testing

@testable import Wire

/// PROTOCOL.md shows, for one request and one reply of every message kind, the values and the exact
/// bytes of the body; and two whole frames. This test builds the same values, encodes them and
/// compares with the blocks parsed out of PROTOCOL.md itself, so the document and the code cannot
/// drift: reordering two fields of a message, or changing a field's type, fails here.
///
/// A golden block in PROTOCOL.md is a heading `#### 0x0110 claim request` (kind number, kind name,
/// `request` or `reply`) or `#### frame: <name>`, followed by a ```values fence (the values, as
/// `GoldenRendering` writes them; whitespace outside strings is not significant) and a ```hex fence
/// (bytes as hex pairs; whitespace is not significant).
@Suite struct GoldenBytesTests {
    static let protocolPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Shared/Wire/PROTOCOL.md").path

    struct Block {
        var heading: String
        var values: String
        var hex: String
        var line: Int
    }

    /// Every golden block of the document, by heading; a heading that appears twice is reported.
    static func blocks() throws -> (blocks: [String: Block], duplicates: [String]) {
        let text = try String(contentsOfFile: protocolPath, encoding: .utf8)
        var blocks: [String: Block] = [:]
        var duplicates: [String] = []
        var current: Block?
        var fence: String?
        var fenceLines: [String] = []
        func finish() {
            guard let block = current else { return }
            if blocks[block.heading] != nil { duplicates.append(block.heading) }
            blocks[block.heading] = block
            current = nil
        }
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(line)
            if let open = fence {
                if line.hasPrefix("```") {
                    if open == "values" { current?.values = fenceLines.joined(separator: "\n") }
                    if open == "hex" { current?.hex = fenceLines.joined(separator: "\n") }
                    fence = nil
                    fenceLines = []
                } else {
                    fenceLines.append(line)
                }
                continue
            }
            if line.hasPrefix("#") {
                finish()
                if line.hasPrefix("#### ") {
                    let heading = String(line.dropFirst(5))
                    if isGoldenHeading(heading) { current = Block(heading: heading, values: "", hex: "", line: number + 1) }
                }
            } else if line.hasPrefix("```") && current != nil {
                fence = String(line.dropFirst(3))
            }
        }
        finish()
        return (blocks, duplicates)
    }

    static func isGoldenHeading(_ heading: String) -> Bool {
        if heading.hasPrefix("frame: ") { return true }
        let words = heading.split(separator: " ")
        return words.count == 3 && words[0].hasPrefix("0x") && (words[2] == "request" || words[2] == "reply")
    }

    static func heading(_ kind: MessageKind, _ side: String) -> String {
        let number = String(kind.rawValue, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - number.count) + number + " \(kind.name) \(side)"
    }

    /// Bytes from hex text, nil when it is not an even number of hex digits (whitespace aside).
    static func parseHex(_ text: String) -> [UInt8]? {
        let digits = text.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }.map(Character.init)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(digits[index...index + 1]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    static func hexText(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 16).map { start in
            bytes[start..<min(start + 16, bytes.count)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// What the block should say, to copy into PROTOCOL.md when a message is added.
    static func expectedBlock(_ heading: String, values: String, bytes: [UInt8]) -> String {
        "#### \(heading)\n\n```values\n\(values)\n```\n\n```hex\n\(hexText(bytes))\n```"
    }

    /// Checks one block: present, its values as rendered, its bytes as encoded.
    static func check(_ heading: String, values: String, bytes: [UInt8], in blocks: [String: Block]) -> Block? {
        let expected = expectedBlock(heading, values: values, bytes: bytes)
        guard let block = blocks[heading] else {
            Issue.record("PROTOCOL.md has no golden block '#### \(heading)'; it should read:\n\(expected)")
            return nil
        }
        #expect(
            GoldenRendering.normalized(block.values) == GoldenRendering.normalized(values),
            "PROTOCOL.md line \(block.line): the values of '\(heading)' differ from the test's; expected:\n\(expected)")
        #expect(
            parseHex(block.hex) == bytes,
            "PROTOCOL.md line \(block.line): the bytes of '\(heading)' differ from the encoding; expected:\n\(expected)")
        return block
    }

    @Test func everyKindHasAGoldenRequestAndReplyMatchingTheEncoder() throws {
        let (blocks, duplicates) = try Self.blocks()
        #expect(duplicates.isEmpty, "golden headings appear twice: \(duplicates)")
        for sample in GoldenSamples.all + GoldenSamples.experiments + GoldenSamples.recommendations + GoldenSamples.reports {
            for side in [sample.request, sample.reply] {
                let heading = Self.heading(sample.kind, side.name)
                let bytes = try side.encode()
                guard let block = Self.check(heading, values: side.rendering, bytes: bytes, in: blocks),
                    let documented = Self.parseHex(block.hex)
                else { continue }
                #expect(side.decodesToSample(documented), "the bytes of '\(heading)' do not decode to the sample value")
            }
        }
    }

    @Test func theSamplesCoverEveryRegisteredKindAndTheDocumentNoOther() throws {
        let sampled = (GoldenSamples.all + GoldenSamples.experiments + GoldenSamples.recommendations + GoldenSamples.reports).map(\.kind)
        #expect(Set(sampled).count == sampled.count, "a kind has two samples")
        #expect(
            Set(sampled) == Set(MessageKind.names.keys),
            "kinds without a golden sample: \(Set(MessageKind.names.keys).subtracting(sampled).map(\.name))")
        let expected = Set(sampled.flatMap { [Self.heading($0, "request"), Self.heading($0, "reply")] })
            .union(GoldenSamples.frames.map { "frame: \($0.name)" })
        let documented = Set(try Self.blocks().blocks.keys)
        #expect(
            documented.subtracting(expected).isEmpty,
            "golden blocks for no known kind (or a wrong number): \(documented.subtracting(expected).sorted())")
    }

    /// The table of kinds under "## Messages" lists every registered kind with its number, and no other.
    @Test func theKindTableIsComplete() throws {
        let text = try String(contentsOfFile: Self.protocolPath, encoding: .utf8)
        var listed: [UInt16: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `0x") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let number = UInt16(cells[0].dropFirst(3).dropLast(), radix: 16) else { continue }
            if cells.count == 5 { listed[number] = cells[1] }
        }
        let registered = Dictionary(uniqueKeysWithValues: MessageKind.names.map { ($0.key.rawValue, $0.value) })
        #expect(listed == registered, "PROTOCOL.md's kind table differs from MessageKind.names")
    }

    @Test func wholeFramesMatchTheDocument() throws {
        let (blocks, _) = try Self.blocks()
        for frame in GoldenSamples.frames {
            let bytes = try frame.encode()
            guard let block = Self.check("frame: \(frame.name)", values: frame.rendering, bytes: bytes, in: blocks),
                let documented = Self.parseHex(block.hex)
            else { continue }
            #expect(frame.decodesToSample(documented), "the bytes of 'frame: \(frame.name)' do not decode to the sample frame")
        }
    }

    @Test func theRenderingIsTheOneTheDocumentDescribes() {
        struct Sample: Codable {
            var text: String
            var number: Int64
            var missing: Int32?
            var present: Bool?
            var kind: CouponType
            var code: ErrorCode
            var list: [Double]
        }
        let value = Sample(text: "满 a", number: -3, missing: nil, present: true, kind: .cash, code: .soldOut, list: [0.25])
        #expect(
            GoldenRendering.render(value) == #"{text: "满 a", number: -3, missing: absent, present: true, kind: "CASH", code: 1200, list: [0.25]}"#)
        #expect(GoldenRendering.normalized("{a: \"x y\",\n  b: 1}") == "{a:\"x y\",b:1}")
    }
}

/// Values as PROTOCOL.md writes them: structs `{field: value, …}` in declaration (wire) order,
/// strings quoted, enums as their raw value (a string, or an error code's number), absent optionals
/// as `absent`, lists `[…]`.
enum GoldenRendering {
    static func render(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return "absent" }
            return render(wrapped)
        }
        if let text = value as? String { return "\"\(text)\"" }
        if let raw = value as? any RawRepresentable { return render(raw.rawValue) }
        switch mirror.displayStyle {
        case .collection:
            return "[" + mirror.children.map { render($0.value) }.joined(separator: ", ") + "]"
        case .struct:
            return "{" + mirror.children.map { "\($0.label ?? "_"): \(render($0.value))" }.joined(separator: ", ") + "}"
        default:
            return "\(value)"
        }
    }

    /// Whitespace outside strings removed, so the document may wrap long values.
    static func normalized(_ text: String) -> String {
        var quoted = false
        var out = ""
        for character in text {
            if character == "\"" { quoted.toggle() }
            if !quoted && character.isWhitespace { continue }
            out.append(character)
        }
        return out
    }
}

/// One side of a golden pair: how it renders, encodes and decodes.
struct GoldenSide: Sendable {
    var name: String
    var rendering: String
    var encode: @Sendable () throws -> [UInt8]
    var decodesToSample: @Sendable ([UInt8]) -> Bool

    static func body<T: Codable & Equatable & Sendable>(_ name: String, _ value: T) -> GoldenSide {
        GoldenSide(
            name: name, rendering: GoldenRendering.render(value), encode: { try WireBody.encode(value) },
            decodesToSample: { (try? WireBody.decode(T.self, from: $0)) == value })
    }
}

struct GoldenSample: Sendable {
    var kind: MessageKind
    var request: GoldenSide
    var reply: GoldenSide

    init<R: WireRequest & Equatable>(_ request: R, _ reply: R.Response) where R.Response: Equatable {
        kind = R.kind
        self.request = .body("request", request)
        self.reply = .body("reply", reply)
    }
}

/// The concrete values of PROTOCOL.md's golden blocks.
enum GoldenSamples {
    static let created: Int64 = 1_764_000_000_000
    static let expires: Int64 = 1_764_259_200_000

    static let discountSpec = TemplateSpec(
        name: "8.5折鞋券", type: .discount, thresholdCents: 10_000, discountCents: 0, rateBasisPoints: 8_500, maxDiscountCents: 5_000,
        startMilliseconds: 1_763_000_000_000, endMilliseconds: 1_765_000_000_000, validHours: 72, totalStock: 1_000, perUserLimit: 2,
        dailyLimit: 50, budgetCents: 1_000_000, level: .shop, shopId: "shop-9", categories: ["shoes"], stacking: .exclusive,
        thresholdOnDiscounted: false, channels: ["app"], segments: ["VIP"], pointsCost: 0, tiers: [], costCeilingBasisPoints: 850,
        costAction: .stopIssuance)

    static let cashSpec = TemplateSpec(
        name: "满30减5", type: .cash, thresholdCents: 3_000, discountCents: 500, startMilliseconds: 1_763_000_000_000,
        endMilliseconds: 1_765_000_000_000, validHours: 72, totalStock: 5_000, perUserLimit: 1, budgetCents: 500_000,
        level: .platform, stacking: .stackable, thresholdOnDiscounted: true, channels: ["app", "web"],
        tiers: [
            Tier(segment: "HIGH_FREQ", thresholdCents: 3_000, discountCents: 500),
            Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 800),
        ])

    static func view(_ status: TemplateStatus) -> TemplateView {
        TemplateView(
            templateId: "tpl-1", spec: discountSpec, status: status, issued: 3, issuedToday: 2, used: 1, budgetSpentCents: 4_500,
            createdMilliseconds: created, costCeilingBasisPoints: 850, worstCaseRatioBasisPoints: 1_500, costStopped: false)
    }

    static let item = OrderItem(sku: "sku-1", category: "shoes", shopId: "shop-9", amountCents: 25_000)
    static let order = OrderSummary(amountCents: 25_000, items: [item])

    static let discountTerms = CouponTerms(
        couponId: "c-5", type: .discount, status: .unused, thresholdCents: 10_000, discountCents: 0, rateBasisPoints: 8_500,
        maxDiscountCents: 5_000, level: .shop, shopId: "shop-9", categories: ["shoes"], stacking: .exclusive, thresholdOnDiscounted: false,
        expiresMilliseconds: expires)
    static let exchangeTerms = CouponTerms(
        couponId: "c-6", type: .exchange, status: .unused, thresholdCents: 0, discountCents: 500, rateBasisPoints: nil,
        maxDiscountCents: nil, level: .platform, shopId: nil, categories: [], stacking: .stackable, thresholdOnDiscounted: false,
        expiresMilliseconds: 1_764_604_800_000)

    static let best = BestCombination(
        couponIds: ["c-5"], discountCents: 3_750, payableCents: 21_250,
        explain: [
            CouponExplanation(couponId: "c-5", applied: true, reason: "APPLIED", discountCents: 3_750, message: "takes 37.50 off at the SHOP level"),
            CouponExplanation(
                couponId: "c-6", applied: false, reason: "STACKING_CONFLICT", discountCents: 0,
                message: "the chosen coupon c-5 is EXCLUSIVE and combines with nothing"),
        ])

    static let claimCheck = ClaimCheckRequest(
        spec: cashSpec, status: .active, channel: "app", userSegments: ["HIGH_FREQ"], nowMilliseconds: created)
    static let claimAllowed = ClaimCheckResponse(
        refusal: nil, thresholdCents: 3_000, discountCents: 500, segment: "HIGH_FREQ", expiresMilliseconds: expires, budgetCostCents: 500)

    static let quote = DiscountQuoteRequest(coupon: discountTerms, order: order, nowMilliseconds: created)
    static let quoted = DiscountQuote(refusal: nil, eligibleCents: 25_000, discountCents: 3_750, payableCents: 21_250)

    static let riskRequest = RiskDecisionRequest(
        action: .claim, userId: "u-42", deviceId: "dev-7", ip: nil, templateId: "tpl-1", couponType: .discount, amountCents: 5_000)
    static let rules = RiskRules(
        velocityWindowSeconds: 60, userLimitPerWindow: 20, deviceLimitPerWindow: 30, ipLimitPerWindow: 50, subnetLimitPerWindow: 600,
        accountsPerDevicePerDay: 3, accountsPerIPPerDay: 25, accountsPerSubnetPerDay: 200, newAccountHours: 24, highValueCents: 10_000,
        failedRedemptionsPerWindow: 5, failedRedemptionWindowSeconds: 900)

    static let reconcileRun = ReconcileRunSummary(
        runId: 12, businessDate: "2026-11-30", scope: "template:tpl-1", attempt: 1, outcome: .differences, startedMilliseconds: created,
        finishedMilliseconds: created + 850, judgedUntilMilliseconds: created - 300_000, templates: 1, couponsJudged: 3_000, feedOrders: 998,
        itemCount: 3, incidentsOpened: 1,
        checks: [
            ReconcileCheckSummary(
                check: .orders, templateId: nil, items: 2, ledgerCents: nil, feedCents: nil, differenceBasisPoints: nil, alarm: false),
            ReconcileCheckSummary(
                check: .money, templateId: "tpl-1", items: 1, ledgerCents: 429_000, feedCents: 428_000, differenceBasisPoints: 23, alarm: true),
        ], selfCheck: .passed, selfCheckMissed: [], reused: false)
    static let incident = IncidentView(
        incidentId: 4, check: .money, templateId: "tpl-1", businessDate: "2026-11-30", status: .open, items: 1, firstRunId: 12, lastRunId: 12,
        note: nil, openedMilliseconds: created, updatedMilliseconds: created)
    static let acknowledgedIncident = IncidentView(
        incidentId: 4, check: .money, templateId: "tpl-1", businessDate: "2026-11-30", status: .acknowledged, items: 1, firstRunId: 12,
        lastRunId: 12, note: nil, openedMilliseconds: created, updatedMilliseconds: created + 60_000)

    static let all: [GoldenSample] = [
        GoldenSample(
            PingRequest(),
            PingResponse(
                service: "rule-engine", instance: "a1b2", version: "0.1.0", uptimeMilliseconds: 90_000,
                dependencies: [DependencyStatus(name: "redis", healthy: true, detail: "ok")])),
        GoldenSample(
            ServiceStatsRequest(),
            ServiceStatsResponse(
                service: "risk-control",
                calls: [CallStats(call: "risk_decide", count: 12, errors: 1, p50Microseconds: 250, p99Microseconds: 1_000, maxMicroseconds: 4_000)])),

        GoldenSample(CreateTemplateRequest(spec: discountSpec), view(.active)),
        GoldenSample(GetTemplateRequest(templateId: "tpl-1"), view(.active)),
        GoldenSample(PauseTemplateRequest(templateId: "tpl-1"), view(.paused)),
        GoldenSample(ResumeTemplateRequest(templateId: "tpl-1"), view(.active)),
        GoldenSample(ListTemplatesRequest(limit: 20), TemplateList(templates: [view(.paused)])),
        GoldenSample(
            ClaimRequest(userId: "u-42", templateId: "tpl-1", channel: "app", deviceId: "dev-7", ip: nil, requestId: "req-1"),
            ClaimResponse(
                couponId: "c-5", templateId: "tpl-1", expiresMilliseconds: expires, thresholdCents: 10_000, discountCents: 0, pointsLeft: nil)),
        GoldenSample(
            UseRequest(
                orderId: "o-1", couponId: "c-5", amountCents: 25_000, userId: "u-42", items: [item], requestId: "req-2", deviceId: nil,
                ip: "203.0.113.9"),
            UseResponse(orderId: "o-1", couponId: "c-5", discountCents: 3_750, payableCents: 21_250)),
        GoldenSample(RefundRequest(orderId: "o-1", couponId: "c-5"), RefundResponse(couponId: "c-5", status: .unused)),
        GoldenSample(
            WalletRequest(userId: "u-42", status: .unused),
            Wallet(
                userId: "u-42",
                coupons: [
                    CouponView(
                        couponId: "c-5", templateId: "tpl-1", templateName: "8.5折鞋券", type: .discount, status: .unused, thresholdCents: 10_000,
                        discountCents: 0, rateBasisPoints: 8_500, maxDiscountCents: 5_000, level: .shop, shopId: "shop-9", categories: ["shoes"],
                        stacking: .exclusive, claimedMilliseconds: created, expiresMilliseconds: expires, orderId: nil)
                ])),
        GoldenSample(BestRequest(userId: "u-42", amountCents: 25_000, items: [item]), best),
        GoldenSample(
            ExchangeRequest(userId: "u-42", templateId: "tpl-2", requestId: "req-3", deviceId: nil, ip: nil),
            ClaimResponse(
                couponId: "c-6", templateId: "tpl-2", expiresMilliseconds: 1_764_604_800_000, thresholdCents: 0, discountCents: 500, pointsLeft: 700)),
        GoldenSample(GrantPointsRequest(userId: "u-42", points: 1_000, requestId: "req-4"), PointsBalance(userId: "u-42", points: 1_700)),
        GoldenSample(
            SetProfileRequest(userId: "u-42", tags: ["VIP", "PRICE_SENSITIVE"]),
            UserProfileView(
                userId: "u-42", tags: ["VIP", "PRICE_SENSITIVE"], orderCount: 12, ordersLast30Days: 4, lastOrderMilliseconds: 1_763_900_000_000,
                segments: ["RETURNING", "HIGH_FREQ", "VIP", "PRICE_SENSITIVE"])),
        GoldenSample(ExposureRequest(userId: "u-42", templateId: "tpl-1"), ExposureAck(recorded: true)),
        GoldenSample(
            StatsRequest(templateId: "tpl-1"),
            TemplateStats(
                templateId: "tpl-1", exposures: 200, claims: 50, uses: 20, orderAmountCents: 500_000, discountAmountCents: 40_000,
                claimRate: 0.25, useRate: 0.4, roi: 11.5, costRatio: nil)),
        GoldenSample(
            CostStatsRequest(templateId: "tpl-1", window: .lastHour),
            CostStats(
                templateId: "tpl-1", window: .lastHour, orders: 1_100, orderAmountCents: 11_000_000, discountCents: 900_000, ratioBasisPoints: 818,
                ceilingBasisPoints: 800, warningBasisPoints: 720, minimumOrders: 200, state: .aboveCeiling)),
        GoldenSample(
            AlertsListRequest(status: .firing, limit: 20, beforeId: nil),
            AlertList(
                alerts: [
                    AlertView(
                        alertId: 7, kind: .costRatioCeiling, scope: "platform", window: .lastHour, valueBasisPoints: 818, thresholdBasisPoints: 800,
                        status: .firing, firstSeenMilliseconds: created, lastSeenMilliseconds: created + 60_000, resolvedMilliseconds: nil)
                ], nextBeforeId: 7)),
        GoldenSample(OrderReportRequest(orderId: "o-2", userId: "u-42", amountCents: 10_000), OrderReportAck(recorded: true)),
        GoldenSample(
            CostEvaluateRequest(), CostEvaluation(evaluated: true, judgedScopes: 3, fired: 2, resolved: 0, firing: 2, stoppedTemplates: 1)),
        GoldenSample(ReconcileStartRequest(businessDate: "2026-11-30", templateId: "tpl-1", rerun: false, selfCheck: true), reconcileRun),
        GoldenSample(
            ReconcileRunGetRequest(runId: 12, offset: 0, limit: 50),
            ReconcileRunDetail(
                run: reconcileRun,
                items: [
                    ReconcileItemView(
                        position: 1, check: .orders, code: "REDEMPTION_WITHOUT_ORDER", templateId: "tpl-1", couponId: "c-5", orderId: "o-2",
                        expected: "500", actual: nil)
                ], nextOffset: nil)),
        GoldenSample(ReconcileRunsListRequest(businessDate: "2026-11-30"), ReconcileRunList(runs: [reconcileRun])),
        GoldenSample(
            FeedSubmitRequest(
                businessDate: "2026-11-30",
                ndjson: #"{"orderId":"o-2","couponId":"c-5","discount":5.00,"amount":20.00,"status":"PAID"}"# + "\n" + #"{"orderId":"o-3"}"#),
            FeedSubmitResult(
                stored: 1, replaced: 0, unchanged: 0, refused: [FeedLineRefusal(line: 2, code: .invalidArgument, message: "discount: required")])),
        GoldenSample(IncidentsListRequest(status: .open, limit: 20, beforeId: nil), IncidentList(incidents: [incident], nextBeforeId: nil)),
        GoldenSample(IncidentAckRequest(incidentId: 4), acknowledgedIncident),
        GoldenSample(
            IncidentAcceptRequest(incidentId: 4, note: "two orders lost by the order system"),
            IncidentView(
                incidentId: 4, check: .money, templateId: "tpl-1", businessDate: "2026-11-30", status: .accepted, items: 1, firstRunId: 12,
                lastRunId: 12, note: "two orders lost by the order system", openedMilliseconds: created, updatedMilliseconds: created + 120_000)),

        GoldenSample(claimCheck, claimAllowed),
        GoldenSample(quote, quoted),
        GoldenSample(BestCombinationRequest(coupons: [discountTerms, exchangeTerms], order: order, nowMilliseconds: created), best),
        GoldenSample(
            ClaimCheckBatchRequest(checks: [
                claimCheck,
                ClaimCheckRequest(spec: cashSpec, status: .active, channel: "kiosk", userSegments: ["LOW_FREQ"], nowMilliseconds: created),
            ]),
            ClaimCheckBatchResponse(results: [
                claimAllowed,
                ClaimCheckResponse(
                    refusal: ServiceError(.channelNotAllowed, "channel kiosk is not one of app, web"), thresholdCents: 0, discountCents: 0,
                    segment: nil, expiresMilliseconds: 0, budgetCostCents: 0),
            ])),
        GoldenSample(
            DiscountQuoteBatchRequest(quotes: [
                quote,
                DiscountQuoteRequest(
                    coupon: discountTerms,
                    order: OrderSummary(
                        amountCents: 5_000, items: [OrderItem(sku: "sku-2", category: "shoes", shopId: "shop-9", amountCents: 5_000)]),
                    nowMilliseconds: created),
            ]),
            DiscountQuoteBatch(results: [
                quoted,
                DiscountQuote(
                    refusal: ServiceError(.thresholdNotMet, "needs 100.00 of eligible items, the order has 50.00"), eligibleCents: 5_000,
                    discountCents: 0, payableCents: 5_000),
            ])),

        GoldenSample(riskRequest, RiskDecision(verdict: .review, score: 40, reasons: ["NEW_ACCOUNT_HIGH_VALUE"])),
        GoldenSample(GetRiskRulesRequest(), rules),
        GoldenSample(SetRiskRulesRequest(rules: rules), rules),
        GoldenSample(ReloadRiskRulesRequest(), rules),
        GoldenSample(
            AddRiskListEntryRequest(list: .block, subject: .device, value: "dev-666", ttlSeconds: 3_600),
            RiskListEntry(list: .block, subject: .device, value: "dev-666", expiresMilliseconds: 1_764_003_600_000)),
        GoldenSample(RemoveRiskListEntryRequest(list: .allow, subject: .user, value: "u-42"), RiskListChange(removed: true)),
        GoldenSample(
            GetRiskListRequest(list: .block, subject: .ip),
            RiskListView(entries: [RiskListEntry(list: .block, subject: .ip, value: "198.51.100.23", expiresMilliseconds: nil)])),
        GoldenSample(
            RiskReportRequest(action: .redeem, userId: "u-42", deviceId: nil, ip: "203.0.113.9", code: .couponNotFound),
            RiskReportAck(counted: true)),
        GoldenSample(
            RiskDecisionBatchRequest(decisions: [
                riskRequest,
                RiskDecisionRequest(
                    action: .redeem, userId: "", deviceId: nil, ip: "203.0.113.9", templateId: "tpl-1", couponType: .cash, amountCents: 25_000),
            ]),
            RiskDecisionBatch(results: [
                .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])),
                .failed(ServiceError(.invalidArgument, "userId: empty")),
            ])),
        // Sign-in, operators, tokens, audit (0x0140–0x014C).
        GoldenSample(
            LoginRequest(username: "ada", password: "correct horse"),
            SessionView(sessionId: "ccs_5e55", username: "ada", role: .admin, csrfToken: "c5rf", expiresMilliseconds: expires)),
        GoldenSample(LogoutRequest(), LogoutResult(ended: true)),
        GoldenSample(MeRequest(), CallerView(username: "ada/deploy", kind: .token, role: .operator)),
        GoldenSample(TokenCreateRequest(name: "deploy", role: .operator, ttlDays: 30), TokenCreated(token: "cct_70ce", view: token)),
        GoldenSample(TokenListRequest(), TokenList(tokens: [token])),
        GoldenSample(TokenRevokeRequest(id: 3), revokedToken),
        GoldenSample(OperatorCreateRequest(username: "olga", password: "olga-password-1", role: .operator), operatorView),
        GoldenSample(OperatorListRequest(), OperatorList(operators: [operatorView])),
        GoldenSample(OperatorRoleSetRequest(username: "olga", role: .viewer), viewerView),
        GoldenSample(OperatorDisableRequest(username: "olga"), disabledView),
        GoldenSample(OperatorPasswordSetRequest(username: "olga", password: "new-password-22"), operatorView),
        GoldenSample(
            AuditListRequest(actor: "ada", action: "template.pause", sinceMilliseconds: created, limit: 50, beforeId: nil),
            AuditList(
                entries: [
                    AuditEntry(
                        id: 9, atMilliseconds: created, actor: "ada", actorKind: .session, action: "template.pause", target: "tpl-1",
                        before: #"{"status":"ACTIVE"}"#, after: #"{"status":"PAUSED"}"#, requestId: "r-1")
                ], nextBeforeId: nil)),
        GoldenSample(
            OperatorBootstrapRequest(secret: "s3cret-s3cret-s3cret", username: "admin", password: "first-admin-pw", tokenName: "bootstrap"),
            BootstrapResult(
                admin: OperatorView(username: "admin", role: .admin, disabled: false, createdMilliseconds: created, lockedUntilMilliseconds: nil),
                token: TokenCreated(
                    token: "cct_b007",
                    view: TokenView(
                        id: 1, name: "bootstrap", role: .admin, createdBy: "admin", createdMilliseconds: created, expiresMilliseconds: nil,
                        revokedMilliseconds: nil)))),
    ]

    static let token = TokenView(
        id: 3, name: "deploy", role: .operator, createdBy: "ada", createdMilliseconds: created, expiresMilliseconds: expires,
        revokedMilliseconds: nil)
    static let revokedToken = TokenView(
        id: 3, name: "deploy", role: .operator, createdBy: "ada", createdMilliseconds: created, expiresMilliseconds: expires,
        revokedMilliseconds: created + 60_000)
    static let operatorView = OperatorView(
        username: "olga", role: .operator, disabled: false, createdMilliseconds: created, lockedUntilMilliseconds: nil)
    static let viewerView = OperatorView(username: "olga", role: .viewer, disabled: false, createdMilliseconds: created, lockedUntilMilliseconds: nil)
    static let disabledView = OperatorView(
        username: "olga", role: .viewer, disabled: true, createdMilliseconds: created, lockedUntilMilliseconds: created + 900_000)

    struct ErrorReplyFrame: Equatable {
        var header: FrameHeader
        var error: ServiceError
    }

    /// A request header with every field set (a ping has an empty body), and an error reply.
    static let frames: [GoldenSide] = [
        GoldenSide(
            name: "ping request",
            rendering: GoldenRendering.render(FrameHeader(kind: .ping, requestId: 0x0102_0304_0506_0708, deadlineMilliseconds: 1_764_000_002_000)),
            encode: { try Envelope.request(PingRequest(), requestId: 0x0102_0304_0506_0708, deadlineMilliseconds: 1_764_000_002_000) },
            decodesToSample: { bytes in
                (try? FrameCodec.decode(bytes))
                    == Frame(
                        header: FrameHeader(kind: .ping, requestId: 0x0102_0304_0506_0708, deadlineMilliseconds: 1_764_000_002_000), body: [])
            }),
        errorReplyFrame,
        credentialFrame,
    ]

    /// A `template_pause` request carrying an API token in its credential block (flags 4): the
    /// block (`u16` length, the token's bytes) comes first, then the message body; bodyLength
    /// counts both.
    static var credentialFrame: GoldenSide {
        let header = FrameHeader(kind: .templatePause, requestId: 0x0A0B_0C0D_0E0F_1011)
        let credential = Array("cct_0123abcd".utf8)
        let body = (try? WireBody.encode(PauseTemplateRequest(templateId: "tpl-1"))) ?? []
        let frame = Frame(header: header, body: body, credential: credential)
        return GoldenSide(
            name: "request with a credential",
            rendering: GoldenRendering.render(
                CredentialFrame(header: frame.header, credential: "cct_0123abcd", request: PauseTemplateRequest(templateId: "tpl-1"))),
            encode: { FrameCodec.encode(frame) },
            decodesToSample: { documented in (try? FrameCodec.decode(documented)) == frame })
    }

    struct CredentialFrame: Equatable {
        var header: FrameHeader
        var credential: String
        var request: PauseTemplateRequest
    }

    /// The answer to a claim request (requestId 0x1122334455667788, deadline set) that is sold out:
    /// the header echoes kind and requestId, never the deadline.
    static var errorReplyFrame: GoldenSide {
        let request = FrameHeader(kind: .claim, requestId: 0x1122_3344_5566_7788, deadlineMilliseconds: 1_764_000_002_000)
        let error = ServiceError(.soldOut, "template tpl-1 is sold out")
        let bytes = Envelope.errorReply(to: request, error)
        let replyHeader = FrameHeader(flags: [.reply, .error], kind: .claim, requestId: 0x1122_3344_5566_7788, bodyLength: UInt32(bytes.count - 28))
        return GoldenSide(
            name: "error reply", rendering: GoldenRendering.render(ErrorReplyFrame(header: replyHeader, error: error)), encode: { bytes },
            decodesToSample: { documented in
                guard let frame = try? FrameCodec.decode(documented) else { return false }
                return frame.header == replyHeader && (try? WireBody.decode(ServiceError.self, from: frame.body)) == error
            })
    }
}
