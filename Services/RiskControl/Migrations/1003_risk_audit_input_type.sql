-- One declared shape for the audit batch, as coupon-center's batch inputs have (its migration 0006).
-- The writer spelled the fields in a jsonb_to_recordset column list inside its INSERT, so a key renamed
-- on the Swift side would silently read as NULL. The shape is now this composite type, read with
-- jsonb_populate_recordset, and Tests/IntegrationTests/BatchInputShapeTests compares its attributes with
-- the keys risk-control writes (BatchInputs.AuditInputField). The keys are also the dead-letter
-- payload's, hence snake_case. reasons is a JSON array read into text[].
CREATE TYPE risk_audit_input AS (
    decided_at_ms bigint, action text, user_id text, device_id text, ip text, template_id text,
    coupon_type text, amount_cents bigint, verdict text, score integer, reasons text[]
);
