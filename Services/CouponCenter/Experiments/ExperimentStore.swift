import Access
import Domain
import Postgres
import ServiceKit
import Wire

/// Every PostgreSQL statement about experiments (migration 0011): create with its arms, read,
/// list, the status changes (each one conditional UPDATE, so two operators racing cannot both
/// win), the exposure recorded once, and the per-arm sums the results are computed from.
struct ExperimentStore: Sendable {
    let database: PostgresPool

    /// An experiment as stored: what the API shows, and the salt it never shows.
    struct Stored: Sendable {
        var view: ExperimentView
        var salt: String
    }

    static let experimentSelect: SQL = """
        SELECT e.id, e.name, e.hypothesis, e.salt, e.status, e.primary_metric, e.decision_rule, e.alpha_bp, e.min_lift_bp, e.rollout_arm,
               (extract(epoch FROM e.created_at) * 1000)::bigint AS created_ms, (extract(epoch FROM e.started_at) * 1000)::bigint AS started_ms,
               (extract(epoch FROM e.stopped_at) * 1000)::bigint AS stopped_ms,
               (SELECT json_agg(json_build_object('name', a.name, 'templateId', a.template_id, 'weight', a.weight_buckets) ORDER BY a.position)::text
                  FROM experiment_arm a WHERE a.experiment_id = e.id) AS arms
          FROM experiment e
        """

    /// Inserts the experiment and its arms in one statement; an arm naming a missing template is
    /// `TEMPLATE_NOT_FOUND` (the foreign key says which).
    /// The audit row (`experiment.create`, the experiment's row as `after`) is part of the same
    /// statement, so it commits with the experiment or not at all.
    func create(_ spec: ExperimentSpec, id: String, salt: String, by actor: AuditActor) async throws -> Stored {
        let arms = JSONValue.array(
            spec.arms.enumerated().map { position, arm in
                .object([
                    ("position", .integer(Int64(position))), ("name", .string(arm.name)), ("templateId", .string(arm.templateId)),
                    ("weight", .integer(Int64(arm.weightBuckets))),
                ])
            })
        do {
            _ = try await database.autocommitQuery(
                """
                WITH created AS (
                    INSERT INTO experiment AS e (id, name, hypothesis, salt, primary_metric, decision_rule, alpha_bp, min_lift_bp)
                    VALUES ($1, $2, $3, $4, $5, $6, $7::integer, $8::integer)
                    RETURNING e.id, to_jsonb(e) - 'salt' AS row
                ),
                audit AS (
                    INSERT INTO operator_audit (actor, actor_kind, action, target, before, after, request_id)
                    SELECT $10, $11, 'experiment.create', id, NULL, row || jsonb_build_object('arms', $9::jsonb), $12 FROM created
                )
                INSERT INTO experiment_arm (experiment_id, position, name, weight_buckets, template_id)
                SELECT (SELECT id FROM created), (a->>'position')::smallint, a->>'name', (a->>'weight')::integer, a->>'templateId'
                  FROM jsonb_array_elements($9::jsonb) a
                """,
                [
                    id, spec.name, spec.hypothesis, salt, spec.primaryMetric.rawValue, spec.decisionRule.rawValue, Int(spec.alphaBasisPoints),
                    Int(spec.minLiftBasisPoints), arms.serialized(), AuditLog.clamped(actor.name, to: 64), actor.kind.rawValue,
                    actor.requestId.map { AuditLog.clamped($0, to: 128) },
                ])
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            throw ServiceError(.templateNotFound, "an arm names a template that does not exist")
        }
        guard let stored = try await experiment(id) else { throw ServiceError(.internalError, "experiment \(id) vanished after insert") }
        return stored
    }

    func experiment(_ id: String) async throws -> Stored? {
        try await database.query(Self.experimentSelect + " WHERE e.id = $1", [id]).first.map(Self.stored)
    }

