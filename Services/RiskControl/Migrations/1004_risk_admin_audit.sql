-- risk-control's own audit of operator actions: risk rules replaced or reloaded, list entries added
-- or removed (README "Sign-in and roles"). Who (and how they proved it: the session or API token
-- risk-control checked), when, what, the state before and after as JSON objects, the frame's
-- request id. The rules live in memory and the lists in Redis, so a row cannot share a transaction
-- with its change: it is written right after the change succeeds, and a failed write makes the call
-- answer INTERNAL and is logged. Append-only, as coupon-center's operator_audit.
CREATE TABLE risk_admin_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 64),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('session', 'token', 'service', 'cli')),
    action      text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    target      text NOT NULL CHECK (char_length(target) <= 200),
    before      jsonb CHECK (before IS NULL OR jsonb_typeof(before) = 'object'),
    after       jsonb CHECK (after IS NULL OR jsonb_typeof(after) = 'object'),
    request_id  text CHECK (request_id IS NULL OR char_length(request_id) <= 128)
);

CREATE FUNCTION risk_admin_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'risk_admin_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER risk_admin_audit_append_only BEFORE UPDATE OR DELETE ON risk_admin_audit
    FOR EACH ROW EXECUTE FUNCTION risk_admin_audit_refuse_change();
CREATE TRIGGER risk_admin_audit_no_truncate BEFORE TRUNCATE ON risk_admin_audit
    FOR EACH STATEMENT EXECUTE FUNCTION risk_admin_audit_refuse_change();
