CREATE TYPE public.answer_key AS (
	operation text,
	"requestId" text
);

CREATE TYPE public.claim_input AS (
	idx integer,
	"couponId" text,
	"userId" text,
	"templateId" text,
	channel text,
	day date,
	type text,
	threshold bigint,
	discount bigint,
	rate integer,
	"maxDiscount" bigint,
	segment text,
	"budgetCost" bigint,
	"claimedAt" bigint,
	"expiresAt" bigint,
	"pointsCost" bigint,
	"requestId" text,
	operation text,
	payload text,
	response jsonb
);

CREATE TYPE public.redeem_input AS (
	idx integer,
	"couponId" text,
	"orderId" text,
	amount bigint,
	applied bigint,
	"requestId" text,
	payload text,
	response jsonb
);

CREATE TYPE public.risk_audit_input AS (
	decided_at_ms bigint,
	action text,
	user_id text,
	device_id text,
	ip text,
	template_id text,
	coupon_type text,
	amount_cents bigint,
	verdict text,
	score integer,
	reasons text[]
);

CREATE TYPE public.webhook_attempt_result AS (
	"outboxId" bigint,
	attempts integer,
	state text,
	"delayMs" bigint,
	error text
);

CREATE FUNCTION public.alert_resolved_to_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload)
    SELECT 'alert.resolved', to_jsonb(n)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.status = 'FIRING' AND n.status = 'RESOLVED'
     ORDER BY n.id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.claim_coupon_steps(claims jsonb) RETURNS TABLE(idx integer, outcome text, coupon_id text, points_left bigint)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.claim_coupons(claims jsonb) RETURNS TABLE(idx integer, outcome text, coupon_id text, points_left bigint)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.claim_coupons_each(claims jsonb) RETURNS TABLE(idx integer, outcome text, coupon_id text, points_left bigint)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.coupon_budget_reserve(type text, discount_cents bigint, max_discount_cents bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE WHEN type IN ('CASH', 'EXCHANGE') THEN discount_cents ELSE COALESCE(max_discount_cents, 0) END
$$;

CREATE FUNCTION public.coupon_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'coupon_ledger is append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE FUNCTION public.coupon_ledger_to_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload, occurred_at)
    SELECT 'coupon.' || lower(l.event),
           jsonb_build_object(
               'ledgerId', l.id, 'couponId', l.coupon_id, 'templateId', l.template_id, 'userId', l.user_id,
               'orderId', l.order_id, 'amount', round(l.amount_cents::numeric / 100, 2),
               'fromStatus', l.from_status, 'toStatus', l.to_status),
           l.created_at
      FROM ledger_rows l
     ORDER BY l.id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.event_outbox_capture() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload) SELECT TG_ARGV[0], to_jsonb(r) FROM new_rows r;
    RETURN NULL;
END;
$$;

CREATE TABLE public.event_outbox (
    id bigint NOT NULL,
    event_id uuid DEFAULT gen_random_uuid() NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    dispatched_at timestamp with time zone,
    CONSTRAINT event_outbox_kind_check CHECK ((kind ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'::text)),
    CONSTRAINT event_outbox_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text))
);

CREATE FUNCTION public.event_outbox_document(e public.event_outbox) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT (e.payload || jsonb_build_object(
                'eventId', e.event_id, 'kind', e.kind, 'sequence', e.id,
                'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text
$$;

CREATE FUNCTION public.operator_audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'operator_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION public.reconcile_incident_changed_to_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload)
    SELECT 'incident.' || CASE WHEN n.status = 'OPEN' THEN 'opened' ELSE lower(n.status) END, to_jsonb(n)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.status <> n.status
     ORDER BY n.id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.redeem_coupons(uses jsonb) RETURNS TABLE(idx integer, used boolean, template_id text, budget_back bigint)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM user_coupon
      WHERE id IN (SELECT r."couponId" FROM jsonb_populate_recordset(NULL::redeem_input, uses) r)
      ORDER BY id FOR UPDATE;
    PERFORM 1 FROM coupon_template
      WHERE id IN (SELECT u.template_id FROM user_coupon u
                    WHERE u.id IN (SELECT r."couponId" FROM jsonb_populate_recordset(NULL::redeem_input, uses) r)
                      AND coupon_budget_reserve(u.type, u.discount_cents, u.max_discount_cents) > 0)
      ORDER BY id FOR NO KEY UPDATE;

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
        RETURNING f.idx, u.id, u.user_id, u.template_id, f."orderId", f.amount, f.applied, f."requestId", f.payload, f.response,
                  coupon_budget_reserve(u.type, u.discount_cents, u.max_discount_cents)
                  + COALESCE((SELECT sum(l.budget_delta_cents) FROM coupon_ledger l WHERE l.coupon_id = u.id), 0)::bigint AS hold
    ),
    costed AS (
        SELECT d.*, least(d.applied, d.hold) - d.hold AS delta FROM done d
    ),
    ledger AS (
        INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents, budget_delta_cents)
        SELECT id, template_id, user_id, 'USED', 'UNUSED', 'USED', "orderId", applied, delta FROM costed ORDER BY idx
    ),
    budgets AS (
        UPDATE coupon_template t SET budget_spent_cents = greatest(t.budget_spent_cents + s.delta, 0)
          FROM (SELECT template_id, sum(delta) AS delta FROM costed GROUP BY template_id HAVING sum(delta) <> 0) s
         WHERE t.id = s.template_id
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
    SELECT r.idx, c.idx IS NOT NULL, c.template_id, COALESCE(-c.delta, 0)
      FROM r LEFT JOIN costed c ON c.idx = r.idx ORDER BY r.idx;
END;
$$;

CREATE FUNCTION public.refund_coupon(coupon text, order_ref text) RETURNS text
    LANGUAGE sql
    AS $$
    WITH old AS (
        SELECT c.id, c.template_id, c.applied_cents,
               coupon_budget_reserve(c.type, c.discount_cents, c.max_discount_cents) AS reserve,
               coupon_budget_reserve(c.type, c.discount_cents, c.max_discount_cents)
               + COALESCE((SELECT sum(l.budget_delta_cents) FROM coupon_ledger l WHERE l.coupon_id = c.id), 0)::bigint AS hold
          FROM user_coupon c WHERE c.id = coupon AND c.status = 'USED' AND c.order_id = order_ref FOR UPDATE
    ),
    room AS (
        SELECT t.budget_cents - t.budget_spent_cents AS left_cents
          FROM coupon_template t WHERE t.id = (SELECT template_id FROM old) FOR NO KEY UPDATE
    ),
    back AS (
        UPDATE user_coupon c
           SET status = CASE WHEN c.expires_at > now() THEN 'UNUSED' ELSE 'EXPIRED' END,
               order_id = NULL, order_amount_cents = NULL, applied_cents = NULL, used_at = NULL
          FROM old WHERE c.id = old.id
        RETURNING c.id, c.status, c.user_id, c.template_id, old.applied_cents,
                  CASE WHEN c.status = 'UNUSED'
                       THEN least(old.reserve - old.hold, COALESCE((SELECT left_cents FROM room), old.reserve - old.hold))
                       ELSE -old.hold END AS delta
    ),
    logged AS (
        INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents, budget_delta_cents)
        SELECT id, template_id, user_id, 'REFUNDED', 'USED', status, order_ref, applied_cents, delta FROM back
    ),
    budget AS (
        UPDATE coupon_template t SET budget_spent_cents = greatest(t.budget_spent_cents + b.delta, 0)
          FROM back b WHERE t.id = b.template_id AND b.delta <> 0
    )
    SELECT status FROM back;
