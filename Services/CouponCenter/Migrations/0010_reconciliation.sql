-- Reconciliation (对账, DESIGN.md §2.6; README "Reconciliation"): the order system's feed, the runs
-- and what they found, the incidents they open, the reconciliation alerts, and budgets that equal
-- a sum over the ledger. The checks themselves are coupon-center's Scripts/reconcile_checks.sql,
-- run against these tables (and, in the self-check, against temporary tables of the same names).

-- The order system's view of one business day, one row per order: what it says the coupon took
-- off (discount) and the order's amount, and whether the order is PAID or REFUNDED now. Posting
-- the same line again changes nothing; a changed line replaces the stored one (the order system's
-- latest view wins: an order refunded after the first post is posted again as REFUNDED).
CREATE TABLE order_feed (
    business_date   date NOT NULL,
    order_id        text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 64),
    coupon_id       text CHECK (coupon_id IS NULL OR length(coupon_id) BETWEEN 1 AND 64),
    discount_cents  bigint NOT NULL CHECK (discount_cents >= 0),
    amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
    status          text NOT NULL CHECK (status IN ('PAID', 'REFUNDED')),
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, order_id),
    CHECK (discount_cents <= amount_cents),
    CHECK (coupon_id IS NOT NULL OR discount_cents = 0)
);

-- The checks read one business day: the ledger rows and the coupons claimed in it, by time.
CREATE INDEX coupon_ledger_by_time ON coupon_ledger (created_at);
CREATE INDEX user_coupon_by_claim_time ON user_coupon (claimed_at);

-- One reconciliation of a business day, for every template or for one (`scope`). A start without
-- `rerun` answers the latest run of that day and scope; `rerun` adds the next attempt. A run is
-- written whole, with its items, after its checks ran (nothing half-written survives a crash).
CREATE TABLE reconcile_run (
    id                bigserial PRIMARY KEY,
    business_date     date NOT NULL,
    scope             text NOT NULL CHECK (scope = 'all' OR (scope LIKE 'template:%' AND length(scope) BETWEEN 10 AND 80)),
    attempt           integer NOT NULL CHECK (attempt >= 1),
    trigger           text NOT NULL CHECK (trigger IN ('DAILY', 'ON_DEMAND')),
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    -- Events at or after this instant were not judged (the safety margin before the run).
    judged_until      timestamptz NOT NULL,
    time_zone         text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    outcome           text NOT NULL CHECK (outcome IN ('CLEAN', 'DIFFERENCES')),
    templates         integer NOT NULL CHECK (templates >= 0),
    coupons_judged    bigint NOT NULL CHECK (coupons_judged >= 0),
    feed_orders       bigint NOT NULL CHECK (feed_orders >= 0),
    item_count        integer NOT NULL CHECK (item_count >= 0),
    incidents_opened  integer NOT NULL CHECK (incidents_opened >= 0),
    -- Per check: items, and for MONEY the two sums and the relative difference (README).
    checks            jsonb NOT NULL CHECK (jsonb_typeof(checks) = 'array'),
    -- NULL when the run did not include the self-check.
    self_check        text CHECK (self_check IS NULL OR self_check IN ('PASSED', 'BLIND')),
    self_check_missed text[] NOT NULL DEFAULT '{}',
    UNIQUE (business_date, scope, attempt),
    CHECK (finished_at >= started_at),
    CHECK ((outcome = 'CLEAN') = (item_count = 0)),
    CHECK ((self_check = 'BLIND') = (cardinality(self_check_missed) > 0))
);
CREATE INDEX reconcile_run_by_date ON reconcile_run (business_date, id);

-- One difference a run found, by check and code (README "Reconciliation" lists them).
CREATE TABLE reconcile_item (
    run_id       bigint NOT NULL REFERENCES reconcile_run (id),
    position     integer NOT NULL CHECK (position >= 1),
    check_name   text NOT NULL CHECK (check_name IN ('COUPON_STATE', 'COUNTERS', 'BUDGET', 'ORDERS', 'MONEY')),
    code         text NOT NULL CHECK (code ~ '^[A-Z][A-Z_]{2,40}$'),
    template_id  text CHECK (template_id IS NULL OR length(template_id) BETWEEN 1 AND 64),
    coupon_id    text CHECK (coupon_id IS NULL OR length(coupon_id) BETWEEN 1 AND 64),
    order_id     text CHECK (order_id IS NULL OR length(order_id) BETWEEN 1 AND 64),
    expected     text CHECK (expected IS NULL OR length(expected) <= 200),
    actual       text CHECK (actual IS NULL OR length(actual) <= 200),
    PRIMARY KEY (run_id, position)
);

