-- Writes a batch of claims in one transaction (group commit): the writes of each claim are their
-- own subtransaction, so one refused claim does not undo the others. Every limit is checked here by a
-- conditional update or a row check, whatever Redis said: this is the final guard against
-- overselling. Claims arrive sorted by template and user, so concurrent batches lock rows in one
-- order.
--
-- Each element of `claims`: idx, couponId, userId, templateId, channel, day (YYYY-MM-DD in the
-- configured time zone), claimedAt and expiresAt (Unix ms), type, threshold, discount, rate, maxDiscount, segment, budgetCost,
-- pointsCost, requestId, operation, payload, response (the answer to store
-- for the request id).
--
-- Outcome per claim: OK, or the refusal's error name (SOLD_OUT, BUDGET_EXHAUSTED, TEMPLATE_PAUSED,
-- TEMPLATE_NOT_FOUND, PER_USER_LIMIT, DAILY_LIMIT, INSUFFICIENT_POINTS, DUPLICATE_REQUEST).
CREATE FUNCTION claim_coupons(claims jsonb)
RETURNS TABLE (idx integer, outcome text, coupon_id text, points_left bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c            jsonb;
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
              WHERE id IN (SELECT DISTINCT value->>'templateId' FROM jsonb_array_elements(claims))
              ORDER BY id FOR UPDATE LOOP
        templates := templates || jsonb_build_object(t.id, jsonb_build_object(
            'issued', t.issued_count, 'spent', t.budget_spent_cents, 'stock', t.total_stock, 'budget', t.budget_cents,
            'status', t.status, 'perUser', t.per_user_limit, 'daily', COALESCE(t.daily_limit, 2147483647),
            'touched', false));
    END LOOP;

    FOR c IN SELECT value FROM jsonb_array_elements(claims) LOOP
        idx := (c->>'idx')::integer;
        coupon_id := NULL;
        points_left := NULL;
        s := templates->(c->>'templateId');
        cost := (c->>'budgetCost')::bigint;
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
            day_key := (c->>'templateId') || '|' || (c->>'day');
            IF days ? day_key THEN
                day_count := (days->>day_key)::integer;
            ELSE
                SELECT d.issued INTO day_count FROM template_daily_issue d
                 WHERE d.template_id = c->>'templateId' AND d.day = (c->>'day')::date FOR UPDATE;
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
            answer := c->'response';
            IF (c->>'pointsCost')::bigint > 0 THEN
                UPDATE user_points SET points = points - (c->>'pointsCost')::bigint
                 WHERE user_id = c->>'userId' AND points >= (c->>'pointsCost')::bigint
                RETURNING points INTO left_points;
                IF NOT FOUND THEN RAISE EXCEPTION 'INSUFFICIENT_POINTS'; END IF;
                points_left := left_points;
                answer := jsonb_set(answer, '{pointsLeft}', to_jsonb(left_points));
                INSERT INTO points_ledger (user_id, delta, reason, coupon_id)
                VALUES (c->>'userId', -(c->>'pointsCost')::bigint, 'EXCHANGE', c->>'couponId');
            END IF;

            INSERT INTO user_template_issue AS u (user_id, template_id, issued, per_user_limit)
            VALUES (c->>'userId', c->>'templateId', 1, (s->>'perUser')::integer)
            ON CONFLICT (user_id, template_id) DO UPDATE SET issued = u.issued + 1
             WHERE u.issued < u.per_user_limit;
            IF NOT FOUND THEN RAISE EXCEPTION 'PER_USER_LIMIT'; END IF;

            INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, rate_bp,
                                     max_discount_cents, segment, channel, claimed_at, expires_at)
            VALUES (c->>'couponId', c->>'userId', c->>'templateId', c->>'type', (c->>'threshold')::bigint,
                    (c->>'discount')::bigint, (c->>'rate')::integer, (c->>'maxDiscount')::bigint, c->>'segment',
                    c->>'channel', to_timestamp((c->>'claimedAt')::bigint / 1000.0),
                    to_timestamp((c->>'expiresAt')::bigint / 1000.0));

            INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents)
            VALUES (c->>'couponId', c->>'templateId', c->>'userId', 'ISSUED', NULL, 'UNUSED', (c->>'discount')::bigint);

            IF c->>'requestId' IS NOT NULL THEN
                INSERT INTO idempotency_record (operation, request_id, payload, response)
                VALUES (c->>'operation', c->>'requestId', c->>'payload', answer);
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
            templates := jsonb_set(templates, ARRAY[c->>'templateId'], s
                || jsonb_build_object('issued', (s->>'issued')::integer + 1, 'spent', (s->>'spent')::bigint + cost, 'touched', true));
            days := days || jsonb_build_object(day_key, day_count + 1);
            outcome := 'OK';
            coupon_id := c->>'couponId';
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
