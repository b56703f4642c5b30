-- risk-control's own table: every decision, written in batches off the decision path. Versions
-- 1001+ are risk-control's in the shared schema_migrations table (coupon-center's are 1…999).
CREATE TABLE risk_audit (
    id            bigserial PRIMARY KEY,
    decided_at    timestamptz NOT NULL,
    action        text NOT NULL,
    user_id       text NOT NULL,
    device_id     text,
    ip            text,
    template_id   text NOT NULL,
    coupon_type   text NOT NULL,
    amount_cents  bigint NOT NULL,
    verdict       text NOT NULL CHECK (verdict IN ('ALLOW', 'REVIEW', 'DENY')),
    score         integer NOT NULL,
    reasons       text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX risk_audit_by_user ON risk_audit (user_id, decided_at);
CREATE INDEX risk_audit_by_verdict ON risk_audit (verdict, decided_at);
