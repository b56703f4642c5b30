// libFuzzer target `frame`, the wire decoders (and the PUB event message's). Not a SwiftPM target: Deploy/fuzz compiles this file
// and FuzzSupport.swift together with Shared/Wire/*.swift into one module with
// `swiftc -sanitize=fuzzer,address`.
//
// The contract under test (Shared/Wire/ByteBuffer.swift, Frame.swift): every decoder is total. Any
// byte string gives a value or a thrown error, never a trap, never an allocation beyond the input.
// On top of "does not crash", each input is checked against properties the format promises:
//   - a frame that decodes re-encodes to the very same bytes, and decode(encode(frame)) == frame;
//   - its body and credential block (flags 4) add up to bodyLength, the block of 1…512 bytes;
//   - a body that decodes re-encodes to the very same bytes ("two different byte strings never
//     decode to the same message", BodyCoder.swift), and decoding that again gives an equal value.
// A broken property is a real bug: we trap with fatalError so libFuzzer saves the input.
// Seeds (`seeds()`): a few valid frames and bodies built with the current encoder.

// MARK: - Every body type

/// One message type the fuzzer knows how to decode and round-trip.
struct BodyCheck: Sendable {
    let name: String
    /// Decodes `bytes` as the type and, when that works, checks the round trip. Never throws.
    let run: @Sendable (_ bytes: [UInt8]) -> Void

    /// A Codable and Equatable type: decode, then check the round trip.
    static func roundTrip<T: Codable & Equatable & SendableMetatype>(_ type: T.Type) -> BodyCheck {
        BodyCheck(name: "\(T.self)") { bytes in
            guard let value = try? WireBody.decode(T.self, from: bytes) else { return }
            checkBodyRoundTrip(value, from: bytes)
        }
    }

    /// A Codable type that is not Equatable: only the decoder and the byte round trip are checked.
    static func decodeOnly<T: Codable & SendableMetatype>(_ type: T.Type) -> BodyCheck {
        BodyCheck(name: "\(T.self)") { bytes in
            guard let value = try? WireBody.decode(T.self, from: bytes) else { return }
            checkBodyBytes(value, from: bytes)
        }
    }
}

