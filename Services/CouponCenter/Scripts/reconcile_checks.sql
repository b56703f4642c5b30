-- The reconciliation's checks (README "Reconciliation"), one business day, set-based over the
-- time indexes of migration 0010. Run as one simple-protocol script (never prepared: a cached plan
-- would keep pointing at the tables it was planned against) by both the real run and the
-- self-check, inside the caller's transaction. Table names are unqualified on purpose: in the
-- self-check, temporary tables of the same names stand in front of the real ones (pg_temp is
-- searched first); reconcile_* working tables are always pg_temp's.
--
-- Input: pg_temp.reconcile_params, one row: business_date, day_start, day_end (the day in the
-- configured time zone), judged_until (least(day_end, settled_before)), settled_before (now less
-- the safety margin: coupons with a ledger row at or after it are not judged), template_id (NULL:
-- every template), redis (per template: the counters Redis showed, read twice by the caller and
-- passed only where both reads agreed); feed_present is set here.
-- Output: pg_temp.reconcile_finding (one row per difference) and pg_temp.reconcile_figure (per
-- template: the figures a run reports) and pg_temp.reconcile_money (per template: the two sums).
-- The caller creates those four; the script clears them and its own working tables first, so the
-- self-check can run it twice in one transaction.

DROP TABLE IF EXISTS pg_temp.reconcile_templates, pg_temp.reconcile_coupons, pg_temp.reconcile_uses, pg_temp.reconcile_orders;
TRUNCATE pg_temp.reconcile_finding, pg_temp.reconcile_figure, pg_temp.reconcile_money;
UPDATE pg_temp.reconcile_params p SET feed_present = EXISTS (SELECT 1 FROM order_feed f WHERE f.business_date = p.business_date);

CREATE TEMP TABLE reconcile_templates ON COMMIT DROP AS
SELECT t.id, t.issued_count, t.budget_spent_cents
  FROM coupon_template t, pg_temp.reconcile_params p
 WHERE p.template_id IS NULL OR t.id = p.template_id;

-- The coupons the day touched: claimed in it, or with a ledger row in it; less those whose history
-- is too recent to judge.
CREATE TEMP TABLE reconcile_coupons ON COMMIT DROP AS
SELECT DISTINCT x.coupon_id FROM (
    SELECT l.coupon_id FROM coupon_ledger l, pg_temp.reconcile_params p
     WHERE l.created_at >= p.day_start AND l.created_at < p.judged_until
       AND (p.template_id IS NULL OR l.template_id = p.template_id)
    UNION ALL
    SELECT c.id FROM user_coupon c, pg_temp.reconcile_params p
     WHERE c.claimed_at >= p.day_start AND c.claimed_at < p.judged_until
       AND (p.template_id IS NULL OR c.template_id = p.template_id)) x;
DELETE FROM pg_temp.reconcile_coupons rc
 USING coupon_ledger l, pg_temp.reconcile_params p
 WHERE l.coupon_id = rc.coupon_id AND l.created_at >= p.settled_before;
ANALYZE pg_temp.reconcile_coupons;

-- COUPON_STATE: every coupon's state folded from its ledger against its row, zero tolerance.
INSERT INTO pg_temp.reconcile_finding (check_name, code, template_id, coupon_id, order_id, expected, actual)
WITH history AS (
    SELECT l.coupon_id, l.template_id, l.event, l.from_status, l.to_status, l.order_id, l.amount_cents,
           lag(l.to_status) OVER w AS previous_status, lag(l.event) OVER w AS previous_event, lag(l.order_id) OVER w AS previous_order,
           row_number() OVER w AS n, row_number() OVER (PARTITION BY l.coupon_id ORDER BY l.id DESC) AS from_last
      FROM coupon_ledger l JOIN pg_temp.reconcile_coupons rc ON rc.coupon_id = l.coupon_id
    WINDOW w AS (PARTITION BY l.coupon_id ORDER BY l.id)
),
chain AS (
    SELECT DISTINCT ON (h.coupon_id, code) h.template_id, h.coupon_id, h.order_id, h.previous_status, h.from_status, code
      FROM history h
     CROSS JOIN LATERAL (SELECT CASE
             WHEN h.n = 1 AND h.event <> 'ISSUED' THEN 'MISSING_ISSUED'
             WHEN h.n > 1 AND h.event = 'ISSUED' THEN 'DUPLICATED_EVENT'
             WHEN h.n > 1 AND h.from_status IS DISTINCT FROM h.previous_status
                  AND h.event = h.previous_event AND h.order_id IS NOT DISTINCT FROM h.previous_order THEN 'DUPLICATED_EVENT'
             WHEN h.n > 1 AND h.from_status IS DISTINCT FROM h.previous_status THEN 'BROKEN_CHAIN'
         END AS code) c
     WHERE code IS NOT NULL
     ORDER BY h.coupon_id, code
)
SELECT 'COUPON_STATE', code, template_id, coupon_id, order_id, previous_status, from_status FROM chain
UNION ALL
SELECT 'COUPON_STATE', 'MISSING_LEDGER', c.template_id, c.id, c.order_id, 'ISSUED', NULL
  FROM user_coupon c JOIN pg_temp.reconcile_coupons rc ON rc.coupon_id = c.id
 WHERE NOT EXISTS (SELECT 1 FROM coupon_ledger l WHERE l.coupon_id = c.id)
