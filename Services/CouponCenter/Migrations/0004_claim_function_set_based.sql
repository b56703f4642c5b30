-- claim_coupons, set-based. Version 2 wrote a batch claim by claim, each claim a subtransaction of
-- its own: about 85 µs of PostgreSQL per claim, all of it while the template's row is locked, which
-- capped a one-template claim storm near 10,000 claims/s before anything else ran. This version
-- decides the whole batch in one statement (window functions count the batch's claims per user,
-- template and day on top of the stored counters) and writes it with one statement per table.
--
-- Same arguments, same answer rows. The per-claim version stays, renamed claim_coupon_steps, behind
-- claim_coupons_each, which first answers DUPLICATE_REQUEST for a request id already stored (so a
-- retry gets its first answer even when the limits are reached by now). The batch falls back to
-- claim_coupons_each when a write breaks a constraint (a request id stored meanwhile by another
-- process, or any limit this statement got wrong), so the constraints stay the final guard and each
-- claim still gets its own exact answer. A request id twice in one batch: the first occurrences are
-- decided first, then the rest, which then find the first's record.
--
-- Decisions follow the batch's order (idx). Within one batch the running totals are conservative:
-- a claim refused late (say for the daily limit) still counts against the stock of the claims after
-- it in the same batch, so a batch may refuse a claim that a later batch would accept, never the
-- other way round.
ALTER FUNCTION claim_coupons(jsonb) RENAME TO claim_coupon_steps;