/// EVERY Codable type of the Wire module, messages and the types nested in them.
///
/// When you add a message (a new file or type under Shared/Wire/Messages/, or a Codable type in
/// ErrorCode.swift, Envelope.swift, ...), add its request, its response and every Codable type they
/// contain here. Use `.roundTrip` for Equatable types (all messages should be) and `.decodeOnly`
/// otherwise. A type holding a Double or Float: NaN != NaN, so its value check would report a false
/// bug on a NaN field; give such a type an Equatable that compares bit patterns, or use `.decodeOnly`.
let allBodyChecks: [BodyCheck] = [
    // ErrorCode.swift
    .roundTrip(ErrorCode.self),
    .roundTrip(ServiceError.self),
    // Messages/System.swift
    .roundTrip(PingRequest.self),
    .roundTrip(PingResponse.self),
    .roundTrip(DependencyStatus.self),
    .roundTrip(ServiceStatsRequest.self),
    .roundTrip(ServiceStatsResponse.self),
    .roundTrip(CallStats.self),
    // Messages/Coupons.swift
    .roundTrip(Tier.self),
    .roundTrip(TemplateSpec.self),
    .roundTrip(TemplateView.self),
    .roundTrip(CreateTemplateRequest.self),
    .roundTrip(GetTemplateRequest.self),
    .roundTrip(PauseTemplateRequest.self),
    .roundTrip(ResumeTemplateRequest.self),
    .roundTrip(ListTemplatesRequest.self),
    .roundTrip(TemplateList.self),
    .roundTrip(ClaimRequest.self),
    .roundTrip(ClaimResponse.self),
    .roundTrip(ExchangeRequest.self),
    .roundTrip(GrantPointsRequest.self),
    .roundTrip(PointsBalance.self),
    .roundTrip(WalletRequest.self),
    .roundTrip(CouponView.self),
    .roundTrip(Wallet.self),
    .roundTrip(SetProfileRequest.self),
    .roundTrip(UserProfileView.self),
    .roundTrip(ExposureRequest.self),
    .roundTrip(ExposureAck.self),
    .roundTrip(StatsRequest.self),
    // Messages/Cost.swift
    .roundTrip(CostStatsRequest.self),
    .roundTrip(CostStats.self),
    .roundTrip(AlertsListRequest.self),
    .roundTrip(AlertView.self),
    .roundTrip(AlertList.self),
    .roundTrip(OrderReportRequest.self),
    .roundTrip(OrderReportAck.self),
    .roundTrip(CostEvaluateRequest.self),
    .roundTrip(CostEvaluation.self),
    // Messages/Reconcile.swift
    .roundTrip(ReconcileStartRequest.self),
    .roundTrip(ReconcileCheckSummary.self),
    .roundTrip(ReconcileRunSummary.self),
    .roundTrip(ReconcileItemView.self),
    .roundTrip(ReconcileRunGetRequest.self),
    .roundTrip(ReconcileRunDetail.self),
    .roundTrip(ReconcileRunsListRequest.self),
    .roundTrip(ReconcileRunList.self),
    .roundTrip(FeedSubmitRequest.self),
    .roundTrip(FeedLineRefusal.self),
    .roundTrip(FeedSubmitResult.self),
    .roundTrip(IncidentView.self),
    .roundTrip(IncidentsListRequest.self),
    .roundTrip(IncidentList.self),
    .roundTrip(IncidentAckRequest.self),
    .roundTrip(IncidentAcceptRequest.self),
    // Messages/Experiments.swift (the results hold doubles: decode only, see above)
    .roundTrip(ExperimentStatus.self),
    .roundTrip(ExperimentMetric.self),
    .roundTrip(DecisionRule.self),
    .roundTrip(ExperimentVerdict.self),
    .roundTrip(ExperimentArmSpec.self),
    .roundTrip(ExperimentSpec.self),
    .roundTrip(ExperimentView.self),
    .roundTrip(CreateExperimentRequest.self),
    .roundTrip(GetExperimentRequest.self),
    .roundTrip(ListExperimentsRequest.self),
    .roundTrip(ExperimentList.self),
    .roundTrip(StartExperimentRequest.self),
    .roundTrip(StopExperimentRequest.self),
    .roundTrip(RolloutExperimentRequest.self),
    .roundTrip(ExperimentResultsRequest.self),
    .roundTrip(ExperimentAssignmentRequest.self),
    .roundTrip(ExperimentAssignment.self),
    .roundTrip(ExperimentClaimRequest.self),
    // Messages/Recommend.swift (propensities and estimates are doubles: decode only, as above)
    .roundTrip(RecommendPolicy.self),
    .roundTrip(OfferArm.self),
    .roundTrip(RecommendRequest.self),
    .roundTrip(TypeUse.self),
    .roundTrip(UserFeatures.self),
    .roundTrip(RankedTemplate.self),
    .roundTrip(DroppedTemplate.self),
    .decodeOnly(Recommendation.self),
    .roundTrip(RecommendLogRequest.self),
    .decodeOnly(LoggedDecision.self),
    .decodeOnly(RecommendLog.self),
    .roundTrip(RecommendEvaluateRequest.self),
    .decodeOnly(PolicyEvaluation.self),
    // Messages/Reports.swift and risk control's audit summary (Messages/Risk.swift)
    .roundTrip(HealthReportRequest.self),
    .decodeOnly(UseRateChange.self),
    .roundTrip(FraudTrend.self),
    .decodeOnly(HealthReport.self),
    .roundTrip(RiskAuditSummaryRequest.self),
    .roundTrip(RiskReasonCount.self),
    .roundTrip(RiskAuditSummary.self),
    .decodeOnly(ArmResult.self),
    .decodeOnly(EffectTest.self),
    .decodeOnly(ArmComparison.self),
    .decodeOnly(SampleRatioCheck.self),
    .decodeOnly(ExperimentResults.self),
    // Messages/Auth.swift
    .roundTrip(Role.self),
    .roundTrip(ActorKind.self),
    .roundTrip(LoginRequest.self),
    .roundTrip(SessionView.self),
    .roundTrip(LogoutRequest.self),
    .roundTrip(LogoutResult.self),
    .roundTrip(MeRequest.self),
    .roundTrip(CallerView.self),
    .roundTrip(TokenCreateRequest.self),
    .roundTrip(TokenView.self),
    .roundTrip(TokenCreated.self),
    .roundTrip(TokenListRequest.self),
    .roundTrip(TokenList.self),
    .roundTrip(TokenRevokeRequest.self),
    .roundTrip(OperatorView.self),
    .roundTrip(OperatorCreateRequest.self),
    .roundTrip(OperatorListRequest.self),
    .roundTrip(OperatorList.self),
    .roundTrip(OperatorRoleSetRequest.self),
    .roundTrip(OperatorDisableRequest.self),
    .roundTrip(OperatorPasswordSetRequest.self),
    .roundTrip(AuditListRequest.self),
    .roundTrip(AuditEntry.self),
    .roundTrip(AuditList.self),
    .roundTrip(OperatorBootstrapRequest.self),
    .roundTrip(BootstrapResult.self),
    // Messages/Orders.swift
    .roundTrip(OrderItem.self),
    .roundTrip(OrderSummary.self),
    .roundTrip(CouponTerms.self),
    .roundTrip(CouponExplanation.self),
    .roundTrip(DiscountQuoteRequest.self),
    .roundTrip(DiscountQuote.self),
    .roundTrip(BestCombinationRequest.self),
    .roundTrip(BestCombination.self),
    .roundTrip(UseRequest.self),
    .roundTrip(UseResponse.self),
    .roundTrip(RefundRequest.self),
    .roundTrip(RefundResponse.self),
    .roundTrip(BestRequest.self),
    .roundTrip(DiscountQuoteBatchRequest.self),
    .roundTrip(DiscountQuoteBatch.self),
    // Messages/RuleEngine.swift
    .roundTrip(ClaimCheckRequest.self),
    .roundTrip(ClaimCheckResponse.self),
    .roundTrip(ClaimCheckBatchRequest.self),
    .roundTrip(ClaimCheckBatchResponse.self),
    // Messages/Risk.swift
    .roundTrip(RiskDecisionRequest.self),
    .roundTrip(RiskDecision.self),
    .roundTrip(RiskDecisionBatchRequest.self),
    .roundTrip(RiskDecisionOutcome.self),
    .roundTrip(RiskDecisionBatch.self),
    .roundTrip(RiskRules.self),
    .roundTrip(GetRiskRulesRequest.self),
    .roundTrip(SetRiskRulesRequest.self),
    .roundTrip(ReloadRiskRulesRequest.self),
    .roundTrip(RiskListEntry.self),
    .roundTrip(AddRiskListEntryRequest.self),
    .roundTrip(RemoveRiskListEntryRequest.self),
    .roundTrip(RiskListChange.self),
    .roundTrip(GetRiskListRequest.self),
    .roundTrip(RiskListView.self),
    .roundTrip(RiskReportRequest.self),
    .roundTrip(RiskReportAck.self),
]

