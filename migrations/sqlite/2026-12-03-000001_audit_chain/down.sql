DROP TABLE audit_chain;
DROP TRIGGER audit_events_pending;
DROP TABLE audit_pending;
DROP TABLE audit_links;