$$;

CREATE FUNCTION public.risk_admin_audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'risk_admin_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION public.template_cost_stopped(template text, action text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT action = 'STOP_ISSUANCE' AND EXISTS (
        SELECT 1 FROM alert a
         WHERE a.status = 'FIRING' AND a.kind = 'COST_RATIO_CEILING' AND a.scope IN ('platform', 'template:' || template));
$$;

CREATE TABLE public.alert (
    id bigint NOT NULL,
    kind text NOT NULL,
    scope text NOT NULL,
    cost_window text NOT NULL,
    value_bp bigint NOT NULL,
    threshold_bp integer NOT NULL,
    status text DEFAULT 'FIRING'::text NOT NULL,
    calm_evaluations integer DEFAULT 0 NOT NULL,
    first_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    CONSTRAINT alert_calm_evaluations_check CHECK ((calm_evaluations >= 0)),
    CONSTRAINT alert_check CHECK (((status = 'RESOLVED'::text) = (resolved_at IS NOT NULL))),
    CONSTRAINT alert_check1 CHECK ((last_seen_at >= first_seen_at)),
    CONSTRAINT alert_cost_window_check CHECK ((cost_window = ANY (ARRAY['1H'::text, '24H'::text, 'DAY'::text]))),
    CONSTRAINT alert_kind_check CHECK ((kind = ANY (ARRAY['COST_RATIO_WARNING'::text, 'COST_RATIO_CEILING'::text, 'RECONCILER_BLIND'::text, 'RECONCILE_MONEY'::text]))),
    CONSTRAINT alert_scope_check CHECK (((length(scope) >= 1) AND (length(scope) <= 100))),
    CONSTRAINT alert_status_check CHECK ((status = ANY (ARRAY['FIRING'::text, 'RESOLVED'::text]))),
    CONSTRAINT alert_threshold_bp_check CHECK (((threshold_bp >= 0) AND (threshold_bp <= 10000)))
);

CREATE SEQUENCE public.alert_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.alert_id_seq OWNED BY public.alert.id;

CREATE TABLE public.api_token (
    id bigint NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    token_hash text NOT NULL,
    owner text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_token_check CHECK (((expires_at IS NULL) OR (expires_at > created_at))),
    CONSTRAINT api_token_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 64))),
    CONSTRAINT api_token_role_check CHECK ((role = ANY (ARRAY['viewer'::text, 'operator'::text, 'admin'::text]))),
    CONSTRAINT api_token_token_hash_check CHECK ((token_hash ~ '^[0-9a-f]{64}$'::text))
);

CREATE SEQUENCE public.api_token_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.api_token_id_seq OWNED BY public.api_token.id;

CREATE TABLE public.cost_minute (
    minute timestamp with time zone NOT NULL,
    scope text NOT NULL,
    orders bigint NOT NULL,
    order_cents bigint NOT NULL,
    discount_cents bigint NOT NULL
);

CREATE TABLE public.cost_rollup (
    only_row boolean DEFAULT true NOT NULL,
    rebuilt_through timestamp with time zone NOT NULL,
    CONSTRAINT cost_rollup_only_row_check CHECK (only_row)
);

