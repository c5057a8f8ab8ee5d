-- SQLite's linker finds the events to link by rowid, after the newest linked one (rowid order is
-- commit order: one writer at a time, each new row after the last; VACUUM keeps that order), so
-- writers no longer queue each event through a trigger: that queue cost every write a B-tree page.
-- Events still queued are moved after all others (the same rows under new rowids; nothing an
-- event's hash covers changes), so that they are the ones after the newest linked event.
DROP TRIGGER audit_events_pending;
CREATE TEMP TABLE audit_events_unlinked AS
    SELECT * FROM audit_events WHERE id IN (SELECT event_id FROM audit_pending);
DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_pending);
INSERT INTO audit_events SELECT * FROM audit_events_unlinked ORDER BY id;
DROP TABLE audit_events_unlinked;
DROP TABLE audit_pending;