/// Request types whose replies go through `Envelope.decodeReply`. Add new requests here as well.
let allReplyChecks: [@Sendable (_ bytes: [UInt8], _ requestId: UInt64) -> Void] = [
    { bytes, id in checkReply(bytes, for: PingRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: ServiceStatsRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: ClaimRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: CreateTemplateRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: WalletRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: ClaimCheckRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: RiskDecisionRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: RiskDecisionBatchRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: ClaimCheckBatchRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: DiscountQuoteBatchRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: UseRequest.self, requestId: id) },
    { bytes, id in checkReply(bytes, for: BestCombinationRequest.self, requestId: id) },
]

// MARK: - Properties

/// `value` was decoded from `bytes`: encoding it must give `bytes` back, and decoding those an equal value.
func checkBodyRoundTrip<T: Codable & Equatable>(_ value: T, from bytes: [UInt8]) {
    let encoded = checkBodyBytes(value, from: bytes)
    let again: T
    do {
        again = try WireBody.decode(T.self, from: encoded)
    } catch {
        fatalError("fuzz: \(T.self) re-encoding does not decode (\(error)); input \(hex(bytes))")
    }
    guard again == value else {
        fatalError("fuzz: \(T.self) round trip changed the value: \(value) became \(again); input \(hex(bytes))")
    }
}