CREATE TABLE public.coupon_exposure (
    id bigint NOT NULL,
    template_id text NOT NULL,
    user_id text NOT NULL,
    shown_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE SEQUENCE public.coupon_exposure_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.coupon_exposure_id_seq OWNED BY public.coupon_exposure.id;

CREATE TABLE public.coupon_ledger (
    id bigint NOT NULL,
    coupon_id text NOT NULL,
    template_id text NOT NULL,
    user_id text NOT NULL,
    event text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    order_id text,
    amount_cents bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    budget_delta_cents bigint,
    CONSTRAINT coupon_ledger_check CHECK (((budget_delta_cents IS NULL) OR (event = ANY (ARRAY['USED'::text, 'REFUNDED'::text])))),
    CONSTRAINT coupon_ledger_event_check CHECK ((event = ANY (ARRAY['ISSUED'::text, 'USED'::text, 'REFUNDED'::text, 'EXPIRED'::text, 'REVOKED'::text])))
);

CREATE SEQUENCE public.coupon_ledger_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.coupon_ledger_id_seq OWNED BY public.coupon_ledger.id;

CREATE TABLE public.coupon_template (
    id text NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    threshold_cents bigint DEFAULT 0 NOT NULL,
    discount_cents bigint DEFAULT 0 NOT NULL,
    rate_bp integer,
    max_discount_cents bigint,
    start_time timestamp with time zone NOT NULL,
    end_time timestamp with time zone NOT NULL,
    valid_hours integer,
    total_stock integer NOT NULL,
    per_user_limit integer DEFAULT 1 NOT NULL,
    daily_limit integer,
    budget_cents bigint,
    level text DEFAULT 'PLATFORM'::text NOT NULL,
    shop_id text,
    categories text[] DEFAULT '{}'::text[] NOT NULL,
    stacking text DEFAULT 'STACKABLE'::text NOT NULL,
    threshold_on_discounted boolean DEFAULT false NOT NULL,
    channels text[] DEFAULT '{}'::text[] NOT NULL,
    segments text[] DEFAULT '{}'::text[] NOT NULL,
    points_cost integer DEFAULT 0 NOT NULL,
    tiers jsonb DEFAULT '[]'::jsonb NOT NULL,
    status text DEFAULT 'ACTIVE'::text NOT NULL,
    issued_count integer DEFAULT 0 NOT NULL,
    budget_spent_cents bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    cost_ceiling_bp integer,
    cost_action text DEFAULT 'ALERT'::text NOT NULL,
    CONSTRAINT coupon_template_budget_cents_check CHECK (((budget_cents IS NULL) OR (budget_cents > 0))),
    CONSTRAINT coupon_template_budget_spent_cents_check CHECK ((budget_spent_cents >= 0)),
    CONSTRAINT coupon_template_check CHECK ((end_time > start_time)),
    CONSTRAINT coupon_template_check1 CHECK (((issued_count >= 0) AND (issued_count <= total_stock))),
    CONSTRAINT coupon_template_check2 CHECK (((budget_cents IS NULL) OR (budget_spent_cents <= budget_cents))),
    CONSTRAINT coupon_template_check3 CHECK (((level <> 'SHOP'::text) OR (shop_id IS NOT NULL))),
    CONSTRAINT coupon_template_check4 CHECK (((level <> 'CATEGORY'::text) OR (cardinality(categories) > 0))),
    CONSTRAINT coupon_template_check5 CHECK (((type <> 'DISCOUNT'::text) OR (rate_bp IS NOT NULL))),
    CONSTRAINT coupon_template_cost_action_check CHECK ((cost_action = ANY (ARRAY['ALERT'::text, 'STOP_ISSUANCE'::text]))),
    CONSTRAINT coupon_template_cost_ceiling_bp_check CHECK (((cost_ceiling_bp IS NULL) OR ((cost_ceiling_bp >= 1) AND (cost_ceiling_bp <= 10000)))),
    CONSTRAINT coupon_template_daily_limit_check CHECK (((daily_limit IS NULL) OR (daily_limit > 0))),
    CONSTRAINT coupon_template_discount_cents_check CHECK ((discount_cents >= 0)),
    CONSTRAINT coupon_template_level_check CHECK ((level = ANY (ARRAY['SHOP'::text, 'CATEGORY'::text, 'PLATFORM'::text]))),
    CONSTRAINT coupon_template_max_discount_cents_check CHECK (((max_discount_cents IS NULL) OR (max_discount_cents > 0))),
    CONSTRAINT coupon_template_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT coupon_template_per_user_limit_check CHECK ((per_user_limit > 0)),
    CONSTRAINT coupon_template_points_cost_check CHECK ((points_cost >= 0)),
    CONSTRAINT coupon_template_rate_bp_check CHECK (((rate_bp IS NULL) OR ((rate_bp > 0) AND (rate_bp < 10000)))),
    CONSTRAINT coupon_template_stacking_check CHECK ((stacking = ANY (ARRAY['EXCLUSIVE'::text, 'STACKABLE'::text]))),
    CONSTRAINT coupon_template_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'PAUSED'::text]))),
    CONSTRAINT coupon_template_threshold_cents_check CHECK ((threshold_cents >= 0)),
    CONSTRAINT coupon_template_total_stock_check CHECK ((total_stock >= 0)),
    CONSTRAINT coupon_template_type_check CHECK ((type = ANY (ARRAY['CASH'::text, 'DISCOUNT'::text, 'FREE'::text, 'EXCHANGE'::text]))),
    CONSTRAINT coupon_template_valid_hours_check CHECK (((valid_hours IS NULL) OR (valid_hours > 0)))
);

CREATE SEQUENCE public.event_outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.event_outbox_id_seq OWNED BY public.event_outbox.id;

CREATE TABLE public.experiment (
    id text NOT NULL,
    name text NOT NULL,
    hypothesis text NOT NULL,
    salt text NOT NULL,
    status text DEFAULT 'DRAFT'::text NOT NULL,
    primary_metric text NOT NULL,
    decision_rule text NOT NULL,
    alpha_bp integer NOT NULL,
    min_lift_bp integer NOT NULL,
    rollout_arm text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    stopped_at timestamp with time zone,
    CONSTRAINT experiment_alpha_bp_check CHECK (((alpha_bp >= 1) AND (alpha_bp <= 5000))),
    CONSTRAINT experiment_check CHECK (((status = 'ROLLED_OUT'::text) = (rollout_arm IS NOT NULL))),
    CONSTRAINT experiment_check1 CHECK (((status = 'DRAFT'::text) OR (started_at IS NOT NULL))),
    CONSTRAINT experiment_decision_rule_check CHECK ((decision_rule = ANY (ARRAY['SEED'::text, 'LOWER_BOUND'::text]))),
    CONSTRAINT experiment_hypothesis_check CHECK ((char_length(hypothesis) <= 1000)),
    CONSTRAINT experiment_id_check CHECK (((char_length(id) >= 1) AND (char_length(id) <= 64))),
    CONSTRAINT experiment_min_lift_bp_check CHECK (((min_lift_bp >= 1) AND (min_lift_bp <= 9999))),
    CONSTRAINT experiment_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100))),
    CONSTRAINT experiment_primary_metric_check CHECK ((primary_metric = ANY (ARRAY['USE_RATE'::text, 'USE_RATE_PER_EXPOSED'::text]))),
    CONSTRAINT experiment_salt_check CHECK (((char_length(salt) >= 16) AND (char_length(salt) <= 64))),
    CONSTRAINT experiment_status_check CHECK ((status = ANY (ARRAY['DRAFT'::text, 'RUNNING'::text, 'STOPPED'::text, 'ROLLED_OUT'::text])))
);

CREATE TABLE public.experiment_arm (
    experiment_id text NOT NULL,
    "position" smallint NOT NULL,
    name text NOT NULL,
    weight_buckets integer NOT NULL,
    template_id text NOT NULL,
    CONSTRAINT experiment_arm_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 64))),
    CONSTRAINT experiment_arm_position_check CHECK ((("position" >= 0) AND ("position" <= 9))),
    CONSTRAINT experiment_arm_weight_buckets_check CHECK (((weight_buckets >= 1) AND (weight_buckets <= 10000)))
);

