-- A/B experiments (the seed's section 五.2, README "Experiments"): arms that are coupon templates,
-- users split by a keyed hash of the experiment's salt and their id into 10,000 buckets, claims
-- through the experiment, and results aggregated here from the exposures and the users' coupons.
--
-- Assignment is computed, never stored in advance: bucket = first 8 bytes of
-- HMAC-SHA256(key: salt, message: user id), big-endian, mod 10,000; arms own consecutive bucket
-- ranges in their position order. Once rolled out, everyone is in `rollout_arm`, so nobody already
-- in the winning arm moves. The exposure row records the arm a user was in when first exposed (a
-- claim through the experiment), once: the primary key makes retries and races write nothing more.

CREATE TABLE experiment (
    id              text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 64),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    hypothesis      text NOT NULL CHECK (char_length(hypothesis) <= 1000),
    -- Random per experiment, so two experiments split the same users independently.
    salt            text NOT NULL CHECK (char_length(salt) BETWEEN 16 AND 64),
    status          text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'RUNNING', 'STOPPED', 'ROLLED_OUT')),
    primary_metric  text NOT NULL CHECK (primary_metric IN ('USE_RATE', 'USE_RATE_PER_EXPOSED')),
    decision_rule   text NOT NULL CHECK (decision_rule IN ('SEED', 'LOWER_BOUND')),
    alpha_bp        integer NOT NULL CHECK (alpha_bp BETWEEN 1 AND 5000),
    min_lift_bp     integer NOT NULL CHECK (min_lift_bp BETWEEN 1 AND 9999),
    rollout_arm     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    stopped_at      timestamptz,
    CHECK ((status = 'ROLLED_OUT') = (rollout_arm IS NOT NULL)),
    CHECK (status = 'DRAFT' OR started_at IS NOT NULL)
);

-- Weights are buckets of 10,000; coupon-center checks that an experiment's add up to 10,000.
CREATE TABLE experiment_arm (
    experiment_id   text NOT NULL REFERENCES experiment (id),
    position        smallint NOT NULL CHECK (position BETWEEN 0 AND 9),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    weight_buckets  integer NOT NULL CHECK (weight_buckets BETWEEN 1 AND 10000),
    template_id     text NOT NULL REFERENCES coupon_template (id),
    PRIMARY KEY (experiment_id, position),
    UNIQUE (experiment_id, name)
);

ALTER TABLE experiment
    ADD FOREIGN KEY (id, rollout_arm) REFERENCES experiment_arm (experiment_id, name);

CREATE TABLE experiment_exposure (
    experiment_id     text NOT NULL REFERENCES experiment (id),
    user_id           text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 64),
    arm               text NOT NULL,
    first_exposed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, user_id),
    FOREIGN KEY (experiment_id, arm) REFERENCES experiment_arm (experiment_id, name)
);

-- No new index on user_coupon: the results join an exposed user to their coupons through
-- user_coupon_by_user (user_id, status), a handful of rows per user, and every index on that
-- table is paid for by every claim.
