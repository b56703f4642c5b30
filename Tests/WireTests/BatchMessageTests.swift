import Testing

@testable import Wire

/// The batch messages (`claim_check_batch`, `risk_decide_batch`) survive encode → decode unchanged,
/// in a body and in a request frame, and a batch answer keeps each item's own error.
@Suite struct BatchMessageTests {
    static func decision(_ user: String, device: String? = "phone-1", ip: String? = nil) -> RiskDecisionRequest {
        RiskDecisionRequest(
            action: .claim, userId: user, deviceId: device, ip: ip, templateId: "T-1", couponType: .free, amountCents: 12_345)
    }

    static func check(_ channel: String, segments: [String] = []) -> ClaimCheckRequest {
        var spec = TemplateSpec(
            name: "满200减30 ☃", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: 1_700_000_000_000,
            endMilliseconds: 1_800_000_000_000, totalStock: 100, perUserLimit: 2)
        spec.channels = ["app", "web"]
        spec.segments = segments
        return ClaimCheckRequest(spec: spec, status: .active, channel: channel, userSegments: segments, nowMilliseconds: 1_750_000_000_000)
    }

    func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let bytes = try WireBody.encode(value)
        #expect(try WireBody.decode(T.self, from: bytes) == value)
    }

    func roundTripRequest<R: WireRequest & Equatable>(_ request: R) throws {
        let frame = try FrameCodec.decode(try Envelope.request(request, requestId: 42))
        #expect(frame.header.kind == R.kind)
        #expect(try WireBody.decode(R.self, from: frame.body) == request)
    }

    @Test func riskDecisionBatchRequestRoundTrips() throws {
        let batch = RiskDecisionBatchRequest(decisions: [
            Self.decision("alice"), Self.decision("", device: nil, ip: "203.0.113.7"), Self.decision("'; DROP TABLE risk_audit; --", device: ""),
        ])
        try roundTrip(batch)
        try roundTripRequest(batch)
        try roundTrip(RiskDecisionBatchRequest(decisions: []))
        #expect(RiskDecisionBatchRequest.kind == .riskDecideBatch && MessageKind.riskDecideBatch.rawValue == 0x0309)
        #expect(MessageKind.riskDecideBatch.name == "risk_decide_batch")
    }

    @Test func riskDecisionBatchKeepsEachOutcome() throws {
        let answers = RiskDecisionBatch(results: [
            .decided(RiskDecision(verdict: .allow, score: 0, reasons: [])),
            .failed(ServiceError(.invalidArgument, "userId: empty")),
            .decided(RiskDecision(verdict: .deny, score: 200, reasons: ["DEVICE_ACCOUNTS", "USER_VELOCITY"])),
            .failed(ServiceError(.dependencyUnavailable, "Redis is unavailable: WRONGTYPE ☃")),
        ])
        try roundTrip(answers)
        try roundTrip(RiskDecisionBatch(results: []))
        let failed = RiskDecisionOutcome.failed(ServiceError(.riskDenied, "no"))
        try roundTrip(failed)
        let decoded = try WireBody.decode(RiskDecisionBatch.self, from: try WireBody.encode(answers))
        #expect(decoded.results.map { $0.decision == nil } == [false, true, false, true])
        #expect(decoded.results[1].error == ServiceError(.invalidArgument, "userId: empty"))
        #expect(decoded.results[3].error?.code == .dependencyUnavailable)
    }

    @Test func claimCheckBatchRequestRoundTrips() throws {
        let batch = ClaimCheckBatchRequest(checks: [Self.check("app"), Self.check("kiosk", segments: ["VIP", ""])])
        try roundTrip(batch)
        try roundTripRequest(batch)
        try roundTrip(ClaimCheckBatchRequest(checks: []))
        #expect(ClaimCheckBatchRequest.kind == .claimCheckBatch && MessageKind.claimCheckBatch.rawValue == 0x0204)
        #expect(MessageKind.claimCheckBatch.name == "claim_check_batch")
    }

    @Test func claimCheckBatchResponseRoundTrips() throws {
        let answers = ClaimCheckBatchResponse(results: [
            ClaimCheckResponse(
                refusal: nil, thresholdCents: 20_000, discountCents: 3_000, segment: "VIP", expiresMilliseconds: 1_800_000_000_000,
                budgetCostCents: 3_000),
            ClaimCheckResponse(
                refusal: ServiceError(.channelNotAllowed, "channel kiosk"), thresholdCents: 0, discountCents: 0, segment: nil,
                expiresMilliseconds: 0, budgetCostCents: 0),
        ])
        try roundTrip(answers)
        try roundTrip(ClaimCheckBatchResponse(results: []))
    }

    /// As PROTOCOL.md says: an unknown enum value in one item is a decoding error of the whole
    /// batch (answered MALFORMED_BODY), naming the item and the field; there is no per-item answer.
    @Test func anUnknownEnumValueInOneItemFailsTheWholeBatch() throws {
        let batch = RiskDecisionBatchRequest(decisions: [Self.decision("alice"), Self.decision("bob")])
        var bytes = try WireBody.encode(batch)
        let free = Array("FREE".utf8)
        let positions = (0...(bytes.count - free.count)).filter { Array(bytes[$0..<($0 + free.count)]) == free }
        #expect(positions.count == 2)
        bytes.replaceSubrange(positions[1]..<(positions[1] + free.count), with: Array("FREX".utf8))
        let error = #expect(throws: WireDecodingError.self) { try WireBody.decode(RiskDecisionBatchRequest.self, from: bytes) }
        #expect(error?.path == "decisions[1].couponType")
    }

    @Test func aBatchReplyDecodesThroughTheEnvelope() throws {
        let answers = RiskDecisionBatch(results: [.failed(ServiceError(.invalidArgument, "userId: empty"))])
        let header = FrameHeader(kind: .riskDecideBatch, requestId: 7)
        let reply = Envelope.reply(to: header, body: try WireBody.encode(answers))
        #expect(try Envelope.decodeReply(reply, for: RiskDecisionBatchRequest.self, requestId: 7) == answers)
    }
}