CREATE TABLE public.experiment_exposure (
    experiment_id text NOT NULL,
    user_id text NOT NULL,
    arm text NOT NULL,
    first_exposed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT experiment_exposure_user_id_check CHECK (((char_length(user_id) >= 1) AND (char_length(user_id) <= 64)))
);

CREATE TABLE public.idempotency_record (
    operation text NOT NULL,
    request_id text NOT NULL,
    payload text NOT NULL,
    response jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.lock_fence (
    name text NOT NULL,
    fence bigint NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT lock_fence_fence_check CHECK ((fence >= 1)),
    CONSTRAINT lock_fence_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 512)))
);

CREATE TABLE public.operator_account (
    username text NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    failed_logins integer DEFAULT 0 NOT NULL,
    failure_window_started_at timestamp with time zone,
    locked_until timestamp with time zone,
    CONSTRAINT operator_account_check CHECK (((failed_logins = 0) OR (failure_window_started_at IS NOT NULL))),
    CONSTRAINT operator_account_check1 CHECK (((locked_until IS NULL) OR (failed_logins > 0))),
    CONSTRAINT operator_account_failed_logins_check CHECK ((failed_logins >= 0)),
    CONSTRAINT operator_account_password_hash_check CHECK (((password_hash ~~ '$%'::text) AND (octet_length(password_hash) <= 512))),
    CONSTRAINT operator_account_role_check CHECK ((role = ANY (ARRAY['viewer'::text, 'operator'::text, 'admin'::text]))),
    CONSTRAINT operator_account_username_check CHECK ((((char_length(username) >= 1) AND (char_length(username) <= 64)) AND (username ~ '^[A-Za-z0-9._@-]+$'::text)))
);

CREATE TABLE public.operator_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor text NOT NULL,
    actor_kind text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    before jsonb,
    after jsonb,
    request_id text,
    CONSTRAINT operator_audit_action_check CHECK (((char_length(action) >= 1) AND (char_length(action) <= 64))),
    CONSTRAINT operator_audit_actor_check CHECK (((char_length(actor) >= 1) AND (char_length(actor) <= 64))),
    CONSTRAINT operator_audit_actor_kind_check CHECK ((actor_kind = ANY (ARRAY['session'::text, 'token'::text, 'service'::text, 'cli'::text]))),
    CONSTRAINT operator_audit_after_check CHECK (((after IS NULL) OR (jsonb_typeof(after) = 'object'::text))),
    CONSTRAINT operator_audit_before_check CHECK (((before IS NULL) OR (jsonb_typeof(before) = 'object'::text))),
    CONSTRAINT operator_audit_request_id_check CHECK (((request_id IS NULL) OR (char_length(request_id) <= 128))),
    CONSTRAINT operator_audit_target_check CHECK ((char_length(target) <= 200))
);

CREATE SEQUENCE public.operator_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.operator_audit_id_seq OWNED BY public.operator_audit.id;

CREATE TABLE public.operator_session (
    id_hash text NOT NULL,
    username text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT operator_session_check CHECK ((expires_at > created_at)),
    CONSTRAINT operator_session_id_hash_check CHECK ((id_hash ~ '^[0-9a-f]{64}$'::text))
);

CREATE TABLE public.order_feed (
    business_date date NOT NULL,
    order_id text NOT NULL,
    coupon_id text,
    discount_cents bigint NOT NULL,
    amount_cents bigint NOT NULL,
    status text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT order_feed_amount_cents_check CHECK ((amount_cents >= 0)),
    CONSTRAINT order_feed_check CHECK ((discount_cents <= amount_cents)),
    CONSTRAINT order_feed_check1 CHECK (((coupon_id IS NOT NULL) OR (discount_cents = 0))),
    CONSTRAINT order_feed_coupon_id_check CHECK (((coupon_id IS NULL) OR ((length(coupon_id) >= 1) AND (length(coupon_id) <= 64)))),
    CONSTRAINT order_feed_discount_cents_check CHECK ((discount_cents >= 0)),
    CONSTRAINT order_feed_order_id_check CHECK (((length(order_id) >= 1) AND (length(order_id) <= 64))),
    CONSTRAINT order_feed_status_check CHECK ((status = ANY (ARRAY['PAID'::text, 'REFUNDED'::text])))
);

CREATE TABLE public.points_ledger (
    id bigint NOT NULL,
    user_id text NOT NULL,
    delta bigint NOT NULL,
    reason text NOT NULL,
    coupon_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT points_ledger_reason_check CHECK ((reason = ANY (ARRAY['GRANT'::text, 'EXCHANGE'::text])))
);

CREATE SEQUENCE public.points_ledger_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.points_ledger_id_seq OWNED BY public.points_ledger.id;

CREATE TABLE public.recommendation_decision (
    id bigint NOT NULL,
    user_id text NOT NULL,
    segment text NOT NULL,
    policy text NOT NULL,
    holdout boolean NOT NULL,
    arm text NOT NULL,
    rule_arm text NOT NULL,
    propensity double precision NOT NULL,
    candidates text[] NOT NULL,
    template_id text,
    decided_at timestamp with time zone NOT NULL,
    closed_at timestamp with time zone,
    converted boolean,
    CONSTRAINT recommendation_decision_arm_check CHECK ((arm = ANY (ARRAY['CASH'::text, 'DISCOUNT'::text, 'FREE'::text, 'NONE'::text]))),
    CONSTRAINT recommendation_decision_check CHECK (((arm = 'NONE'::text) = (template_id IS NULL))),
    CONSTRAINT recommendation_decision_check1 CHECK (((closed_at IS NULL) = (converted IS NULL))),
    CONSTRAINT recommendation_decision_policy_check CHECK ((policy = ANY (ARRAY['V0'::text, 'V1'::text]))),
    CONSTRAINT recommendation_decision_propensity_check CHECK (((propensity > (0)::double precision) AND (propensity <= (1)::double precision))),
    CONSTRAINT recommendation_decision_rule_arm_check CHECK ((rule_arm = ANY (ARRAY['CASH'::text, 'DISCOUNT'::text, 'FREE'::text, 'NONE'::text]))),
    CONSTRAINT recommendation_decision_segment_check CHECK (((char_length(segment) >= 1) AND (char_length(segment) <= 64))),
    CONSTRAINT recommendation_decision_user_id_check CHECK (((char_length(user_id) >= 1) AND (char_length(user_id) <= 128)))
);