/// Encodes a decoded value and requires the bytes it came from (one encoding per value).
@discardableResult
func checkBodyBytes<T: Encodable>(_ value: T, from bytes: [UInt8]) -> [UInt8] {
    let encoded: [UInt8]
    do {
        encoded = try WireBody.encode(value)
    } catch {
        fatalError("fuzz: \(T.self) decoded but does not encode (\(error)); input \(hex(bytes))")
    }
    guard encoded == bytes else {
        fatalError("fuzz: \(T.self) decoded from \(hex(bytes)) re-encodes as \(hex(encoded))")
    }
    return encoded
}

func checkReply<R: WireRequest>(_ bytes: [UInt8], for type: R.Type, requestId: UInt64) {
    do {
        _ = try Envelope.decodeReply(bytes, for: R.self, requestId: requestId)
    } catch {
        // A ServiceError (the server's answer or malformedBody) is the expected outcome for junk.
        _ = error.description
    }
}

func checkFrame(_ bytes: [UInt8]) {
    // The size limit: anything longer than the limit is refused before the header is read.
    if !bytes.isEmpty {
        do {
            _ = try FrameCodec.decode(bytes, maxFrameBytes: bytes.count - 1)
            fatalError("fuzz: a \(bytes.count)-byte frame passed a \(bytes.count - 1)-byte limit")
        } catch {
            guard error.reason == .tooLarge else {
                fatalError("fuzz: over-limit frame refused as \(error.reason), not tooLarge; input \(hex(bytes))")
            }
        }
    }

    let header = try? FrameCodec.decodeHeader(bytes)
    let frame: Frame
    do {
        frame = try FrameCodec.decode(bytes, maxFrameBytes: FrameHeader.defaultMaxFrameBytes)
    } catch {
        _ = error.description
        _ = error.errorCode
        return
    }

    guard let header, header == frame.header else {
        fatalError("fuzz: decode accepted a frame whose decodeHeader disagrees; input \(hex(bytes))")
    }
    // With the CREDENTIAL flag the bytes after the header are the block (2 + its length) and the body.
    let block = frame.credential.map { 2 + $0.count } ?? 0
    guard frame.header.flags.contains(.credential) == (frame.credential != nil),
        (1...Frame.maxCredentialBytes).contains(frame.credential?.count ?? 1),
        frame.body.count == bytes.count - FrameHeader.size - block, Int(frame.header.bodyLength) == block + frame.body.count
    else {
        fatalError("fuzz: frame body is \(frame.body.count) bytes (credential block \(block)) for a \(bytes.count)-byte input")
    }
    _ = frame.header.kind.description

    let encoded = FrameCodec.encode(frame)
    guard encoded == bytes else {
        fatalError("fuzz: frame decoded from \(hex(bytes)) re-encodes as \(hex(encoded))")
    }
    do {
        let again = try FrameCodec.decode(encoded, maxFrameBytes: FrameHeader.defaultMaxFrameBytes)
        guard again == frame else { fatalError("fuzz: decode(encode(frame)) != frame; input \(hex(bytes))") }
    } catch {
        fatalError("fuzz: an encoded frame does not decode (\(error)); input \(hex(bytes))")
    }

    for check in allBodyChecks { check.run(frame.body) }
    for check in allReplyChecks {
        // The frame's own id gets past the id check to the body; another id exercises the refusal.
        check(bytes, frame.header.requestId)
        check(bytes, frame.header.requestId &+ 1)
    }
}

// MARK: - Entry points

/// One input: as a frame, then the same bytes as every body without a frame.
func fuzzTarget(_ bytes: [UInt8]) {
    checkFrame(bytes)
    for check in allBodyChecks { check.run(bytes) }
    checkEventMessage(bytes)
}

/// An event as the PUB socket carries it (EventMessage.swift), which a subscriber reads from the
/// network: decoding is total, and what decodes re-encodes to the very same bytes, topic first.
func checkEventMessage(_ bytes: [UInt8]) {
    guard let message = EventMessage.decode(bytes) else { return }
    guard message.encoded() == bytes, !message.kind.isEmpty, !message.kind.utf8.contains(EventMessage.separator),
        message.document.first == UInt8(ascii: "{")
    else {
        propertyFailed("event message \(message.kind) does not re-encode to its bytes", input: bytes)
    }
}

