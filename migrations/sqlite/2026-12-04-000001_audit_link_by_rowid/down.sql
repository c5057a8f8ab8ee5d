CREATE TABLE audit_pending (
    event_id TEXT PRIMARY KEY NOT NULL
);
INSERT INTO audit_pending (event_id)
    SELECT id FROM audit_events WHERE rowid > coalesce((
        SELECT e.rowid FROM audit_links l JOIN audit_events e ON e.id = l.event_id
        ORDER BY l.seq DESC LIMIT 1), 0);
CREATE TRIGGER audit_events_pending AFTER INSERT ON audit_events
BEGIN
    INSERT INTO audit_pending (event_id) VALUES (NEW.id);
END;