UNION ALL
SELECT 'COUPON_STATE', 'MISSING_COUPON', h.template_id, h.coupon_id, NULL, h.to_status, NULL
  FROM history h
 WHERE h.from_last = 1 AND NOT EXISTS (SELECT 1 FROM user_coupon c WHERE c.id = h.coupon_id)
UNION ALL
SELECT 'COUPON_STATE',
       CASE WHEN h.to_status <> c.status THEN 'STATUS_MISMATCH'
            WHEN h.order_id IS DISTINCT FROM c.order_id THEN 'ORDER_MISMATCH'
            ELSE 'DISCOUNT_MISMATCH' END,
       c.template_id, c.id, COALESCE(c.order_id, h.order_id),
       CASE WHEN h.to_status <> c.status THEN h.to_status
            WHEN h.order_id IS DISTINCT FROM c.order_id THEN h.order_id
            ELSE h.amount_cents::text END,
       CASE WHEN h.to_status <> c.status THEN c.status
            WHEN h.order_id IS DISTINCT FROM c.order_id THEN c.order_id
            ELSE c.applied_cents::text END
  FROM history h JOIN user_coupon c ON c.id = h.coupon_id
 WHERE h.from_last = 1
   AND (h.to_status <> c.status
        OR (c.status = 'USED' AND (h.order_id IS DISTINCT FROM c.order_id OR h.amount_cents IS DISTINCT FROM c.applied_cents)));

-- COUNTERS: the ledger's ISSUED rows against the template's counter, the coupon rows and Redis
-- (all time); the coupons claimed in the day against the day's counter and Redis's day key.
-- Grouped passes over each table (one per table, whatever the number of templates).
INSERT INTO pg_temp.reconcile_figure (template_id, name, value)
WITH p AS (SELECT * FROM pg_temp.reconcile_params),
ledger AS (
    SELECT l.template_id,
           count(*) FILTER (WHERE l.event = 'ISSUED') AS issued,
           COALESCE(sum(l.budget_delta_cents), 0)::bigint AS budget_deltas,
           count(*) FILTER (WHERE l.event = 'USED' AND l.created_at >= p.day_start AND l.created_at < p.judged_until) AS day_used,
           count(*) FILTER (WHERE l.event = 'REFUNDED' AND l.created_at >= p.day_start AND l.created_at < p.judged_until) AS day_refunded,
           count(*) FILTER (WHERE l.event = 'EXPIRED' AND l.created_at >= p.day_start AND l.created_at < p.judged_until) AS day_expired,
           count(*) FILTER (WHERE l.event = 'REVOKED' AND l.created_at >= p.day_start AND l.created_at < p.judged_until) AS day_revoked
      FROM coupon_ledger l CROSS JOIN p
     WHERE l.template_id IN (SELECT id FROM pg_temp.reconcile_templates)
     GROUP BY l.template_id
),
coupons AS (
    SELECT c.template_id, count(*) AS coupons,
           count(*) FILTER (WHERE c.claimed_at >= p.day_start AND c.claimed_at < p.day_end) AS day_coupons
      FROM user_coupon c CROSS JOIN p
     WHERE c.template_id IN (SELECT id FROM pg_temp.reconcile_templates)
     GROUP BY c.template_id
),
reserves AS (
    SELECT l.template_id, sum(coupon_budget_reserve(c.type, c.discount_cents, c.max_discount_cents))::bigint AS reserve
      FROM coupon_ledger l JOIN user_coupon c ON c.id = l.coupon_id
     WHERE l.event = 'ISSUED' AND l.template_id IN (SELECT id FROM pg_temp.reconcile_templates)
     GROUP BY l.template_id
)
SELECT t.id, f.name, f.value
  FROM pg_temp.reconcile_templates t CROSS JOIN p
  LEFT JOIN ledger l ON l.template_id = t.id
  LEFT JOIN coupons c ON c.template_id = t.id
  LEFT JOIN reserves r ON r.template_id = t.id
 CROSS JOIN LATERAL (VALUES
     ('ledger_issued', COALESCE(l.issued, 0)),
     ('coupons', COALESCE(c.coupons, 0)),
     ('template_issued', t.issued_count::bigint),
     ('day_coupons', COALESCE(c.day_coupons, 0)),
     ('day_counter', (SELECT d.issued::bigint FROM template_daily_issue d WHERE d.template_id = t.id AND d.day = p.business_date)),
     ('day_used', COALESCE(l.day_used, 0)),
     ('day_refunded', COALESCE(l.day_refunded, 0)),
     ('day_expired', COALESCE(l.day_expired, 0)),
     ('day_revoked', COALESCE(l.day_revoked, 0)),
     ('budget_spent', t.budget_spent_cents),
     ('budget_ledger', COALESCE(r.reserve, 0) + COALESCE(l.budget_deltas, 0)),
     ('redis_issued', (p.redis -> t.id ->> 'issued')::bigint),
     ('redis_spent', (p.redis -> t.id ->> 'spent')::bigint),
     ('redis_day', (p.redis -> t.id ->> 'day')::bigint)) AS f(name, value);

