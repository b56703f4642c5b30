/// Reconciliation (对账, 0x0124–0x012A): runs that compare a business day's ledger with the coupon
/// rows, the counters (PostgreSQL's and Redis's), the budgets and the order system's feed; the items
/// they find; the incidents they open; and the feed itself. Business days are `YYYY-MM-DD` in
/// coupon-center's time zone; money is cents; nothing here is a binary float.

/// What a run compares (README "Reconciliation" lists each check's codes).
public enum ReconcileCheck: String, Codable, Sendable, CaseIterable {
    /// Every coupon's state folded from the ledger against its row (zero tolerance).
    case couponState = "COUPON_STATE"
    /// The ledger's counts against the template's counters and Redis's (zero tolerance).
    case counters = "COUNTERS"
    /// The template's budget spent against the sum over its ledger (zero tolerance).
    case budget = "BUDGET"
    /// The day's redemptions against the feed's orders, order by order (listed, no incident).
    case orders = "ORDERS"
    /// The day's money against the feed's, alarmed above 0.1% relative difference.
    case money = "MONEY"
}

public enum ReconcileOutcome: String, Codable, Sendable, CaseIterable { case clean = "CLEAN", differences = "DIFFERENCES" }

/// The self-check found every fault it planted (PASSED), or missed one (BLIND, alerted as critical).
public enum SelfCheckOutcome: String, Codable, Sendable, CaseIterable { case passed = "PASSED", blind = "BLIND" }

public enum IncidentStatus: String, Codable, Sendable, CaseIterable {
    case open = "OPEN", acknowledged = "ACKNOWLEDGED", resolved = "RESOLVED", accepted = "ACCEPTED"
}

/// `reconcile_start` (0x0124): `POST /api/admin/reconcile`. Without `rerun`, a day and scope run
/// before answers that run (`reused`); with it, a new attempt. `selfCheck` adds the self-check.
public struct ReconcileStartRequest: WireRequest, Equatable {
    public typealias Response = ReconcileRunSummary
    public static let kind = MessageKind.reconcileStart
    public var businessDate: String
    public var templateId: String?
    public var rerun: Bool
    public var selfCheck: Bool
    public init(businessDate: String, templateId: String? = nil, rerun: Bool = false, selfCheck: Bool = false) {
        self.businessDate = businessDate
        self.templateId = templateId
        self.rerun = rerun
        self.selfCheck = selfCheck
    }
}

/// One check of a run: its items, and for MONEY (one per template) the two sums, their relative
/// difference and whether it is above the alarm.
public struct ReconcileCheckSummary: Codable, Sendable, Equatable {
    public var check: ReconcileCheck
    public var templateId: String?
    public var items: Int32
    public var ledgerCents: Int64?
    public var feedCents: Int64?
    /// |ledger − feed| ÷ max(|ledger|, |feed|, 1), in basis points rounded down.
    public var differenceBasisPoints: Int64?
    public var alarm: Bool

    public init(
        check: ReconcileCheck, templateId: String?, items: Int32, ledgerCents: Int64?, feedCents: Int64?, differenceBasisPoints: Int64?,
        alarm: Bool
    ) {
        self.check = check
        self.templateId = templateId
        self.items = items
        self.ledgerCents = ledgerCents
        self.feedCents = feedCents
        self.differenceBasisPoints = differenceBasisPoints
        self.alarm = alarm
    }
}

public struct ReconcileRunSummary: Codable, Sendable, Equatable {
    public var runId: Int64
    public var businessDate: String
    /// `all`, or `template:` and the id.
    public var scope: String
    public var attempt: Int32
    public var outcome: ReconcileOutcome
    public var startedMilliseconds: Int64
    public var finishedMilliseconds: Int64
    /// Events at or after this instant were not judged (the safety margin).
    public var judgedUntilMilliseconds: Int64
    public var templates: Int32
    public var couponsJudged: Int64
    public var feedOrders: Int64
    public var itemCount: Int32
    public var incidentsOpened: Int32
    public var checks: [ReconcileCheckSummary]
    public var selfCheck: SelfCheckOutcome?
    /// The planted faults the self-check did not find.
    public var selfCheckMissed: [String]
    /// True when this answers an earlier run of the same day and scope.
    public var reused: Bool

