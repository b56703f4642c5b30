-- One declared shape per batch input, and the live definition of every batch function in one place.
--
-- Until now each function spelled its input's fields where it read them (a column list in
-- jsonb_to_recordset, or c->>'key' lookups), so a key renamed on the Swift side silently read as
-- NULL. The shapes are now composite types, read with jsonb_populate_recordset, and a test compares
-- their attributes with the keys coupon-center writes (Tests/IntegrationTests/BatchInputShapeTests).
-- Keys are camelCase because they are JSON keys, hence the quoted attribute names.
--
-- This migration restates the whole current definition of claim_coupon_steps (0002, renamed in
-- 0004), claim_coupons_each and claim_coupons (0004) and redeem_coupons (0005): the earlier files
-- are history, this one is what runs. Behaviour is unchanged.

-- One claim, an element of the array claim_coupons, claim_coupons_each and claim_coupon_steps take:
-- idx (its position in the batch), the coupon to create (couponId, type, threshold, discount, rate,
-- maxDiscount, segment, channel; claimedAt and expiresAt in Unix ms), who and what (userId,
-- templateId), day (YYYY-MM-DD in the configured time zone, for the daily limit), budgetCost and
-- pointsCost (what it spends), and for a request id: requestId, operation, payload and response
-- (the answer to store).
CREATE TYPE claim_input AS (
    idx integer, "couponId" text, "userId" text, "templateId" text, channel text, day date, type text,
    threshold bigint, discount bigint, rate integer, "maxDiscount" bigint, segment text, "budgetCost" bigint,
    "claimedAt" bigint, "expiresAt" bigint, "pointsCost" bigint, "requestId" text, operation text,
    payload text, response jsonb
);

-- One redemption, an element of the array redeem_coupons takes: idx, couponId, orderId, amount (the
-- order's, cents), applied (the discount, cents), requestId (or null), payload and response (stored
-- for the request id).
CREATE TYPE redeem_input AS (
    idx integer, "couponId" text, "orderId" text, amount bigint, applied bigint, "requestId" text,
    payload text, response jsonb
);

