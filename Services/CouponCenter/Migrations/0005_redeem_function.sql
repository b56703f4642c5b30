-- Writes a batch of redemptions in one transaction (group commit, as claim_coupons does for claims).
-- Each element of `uses`: idx, couponId, orderId, amount (the order's, cents), applied (the
-- discount, cents), requestId (or null), payload and response (stored for the request id).
--
-- A coupon moves UNUSED -> USED only by the conditional update below, which one order can win: a
-- coupon named twice in one batch is used by the first of them (lowest idx), and the others come
-- back not used, as they would had they come later. With it, in the same transaction: the USED
-- ledger row, the order (which counts towards the user's segments) and the idempotency record.
-- Outcome per use: used true or false; the caller reads the row to tell why not.
--
-- A request id stored meanwhile by another process breaks its primary key and fails the whole
-- batch; the caller then writes the batch's redemptions one by one.
CREATE FUNCTION redeem_coupons(uses jsonb)
RETURNS TABLE (idx integer, used boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- Lock the batch's coupons in id order, the same order in every batch, so concurrent batches
    -- wait for each other instead of deadlocking; orders and profiles are written in user order for
    -- the same reason.
    PERFORM 1 FROM user_coupon
      WHERE id IN (SELECT value->>'couponId' FROM jsonb_array_elements(uses))
      ORDER BY id FOR UPDATE;

    RETURN QUERY
    WITH r AS (
        SELECT x.* FROM jsonb_to_recordset(uses) AS x(
            idx integer, "couponId" text, "orderId" text, amount bigint, applied bigint, "requestId" text,
            payload text, response jsonb)
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

-- Returns a coupon used by `order_id`: back to UNUSED while still valid, else EXPIRED, with its
-- REFUNDED ledger row, in one statement. Answers the new status, or NULL when that order does not
-- hold the coupon (never used, used by another order, or refunded already).
CREATE FUNCTION refund_coupon(coupon text, order_ref text)
RETURNS text
LANGUAGE sql AS $$
    WITH old AS (
        SELECT id, applied_cents FROM user_coupon WHERE id = coupon AND status = 'USED' AND order_id = order_ref FOR UPDATE
    ),
    back AS (
        UPDATE user_coupon c
           SET status = CASE WHEN c.expires_at > now() THEN 'UNUSED' ELSE 'EXPIRED' END,
               order_id = NULL, order_amount_cents = NULL, applied_cents = NULL, used_at = NULL
          FROM old WHERE c.id = old.id
        RETURNING c.id, c.status, c.user_id, c.template_id, old.applied_cents
    ),
    logged AS (
        INSERT INTO coupon_ledger (coupon_id, template_id, user_id, event, from_status, to_status, order_id, amount_cents)
        SELECT id, template_id, user_id, 'REFUNDED', 'USED', status, order_ref, applied_cents FROM back
    )
    SELECT status FROM back;
$$;
