-- The events outbox (DESIGN.md §4 "Events"): every coupon state change becomes an event row in the
-- same transaction as the change, and coupon-center's event delivery (Events/) publishes it on the
-- PUB socket and posts it to each configured webhook, at least once, with `event_id` to dedupe on.
--
-- A new event source is one trigger on its table, with the transition table named `new_rows`:
--   CREATE TRIGGER <table>_events AFTER INSERT ON <table> REFERENCING NEW TABLE AS new_rows
--       FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_capture('<kind>');
-- Each inserted row becomes one event of that kind whose payload is the row as JSON (to_jsonb).

CREATE TABLE event_outbox (
    id             bigserial PRIMARY KEY,
    -- What consumers dedupe on: fixed when the event is written, the same on every redelivery.
    event_id       uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    kind           text NOT NULL CHECK (kind ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'),
    payload        jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    -- Set by the delivery when it published the event and queued its webhook deliveries.
    dispatched_at  timestamptz
);
-- The delivery takes undispatched events in id order; this index holds only those.
CREATE INDEX event_outbox_undispatched ON event_outbox (id) WHERE dispatched_at IS NULL;

-- One row per (event, webhook): a webhook that is down holds back only its own rows, and each row
-- backs off on its own. DEAD rows gave up (too many attempts, or too old) and block nothing.
CREATE TABLE webhook_delivery (
    webhook_url      text NOT NULL,
    -- Pruning an event (EventDispatcher, COUPON_EVENTS_RETENTION_HOURS) takes its rows with it.
    outbox_id        bigint NOT NULL REFERENCES event_outbox (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'DEAD')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a PENDING row may be tried next; a process that takes a row moves this past the
    -- attempt's timeout (a lease), so a process killed mid-attempt leaves a row that is retried.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    -- Event first: the cascade and the pruning look rows up by event.
    PRIMARY KEY (outbox_id, webhook_url)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (webhook_url, next_attempt_at) WHERE state = 'PENDING';

-- The generic capture: one event per inserted row, kind from the trigger's argument.
CREATE FUNCTION event_outbox_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload) SELECT TG_ARGV[0], to_jsonb(r) FROM new_rows r;
    RETURN NULL;
END;
$$;

-- Coupon state changes: every one is a coupon_ledger row (the claim, redeem, refund and expiry SQL
-- write it in the same statement as the change), so the ledger's trigger is the one place events
-- come from and no code path can forget it. Statement-level with a transition table: a group-commit
-- batch inserts hundreds of ledger rows in one statement, and this is one INSERT … SELECT for all.
-- The payload is the documented event shape (README "Events"); amounts in yuan, as the API shows them.
CREATE FUNCTION coupon_ledger_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload, occurred_at)
    SELECT 'coupon.' || lower(l.event),
           jsonb_build_object(
               'ledgerId', l.id, 'couponId', l.coupon_id, 'templateId', l.template_id, 'userId', l.user_id,
               'orderId', l.order_id, 'amount', round(l.amount_cents::numeric / 100, 2),
               'fromStatus', l.from_status, 'toStatus', l.to_status),
           l.created_at
      FROM ledger_rows l
     ORDER BY l.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER coupon_ledger_events AFTER INSERT ON coupon_ledger REFERENCING NEW TABLE AS ledger_rows
    FOR EACH STATEMENT EXECUTE FUNCTION coupon_ledger_to_outbox();

-- The JSON every consumer receives for an event (PUB and webhooks alike): the payload with the
-- envelope fields laid over it. One definition, so a redelivery carries the same document.
CREATE FUNCTION event_outbox_document(e event_outbox) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT (e.payload || jsonb_build_object(
                'eventId', e.event_id, 'kind', e.kind, 'sequence', e.id,
                'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text
$$;

-- The outcome of one webhook attempt, an element of the array the delivery records in one
-- statement: outboxId, attempts (the count the attempt was taken with; a stale outcome of a row
-- another process has since taken again is ignored unless it is a delivery), state (DELIVERED,
-- PENDING for a retry, DEAD), delayMs (until the retry) and error (what failed).
CREATE TYPE webhook_attempt_result AS (
    "outboxId" bigint, attempts integer, state text, "delayMs" bigint, error text
);