-- One incident per check, template and day ('' for differences that belong to no template). A
-- run with differences opens it (or reopens a RESOLVED one); a later run of that day without them
-- resolves an OPEN or ACKNOWLEDGED one; ACCEPTED (an operator's decision, with a note) stays.
CREATE TABLE reconcile_incident (
    id               bigserial PRIMARY KEY,
    check_name       text NOT NULL CHECK (check_name IN ('COUPON_STATE', 'COUNTERS', 'BUDGET', 'ORDERS', 'MONEY')),
    template_id      text NOT NULL CHECK (length(template_id) <= 64),
    business_date    date NOT NULL,
    status           text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'ACCEPTED')),
    items            integer NOT NULL CHECK (items >= 0),
    first_run_id     bigint NOT NULL REFERENCES reconcile_run (id),
    last_run_id      bigint NOT NULL REFERENCES reconcile_run (id),
    note             text CHECK (note IS NULL OR length(note) BETWEEN 1 AND 500),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (check_name, template_id, business_date),
    CHECK ((status = 'ACCEPTED') = (note IS NOT NULL)),
    CHECK (updated_at >= opened_at)
);
CREATE INDEX reconcile_incident_by_status ON reconcile_incident (status, id);

-- Incidents are events (issue 12), through migration 0007's outbox: a new incident is
-- incident.opened; every change of status is incident.<new status, lower case>
-- (acknowledged, resolved, accepted, and opened again for a reopened one). The payload is the row.
CREATE TRIGGER reconcile_incident_opened_events AFTER INSERT ON reconcile_incident REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_capture('incident.opened');

CREATE FUNCTION reconcile_incident_changed_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload)
    SELECT 'incident.' || CASE WHEN n.status = 'OPEN' THEN 'opened' ELSE lower(n.status) END, to_jsonb(n)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.status <> n.status
     ORDER BY n.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER reconcile_incident_changed_events AFTER UPDATE ON reconcile_incident
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reconcile_incident_changed_to_outbox();

-- The reconciliation's alerts share migration 0008's table (and 0009's events): RECONCILER_BLIND
-- (critical: the self-check missed a planted fault) and RECONCILE_MONEY (a day's money differs
-- from the order feed by more than 0.1%). Both judge a business day, so their cost_window is DAY;
-- value_bp is the difference in basis points (faults missed, for RECONCILER_BLIND) and scope is
-- `reconcile:<date>` or `reconcile:<date>:<template>`.
ALTER TABLE alert DROP CONSTRAINT alert_kind_check,
    ADD CONSTRAINT alert_kind_check CHECK (kind IN ('COST_RATIO_WARNING', 'COST_RATIO_CEILING', 'RECONCILER_BLIND', 'RECONCILE_MONEY'));

-- Budgets as a sum over the ledger (README "Budgets"). A coupon holds budget from its claim: its
-- reserve (a CASH or EXCHANGE coupon's face value, a DISCOUNT or FREE coupon's cap, 0 without a
-- cap). Its redemption gives back what the use did not cost; a refund returns what the use cost,
-- and a coupon that is usable again takes its reserve again as far as the budget has room. Each
-- USED and REFUNDED row written from here on records the change it made to the template's
-- budget_spent_cents (NULL on other rows, and on rows written before this migration, which
-- changed nothing), so that budget_spent_cents = Σ reserve of its coupons + Σ budget_delta_cents.
-- A template whose counter holds less than its coupons' reserves (rows written around the claim
-- path) is floored at zero rather than failing the redemption or refund: the reconciler's BUDGET
-- check then shows the difference.
ALTER TABLE coupon_ledger ADD COLUMN budget_delta_cents bigint
    CHECK (budget_delta_cents IS NULL OR event IN ('USED', 'REFUNDED'));

CREATE FUNCTION coupon_budget_reserve(type text, discount_cents bigint, max_discount_cents bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN type IN ('CASH', 'EXCHANGE') THEN discount_cents ELSE COALESCE(max_discount_cents, 0) END
$$;

-- redeem_coupons, as migration 0006 defines it, and also: the template's budget goes down by what
-- each use did not cost (the coupon's hold less the discount applied, never below zero), in the
-- same statement; the USED row records that change. Each answer row also carries the template and
-- the amount given back, so the caller lowers Redis's counter after the commit (Redis may count too
-- much, never too little). Templates whose budget changes are locked in id order after the coupons,
-- as every batch does, so concurrent batches wait rather than deadlock.
DROP FUNCTION redeem_coupons(jsonb);
CREATE FUNCTION redeem_coupons(uses jsonb)
RETURNS TABLE (idx integer, used boolean, template_id text, budget_back bigint)
LANGUAGE plpgsql AS $$
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

-- refund_coupon, as migration 0005 defines it, and also: the use's cost goes back to the budget;
-- a coupon back to UNUSED takes its reserve again, as far as the template's budget has room (a
-- refund is never refused for the budget). The REFUNDED row records the change.
CREATE OR REPLACE FUNCTION refund_coupon(coupon text, order_ref text)
RETURNS text
LANGUAGE sql AS $$
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