CREATE SEQUENCE public.recommendation_decision_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.recommendation_decision_id_seq OWNED BY public.recommendation_decision.id;

CREATE TABLE public.reconcile_incident (
    id bigint NOT NULL,
    check_name text NOT NULL,
    template_id text NOT NULL,
    business_date date NOT NULL,
    status text DEFAULT 'OPEN'::text NOT NULL,
    items integer NOT NULL,
    first_run_id bigint NOT NULL,
    last_run_id bigint NOT NULL,
    note text,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reconcile_incident_check CHECK (((status = 'ACCEPTED'::text) = (note IS NOT NULL))),
    CONSTRAINT reconcile_incident_check1 CHECK ((updated_at >= opened_at)),
    CONSTRAINT reconcile_incident_check_name_check CHECK ((check_name = ANY (ARRAY['COUPON_STATE'::text, 'COUNTERS'::text, 'BUDGET'::text, 'ORDERS'::text, 'MONEY'::text]))),
    CONSTRAINT reconcile_incident_items_check CHECK ((items >= 0)),
    CONSTRAINT reconcile_incident_note_check CHECK (((note IS NULL) OR ((length(note) >= 1) AND (length(note) <= 500)))),
    CONSTRAINT reconcile_incident_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'ACKNOWLEDGED'::text, 'RESOLVED'::text, 'ACCEPTED'::text]))),
    CONSTRAINT reconcile_incident_template_id_check CHECK ((length(template_id) <= 64))
);

CREATE SEQUENCE public.reconcile_incident_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.reconcile_incident_id_seq OWNED BY public.reconcile_incident.id;

CREATE TABLE public.reconcile_item (
    run_id bigint NOT NULL,
    "position" integer NOT NULL,
    check_name text NOT NULL,
    code text NOT NULL,
    template_id text,
    coupon_id text,
    order_id text,
    expected text,
    actual text,
    CONSTRAINT reconcile_item_actual_check CHECK (((actual IS NULL) OR (length(actual) <= 200))),
    CONSTRAINT reconcile_item_check_name_check CHECK ((check_name = ANY (ARRAY['COUPON_STATE'::text, 'COUNTERS'::text, 'BUDGET'::text, 'ORDERS'::text, 'MONEY'::text]))),
    CONSTRAINT reconcile_item_code_check CHECK ((code ~ '^[A-Z][A-Z_]{2,40}$'::text)),
    CONSTRAINT reconcile_item_coupon_id_check CHECK (((coupon_id IS NULL) OR ((length(coupon_id) >= 1) AND (length(coupon_id) <= 64)))),
    CONSTRAINT reconcile_item_expected_check CHECK (((expected IS NULL) OR (length(expected) <= 200))),
    CONSTRAINT reconcile_item_order_id_check CHECK (((order_id IS NULL) OR ((length(order_id) >= 1) AND (length(order_id) <= 64)))),
    CONSTRAINT reconcile_item_position_check CHECK (("position" >= 1)),
    CONSTRAINT reconcile_item_template_id_check CHECK (((template_id IS NULL) OR ((length(template_id) >= 1) AND (length(template_id) <= 64))))
);

CREATE TABLE public.reconcile_run (
    id bigint NOT NULL,
    business_date date NOT NULL,
    scope text NOT NULL,
    attempt integer NOT NULL,
    trigger text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    judged_until timestamp with time zone NOT NULL,
    time_zone text NOT NULL,
    outcome text NOT NULL,
    templates integer NOT NULL,
    coupons_judged bigint NOT NULL,
    feed_orders bigint NOT NULL,
    item_count integer NOT NULL,
    incidents_opened integer NOT NULL,
    checks jsonb NOT NULL,
    self_check text,
    self_check_missed text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT reconcile_run_attempt_check CHECK ((attempt >= 1)),
    CONSTRAINT reconcile_run_check CHECK ((finished_at >= started_at)),
    CONSTRAINT reconcile_run_check1 CHECK (((outcome = 'CLEAN'::text) = (item_count = 0))),
    CONSTRAINT reconcile_run_check2 CHECK (((self_check = 'BLIND'::text) = (cardinality(self_check_missed) > 0))),
    CONSTRAINT reconcile_run_checks_check CHECK ((jsonb_typeof(checks) = 'array'::text)),
    CONSTRAINT reconcile_run_coupons_judged_check CHECK ((coupons_judged >= 0)),
    CONSTRAINT reconcile_run_feed_orders_check CHECK ((feed_orders >= 0)),
    CONSTRAINT reconcile_run_incidents_opened_check CHECK ((incidents_opened >= 0)),
    CONSTRAINT reconcile_run_item_count_check CHECK ((item_count >= 0)),
    CONSTRAINT reconcile_run_outcome_check CHECK ((outcome = ANY (ARRAY['CLEAN'::text, 'DIFFERENCES'::text]))),
    CONSTRAINT reconcile_run_scope_check CHECK (((scope = 'all'::text) OR ((scope ~~ 'template:%'::text) AND ((length(scope) >= 10) AND (length(scope) <= 80))))),
    CONSTRAINT reconcile_run_self_check_check CHECK (((self_check IS NULL) OR (self_check = ANY (ARRAY['PASSED'::text, 'BLIND'::text])))),
    CONSTRAINT reconcile_run_templates_check CHECK ((templates >= 0)),
    CONSTRAINT reconcile_run_time_zone_check CHECK (((length(time_zone) >= 1) AND (length(time_zone) <= 64))),
    CONSTRAINT reconcile_run_trigger_check CHECK ((trigger = ANY (ARRAY['DAILY'::text, 'ON_DEMAND'::text])))
);

CREATE SEQUENCE public.reconcile_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.reconcile_run_id_seq OWNED BY public.reconcile_run.id;

