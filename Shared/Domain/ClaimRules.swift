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

    /// The segments of one user a check may name: the computed ones plus at most
    /// `TemplateRules.maxListEntries` tags.
    public static let maxUserSegments = TemplateRules.maxListEntries + 2

    /// Why `request` cannot be evaluated at all (`.invalidArgument`), or nil. The template must pass
    /// `TemplateRules.validate`, the very checks `template_create` ran, so HTTP, the wire and the rule
    /// engine share one validation; the channel and segments are names; the clock is in range.
    public static func requestProblem(_ request: ClaimCheckRequest) -> ServiceError? {
        do throws(ServiceError) {
            try TemplateRules.validate(request.spec)
            try TemplateRules.identifier(request.channel, field: "channel")
            guard request.userSegments.count <= maxUserSegments else {
                throw ServiceError(.invalidArgument, "userSegments: at most \(maxUserSegments) entries")
            }
            for (index, segment) in request.userSegments.enumerated() {
                try TemplateRules.identifier(segment, field: "userSegments[\(index)]")
            }
            try Timestamp.checkRange(request.nowMilliseconds, field: "now")
            return nil
        } catch {
            return error
        }
    }

    /// One check; a request that cannot be evaluated is refused with `.invalidArgument`, alone.
    public static func check(_ request: ClaimCheckRequest) -> ClaimCheckResponse {
        let spec = request.spec
        func refuse(_ error: ServiceError) -> ClaimCheckResponse {
            ClaimCheckResponse(
                refusal: error, thresholdCents: 0, discountCents: 0, segment: nil, expiresMilliseconds: 0, budgetCostCents: 0)
        }
        func refuse(_ code: ErrorCode, _ message: String) -> ClaimCheckResponse { refuse(ServiceError(code, message)) }
        if let problem = requestProblem(request) { return refuse(problem) }
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
        let expires: Int64
        do {
            expires = try expiry(spec, claimedAt: request.nowMilliseconds)
        } catch {
            return refuse(error)
        }
        return ClaimCheckResponse(
            refusal: nil, thresholdCents: threshold, discountCents: discount, segment: tier?.segment,
            expiresMilliseconds: expires, budgetCostCents: budgetCost)
    }

    /// `validHours` after the claim, never past the template's end; the end itself otherwise.
    /// Checked arithmetic: hours that do not fit after `claimedAt` are `.invalidArgument`, not a trap.
    public static func expiry(_ spec: TemplateSpec, claimedAt: Int64) throws(ServiceError) -> Int64 {
        guard let hours = spec.validHours else { return spec.endMilliseconds }
        let (span, spanOverflow) = Int64(hours).multipliedReportingOverflow(by: 3_600_000)
        let (expires, sumOverflow) = claimedAt.addingReportingOverflow(span)
        guard !spanOverflow, !sumOverflow else {
            throw ServiceError(.invalidArgument, "validHours: \(hours) hours after \(claimedAt) ms is out of range")
        }
        return min(expires, spec.endMilliseconds)
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
