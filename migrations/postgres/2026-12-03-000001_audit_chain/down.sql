DROP TABLE audit_chain;
DROP INDEX audit_events_xact;
ALTER TABLE audit_events DROP COLUMN xact;
DROP TABLE audit_links;
