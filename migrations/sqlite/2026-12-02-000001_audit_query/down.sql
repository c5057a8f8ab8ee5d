DROP INDEX audit_events_by_target;
CREATE INDEX audit_events_target ON audit_events (target_id);
DROP INDEX audit_events_by_action;
DROP INDEX audit_events_by_actor;
CREATE INDEX audit_events_actor ON audit_events (actor_id, action);
ALTER TABLE audit_events DROP COLUMN category;
