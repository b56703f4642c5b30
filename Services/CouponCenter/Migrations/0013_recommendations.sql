-- Personalised offers (issue 13 part 2, README "Recommendations"): every decision a policy took,
-- with its propensity, so a new policy can be evaluated offline (inverse propensity scoring) before
-- it is switched on, and policy v1 can learn per segment from the outcomes.
--
-- The user's features are not stored: they are read from the ledger (user_coupon, user_order,
-- user_profile) at each recommendation. `converted` is the one cached fact: a decision's outcome
-- read from the ledger when its window closes, which is the user's next decision or the end of the
-- attribution window (COUPON_RECOMMEND_ATTRIBUTION_SECONDS), whichever comes first. For a coupon
-- arm it is whether a coupon of the offered template claimed in the window was USED by then; for
-- NONE whether the user reported an order without coupon in the window. It is written once, by the
-- statement that closes the window (`converted IS NULL` in its WHERE), and never changes after, so
-- the posteriors a decision was taken with can be recomputed from this table alone.

CREATE TABLE recommendation_decision (
    id            bigserial PRIMARY KEY,
    user_id       text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
    segment       text NOT NULL CHECK (char_length(segment) BETWEEN 1 AND 64),
    policy        text NOT NULL CHECK (policy IN ('V0', 'V1')),
    holdout       boolean NOT NULL,
    arm           text NOT NULL CHECK (arm IN ('CASH', 'DISCOUNT', 'FREE', 'NONE')),
    -- The arm v0 would have chosen at this decision, so v0 can be evaluated offline exactly.
    rule_arm      text NOT NULL CHECK (rule_arm IN ('CASH', 'DISCOUNT', 'FREE', 'NONE')),
    -- The probability the policy gave this arm: 1 for v0, Thompson sampling's share of draws for v1.
    propensity    double precision NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    candidates    text[] NOT NULL,
    template_id   text REFERENCES coupon_template (id),
    decided_at    timestamptz NOT NULL,
    closed_at     timestamptz,
    converted     boolean,
    CHECK ((arm = 'NONE') = (template_id IS NULL)),
    CHECK ((closed_at IS NULL) = (converted IS NULL))
);

-- The user's open decision (closed by their next one) and their decision count (the draws' seed).
CREATE INDEX recommendation_decision_by_user ON recommendation_decision (user_id, id);
-- The posteriors: closed decisions per segment and arm.
CREATE INDEX recommendation_decision_closed ON recommendation_decision (segment, arm) WHERE converted IS NOT NULL;
-- Decisions whose attribution window ran out without a next decision.
CREATE INDEX recommendation_decision_open ON recommendation_decision (decided_at) WHERE converted IS NULL;
