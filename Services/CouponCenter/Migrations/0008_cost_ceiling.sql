-- The cost-ratio ceiling (Shared/DESIGN.md §2.5): coupon cost ÷ order amount, per template and
-- platform-wide, over the last hour, the last 24 hours and the business day, alerted above a
-- ceiling (8% by default) and optionally stopping a template's claims.
--
-- What counts (README, "Cost ratio"): every order coupon-center has seen (`user_order`: orders
-- recorded by a redemption, and orders without coupons reported through `order_report`), and the
-- discount coupons took off them (the USED ledger rows; a REFUNDED row gives its amount back at the
-- time of the refund). A template's own ratio counts only the orders that redeemed one of its
-- coupons.

-- A template's own ceiling (NULL: the platform's default) and what crossing it does.
ALTER TABLE coupon_template
    ADD COLUMN cost_ceiling_bp integer CHECK (cost_ceiling_bp IS NULL OR cost_ceiling_bp BETWEEN 1 AND 10000),
    ADD COLUMN cost_action text NOT NULL DEFAULT 'ALERT' CHECK (cost_action IN ('ALERT', 'STOP_ISSUANCE'));

-- The evaluation reads only what changed since its last run: these two ranges by time.
CREATE INDEX user_order_by_time ON user_order (ordered_at);
CREATE INDEX coupon_ledger_cost_events ON coupon_ledger (created_at) WHERE event IN ('USED', 'REFUNDED');

-- Orders, order amount and discount per minute and scope (`platform`, or `template:` and the id),
-- rebuilt by the evaluation job for the minutes since its last run (less a settling margin for
-- transactions still committing); older minutes are final. A window is a sum of at most 1,440
-- minutes per scope, never a scan of the history.
CREATE TABLE cost_minute (
    minute          timestamptz NOT NULL,
    scope           text NOT NULL,
    orders          bigint NOT NULL,
    order_cents     bigint NOT NULL,
    discount_cents  bigint NOT NULL,
    PRIMARY KEY (minute, scope)
);

-- Up to when cost_minute has been rebuilt (one row).
CREATE TABLE cost_rollup (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    rebuilt_through timestamptz NOT NULL
);

-- Alerts: one row per episode. An episode is FIRING until it resolves; at most one FIRING alert
-- per kind and scope (the partial unique index), while RESOLVED ones stay as history.
CREATE TABLE alert (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('COST_RATIO_WARNING', 'COST_RATIO_CEILING')),
    scope             text NOT NULL CHECK (length(scope) BETWEEN 1 AND 100),
    cost_window       text NOT NULL CHECK (cost_window IN ('1H', '24H', 'DAY')),
    value_bp          bigint NOT NULL,
    threshold_bp      integer NOT NULL CHECK (threshold_bp BETWEEN 0 AND 10000),
    status            text NOT NULL DEFAULT 'FIRING' CHECK (status IN ('FIRING', 'RESOLVED')),
    -- Consecutive evaluations below 95% of the threshold while FIRING (two resolve it).
    calm_evaluations  integer NOT NULL DEFAULT 0 CHECK (calm_evaluations >= 0),
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    CHECK ((status = 'RESOLVED') = (resolved_at IS NOT NULL)),
    CHECK (last_seen_at >= first_seen_at)
);
CREATE UNIQUE INDEX alert_one_firing ON alert (kind, scope) WHERE status = 'FIRING';
CREATE INDEX alert_by_status ON alert (status, id);

-- Whether a template refuses claims now: it chose STOP_ISSUANCE and a ceiling alert fires for it or
-- for the platform. The one definition, used by the template's view and the claim path's cache.
CREATE FUNCTION template_cost_stopped(template text, action text)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT action = 'STOP_ISSUANCE' AND EXISTS (
        SELECT 1 FROM alert a
         WHERE a.status = 'FIRING' AND a.kind = 'COST_RATIO_CEILING' AND a.scope IN ('platform', 'template:' || template));
$$;