-- One request id to look up in idempotency_record (coupon-center's stored-answers query).
CREATE TYPE answer_key AS (operation text, "requestId" text);

-- claim_coupon_steps: claim by claim, each claim's writes a subtransaction of its own, so one refused
-- claim does not undo the others. Every limit is checked by a conditional update or a row check,
-- whatever Redis said: the final guard against overselling. The template rows are locked once, in id
-- order, and updated once at the end (many updates of one row in one transaction grow a version
-- chain that every later update must walk).
--
-- Outcome per claim: OK, or the refusal's error name (SOLD_OUT, BUDGET_EXHAUSTED, TEMPLATE_PAUSED,
-- TEMPLATE_NOT_FOUND, PER_USER_LIMIT, DAILY_LIMIT, INSUFFICIENT_POINTS, DUPLICATE_REQUEST).
CREATE OR REPLACE FUNCTION claim_coupon_steps(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c            claim_input;
    t            coupon_template%ROWTYPE;
    -- Per template: counters as of this batch, so each hot row is updated once at the end rather
    -- than once per claim (many updates of one row in one transaction grow a version chain that
    -- every later update must walk).
    templates    jsonb := '{}';
    s            jsonb;
    -- Per "template|day": the day's count as of this batch.
    days         jsonb := '{}';
    day_key      text;
    day_count    integer;
    left_points  bigint;
    cost         bigint;
    answer       jsonb;
    written      boolean;
BEGIN
    -- Lock every template of the batch once, in id order (the same order in every batch).
    FOR t IN SELECT * FROM coupon_template
              WHERE id IN (SELECT DISTINCT e."templateId" FROM jsonb_populate_recordset(NULL::claim_input, claims) e)
              ORDER BY id FOR UPDATE LOOP
        templates := templates || jsonb_build_object(t.id, jsonb_build_object(
            'issued', t.issued_count, 'spent', t.budget_spent_cents, 'stock', t.total_stock, 'budget', t.budget_cents,
            'status', t.status, 'perUser', t.per_user_limit, 'daily', COALESCE(t.daily_limit, 2147483647),
            'touched', false));
    END LOOP;

    FOR c IN SELECT * FROM jsonb_populate_recordset(NULL::claim_input, claims) LOOP
        idx := c.idx;
        coupon_id := NULL;
        points_left := NULL;
        s := templates->(c."templateId");
        cost := c."budgetCost";
        outcome := NULL;
        IF s IS NULL THEN
            outcome := 'TEMPLATE_NOT_FOUND';
        ELSIF s->>'status' <> 'ACTIVE' THEN
            outcome := 'TEMPLATE_PAUSED';
        ELSIF (s->>'issued')::integer >= (s->>'stock')::integer THEN
            outcome := 'SOLD_OUT';
        ELSIF s->>'budget' IS NOT NULL AND (s->>'spent')::bigint + cost > (s->>'budget')::bigint THEN
            outcome := 'BUDGET_EXHAUSTED';
        END IF;
        IF outcome IS NULL THEN
            day_key := c."templateId" || '|' || to_char(c.day, 'YYYY-MM-DD');
            IF days ? day_key THEN
                day_count := (days->>day_key)::integer;
            ELSE
                SELECT d.issued INTO day_count FROM template_daily_issue d
                 WHERE d.template_id = c."templateId" AND d.day = c.day FOR UPDATE;
                day_count := COALESCE(day_count, 0);
            END IF;
            IF day_count >= (s->>'daily')::integer THEN outcome := 'DAILY_LIMIT'; END IF;
        END IF;
        IF outcome IS NOT NULL THEN
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- The writes of one claim: all or nothing (a subtransaction).
        written := false;
        BEGIN
            answer := c.response;
            IF c."pointsCost" > 0 THEN
                UPDATE user_points SET points = points - c."pointsCost"
                 WHERE user_id = c."userId" AND points >= c."pointsCost"
                RETURNING points INTO left_points;
                IF NOT FOUND THEN RAISE EXCEPTION 'INSUFFICIENT_POINTS'; END IF;
                points_left := left_points;
                answer := jsonb_set(answer, '{pointsLeft}', to_jsonb(left_points));
                INSERT INTO points_ledger (user_id, delta, reason, coupon_id)
                VALUES (c."userId", -c."pointsCost", 'EXCHANGE', c."couponId");
            END IF;

            INSERT INTO user_template_issue AS u (user_id, template_id, issued, per_user_limit)
            VALUES (c."userId", c."templateId", 1, (s->>'perUser')::integer)
            ON CONFLICT (user_id, template_id) DO UPDATE SET issued = u.issued + 1
             WHERE u.issued < u.per_user_limit;
            IF NOT FOUND THEN RAISE EXCEPTION 'PER_USER_LIMIT'; END IF;

            INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, rate_bp,
                                     max_discount_cents, segment, channel, claimed_at, expires_at)
            VALUES (c."couponId", c."userId", c."templateId", c.type, c.threshold,
                    c.discount, c.rate, c."maxDiscount", c.segment,
                    c.channel, to_timestamp(c."claimedAt" / 1000.0),
                    to_timestamp(c."expiresAt" / 1000.0));

            INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents)
            VALUES (c."couponId", c."templateId", c."userId", 'ISSUED', NULL, 'UNUSED', c.discount);

            IF c."requestId" IS NOT NULL THEN
                INSERT INTO idempotency_record (operation, request_id, payload, response)
                VALUES (c.operation, c."requestId", c.payload, answer);
            END IF;
            written := true;
        EXCEPTION
            WHEN raise_exception THEN
                outcome := SQLERRM;
                points_left := NULL;
            WHEN unique_violation THEN
                -- Only the request id can collide (coupon ids are 128 random bits).
                outcome := 'DUPLICATE_REQUEST';
                points_left := NULL;
        END;
        IF written THEN
            templates := jsonb_set(templates, ARRAY[c."templateId"], s
                || jsonb_build_object('issued', (s->>'issued')::integer + 1, 'spent', (s->>'spent')::bigint + cost, 'touched', true));
            days := days || jsonb_build_object(day_key, day_count + 1);
            outcome := 'OK';
            coupon_id := c."couponId";
        ELSE
            days := days || jsonb_build_object(day_key, day_count);
        END IF;
        RETURN NEXT;
    END LOOP;

    -- One update per template and per day; the table checks (issued <= total_stock, budget,
    -- issued <= daily_limit) still hold the line.
    UPDATE coupon_template ct
       SET issued_count = (templates->ct.id->>'issued')::integer,
           budget_spent_cents = (templates->ct.id->>'spent')::bigint
     WHERE ct.id IN (SELECT key FROM jsonb_each(templates) WHERE (value->>'touched')::boolean);
    INSERT INTO template_daily_issue AS d (template_id, day, issued, daily_limit)
    SELECT split_part(key, '|', 1), split_part(key, '|', 2)::date, value::integer,
           (templates->split_part(key, '|', 1)->>'daily')::integer
      FROM jsonb_each_text(days)
    ON CONFLICT (template_id, day) DO UPDATE SET issued = EXCLUDED.issued;