CREATE FUNCTION claim_coupons_each(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
BEGIN
    FOR c IN SELECT value FROM jsonb_array_elements(claims) LOOP
        IF c->>'requestId' IS NOT NULL AND EXISTS (
               SELECT 1 FROM idempotency_record r WHERE r.operation = c->>'operation' AND r.request_id = c->>'requestId') THEN
            RETURN QUERY SELECT (c->>'idx')::integer, 'DUPLICATE_REQUEST'::text, NULL::text, NULL::bigint;
        ELSE
            RETURN QUERY SELECT * FROM claim_coupon_steps(jsonb_build_array(c));
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION claim_coupons(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    answers jsonb;
BEGIN
    -- Lock every template of the batch once, in id order (the same order in every batch), then
    -- the points balances the batch spends, in user order.
    PERFORM 1 FROM coupon_template
      WHERE id IN (SELECT DISTINCT value->>'templateId' FROM jsonb_array_elements(claims))
      ORDER BY id FOR UPDATE;
    PERFORM 1 FROM user_points
      WHERE user_id IN (SELECT DISTINCT value->>'userId' FROM jsonb_array_elements(claims)
                         WHERE (value->>'pointsCost')::bigint > 0)
      ORDER BY user_id FOR UPDATE;

    -- One request id twice in a batch: whether the second is a duplicate depends on whether the
    -- first is written. Decide the first occurrences, then the rest (which then see the first's
    -- record, or try again if it was refused).
    IF EXISTS (SELECT 1 FROM jsonb_array_elements(claims) e WHERE e.value->>'requestId' IS NOT NULL
                GROUP BY e.value->>'operation', e.value->>'requestId' HAVING count(*) > 1) THEN
        RETURN QUERY SELECT * FROM claim_coupons((
            SELECT jsonb_agg(value ORDER BY ordinality) FROM (
                SELECT value, ordinality, row_number() OVER (
                           PARTITION BY value->>'operation', value->>'requestId' ORDER BY ordinality) AS n
                  FROM jsonb_array_elements(claims) WITH ORDINALITY) e
             WHERE value->>'requestId' IS NULL OR n = 1));
        RETURN QUERY SELECT * FROM claim_coupons((
            SELECT jsonb_agg(value ORDER BY ordinality) FROM (
                SELECT value, ordinality, row_number() OVER (
                           PARTITION BY value->>'operation', value->>'requestId' ORDER BY ordinality) AS n
                  FROM jsonb_array_elements(claims) WITH ORDINALITY) e
             WHERE value->>'requestId' IS NOT NULL AND n > 1));
        RETURN;
    END IF;

    BEGIN
        WITH c AS (
            SELECT x.* FROM jsonb_to_recordset(claims) AS x(
                idx integer, "couponId" text, "userId" text, "templateId" text, channel text, day date, type text,
                threshold bigint, discount bigint, rate integer, "maxDiscount" bigint, segment text, "budgetCost" bigint,
                "claimedAt" bigint, "expiresAt" bigint, "pointsCost" bigint, "requestId" text, operation text,
                payload text, response jsonb)
        ),
        -- What each claim finds stored: its template, today's count, the user's count, points.
        found AS (
            SELECT c.*,
                   t.id IS NOT NULL AS known, t.status, t.per_user_limit,
                   t.total_stock - t.issued_count AS stock_left,
                   t.budget_cents - t.budget_spent_cents AS budget_left,
                   COALESCE(t.daily_limit, 2147483647) AS daily,
                   COALESCE(t.daily_limit, 2147483647) - COALESCE(d.issued, 0) AS day_left,
                   t.per_user_limit - COALESCE(u.issued, 0) AS user_left,
                   COALESCE(p.points, 0) AS points,
                   c."requestId" IS NOT NULL AND EXISTS (
                       SELECT 1 FROM idempotency_record r WHERE r.operation = c.operation AND r.request_id = c."requestId") AS duplicate
              FROM c
              LEFT JOIN coupon_template t ON t.id = c."templateId"
              LEFT JOIN template_daily_issue d ON d.template_id = c."templateId" AND d.day = c.day
              LEFT JOIN user_template_issue u ON u.user_id = c."userId" AND u.template_id = c."templateId"
              LEFT JOIN user_points p ON p.user_id = c."userId"
        ),
        early AS (
            SELECT f.*, CASE
                    WHEN NOT known THEN 'TEMPLATE_NOT_FOUND'
                    WHEN status <> 'ACTIVE' THEN 'TEMPLATE_PAUSED'
                    WHEN duplicate THEN 'DUPLICATE_REQUEST'
                END AS refusal
              FROM found f
        ),
        -- The n-th claim of a user on a template in this batch, and the points the user's exchanges
        -- in this batch need up to this one.
        personal AS (
            SELECT e.*,
                   count(*) FILTER (WHERE refusal IS NULL) OVER (PARTITION BY "userId", "templateId" ORDER BY idx) AS user_n,
                   sum("pointsCost") FILTER (WHERE refusal IS NULL) OVER (PARTITION BY "userId" ORDER BY idx) AS points_needed
              FROM early e
        ),
        personal_verdict AS (
            SELECT p.*, COALESCE(refusal, CASE
                    WHEN user_n > user_left THEN 'PER_USER_LIMIT'
                    WHEN "pointsCost" > 0 AND points_needed > points THEN 'INSUFFICIENT_POINTS'
                END) AS refusal2
              FROM personal p
        ),
        -- Running totals per template and per template and day, over the claims still standing.
        totals AS (
            SELECT v.*,
                   count(*) FILTER (WHERE refusal2 IS NULL) OVER (PARTITION BY "templateId" ORDER BY idx) AS template_n,
                   sum("budgetCost") FILTER (WHERE refusal2 IS NULL) OVER (PARTITION BY "templateId" ORDER BY idx) AS template_cost,
                   count(*) FILTER (WHERE refusal2 IS NULL) OVER (PARTITION BY "templateId", day ORDER BY idx) AS day_n
              FROM personal_verdict v
        ),
        decided AS (
            SELECT t.*, COALESCE(refusal2, CASE
                    WHEN template_n > stock_left THEN 'SOLD_OUT'
                    WHEN budget_left IS NOT NULL AND template_cost > budget_left THEN 'BUDGET_EXHAUSTED'
                    WHEN day_n > day_left THEN 'DAILY_LIMIT'
                    ELSE 'OK'
                END) AS verdict
              FROM totals t
        ),
        ok AS (
            SELECT d.*,
                   CASE WHEN "pointsCost" > 0
                        THEN points - sum("pointsCost") OVER (PARTITION BY "userId" ORDER BY idx) END AS left_after
              FROM decided d WHERE verdict = 'OK'
        ),
        spend_points AS (
            UPDATE user_points p SET points = p.points - s.total
              FROM (SELECT "userId", sum("pointsCost") AS total FROM ok WHERE "pointsCost" > 0 GROUP BY "userId") s
             WHERE p.user_id = s."userId"
        ),
        log_points AS (
            INSERT INTO points_ledger (user_id, delta, reason, coupon_id)
            SELECT "userId", -"pointsCost", 'EXCHANGE', "couponId" FROM ok WHERE "pointsCost" > 0 ORDER BY idx
        ),
        count_users AS (
            INSERT INTO user_template_issue AS u (user_id, template_id, issued, per_user_limit)
            SELECT "userId", "templateId", count(*), min(per_user_limit) FROM ok GROUP BY "userId", "templateId"
            ON CONFLICT (user_id, template_id) DO UPDATE SET issued = u.issued + EXCLUDED.issued
        ),
        add_coupons AS (
            INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, rate_bp,
                                     max_discount_cents, segment, channel, claimed_at, expires_at)
            SELECT "couponId", "userId", "templateId", type, threshold, discount, rate, "maxDiscount", segment, channel,
                   to_timestamp("claimedAt" / 1000.0), to_timestamp("expiresAt" / 1000.0)
              FROM ok ORDER BY idx
            RETURNING id
        ),
        log_coupons AS (
            INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents)
            SELECT "couponId", "templateId", "userId", 'ISSUED', NULL, 'UNUSED', discount FROM ok ORDER BY idx
        ),
        remember AS (
            INSERT INTO idempotency_record (operation, request_id, payload, response)
            SELECT operation, "requestId", payload,
                   CASE WHEN "pointsCost" > 0 THEN jsonb_set(response, '{pointsLeft}', to_jsonb(left_after)) ELSE response END
              FROM ok WHERE "requestId" IS NOT NULL
        ),
        count_templates AS (
            UPDATE coupon_template t
               SET issued_count = t.issued_count + s.n, budget_spent_cents = t.budget_spent_cents + s.cost
              FROM (SELECT "templateId", count(*) AS n, sum("budgetCost") AS cost FROM ok GROUP BY "templateId") s
             WHERE t.id = s."templateId"
        ),
        count_days AS (
            INSERT INTO template_daily_issue AS d (template_id, day, issued, daily_limit)
            SELECT "templateId", day, count(*), min(daily) FROM ok GROUP BY "templateId", day
            ON CONFLICT (template_id, day) DO UPDATE SET issued = d.issued + EXCLUDED.issued
        )
        SELECT jsonb_agg(jsonb_build_object(
                   'idx', d.idx, 'outcome', d.verdict,
                   'couponId', CASE WHEN d.verdict = 'OK' THEN d."couponId" END,
                   'pointsLeft', o.left_after))
          INTO answers
          FROM decided d LEFT JOIN ok o ON o.idx = d.idx;
    EXCEPTION
        WHEN unique_violation OR check_violation OR foreign_key_violation THEN
            -- Something changed under the batch (or a limit was counted wrong): decide claim by
            -- claim instead, each with its own exact answer.
            RETURN QUERY SELECT * FROM claim_coupons_each(claims);
            RETURN;
    END;

    RETURN QUERY
    SELECT (a->>'idx')::integer, a->>'outcome', a->>'couponId', (a->>'pointsLeft')::bigint
      FROM jsonb_array_elements(COALESCE(answers, '[]')) a;
END;
$$;