INSERT INTO pg_temp.reconcile_finding (check_name, code, template_id, coupon_id, order_id, expected, actual)
WITH f AS (
    SELECT template_id,
           max(value) FILTER (WHERE name = 'ledger_issued') AS ledger_issued,
           max(value) FILTER (WHERE name = 'coupons') AS coupons,
           max(value) FILTER (WHERE name = 'template_issued') AS template_issued,
           max(value) FILTER (WHERE name = 'day_coupons') AS day_coupons,
           max(value) FILTER (WHERE name = 'day_counter') AS day_counter,
           max(value) FILTER (WHERE name = 'budget_spent') AS budget_spent,
           max(value) FILTER (WHERE name = 'budget_ledger') AS budget_ledger,
           max(value) FILTER (WHERE name = 'redis_issued') AS redis_issued,
           max(value) FILTER (WHERE name = 'redis_spent') AS redis_spent,
           max(value) FILTER (WHERE name = 'redis_day') AS redis_day
      FROM pg_temp.reconcile_figure GROUP BY template_id
)
SELECT x.check_name, x.code, f.template_id, NULL, NULL, x.expected::text, x.actual::text
  FROM f CROSS JOIN LATERAL (VALUES
      ('COUNTERS', 'TEMPLATE_ISSUED_MISMATCH', f.ledger_issued, f.template_issued),
      ('COUNTERS', 'COUPON_COUNT_MISMATCH', f.ledger_issued, f.coupons),
      ('COUNTERS', 'DAY_COUNTER_MISMATCH', f.day_coupons, COALESCE(f.day_counter, 0)),
      ('COUNTERS', 'REDIS_ISSUED_MISMATCH', f.ledger_issued, f.redis_issued),
      ('COUNTERS', 'REDIS_DAY_MISMATCH', f.day_coupons, f.redis_day),
      ('COUNTERS', 'REDIS_SPENT_MISMATCH', f.budget_spent, f.redis_spent),
      ('BUDGET', 'BUDGET_MISMATCH', f.budget_ledger, f.budget_spent)) AS x(check_name, code, expected, actual)
 WHERE x.actual IS NOT NULL AND x.expected IS DISTINCT FROM x.actual;