CREATE TABLE public.risk_admin_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor text NOT NULL,
    actor_kind text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    before jsonb,
    after jsonb,
    request_id text,
    CONSTRAINT risk_admin_audit_action_check CHECK (((char_length(action) >= 1) AND (char_length(action) <= 64))),
    CONSTRAINT risk_admin_audit_actor_check CHECK (((char_length(actor) >= 1) AND (char_length(actor) <= 64))),
    CONSTRAINT risk_admin_audit_actor_kind_check CHECK ((actor_kind = ANY (ARRAY['session'::text, 'token'::text, 'service'::text, 'cli'::text]))),
    CONSTRAINT risk_admin_audit_after_check CHECK (((after IS NULL) OR (jsonb_typeof(after) = 'object'::text))),
    CONSTRAINT risk_admin_audit_before_check CHECK (((before IS NULL) OR (jsonb_typeof(before) = 'object'::text))),
    CONSTRAINT risk_admin_audit_request_id_check CHECK (((request_id IS NULL) OR (char_length(request_id) <= 128))),
    CONSTRAINT risk_admin_audit_target_check CHECK ((char_length(target) <= 200))
);

CREATE SEQUENCE public.risk_admin_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.risk_admin_audit_id_seq OWNED BY public.risk_admin_audit.id;

CREATE TABLE public.risk_audit (
    id bigint NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    action text NOT NULL,
    user_id text NOT NULL,
    device_id text,
    ip text,
    template_id text NOT NULL,
    coupon_type text NOT NULL,
    amount_cents bigint NOT NULL,
    verdict text NOT NULL,
    score integer NOT NULL,
    reasons text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT risk_audit_verdict_check CHECK ((verdict = ANY (ARRAY['ALLOW'::text, 'REVIEW'::text, 'DENY'::text])))
);

CREATE TABLE public.risk_audit_dead_letter (
    id bigint NOT NULL,
    failed_at timestamp with time zone DEFAULT now() NOT NULL,
    payload bytea NOT NULL,
    error text NOT NULL,
    sql_state text
);

CREATE SEQUENCE public.risk_audit_dead_letter_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.risk_audit_dead_letter_id_seq OWNED BY public.risk_audit_dead_letter.id;

CREATE SEQUENCE public.risk_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.risk_audit_id_seq OWNED BY public.risk_audit.id;

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.template_daily_issue (
    template_id text NOT NULL,
    day date NOT NULL,
    issued integer NOT NULL,
    daily_limit integer NOT NULL,
    CONSTRAINT template_daily_issue_check CHECK ((issued <= daily_limit)),
    CONSTRAINT template_daily_issue_issued_check CHECK ((issued >= 0))
);

CREATE TABLE public.user_coupon (
    id text NOT NULL,
    user_id text NOT NULL,
    template_id text NOT NULL,
    status text DEFAULT 'UNUSED'::text NOT NULL,
    type text NOT NULL,
    threshold_cents bigint NOT NULL,
    discount_cents bigint NOT NULL,
    rate_bp integer,
    max_discount_cents bigint,
    segment text,
    channel text NOT NULL,
    claimed_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    order_id text,
    order_amount_cents bigint,
    applied_cents bigint,
    used_at timestamp with time zone,
    CONSTRAINT user_coupon_check CHECK ((expires_at > claimed_at)),
    CONSTRAINT user_coupon_check1 CHECK (((status = 'USED'::text) = (order_id IS NOT NULL))),
    CONSTRAINT user_coupon_check2 CHECK (((applied_cents IS NULL) OR ((applied_cents >= 0) AND (applied_cents <= order_amount_cents)))),
    CONSTRAINT user_coupon_discount_cents_check CHECK ((discount_cents >= 0)),
    CONSTRAINT user_coupon_status_check CHECK ((status = ANY (ARRAY['UNUSED'::text, 'USED'::text, 'EXPIRED'::text, 'REVOKED'::text]))),
    CONSTRAINT user_coupon_threshold_cents_check CHECK ((threshold_cents >= 0))
);

CREATE TABLE public.user_order (
    user_id text NOT NULL,
    order_id text NOT NULL,
    amount_cents bigint NOT NULL,
    ordered_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT user_order_amount_cents_check CHECK ((amount_cents >= 0))
);

CREATE TABLE public.user_points (
    user_id text NOT NULL,
    points bigint NOT NULL,
    CONSTRAINT user_points_points_check CHECK ((points >= 0))
);

CREATE TABLE public.user_profile (
    user_id text NOT NULL,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    order_count integer DEFAULT 0 NOT NULL,
    first_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    last_order_at timestamp with time zone,
    CONSTRAINT user_profile_order_count_check CHECK ((order_count >= 0))
);

CREATE TABLE public.user_template_issue (
    user_id text NOT NULL,
    template_id text NOT NULL,
    issued integer NOT NULL,
    per_user_limit integer NOT NULL,
    CONSTRAINT user_template_issue_check CHECK ((issued <= per_user_limit)),
    CONSTRAINT user_template_issue_issued_check CHECK ((issued >= 0))
);

CREATE TABLE public.webhook_delivery (
    webhook_url text NOT NULL,
    outbox_id bigint NOT NULL,
    state text DEFAULT 'PENDING'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT webhook_delivery_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT webhook_delivery_state_check CHECK ((state = ANY (ARRAY['PENDING'::text, 'DELIVERED'::text, 'DEAD'::text])))
);

ALTER TABLE ONLY public.alert ALTER COLUMN id SET DEFAULT nextval('public.alert_id_seq'::regclass);

ALTER TABLE ONLY public.api_token ALTER COLUMN id SET DEFAULT nextval('public.api_token_id_seq'::regclass);

ALTER TABLE ONLY public.coupon_exposure ALTER COLUMN id SET DEFAULT nextval('public.coupon_exposure_id_seq'::regclass);

ALTER TABLE ONLY public.coupon_ledger ALTER COLUMN id SET DEFAULT nextval('public.coupon_ledger_id_seq'::regclass);

ALTER TABLE ONLY public.event_outbox ALTER COLUMN id SET DEFAULT nextval('public.event_outbox_id_seq'::regclass);

ALTER TABLE ONLY public.operator_audit ALTER COLUMN id SET DEFAULT nextval('public.operator_audit_id_seq'::regclass);

ALTER TABLE ONLY public.points_ledger ALTER COLUMN id SET DEFAULT nextval('public.points_ledger_id_seq'::regclass);