END;
$$;

-- claim_coupons_each: claim_coupon_steps one claim at a time, after answering DUPLICATE_REQUEST for a
-- request id already stored (so a retry gets its first answer even when the limits are reached by
-- now). The fallback of claim_coupons.
CREATE OR REPLACE FUNCTION claim_coupons_each(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c claim_input;
BEGIN
    FOR c IN SELECT * FROM jsonb_populate_recordset(NULL::claim_input, claims) LOOP
        IF c."requestId" IS NOT NULL AND EXISTS (
               SELECT 1 FROM idempotency_record r WHERE r.operation = c.operation AND r.request_id = c."requestId") THEN
            RETURN QUERY SELECT c.idx, 'DUPLICATE_REQUEST'::text, NULL::text, NULL::bigint;
        ELSE
            RETURN QUERY SELECT * FROM claim_coupon_steps(jsonb_build_array(to_jsonb(c)));
        END IF;
    END LOOP;
END;
$$;

-- claim_coupons: the batch a ClaimWriter lane commits, decided in one statement (window functions
-- count the batch's claims per user, template and day on top of the stored counters) and written
-- with one statement per table; same answer rows as claim_coupons_each. It falls back to
-- claim_coupons_each when a write breaks a constraint (a request id stored meanwhile by another
-- process, or any limit this statement got wrong), so the constraints stay the final guard and each
-- claim still gets its own exact answer. A request id twice in one batch: the first occurrences are
-- decided first, then the rest, which then find the first's record.
--
-- Decisions follow the batch's order (idx). Within one batch the running totals are conservative: a
-- claim refused late (say for the daily limit) still counts against the stock of the claims after it
-- in the same batch, so a batch may refuse a claim that a later batch would accept, never the other
-- way round.
CREATE OR REPLACE FUNCTION claim_coupons(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    answers jsonb;
BEGIN
    -- Lock every template of the batch once, in id order (the same order in every batch), then
    -- the points balances the batch spends, in user order.
    PERFORM 1 FROM coupon_template
      WHERE id IN (SELECT DISTINCT c."templateId" FROM jsonb_populate_recordset(NULL::claim_input, claims) c)
      ORDER BY id FOR UPDATE;
    PERFORM 1 FROM user_points
      WHERE user_id IN (SELECT DISTINCT c."userId" FROM jsonb_populate_recordset(NULL::claim_input, claims) c
                         WHERE c."pointsCost" > 0)
      ORDER BY user_id FOR UPDATE;

    -- One request id twice in a batch: whether the second is a duplicate depends on whether the
    -- first is written. Decide the first occurrences, then the rest (which then see the first's
    -- record, or try again if it was refused).
    IF EXISTS (SELECT 1 FROM jsonb_populate_recordset(NULL::claim_input, claims) c WHERE c."requestId" IS NOT NULL
                GROUP BY c.operation, c."requestId" HAVING count(*) > 1) THEN
        RETURN QUERY SELECT * FROM claim_coupons((
            SELECT jsonb_agg(value ORDER BY ordinality) FROM (
                SELECT e.value, e.ordinality, c."requestId", row_number() OVER (
                           PARTITION BY c.operation, c."requestId" ORDER BY e.ordinality) AS n
                  FROM jsonb_array_elements(claims) WITH ORDINALITY AS e(value, ordinality),
                       jsonb_populate_record(NULL::claim_input, e.value) AS c) d
             WHERE "requestId" IS NULL OR n = 1));
        RETURN QUERY SELECT * FROM claim_coupons((
            SELECT jsonb_agg(value ORDER BY ordinality) FROM (
                SELECT e.value, e.ordinality, c."requestId", row_number() OVER (
                           PARTITION BY c.operation, c."requestId" ORDER BY e.ordinality) AS n
                  FROM jsonb_array_elements(claims) WITH ORDINALITY AS e(value, ordinality),
                       jsonb_populate_record(NULL::claim_input, e.value) AS c) d
             WHERE "requestId" IS NOT NULL AND n > 1));
        RETURN;
    END IF;

    BEGIN
        WITH c AS (
            SELECT * FROM jsonb_populate_recordset(NULL::claim_input, claims)
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

-- redeem_coupons: a batch of redemptions in one transaction (group commit, as claim_coupons does for
-- claims). A coupon moves UNUSED -> USED only by the conditional update below, which one order can
-- win: a coupon named twice in one batch is used by the first of them (lowest idx), and the others
-- come back not used, as they would had they come later. With it, in the same transaction: the USED
-- ledger row, the order (which counts towards the user's segments) and the idempotency record.
-- Outcome per use: used true or false; the caller reads the row to tell why not. A request id stored
-- meanwhile by another process breaks its primary key and fails the whole batch; the caller then
-- writes the batch's redemptions one by one.
CREATE OR REPLACE FUNCTION redeem_coupons(uses jsonb)
RETURNS TABLE (idx integer, used boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- Lock the batch's coupons in id order, the same order in every batch, so concurrent batches
    -- wait for each other instead of deadlocking; orders and profiles are written in user order for
    -- the same reason.
    PERFORM 1 FROM user_coupon
      WHERE id IN (SELECT r."couponId" FROM jsonb_populate_recordset(NULL::redeem_input, uses) r)
      ORDER BY id FOR UPDATE;

    RETURN QUERY
    WITH r AS (
        SELECT * FROM jsonb_populate_recordset(NULL::redeem_input, uses)
    ),
    first AS (
        SELECT DISTINCT ON ("couponId") * FROM r ORDER BY "couponId", idx
    ),
    done AS (
        UPDATE user_coupon u
           SET status = 'USED', order_id = f."orderId", order_amount_cents = f.amount, applied_cents = f.applied, used_at = now()
          FROM first f
         WHERE u.id = f."couponId" AND u.status = 'UNUSED' AND u.expires_at > now()
        RETURNING f.idx, u.id, u.user_id, u.template_id, f."orderId", f.amount, f.applied, f."requestId", f.payload, f.response
    ),
    ledger AS (
        INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents)
        SELECT id, template_id, user_id, 'USED', 'UNUSED', 'USED', "orderId", applied FROM done ORDER BY idx
    ),
    orders AS (
        INSERT INTO user_order (user_id, order_id, amount_cents)
        SELECT user_id, "orderId", amount FROM done ORDER BY user_id, "orderId"
        ON CONFLICT DO NOTHING
        RETURNING user_id
    ),
    profiles AS (
        INSERT INTO user_profile AS p (user_id, order_count, last_order_at)
        SELECT user_id, count(*), now() FROM orders GROUP BY user_id ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET order_count = p.order_count + EXCLUDED.order_count, last_order_at = now()
    ),
    remember AS (
        INSERT INTO idempotency_record (operation, request_id, payload, response)
        SELECT 'use', "requestId", payload, response FROM done WHERE "requestId" IS NOT NULL
    )
    SELECT r.idx, d.idx IS NOT NULL FROM r LEFT JOIN done d ON d.idx = r.idx ORDER BY r.idx;
END;
$$;
