// libFuzzer target `rule-engine`: frames through a real `RPCRouter` with rule-engine's handlers,
// registered by the same `RuleEngineRoutes.register` that RuleEngineMain calls, plus the standard
// ping/service_stats handlers ServiceMain adds. Deploy/fuzz compiles this file, FuzzSupport.swift,
// RouterFuzzing.swift (shared with risk-control's target) and Services/RuleEngine/RuleEngineRoutes.swift
// against the Wire, Domain and ServiceKit modules;
// `router.handle(bytes)` is what the NNG listener calls, so no socket is needed.
//
// An input whose first byte is even is a whole frame (the rest of the bytes); odd, it is a body
// (the rest) sent as a valid frame of one of the served kinds, so mutations reach the handlers.
// The contract: every byte string gets exactly one reply frame, for the request's id and kind when
// its header was readable, and never INTERNAL_ERROR (a handler that traps kills the fuzzer). An
// answer that is not an error decodes as the call's response and keeps the rules' promises:
// one result per item of a batch, amounts off within the order, an expiry after the claim.
import Domain
import ServiceKit
import Wire

let router: RPCRouter = {
    var router = RPCRouter(service: "rule-engine", metrics: Metrics(), logger: Logger(service: "rule-engine", level: .error))
    RuleEngineRoutes.register(on: &router)
    router.registerStandardHandlers(instance: "fuzz", startedAt: .now, dependencies: { [] })
    return router
}()

let servedKinds: [MessageKind] = [.claimCheck, .claimCheckBatch, .discountQuote, .discountQuoteBatch, .bestCombination, .ping, .serviceStats]

func fuzzTarget(_ bytes: [UInt8]) {
    guard let frame = frame(from: bytes, servedKinds: servedKinds) else { return }
    check(reply: serve(frame, by: router), to: frame, input: bytes)
}

func check(reply bytes: [UInt8], to request: [UInt8], input: [UInt8]) {
    let (reply, error) = readReply(bytes, to: request, service: "rule-engine", input: input)
    guard error == nil else { return }
    // A success: the request was a well-formed frame of a served kind.
    guard let frame = try? FrameCodec.decode(request) else { propertyFailed("a reply that is not an error to a bad frame", input: input) }
    switch frame.header.kind {
    case .claimCheck:
        let (call, answer) = decode(ClaimCheckRequest.self, frame, reply, input)
        checkClaim(call, answer, input)
    case .claimCheckBatch:
        let (call, answer) = decode(ClaimCheckBatchRequest.self, frame, reply, input)
        checkEach(call.checks, answer.results, input, checkClaim)
    case .discountQuote:
        let (call, answer) = decode(DiscountQuoteRequest.self, frame, reply, input)
        checkQuote(call, answer, input)
    case .discountQuoteBatch:
        let (call, answer) = decode(DiscountQuoteBatchRequest.self, frame, reply, input)
        checkEach(call.quotes, answer.results, input, checkQuote)
    case .bestCombination:
        let (call, answer) = decode(BestCombinationRequest.self, frame, reply, input)
        guard answer.explain.count == call.coupons.count else {
            propertyFailed("\(call.coupons.count) coupons, \(answer.explain.count) explained", input: input)
        }
        guard answer.discountCents >= 0, answer.payableCents >= 0, answer.couponIds.count <= 3 else {
            propertyFailed("best combination \(answer.couponIds) takes \(answer.discountCents), leaves \(answer.payableCents)", input: input)
        }
        if Discounts.orderProblem(call.order) == nil, answer.discountCents + answer.payableCents != call.order.amountCents {
            propertyFailed("best combination: discount + payable != the order amount", input: input)
        }
    default:
        checkStandardSuccess(frame, reply, input)
    }
}

/// A batch answers every item, in order, each as the single call would.
func checkEach<Item, Result>(_ items: [Item], _ results: [Result], _ input: [UInt8], _ check: (Item, Result, [UInt8]) -> Void) {
    guard results.count == items.count else { propertyFailed("\(items.count) items, \(results.count) results", input: input) }
    for (item, result) in zip(items, results) { check(item, result, input) }
}