ALTER TABLE ONLY public.recommendation_decision ALTER COLUMN id SET DEFAULT nextval('public.recommendation_decision_id_seq'::regclass);

ALTER TABLE ONLY public.reconcile_incident ALTER COLUMN id SET DEFAULT nextval('public.reconcile_incident_id_seq'::regclass);

ALTER TABLE ONLY public.reconcile_run ALTER COLUMN id SET DEFAULT nextval('public.reconcile_run_id_seq'::regclass);

ALTER TABLE ONLY public.risk_admin_audit ALTER COLUMN id SET DEFAULT nextval('public.risk_admin_audit_id_seq'::regclass);

ALTER TABLE ONLY public.risk_audit ALTER COLUMN id SET DEFAULT nextval('public.risk_audit_id_seq'::regclass);

ALTER TABLE ONLY public.risk_audit_dead_letter ALTER COLUMN id SET DEFAULT nextval('public.risk_audit_dead_letter_id_seq'::regclass);

ALTER TABLE ONLY public.alert
    ADD CONSTRAINT alert_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_token
    ADD CONSTRAINT api_token_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_token
    ADD CONSTRAINT api_token_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.cost_minute
    ADD CONSTRAINT cost_minute_pkey PRIMARY KEY (minute, scope);

ALTER TABLE ONLY public.cost_rollup
    ADD CONSTRAINT cost_rollup_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.coupon_exposure
    ADD CONSTRAINT coupon_exposure_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.coupon_ledger
    ADD CONSTRAINT coupon_ledger_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.coupon_template
    ADD CONSTRAINT coupon_template_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.event_outbox
    ADD CONSTRAINT event_outbox_event_id_key UNIQUE (event_id);

ALTER TABLE ONLY public.event_outbox
    ADD CONSTRAINT event_outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.experiment_arm
    ADD CONSTRAINT experiment_arm_experiment_id_name_key UNIQUE (experiment_id, name);

ALTER TABLE ONLY public.experiment_arm
    ADD CONSTRAINT experiment_arm_pkey PRIMARY KEY (experiment_id, "position");

ALTER TABLE ONLY public.experiment_exposure
    ADD CONSTRAINT experiment_exposure_pkey PRIMARY KEY (experiment_id, user_id);

ALTER TABLE ONLY public.experiment
    ADD CONSTRAINT experiment_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.idempotency_record
    ADD CONSTRAINT idempotency_record_pkey PRIMARY KEY (operation, request_id);

ALTER TABLE ONLY public.lock_fence
    ADD CONSTRAINT lock_fence_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.operator_account
    ADD CONSTRAINT operator_account_pkey PRIMARY KEY (username);

ALTER TABLE ONLY public.operator_audit
    ADD CONSTRAINT operator_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.operator_session
    ADD CONSTRAINT operator_session_pkey PRIMARY KEY (id_hash);

ALTER TABLE ONLY public.order_feed
    ADD CONSTRAINT order_feed_pkey PRIMARY KEY (business_date, order_id);

ALTER TABLE ONLY public.points_ledger
    ADD CONSTRAINT points_ledger_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.recommendation_decision
    ADD CONSTRAINT recommendation_decision_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.reconcile_incident
    ADD CONSTRAINT reconcile_incident_check_name_template_id_business_date_key UNIQUE (check_name, template_id, business_date);

ALTER TABLE ONLY public.reconcile_incident
    ADD CONSTRAINT reconcile_incident_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.reconcile_item
    ADD CONSTRAINT reconcile_item_pkey PRIMARY KEY (run_id, "position");

ALTER TABLE ONLY public.reconcile_run
    ADD CONSTRAINT reconcile_run_business_date_scope_attempt_key UNIQUE (business_date, scope, attempt);

ALTER TABLE ONLY public.reconcile_run
    ADD CONSTRAINT reconcile_run_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.risk_admin_audit
    ADD CONSTRAINT risk_admin_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.risk_audit_dead_letter
    ADD CONSTRAINT risk_audit_dead_letter_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.risk_audit
    ADD CONSTRAINT risk_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.template_daily_issue
    ADD CONSTRAINT template_daily_issue_pkey PRIMARY KEY (template_id, day);

ALTER TABLE ONLY public.user_coupon
    ADD CONSTRAINT user_coupon_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.user_order
    ADD CONSTRAINT user_order_pkey PRIMARY KEY (user_id, order_id);

ALTER TABLE ONLY public.user_points
    ADD CONSTRAINT user_points_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.user_profile
    ADD CONSTRAINT user_profile_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.user_template_issue
    ADD CONSTRAINT user_template_issue_pkey PRIMARY KEY (user_id, template_id);

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_pkey PRIMARY KEY (outbox_id, webhook_url);

CREATE INDEX alert_by_status ON public.alert USING btree (status, id);

CREATE UNIQUE INDEX alert_one_firing ON public.alert USING btree (kind, scope) WHERE (status = 'FIRING'::text);

CREATE INDEX coupon_exposure_by_template ON public.coupon_exposure USING btree (template_id);

CREATE INDEX coupon_ledger_by_coupon ON public.coupon_ledger USING btree (coupon_id);

CREATE INDEX coupon_ledger_by_template ON public.coupon_ledger USING btree (template_id, event);

CREATE INDEX coupon_ledger_by_time ON public.coupon_ledger USING btree (created_at);

CREATE INDEX coupon_ledger_cost_events ON public.coupon_ledger USING btree (created_at) WHERE (event = ANY (ARRAY['USED'::text, 'REFUNDED'::text]));

CREATE INDEX event_outbox_undispatched ON public.event_outbox USING btree (id) WHERE (dispatched_at IS NULL);

CREATE INDEX operator_audit_by_action ON public.operator_audit USING btree (action, id);

CREATE INDEX operator_audit_by_actor ON public.operator_audit USING btree (actor, id);

CREATE INDEX operator_session_by_username ON public.operator_session USING btree (username);

CREATE INDEX points_ledger_by_user ON public.points_ledger USING btree (user_id);

CREATE INDEX recommendation_decision_by_user ON public.recommendation_decision USING btree (user_id, id);

CREATE INDEX recommendation_decision_closed ON public.recommendation_decision USING btree (segment, arm) WHERE (converted IS NOT NULL);

