-- Sign-in, roles, API tokens and the audit log (README "Sign-in and roles"). Secrets are never
-- stored: a password as its yescrypt hash (libcrypt), a session id and an API token as the hex of
-- their SHA-256. risk-control reads operator_session and api_token too (it shares this database)
-- to check the credential of its admin calls.

-- An operator account. The lockout counter lives here, in PostgreSQL, so it survives restarts and
-- is one row per account for every coupon-center process: a failed sign-in increments it under the
-- row's lock, and reaching the configured count sets `locked_until`.
CREATE TABLE operator_account (
    username                   text PRIMARY KEY
        CHECK (char_length(username) BETWEEN 1 AND 64 AND username ~ '^[A-Za-z0-9._@-]+$'),
    role                       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash              text NOT NULL CHECK (password_hash LIKE '$%' AND octet_length(password_hash) <= 512),
    disabled                   boolean NOT NULL DEFAULT false,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    failed_logins              integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    failure_window_started_at  timestamptz,
    locked_until               timestamptz,
    CHECK (failed_logins = 0 OR failure_window_started_at IS NOT NULL),
    CHECK (locked_until IS NULL OR failed_logins > 0)
);

-- A sign-in session: the SHA-256 of its id (the cookie's value), an absolute expiry and the last
-- time it was used (the idle timeout counts from there). Logout deletes the row; disabling the
-- operator or changing their password deletes all of theirs.
CREATE TABLE operator_session (
    id_hash       text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    username      text NOT NULL REFERENCES operator_account (username),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at)
);
CREATE INDEX operator_session_by_username ON operator_session (username);

-- An API token for scripts: its role is its own (at most its creator's), it ends at `expires_at`
-- or when revoked, and disabling its owner revokes it.
CREATE TABLE api_token (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    owner       text NOT NULL REFERENCES operator_account (username),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

-- Every operator action: who (and how they proved it), when, what, on what, the row before and
-- after (JSON objects without any password, hash or token) and the caller's request id. Written in
-- the same transaction as the change it records. Append-only: the trigger refuses UPDATE, DELETE
-- and TRUNCATE to everyone, the table's owner included.
CREATE TABLE operator_audit (
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
CREATE INDEX operator_audit_by_actor ON operator_audit (actor, id);
CREATE INDEX operator_audit_by_action ON operator_audit (action, id);

CREATE FUNCTION operator_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'operator_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER operator_audit_append_only BEFORE UPDATE OR DELETE ON operator_audit
    FOR EACH ROW EXECUTE FUNCTION operator_audit_refuse_change();
CREATE TRIGGER operator_audit_no_truncate BEFORE TRUNCATE ON operator_audit
    FOR EACH STATEMENT EXECUTE FUNCTION operator_audit_refuse_change();
