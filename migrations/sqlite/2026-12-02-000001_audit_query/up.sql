-- Querying the audit trail (SPEC §9): each event's category, set by Roster when it writes the event
-- (`domain::audit::category`) and here from the action for the events before; and an index for
-- each selective filter (actor, target, action), each ending in the id, which is a UUID v7 and so
-- orders events by time: a filtered page, newest first, is one index range read from its start.
-- Time is the primary key itself. A category holds a large share of all events, so its filter
-- reads the primary key newest first and keeps its own: an index of its own would cost every
-- write and save little. `(actor_id, id)` replaces `(actor_id, action)`: the delete rule's
-- question (has the account authored anything but sign-ins?) reads the actor's events from it.
ALTER TABLE audit_events ADD COLUMN category TEXT NOT NULL DEFAULT 'user_management';
UPDATE audit_events SET category = CASE
    WHEN action LIKE 'auth.%' OR action LIKE 'session.%' OR action IN ('user.locked', 'user.unlocked')
        THEN 'authentication'
    WHEN action LIKE 'mfa.%' OR action LIKE 'api_token.%'
        OR action IN ('settings.updated', 'user.password_changed', 'user.password_reset', 'user.reset_links_withdrawn')
        THEN 'security_settings'
    WHEN action = 'user.updated' AND actor_id = target_id THEN 'account_information'
    ELSE 'user_management'
END;
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);
DROP INDEX audit_events_target;
CREATE INDEX audit_events_by_target ON audit_events (target_id, id);