    func list(limit: Int) async throws -> [ExperimentView] {
        try await database.query(Self.experimentSelect + " ORDER BY e.created_at DESC, e.id LIMIT $1::integer", [limit]).map {
            try Self.stored($0).view
        }
    }

    /// Moves the experiment from one of `from` to `to` (setting its start, stop or rollout
    /// columns); false when it was not in one of `from` by then.
    /// The audit row (`action`, the row before and after) is part of the same statement: no change,
    /// no row.
    func transition(
        _ id: String, from: [ExperimentStatus], to: ExperimentStatus, rolloutArm: String? = nil, action: String, by actor: AuditActor
    ) async throws -> Bool {
        let rows = try await database.autocommitQuery(
            """
            WITH before AS (SELECT to_jsonb(e) - 'salt' AS row FROM experiment e WHERE id = $1),
            changed AS (
                UPDATE experiment e
                   SET status = $3,
                       started_at = CASE WHEN $3 = 'RUNNING' THEN now() ELSE started_at END,
                       stopped_at = CASE WHEN $3 IN ('STOPPED', 'ROLLED_OUT') THEN COALESCE(stopped_at, now()) ELSE stopped_at END,
                       rollout_arm = $4
                 WHERE id = $1 AND status = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))
                RETURNING e.id, to_jsonb(e) - 'salt' AS row
            ),
            audit AS (
                INSERT INTO operator_audit (actor, actor_kind, action, target, before, after, request_id)
                SELECT $5, $6, $7, changed.id, (SELECT row FROM before), changed.row, $8 FROM changed
            )
            SELECT id FROM changed
            """,
            [
                id, SQLArrays.json(from.map(\.rawValue)), to.rawValue, rolloutArm, AuditLog.clamped(actor.name, to: 64), actor.kind.rawValue, action,
                actor.requestId.map { AuditLog.clamped($0, to: 128) },
            ])
        return !rows.isEmpty
    }

    /// Records the user's first exposure in `arm`, or keeps the one recorded before (a retry, a
    /// race with another process): answers the arm recorded, which is the one the user stays in.
    /// A row committed by a racing process after this statement's snapshot is skipped by
    /// ON CONFLICT yet invisible to its SELECT; a second statement, with a fresh snapshot, reads it.
    func recordExposure(experimentId: String, userId: String, arm: String) async throws -> String {
        if let recorded = try await insertExposure(experimentId: experimentId, userId: userId, arm: arm) { return recorded }
        let rows = try await database.query(
            "SELECT arm FROM experiment_exposure WHERE experiment_id = $1 AND user_id = $2", [experimentId, userId])
        guard let row = rows.first else { throw ServiceError(.internalError, "exposure of \(userId) to \(experimentId) neither written nor found") }
        return try row.decode(0, as: String.self)
    }

    private func insertExposure(experimentId: String, userId: String, arm: String) async throws -> String? {
        let rows = try await database.autocommitQuery(
            """
            WITH inserted AS (
                INSERT INTO experiment_exposure (experiment_id, user_id, arm) VALUES ($1, $2, $3)
                ON CONFLICT (experiment_id, user_id) DO NOTHING
                RETURNING arm
            )
            SELECT arm FROM inserted
            UNION ALL
            SELECT arm FROM experiment_exposure WHERE experiment_id = $1 AND user_id = $2 AND NOT EXISTS (SELECT 1 FROM inserted)
            """, [experimentId, userId, arm])
        return try rows.first?.decode(0, as: String.self)
    }