// MARK: - Seeds

/// Valid frames (requests, replies, an error reply) and two bare bodies, built with the real encoder.
func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let ping = PingResponse(
        service: "coupon-center", instance: "cc-1", version: "0.1.0", uptimeMilliseconds: 123_456,
        dependencies: [
            DependencyStatus(name: "postgres", healthy: true, detail: ""),
            DependencyStatus(name: "redis", healthy: false, detail: "connection refused"),
        ])
    let stats = ServiceStatsResponse(
        service: "rule-engine",
        calls: [
            CallStats(call: "ping", count: 42, errors: 1, p50Microseconds: 80, p99Microseconds: 900, maxMicroseconds: 1_500),
            CallStats(call: "service_stats", count: 3, errors: 0, p50Microseconds: -1, p99Microseconds: 0, maxMicroseconds: 7),
        ])
    let refusal = ServiceError(.unknownMessageKind, "kind_0x9999 is not served here")
    let pingHeader = FrameHeader(kind: .ping, requestId: 7)
    let statsHeader = FrameHeader(kind: .serviceStats, requestId: 0x0102_0304_0506_0708)
    let experimentClaim = ExperimentClaimRequest(userId: "u-42", experimentId: "x-1", channel: "app", deviceId: "dev-7", requestId: "req-1")
    let recommend = RecommendRequest(userId: "u-42", amountCents: 20_000, limit: 5, channel: "app", policy: .v1)
    // Offered nothing (NONE) by v0, with one template dropped: the other shape of the answer.
    let recommendation = Recommendation(
        decisionId: 7, userId: "u-7", segment: "NEW", policy: .v0, holdout: true, arm: .none, propensity: 1, offer: nil, ranked: [],
        dropped: [DroppedTemplate(templateId: "tpl-9", code: .perUserLimitReached, message: "limit")],
        features: UserFeatures(orders: 0, couponOrders: 0, averageDepthBasisPoints: nil, ordersLast30Days: 0, tags: ["VIP"], byType: []))
    let report = HealthReportRequest(fromMilliseconds: 1_764_000_000_000, toMilliseconds: 1_764_003_600_000)
    return [
        ("frame-ping-request", try Envelope.request(PingRequest(), requestId: 7)),
        ("frame-stats-request", try Envelope.request(ServiceStatsRequest(), requestId: 9, deadlineMilliseconds: 1_764_000_000_000)),
        ("frame-ping-reply", Envelope.reply(to: pingHeader, body: try WireBody.encode(ping))),
        ("frame-stats-reply", Envelope.reply(to: statsHeader, body: try WireBody.encode(stats))),
        ("frame-error-reply", Envelope.errorReply(to: pingHeader, refusal)),
        // Requests with a credential block (flags 4): a token before a body, and one before none.
        (
            "frame-pause-with-credential",
            try Envelope.request(PauseTemplateRequest(templateId: "tpl-1"), requestId: 11, credential: "cct_0123abcd")
        ),
        ("frame-ping-with-credential", try Envelope.request(PingRequest(), requestId: 12, credential: "service-token-0123456789")),
        ("body-login-request", try WireBody.encode(LoginRequest(username: "ada", password: "correct horse"))),
        ("body-ping-response", try WireBody.encode(ping)),
        ("body-service-error", try WireBody.encode(refusal)),
        ("frame-experiment-claim-request", try Envelope.request(experimentClaim, requestId: 11)),
        ("body-experiment-claim-request", try WireBody.encode(experimentClaim)),
        ("frame-recommend-request", try Envelope.request(recommend, requestId: 12)),
        ("body-recommendation", try WireBody.encode(recommendation)),
        ("frame-health-report-request", try Envelope.request(report, requestId: 13)),
        ("body-risk-audit-summary", try WireBody.encode(RiskAuditSummary(decisions: 3, denied: 1, reviewed: 1, byReason: []))),
    ]
}
