-- Decisions PostgreSQL refused to put in risk_audit (AuditWriter isolates them so they never block
-- the rows after them). `payload` is the row's JSON as bytes: bytea takes any bytes whatever the
-- database encoding, so keeping a refused row cannot itself be refused for what the row holds.
-- Read it with convert_from(payload, 'UTF8'); a U+0000 in a field appears as the text \u0000.
CREATE TABLE risk_audit_dead_letter (
    id         bigserial PRIMARY KEY,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    payload    bytea NOT NULL,
    error      text NOT NULL,
    sql_state  text
);
CREATE INDEX risk_audit_dead_letter_by_time ON risk_audit_dead_letter (failed_at);
