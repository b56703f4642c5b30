-- Writes a batch of claims in one transaction (group commit): each claim is its own
-- subtransaction, so one refused claim does not undo the others. Every limit is checked here by a
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
    left_points  bigint;
    cost         bigint;
    answer       jsonb;
BEGIN
    FOR c IN SELECT value FROM jsonb_array_elements(claims) LOOP
        idx := (c->>'idx')::integer;
        coupon_id := NULL;
        points_left := NULL;
        BEGIN
            cost := (c->>'budgetCost')::bigint;
            answer := c->'response';

            UPDATE coupon_template
               SET issued_count = issued_count + 1, budget_spent_cents = budget_spent_cents + cost
             WHERE id = c->>'templateId' AND status = 'ACTIVE' AND issued_count < total_stock
               AND (budget_cents IS NULL OR budget_spent_cents + cost <= budget_cents)
            RETURNING * INTO t;
            IF NOT FOUND THEN
                SELECT * INTO t FROM coupon_template WHERE id = c->>'templateId';
                IF NOT FOUND THEN RAISE EXCEPTION 'TEMPLATE_NOT_FOUND'; END IF;
                IF t.status <> 'ACTIVE' THEN RAISE EXCEPTION 'TEMPLATE_PAUSED'; END IF;
                IF t.issued_count >= t.total_stock THEN RAISE EXCEPTION 'SOLD_OUT'; END IF;
                RAISE EXCEPTION 'BUDGET_EXHAUSTED';
            END IF;

            IF (c->>'pointsCost')::bigint > 0 THEN
                UPDATE user_points SET points = points - (c->>'pointsCost')::bigint
                 WHERE user_id = c->>'userId' AND points >= (c->>'pointsCost')::bigint
                RETURNING points INTO left_points;
                IF NOT FOUND THEN RAISE EXCEPTION 'INSUFFICIENT_POINTS'; END IF;
                points_left := left_points;
                answer := jsonb_set(answer, '{pointsLeft}', to_jsonb(left_points));
            END IF;

            INSERT INTO user_template_issue AS u (user_id, template_id, issued, per_user_limit)
            VALUES (c->>'userId', t.id, 1, t.per_user_limit)
            ON CONFLICT (user_id, template_id) DO UPDATE SET issued = u.issued + 1
             WHERE u.issued < u.per_user_limit;
            IF NOT FOUND THEN RAISE EXCEPTION 'PER_USER_LIMIT'; END IF;

            -- Counted every day, limited only when the template has a daily limit.
            INSERT INTO template_daily_issue AS d (template_id, day, issued, daily_limit)
            VALUES (t.id, (c->>'day')::date, 1, COALESCE(t.daily_limit, 2147483647))
            ON CONFLICT (template_id, day) DO UPDATE SET issued = d.issued + 1
             WHERE d.issued < d.daily_limit;
            IF NOT FOUND THEN RAISE EXCEPTION 'DAILY_LIMIT'; END IF;

            INSERT INTO user_coupon (id, user_id, template_id, type, threshold_cents, discount_cents, rate_bp,
                                     max_discount_cents, segment, channel, claimed_at, expires_at)
            VALUES (c->>'couponId', c->>'userId', t.id, t.type, (c->>'threshold')::bigint, (c->>'discount')::bigint,
                    (c->>'rate')::integer, (c->>'maxDiscount')::bigint, c->>'segment', c->>'channel',
                    to_timestamp((c->>'claimedAt')::bigint / 1000.0),
                    to_timestamp((c->>'expiresAt')::bigint / 1000.0));

            INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, amount_cents)
            VALUES (c->>'couponId', t.id, c->>'userId', 'ISSUED', NULL, 'UNUSED', (c->>'discount')::bigint);

            IF (c->>'pointsCost')::bigint > 0 THEN
                INSERT INTO points_ledger (user_id, delta, reason, coupon_id)
                VALUES (c->>'userId', -(c->>'pointsCost')::bigint, 'EXCHANGE', c->>'couponId');
            END IF;

            IF c->>'requestId' IS NOT NULL THEN
                INSERT INTO idempotency_record (operation, request_id, payload, response)
                VALUES (c->>'operation', c->>'requestId', c->>'payload', answer);
            END IF;

            outcome := 'OK';
            coupon_id := c->>'couponId';
            RETURN NEXT;
        EXCEPTION
            WHEN raise_exception THEN
                outcome := SQLERRM;
                points_left := NULL;
                RETURN NEXT;
            WHEN unique_violation THEN
                -- Only the request id can collide (coupon ids are 128 random bits).
                outcome := 'DUPLICATE_REQUEST';
                points_left := NULL;
                RETURN NEXT;
        END;
    END LOOP;
END;
$$;