CREATE INDEX recommendation_decision_open ON public.recommendation_decision USING btree (decided_at) WHERE (converted IS NULL);

CREATE INDEX reconcile_incident_by_status ON public.reconcile_incident USING btree (status, id);

CREATE INDEX reconcile_run_by_date ON public.reconcile_run USING btree (business_date, id);

CREATE INDEX risk_audit_by_user ON public.risk_audit USING btree (user_id, decided_at);

CREATE INDEX risk_audit_by_verdict ON public.risk_audit USING btree (verdict, decided_at);

CREATE INDEX risk_audit_dead_letter_by_time ON public.risk_audit_dead_letter USING btree (failed_at);

CREATE INDEX user_coupon_by_claim_time ON public.user_coupon USING btree (claimed_at);

CREATE INDEX user_coupon_by_template ON public.user_coupon USING btree (template_id, status);

CREATE INDEX user_coupon_by_user ON public.user_coupon USING btree (user_id, status);

CREATE INDEX user_coupon_unused_expiry ON public.user_coupon USING btree (expires_at) WHERE (status = 'UNUSED'::text);

CREATE INDEX user_coupon_used_by_template ON public.user_coupon USING btree (template_id) WHERE (status = 'USED'::text);

CREATE INDEX user_order_by_time ON public.user_order USING btree (ordered_at);

CREATE INDEX user_order_recent ON public.user_order USING btree (user_id, ordered_at);

CREATE INDEX webhook_delivery_due ON public.webhook_delivery USING btree (webhook_url, next_attempt_at) WHERE (state = 'PENDING'::text);

CREATE TRIGGER alert_fired_events AFTER INSERT ON public.alert REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.event_outbox_capture('alert.fired');

CREATE TRIGGER alert_resolved_events AFTER UPDATE ON public.alert REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.alert_resolved_to_outbox();

CREATE TRIGGER coupon_ledger_events AFTER INSERT ON public.coupon_ledger REFERENCING NEW TABLE AS ledger_rows FOR EACH STATEMENT EXECUTE FUNCTION public.coupon_ledger_to_outbox();

CREATE TRIGGER coupon_ledger_no_update BEFORE DELETE OR UPDATE ON public.coupon_ledger FOR EACH ROW EXECUTE FUNCTION public.coupon_ledger_append_only();

CREATE TRIGGER operator_audit_append_only BEFORE DELETE OR UPDATE ON public.operator_audit FOR EACH ROW EXECUTE FUNCTION public.operator_audit_refuse_change();

CREATE TRIGGER operator_audit_no_truncate BEFORE TRUNCATE ON public.operator_audit FOR EACH STATEMENT EXECUTE FUNCTION public.operator_audit_refuse_change();

CREATE TRIGGER reconcile_incident_changed_events AFTER UPDATE ON public.reconcile_incident REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.reconcile_incident_changed_to_outbox();

CREATE TRIGGER reconcile_incident_opened_events AFTER INSERT ON public.reconcile_incident REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.event_outbox_capture('incident.opened');

CREATE TRIGGER risk_admin_audit_append_only BEFORE DELETE OR UPDATE ON public.risk_admin_audit FOR EACH ROW EXECUTE FUNCTION public.risk_admin_audit_refuse_change();

CREATE TRIGGER risk_admin_audit_no_truncate BEFORE TRUNCATE ON public.risk_admin_audit FOR EACH STATEMENT EXECUTE FUNCTION public.risk_admin_audit_refuse_change();

ALTER TABLE ONLY public.api_token
    ADD CONSTRAINT api_token_owner_fkey FOREIGN KEY (owner) REFERENCES public.operator_account(username);

ALTER TABLE ONLY public.coupon_exposure
    ADD CONSTRAINT coupon_exposure_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.coupon_ledger
    ADD CONSTRAINT coupon_ledger_coupon_id_fkey FOREIGN KEY (coupon_id) REFERENCES public.user_coupon(id);

ALTER TABLE ONLY public.coupon_ledger
    ADD CONSTRAINT coupon_ledger_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.experiment_arm
    ADD CONSTRAINT experiment_arm_experiment_id_fkey FOREIGN KEY (experiment_id) REFERENCES public.experiment(id);

ALTER TABLE ONLY public.experiment_arm
    ADD CONSTRAINT experiment_arm_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.experiment_exposure
    ADD CONSTRAINT experiment_exposure_experiment_id_arm_fkey FOREIGN KEY (experiment_id, arm) REFERENCES public.experiment_arm(experiment_id, name);

ALTER TABLE ONLY public.experiment_exposure
    ADD CONSTRAINT experiment_exposure_experiment_id_fkey FOREIGN KEY (experiment_id) REFERENCES public.experiment(id);

ALTER TABLE ONLY public.experiment
    ADD CONSTRAINT experiment_id_rollout_arm_fkey FOREIGN KEY (id, rollout_arm) REFERENCES public.experiment_arm(experiment_id, name);

ALTER TABLE ONLY public.operator_session
    ADD CONSTRAINT operator_session_username_fkey FOREIGN KEY (username) REFERENCES public.operator_account(username);

ALTER TABLE ONLY public.recommendation_decision
    ADD CONSTRAINT recommendation_decision_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.reconcile_incident
    ADD CONSTRAINT reconcile_incident_first_run_id_fkey FOREIGN KEY (first_run_id) REFERENCES public.reconcile_run(id);

ALTER TABLE ONLY public.reconcile_incident
    ADD CONSTRAINT reconcile_incident_last_run_id_fkey FOREIGN KEY (last_run_id) REFERENCES public.reconcile_run(id);

ALTER TABLE ONLY public.reconcile_item
    ADD CONSTRAINT reconcile_item_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.reconcile_run(id);

ALTER TABLE ONLY public.template_daily_issue
    ADD CONSTRAINT template_daily_issue_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.user_coupon
    ADD CONSTRAINT user_coupon_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.user_template_issue
    ADD CONSTRAINT user_template_issue_template_id_fkey FOREIGN KEY (template_id) REFERENCES public.coupon_template(id);

ALTER TABLE ONLY public.webhook_delivery
    ADD CONSTRAINT webhook_delivery_outbox_id_fkey FOREIGN KEY (outbox_id) REFERENCES public.event_outbox(id) ON DELETE CASCADE;