    public init(
        runId: Int64, businessDate: String, scope: String, attempt: Int32, outcome: ReconcileOutcome, startedMilliseconds: Int64,
        finishedMilliseconds: Int64, judgedUntilMilliseconds: Int64, templates: Int32, couponsJudged: Int64, feedOrders: Int64,
        itemCount: Int32, incidentsOpened: Int32, checks: [ReconcileCheckSummary], selfCheck: SelfCheckOutcome?, selfCheckMissed: [String],
        reused: Bool
    ) {
        self.runId = runId
        self.businessDate = businessDate
        self.scope = scope
        self.attempt = attempt
        self.outcome = outcome
        self.startedMilliseconds = startedMilliseconds
        self.finishedMilliseconds = finishedMilliseconds
        self.judgedUntilMilliseconds = judgedUntilMilliseconds
        self.templates = templates
        self.couponsJudged = couponsJudged
        self.feedOrders = feedOrders
        self.itemCount = itemCount
        self.incidentsOpened = incidentsOpened
        self.checks = checks
        self.selfCheck = selfCheck
        self.selfCheckMissed = selfCheckMissed
        self.reused = reused
    }
}

/// One difference a run found.
public struct ReconcileItemView: Codable, Sendable, Equatable {
    public var position: Int32
    public var check: ReconcileCheck
    public var code: String
    public var templateId: String?
    public var couponId: String?
    public var orderId: String?
    /// What the ledger says (the reference), and what the other side says.
    public var expected: String?
    public var actual: String?

    public init(
        position: Int32, check: ReconcileCheck, code: String, templateId: String?, couponId: String?, orderId: String?, expected: String?,
        actual: String?
    ) {
        self.position = position
        self.check = check
        self.code = code
        self.templateId = templateId
        self.couponId = couponId
        self.orderId = orderId
        self.expected = expected
        self.actual = actual
    }
}

/// `reconcile_run_get` (0x0125): `GET /api/admin/reconcile/runs/{runId}?offset=&limit=`, the run
/// and a page of its items in position order.
public struct ReconcileRunGetRequest: WireRequest, Equatable {
    public typealias Response = ReconcileRunDetail
    public static let kind = MessageKind.reconcileRunGet
    public var runId: Int64
    public var offset: Int32
    public var limit: Int32
    public init(runId: Int64, offset: Int32 = 0, limit: Int32 = 100) {
        self.runId = runId
        self.offset = offset
        self.limit = limit
    }
}

public struct ReconcileRunDetail: Codable, Sendable, Equatable {
    public var run: ReconcileRunSummary
    public var items: [ReconcileItemView]
    /// Set when there are more items: pass it as `offset`.
    public var nextOffset: Int32?
    public init(run: ReconcileRunSummary, items: [ReconcileItemView], nextOffset: Int32?) {
        self.run = run
        self.items = items
        self.nextOffset = nextOffset
    }
}

/// `reconcile_runs_list` (0x0126): `GET /api/admin/reconcile/runs?date=`, the day's runs, newest first.
public struct ReconcileRunsListRequest: WireRequest, Equatable {
    public typealias Response = ReconcileRunList
    public static let kind = MessageKind.reconcileRunsList
    public var businessDate: String
    public init(businessDate: String) { self.businessDate = businessDate }
}

public struct ReconcileRunList: Codable, Sendable, Equatable {
    public var runs: [ReconcileRunSummary]
    public init(runs: [ReconcileRunSummary]) { self.runs = runs }
}

/// `feed_submit` (0x0127): `POST /api/admin/reconcile/feed?date=`, the order system's view of one
/// day as NDJSON, one order a line (README "Order feed"). Each refused line fails alone.
public struct FeedSubmitRequest: WireRequest, Equatable {
    public typealias Response = FeedSubmitResult
    public static let kind = MessageKind.feedSubmit
    public var businessDate: String
    public var ndjson: String
    public init(businessDate: String, ndjson: String) {
        self.businessDate = businessDate
        self.ndjson = ndjson
    }
}