func checkClaim(_ call: ClaimCheckRequest, _ answer: ClaimCheckResponse, _ input: [UInt8]) {
    guard answer.refusal == nil else { return }
    guard answer.expiresMilliseconds > call.nowMilliseconds, answer.expiresMilliseconds <= call.spec.endMilliseconds,
        answer.discountCents >= 0, answer.thresholdCents >= 0, answer.budgetCostCents >= 0
    else {
        propertyFailed("claim_check granted \(answer) for \(call)", input: input)
    }
}

func checkQuote(_ call: DiscountQuoteRequest, _ answer: DiscountQuote, _ input: [UInt8]) {
    guard answer.refusal == nil else {
        guard answer.discountCents == 0 else { propertyFailed("a refused quote takes \(answer.discountCents) off", input: input) }
        return
    }
    guard answer.discountCents >= 0, answer.discountCents <= answer.eligibleCents, answer.eligibleCents <= call.order.amountCents,
        answer.payableCents == call.order.amountCents - answer.discountCents
    else {
        propertyFailed("discount_quote answered \(answer) for \(call)", input: input)
    }
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let now: Int64 = 1_794_326_400_000
    let spec = TemplateSpec(
        name: "满200减30", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now,
        endMilliseconds: now + 7 * 86_400_000, validHours: 24, totalStock: 1_000, perUserLimit: 1, channels: ["app"], segments: ["NEW", "VIP"],
        tiers: [Tier(segment: "VIP", thresholdCents: 10_000, discountCents: 2_000)])
    let claim = ClaimCheckRequest(spec: spec, status: .active, channel: "app", userSegments: ["VIP"], nowMilliseconds: now + 1)
    let items = [
        OrderItem(sku: "k1", category: "digital", shopId: "S1", amountCents: 30_000),
        OrderItem(sku: "k2", category: "food", shopId: "S2", amountCents: 5_000),
    ]
    let order = OrderSummary(amountCents: 35_000, items: items)
    func coupon(_ id: String, _ type: CouponType, _ level: ScopeLevel, discount: Int64 = 0, rate: Int32? = nil, cap: Int64? = nil) -> CouponTerms {
        CouponTerms(
            couponId: id, type: type, status: .unused, thresholdCents: 10_000, discountCents: discount, rateBasisPoints: rate,
            maxDiscountCents: cap, level: level, shopId: level == .shop ? "S1" : nil, categories: level == .category ? ["digital"] : [],
            stacking: .stackable, thresholdOnDiscounted: false, expiresMilliseconds: now + 86_400_000)
    }
    let wallet = [
        coupon("c1", .cash, .shop, discount: 2_000), coupon("c2", .discount, .category, rate: 8_000, cap: 5_000),
        coupon("c3", .free, .platform, cap: 1_000), coupon("c4", .exchange, .platform, discount: 500),
    ]
    let quote = DiscountQuoteRequest(coupon: wallet[1], order: order, nowMilliseconds: now)
    func body<R: WireRequest>(_ request: R) throws -> [UInt8] { try seedBody(request, servedKinds: servedKinds) }
    return [
        ("body-claim-check", try body(claim)),
        ("body-claim-check-batch", try body(ClaimCheckBatchRequest(checks: [claim, claim]))),
        ("body-discount-quote", try body(quote)),
        ("body-discount-quote-batch", try body(DiscountQuoteBatchRequest(quotes: [quote, quote]))),
        ("body-best-combination", try body(BestCombinationRequest(coupons: wallet, order: order, nowMilliseconds: now))),
        ("frame-claim-check", [0] + (try Envelope.request(claim, requestId: 7, deadlineMilliseconds: 0))),
        ("frame-ping", [0] + (try Envelope.request(PingRequest(), requestId: 9))),
    ]
}
