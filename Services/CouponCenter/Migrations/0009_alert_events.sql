-- Alerts are events too (issue 12: "every alert, incident and coupon state change is also an event
-- written to an outbox table in the same transaction"): migration 0007's capture, one trigger per
-- change that matters. An alert that fires is a new row (alert.fired); one that resolves is the
-- update of its status (alert.resolved). The evaluation also updates a firing alert's value and
-- last_seen_at every time it looks: those are not events, so the update trigger keeps only the rows
-- whose status went from FIRING to RESOLVED. The payload is the alert row as JSON.
CREATE TRIGGER alert_fired_events AFTER INSERT ON alert REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_capture('alert.fired');

CREATE FUNCTION alert_resolved_to_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (kind, payload)
    SELECT 'alert.resolved', to_jsonb(n)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.status = 'FIRING' AND n.status = 'RESOLVED'
     ORDER BY n.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER alert_resolved_events AFTER UPDATE ON alert REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION alert_resolved_to_outbox();