public struct FeedLineRefusal: Codable, Sendable, Equatable {
    /// 1-based line number in the body.
    public var line: Int32
    public var code: ErrorCode
    public var message: String
    public init(line: Int32, code: ErrorCode, message: String) {
        self.line = line
        self.code = code
        self.message = message
    }
}

public struct FeedSubmitResult: Codable, Sendable, Equatable {
    /// Lines stored as new orders, lines that replaced a different stored line, and lines equal to
    /// what was stored (nothing changed).
    public var stored: Int32
    public var replaced: Int32
    public var unchanged: Int32
    public var refused: [FeedLineRefusal]
    public init(stored: Int32, replaced: Int32, unchanged: Int32, refused: [FeedLineRefusal]) {
        self.stored = stored
        self.replaced = replaced
        self.unchanged = unchanged
        self.refused = refused
    }
}

public struct IncidentView: Codable, Sendable, Equatable {
    public var incidentId: Int64
    public var check: ReconcileCheck
    /// Empty for a difference that belongs to no template.
    public var templateId: String
    public var businessDate: String
    public var status: IncidentStatus
    /// Items of the check in the incident's latest run (0 once resolved).
    public var items: Int32
    public var firstRunId: Int64
    public var lastRunId: Int64
    public var note: String?
    public var openedMilliseconds: Int64
    public var updatedMilliseconds: Int64

    public init(
        incidentId: Int64, check: ReconcileCheck, templateId: String, businessDate: String, status: IncidentStatus, items: Int32,
        firstRunId: Int64, lastRunId: Int64, note: String?, openedMilliseconds: Int64, updatedMilliseconds: Int64
    ) {
        self.incidentId = incidentId
        self.check = check
        self.templateId = templateId
        self.businessDate = businessDate
        self.status = status
        self.items = items
        self.firstRunId = firstRunId
        self.lastRunId = lastRunId
        self.note = note
        self.openedMilliseconds = openedMilliseconds
        self.updatedMilliseconds = updatedMilliseconds
    }
}

/// `incidents_list` (0x0128): `GET /api/admin/incidents?status=&limit=&before=`, newest first.
public struct IncidentsListRequest: WireRequest, Equatable {
    public typealias Response = IncidentList
    public static let kind = MessageKind.incidentsList
    public var status: IncidentStatus?
    public var limit: Int32
    public var beforeId: Int64?
    public init(status: IncidentStatus? = nil, limit: Int32 = 100, beforeId: Int64? = nil) {
        self.status = status
        self.limit = limit
        self.beforeId = beforeId
    }
}

public struct IncidentList: Codable, Sendable, Equatable {
    public var incidents: [IncidentView]
    public var nextBeforeId: Int64?
    public init(incidents: [IncidentView], nextBeforeId: Int64?) {
        self.incidents = incidents
        self.nextBeforeId = nextBeforeId
    }
}

/// `incident_ack` (0x0129): `POST /api/admin/incidents/{id}/ack`, OPEN → ACKNOWLEDGED (an
/// acknowledged incident answers as it is).
public struct IncidentAckRequest: WireRequest, Equatable {
    public typealias Response = IncidentView
    public static let kind = MessageKind.incidentAck
    public var incidentId: Int64
    public init(incidentId: Int64) { self.incidentId = incidentId }
}

/// `incident_accept` (0x012A): `POST /api/admin/incidents/{id}/accept {note}`, OPEN or
/// ACKNOWLEDGED → ACCEPTED: an operator decided the difference is explained.
public struct IncidentAcceptRequest: WireRequest, Equatable {
    public typealias Response = IncidentView
    public static let kind = MessageKind.incidentAccept
    public var incidentId: Int64
    public var note: String
    public init(incidentId: Int64, note: String) {
        self.incidentId = incidentId
        self.note = note
    }
}