    /// Per arm, in position order: exposed users; their coupons of the arm's template; of those
    /// used now (a refunded coupon is UNUSED again, so uses are net of refunds), with the orders'
    /// amount and the discount; and Σ(uses per user)² for Welch's variance. All aggregates in SQL.
    func armCounts(_ id: String, arms: [ExperimentArmSpec]) async throws -> [ExperimentAnalysis.ArmCounts] {
        let rows = try await database.query(
            """
            WITH per_user AS (
                SELECT x.arm, x.user_id,
                       count(c.id) AS claims,
                       count(c.id) FILTER (WHERE c.status = 'USED') AS uses,
                       COALESCE(sum(c.order_amount_cents) FILTER (WHERE c.status = 'USED'), 0) AS order_cents,
                       COALESCE(sum(c.applied_cents) FILTER (WHERE c.status = 'USED'), 0) AS discount_cents
                  FROM experiment_exposure x
                  JOIN experiment_arm a ON a.experiment_id = x.experiment_id AND a.name = x.arm
                  LEFT JOIN user_coupon c ON c.user_id = x.user_id AND c.template_id = a.template_id
                 WHERE x.experiment_id = $1
                 GROUP BY x.arm, x.user_id
            )
            SELECT a.name,
                   count(p.user_id)::bigint AS exposed,
                   COALESCE(sum(p.claims), 0)::bigint AS claims,
                   COALESCE(sum(p.uses), 0)::bigint AS uses,
                   COALESCE(sum(p.uses * p.uses), 0)::bigint AS uses_squared,
                   COALESCE(sum(p.order_cents), 0)::bigint AS order_cents,
                   COALESCE(sum(p.discount_cents), 0)::bigint AS discount_cents
              FROM experiment_arm a
              LEFT JOIN per_user p ON p.arm = a.name
             WHERE a.experiment_id = $1
             GROUP BY a.position, a.name
             ORDER BY a.position
            """, [id])
        var byName: [String: ExperimentAnalysis.ArmCounts] = [:]
        for row in rows {
            let name = try row.decode("name", as: String.self)
            guard let arm = arms.first(where: { $0.name == name }) else { continue }
            byName[name] = ExperimentAnalysis.ArmCounts(
                arm: arm, exposedUsers: try row.decode("exposed"), claims: try row.decode("claims"), uses: try row.decode("uses"),
                usesSquared: try row.decode("uses_squared"), orderAmountCents: try row.decode("order_cents"),
                discountCents: try row.decode("discount_cents"))
        }
        return arms.map {
            byName[$0.name]
                ?? ExperimentAnalysis.ArmCounts(arm: $0, exposedUsers: 0, claims: 0, uses: 0, usesSquared: 0, orderAmountCents: 0, discountCents: 0)
        }
    }

    static func stored(_ row: PostgresRow) throws -> Stored {
        let armsText = try row.decode("arms", as: String?.self) ?? "[]"
        guard case .array(let elements) = try JSONParser.parse(Array(armsText.utf8)) else {
            throw ServiceError(.internalError, "experiment_arm rows did not read back as a JSON array")
        }
        let arms = try elements.map { element throws(ServiceError) -> ExperimentArmSpec in
            let fields = try JSONFields(element, allowed: ["name", "templateId", "weight"], path: "arms")
            return ExperimentArmSpec(
                name: try fields.string("name"), templateId: try fields.string("templateId"), weightBuckets: try fields.int32("weight"))
        }
        let spec = ExperimentSpec(
            name: try row.decode("name"), hypothesis: try row.decode("hypothesis"), arms: arms,
            primaryMetric: try row.decode("primary_metric", as: ExperimentMetric.self), minLiftBasisPoints: try row.decode("min_lift_bp"),
            alphaBasisPoints: try row.decode("alpha_bp"), decisionRule: try row.decode("decision_rule", as: DecisionRule.self))
        let view = ExperimentView(
            experimentId: try row.decode("id"), spec: spec, status: try row.decode("status", as: ExperimentStatus.self),
            rolloutArm: try row.decode("rollout_arm"), createdMilliseconds: try row.decode("created_ms"),
            startedMilliseconds: try row.decode("started_ms"), stoppedMilliseconds: try row.decode("stopped_ms"))
        return Stored(view: view, salt: try row.decode("salt"))
    }
}