-- ORDERS and MONEY, when the order system posted a feed for the day: the day's uses (net of their
-- refunds) against the feed's orders with a coupon, by (order, coupon). A use is refunded when the
-- next row of its coupon's history is that order's REFUNDED row; the histories are read whole by
-- coupon (no event filter, so no plan can walk the USED/REFUNDED time index once per use).
CREATE TEMP TABLE reconcile_uses ON COMMIT DROP AS
WITH p AS (SELECT * FROM pg_temp.reconcile_params),
used_coupons AS (
    SELECT DISTINCT l.coupon_id FROM coupon_ledger l, p
     WHERE p.feed_present AND l.event = 'USED' AND l.created_at >= p.day_start AND l.created_at < p.judged_until
       AND (p.template_id IS NULL OR l.template_id = p.template_id)
),
history AS (
    SELECT r.coupon_id, r.template_id, r.order_id, r.amount_cents, r.event, r.created_at,
           lead(r.event) OVER w AS next_event, lead(r.order_id) OVER w AS next_order
      FROM coupon_ledger r
     WHERE r.coupon_id IN (SELECT coupon_id FROM used_coupons)
    WINDOW w AS (PARTITION BY r.coupon_id ORDER BY r.id)
)
SELECT h.coupon_id, h.template_id, h.order_id, h.amount_cents,
       h.next_event IS NOT DISTINCT FROM 'REFUNDED' AND h.next_order IS NOT DISTINCT FROM h.order_id AS refunded
  FROM history h, p
 WHERE h.event = 'USED' AND h.created_at >= p.day_start AND h.created_at < p.judged_until
   AND (p.template_id IS NULL OR h.template_id = p.template_id);
ANALYZE pg_temp.reconcile_uses;

CREATE TEMP TABLE reconcile_orders ON COMMIT DROP AS
WITH p AS (SELECT * FROM pg_temp.reconcile_params),
feed AS (
    SELECT f.order_id, f.coupon_id, f.discount_cents, f.status, c.template_id
      FROM order_feed f CROSS JOIN p LEFT JOIN user_coupon c ON c.id = f.coupon_id
     WHERE f.business_date = p.business_date AND f.coupon_id IS NOT NULL
       AND (p.template_id IS NULL OR c.template_id = p.template_id)
)
SELECT COALESCE(u.template_id, f.template_id) AS template_id, COALESCE(u.coupon_id, f.coupon_id) AS coupon_id,
       COALESCE(u.order_id, f.order_id) AS order_id, u.amount_cents AS ledger_cents, u.refunded,
       f.discount_cents AS feed_cents, f.status AS feed_status, u.coupon_id IS NOT NULL AS in_ledger, f.order_id IS NOT NULL AS in_feed
  FROM pg_temp.reconcile_uses u FULL JOIN feed f ON f.order_id = u.order_id AND f.coupon_id = u.coupon_id;

INSERT INTO pg_temp.reconcile_finding (check_name, code, template_id, coupon_id, order_id, expected, actual)
SELECT 'ORDERS',
       CASE WHEN NOT in_feed THEN 'REDEMPTION_WITHOUT_ORDER'
            WHEN NOT in_ledger AND template_id IS NULL THEN 'UNKNOWN_COUPON'
            WHEN NOT in_ledger THEN 'ORDER_WITHOUT_REDEMPTION'
            WHEN ledger_cents <> feed_cents THEN 'DISCOUNT_MISMATCH'
            ELSE 'REFUND_MISMATCH' END,
       template_id, coupon_id, order_id,
       CASE WHEN in_ledger AND in_feed AND ledger_cents = feed_cents THEN CASE WHEN refunded THEN 'REFUNDED' ELSE 'PAID' END
            ELSE ledger_cents::text END,
       CASE WHEN in_ledger AND in_feed AND ledger_cents = feed_cents THEN feed_status ELSE feed_cents::text END
  FROM pg_temp.reconcile_orders
 WHERE NOT in_feed OR NOT in_ledger OR ledger_cents <> feed_cents OR refunded <> (feed_status = 'REFUNDED');

-- The two sums the MONEY check compares (the caller judges the relative difference): the
-- discounts of the day's uses less those refunded, and the discounts of the feed's PAID orders.
-- Text, so a sum past bigint reaches the caller as a number it can refuse.
INSERT INTO pg_temp.reconcile_money (template_id, ledger_cents, feed_cents, orders)
SELECT template_id,
       COALESCE(sum(ledger_cents) FILTER (WHERE in_ledger AND NOT refunded), 0)::text,
       COALESCE(sum(feed_cents) FILTER (WHERE in_feed AND feed_status = 'PAID'), 0)::text,
       count(*) FILTER (WHERE in_feed)
  FROM pg_temp.reconcile_orders
 WHERE template_id IS NOT NULL
 GROUP BY template_id;
