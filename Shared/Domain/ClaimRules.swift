import Wire

/// Who may claim a template, when, and with which face value. Pure: the rule engine answers
/// `claim_check` with it, and the tests check it without any server.
public enum ClaimRules {
    /// Whether `check` looks at the user's segments for this template (a segment restriction, or
    /// tiered face values); when not, a claim need not read the user's profile at all.
    public static func needsSegments(_ spec: TemplateSpec) -> Bool {
        !spec.segments.isEmpty || !spec.tiers.isEmpty
    }

    /// `claim_check_batch`: every check of the batch, in order.
    public static func check(_ batch: ClaimCheckBatchRequest) throws(ServiceError) -> ClaimCheckBatchResponse {
        guard batch.checks.count <= ClaimCheckBatchRequest.maxChecks else {
            throw ServiceError(.invalidArgument, "checks: at most \(ClaimCheckBatchRequest.maxChecks) per batch")
        }
        return ClaimCheckBatchResponse(results: batch.checks.map { check($0) })
    }

    public static func check(_ request: ClaimCheckRequest) -> ClaimCheckResponse {
        let spec = request.spec
        func refuse(_ code: ErrorCode, _ message: String) -> ClaimCheckResponse {
            ClaimCheckResponse(
                refusal: ServiceError(code, message), thresholdCents: 0, discountCents: 0, segment: nil,
                expiresMilliseconds: 0, budgetCostCents: 0)
        }
        guard request.status == .active else { return refuse(.templatePaused, "the template is paused") }
        guard request.nowMilliseconds >= spec.startMilliseconds else {
            return refuse(.claimWindowNotStarted, "claiming starts at the template's startTime")
        }
        guard request.nowMilliseconds < spec.endMilliseconds else { return refuse(.claimWindowEnded, "claiming ended at the template's endTime") }
        guard spec.channels.isEmpty || spec.channels.contains(request.channel) else {
            return refuse(.channelNotAllowed, "channel \(request.channel) is not one of \(spec.channels.joined(separator: ", "))")
        }
        guard spec.segments.isEmpty || !Set(spec.segments).isDisjoint(with: request.userSegments) else {
            return refuse(.segmentNotAllowed, "the user is not in any of the segments \(spec.segments.joined(separator: ", "))")
        }
        // The first tier, in the template's order, whose segment the user is in sets the face value.
        let tier = spec.tiers.first { request.userSegments.contains($0.segment) }
        let threshold = tier?.thresholdCents ?? spec.thresholdCents
        let discount = tier?.discountCents ?? spec.discountCents
        let budgetCost: Int64
        switch spec.type {
        case .cash, .exchange: budgetCost = discount
        case .discount, .free: budgetCost = spec.maxDiscountCents ?? 0
        }
        return ClaimCheckResponse(
            refusal: nil, thresholdCents: threshold, discountCents: discount, segment: tier?.segment,
            expiresMilliseconds: expiry(spec, claimedAt: request.nowMilliseconds), budgetCostCents: budgetCost)
    }

    /// `validHours` after the claim, never past the template's end; the end itself otherwise.
    public static func expiry(_ spec: TemplateSpec, claimedAt: Int64) -> Int64 {
        guard let hours = spec.validHours else { return spec.endMilliseconds }
        return min(claimedAt + Int64(hours) * 3_600_000, spec.endMilliseconds)
    }
}

/// A user's segments from their order history and the operator's tags (Shared/DESIGN.md §3).
public enum Segments {
    public static let new = "NEW"
    public static let returning = "RETURNING"
    public static let highFrequency = "HIGH_FREQ"
    public static let lowFrequency = "LOW_FREQ"

    /// NEW with no order yet; otherwise RETURNING plus HIGH_FREQ (at least `highFrequencyOrders`
    /// orders in the last 30 days) or LOW_FREQ; then the tags.
    public static func of(orderCount: Int32, ordersLast30Days: Int32, tags: [String], highFrequencyOrders: Int32 = 4) -> [String] {
        var segments: [String]
        if orderCount == 0 {
            segments = [new]
        } else {
            segments = [returning, ordersLast30Days >= highFrequencyOrders ? highFrequency : lowFrequency]
        }
        for tag in tags where !segments.contains(tag) { segments.append(tag) }
        return segments
    }
}
