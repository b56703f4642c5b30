-- Core tables of the coupon platform. PostgreSQL is the source of truth: every money-safety
-- invariant is backed here by a key, a check or a conditional update, whatever Redis says.
-- Money is bigint cents; rates are basis points (8折 = 0.8 = 8000); times are timestamptz.

CREATE TABLE coupon_template (
    id                      text PRIMARY KEY,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    type                    text NOT NULL CHECK (type IN ('CASH', 'DISCOUNT', 'FREE', 'EXCHANGE')),
    threshold_cents         bigint NOT NULL DEFAULT 0 CHECK (threshold_cents >= 0),
    discount_cents          bigint NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    rate_bp                 integer CHECK (rate_bp IS NULL OR (rate_bp > 0 AND rate_bp < 10000)),
    max_discount_cents      bigint CHECK (max_discount_cents IS NULL OR max_discount_cents > 0),
    start_time              timestamptz NOT NULL,
    end_time                timestamptz NOT NULL,
    valid_hours             integer CHECK (valid_hours IS NULL OR valid_hours > 0),
    total_stock             integer NOT NULL CHECK (total_stock >= 0),
    per_user_limit          integer NOT NULL DEFAULT 1 CHECK (per_user_limit > 0),
    daily_limit             integer CHECK (daily_limit IS NULL OR daily_limit > 0),
    budget_cents            bigint CHECK (budget_cents IS NULL OR budget_cents > 0),
    level                   text NOT NULL DEFAULT 'PLATFORM' CHECK (level IN ('SHOP', 'CATEGORY', 'PLATFORM')),
    shop_id                 text,
    categories              text[] NOT NULL DEFAULT '{}',
    stacking                text NOT NULL DEFAULT 'STACKABLE' CHECK (stacking IN ('EXCLUSIVE', 'STACKABLE')),
    threshold_on_discounted boolean NOT NULL DEFAULT false,
    channels                text[] NOT NULL DEFAULT '{}',
    segments                text[] NOT NULL DEFAULT '{}',
    points_cost             integer NOT NULL DEFAULT 0 CHECK (points_cost >= 0),
    tiers                   jsonb NOT NULL DEFAULT '[]',
    status                  text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
    -- Live counters, updated in the same transaction as the coupon rows they count.
    issued_count            integer NOT NULL DEFAULT 0,
    budget_spent_cents      bigint NOT NULL DEFAULT 0 CHECK (budget_spent_cents >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time > start_time),
    CHECK (issued_count >= 0 AND issued_count <= total_stock),
    CHECK (budget_cents IS NULL OR budget_spent_cents <= budget_cents),
    CHECK (level <> 'SHOP' OR shop_id IS NOT NULL),
    CHECK (level <> 'CATEGORY' OR cardinality(categories) > 0),
    CHECK (type <> 'DISCOUNT' OR rate_bp IS NOT NULL)
);

-- Issued per template per day (in the configured time zone); the limit is copied in so the check
-- can hold it without a join.
CREATE TABLE template_daily_issue (
    template_id  text NOT NULL REFERENCES coupon_template (id),
    day          date NOT NULL,
    issued       integer NOT NULL CHECK (issued >= 0),
    daily_limit  integer NOT NULL,
    PRIMARY KEY (template_id, day),
    CHECK (issued <= daily_limit)
);

-- How many coupons of a template a user has claimed, with the limit copied in for the check.
CREATE TABLE user_template_issue (
    user_id        text NOT NULL,
    template_id    text NOT NULL REFERENCES coupon_template (id),
    issued         integer NOT NULL CHECK (issued >= 0),
    per_user_limit integer NOT NULL,
    PRIMARY KEY (user_id, template_id),
    CHECK (issued <= per_user_limit)
);

CREATE TABLE user_coupon (
    id                  text PRIMARY KEY,
    user_id             text NOT NULL,
    template_id         text NOT NULL REFERENCES coupon_template (id),
    status              text NOT NULL DEFAULT 'UNUSED' CHECK (status IN ('UNUSED', 'USED', 'EXPIRED', 'REVOKED')),
    -- The face value frozen at claim time (a tier may have chosen it).
    type                text NOT NULL,
    threshold_cents     bigint NOT NULL CHECK (threshold_cents >= 0),
    discount_cents      bigint NOT NULL CHECK (discount_cents >= 0),
    rate_bp             integer,
    max_discount_cents  bigint,
    segment             text,
    channel             text NOT NULL,
    claimed_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    -- Set while USED: exactly one order holds the coupon.
    order_id            text,
    order_amount_cents  bigint,
    applied_cents       bigint,
    used_at             timestamptz,
    CHECK (expires_at > claimed_at),
    CHECK ((status = 'USED') = (order_id IS NOT NULL)),
    CHECK (applied_cents IS NULL OR (applied_cents >= 0 AND applied_cents <= order_amount_cents))
);
CREATE INDEX user_coupon_by_user ON user_coupon (user_id, status);
CREATE INDEX user_coupon_by_template ON user_coupon (template_id, status);
CREATE INDEX user_coupon_unused_expiry ON user_coupon (expires_at) WHERE status = 'UNUSED';

-- Append-only history of every coupon state change, written in the same transaction as the change.
CREATE TABLE coupon_ledger (
    id            bigserial PRIMARY KEY,
    coupon_id     text NOT NULL REFERENCES user_coupon (id),
    template_id   text NOT NULL REFERENCES coupon_template (id),
    user_id       text NOT NULL,
    event         text NOT NULL CHECK (event IN ('ISSUED', 'USED', 'REFUNDED', 'EXPIRED', 'REVOKED')),
    from_status   text,
    to_status     text NOT NULL,
    order_id      text,
    amount_cents  bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_ledger_by_coupon ON coupon_ledger (coupon_id);
CREATE INDEX coupon_ledger_by_template ON coupon_ledger (template_id, event);

CREATE FUNCTION coupon_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'coupon_ledger is append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER coupon_ledger_no_update BEFORE UPDATE OR DELETE ON coupon_ledger
    FOR EACH ROW EXECUTE FUNCTION coupon_ledger_append_only();

-- The first answer to every mutating request that carried a request id: a retry gets it back, the
-- same id with another payload is refused. `payload` is the request's canonical text.
CREATE TABLE idempotency_record (
    operation     text NOT NULL,
    request_id    text NOT NULL,
    payload       text NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operation, request_id)
);

-- What segments are computed from: orders seen at redemption, and operators' tags.
CREATE TABLE user_profile (
    user_id        text PRIMARY KEY,
    tags           text[] NOT NULL DEFAULT '{}',
    order_count    integer NOT NULL DEFAULT 0 CHECK (order_count >= 0),
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_order_at  timestamptz
);

CREATE TABLE user_order (
    user_id       text NOT NULL,
    order_id      text NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    ordered_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, order_id)
);
CREATE INDEX user_order_recent ON user_order (user_id, ordered_at);

CREATE TABLE user_points (
    user_id  text PRIMARY KEY,
    points   bigint NOT NULL CHECK (points >= 0)
);

CREATE TABLE points_ledger (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    delta       bigint NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('GRANT', 'EXCHANGE')),
    coupon_id   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX points_ledger_by_user ON points_ledger (user_id);
