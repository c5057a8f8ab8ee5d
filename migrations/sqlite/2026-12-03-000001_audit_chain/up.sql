-- The audit trail's hash chain (SPEC §9, `domain::chain`). Writers do not link their own events
-- (a chain head held by every write would make writes wait for one another, and hashing would
-- hold SQLite's one write lock); a trigger queues each new event in `audit_pending` (a rowid
-- watermark would not do: VACUUM may renumber rowids), and one linker at a time (holding the
-- single row of `audit_chain`) links what is queued shortly after its commit: it appends each event's place,
-- the previous event's hash, its own, and the salted digest of its personal values to
-- `audit_links` (insert-only: no event row is rewritten), and takes the events off the queue.
-- `audit_chain` also keeps the checkpoint retention leaves: the last removed event's place and
-- hash. A salt is set to NULL when the event's personal values are erased.
CREATE TABLE audit_links (
    seq INTEGER PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    salt TEXT,
    digest TEXT NOT NULL
);
CREATE TABLE audit_pending (
    event_id TEXT PRIMARY KEY NOT NULL
);
CREATE TRIGGER audit_events_pending AFTER INSERT ON audit_events
BEGIN
    INSERT INTO audit_pending (event_id) VALUES (NEW.id);
END;
INSERT INTO audit_pending (event_id) SELECT id FROM audit_events;
CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    checkpoint_seq BIGINT NOT NULL,
    checkpoint_hash TEXT NOT NULL,
    -- PostgreSQL's linker keeps its position here; SQLite's queue needs none.
    mark TEXT NOT NULL
);
INSERT INTO audit_chain (id, seq, hash, checkpoint_seq, checkpoint_hash, mark) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
     0, '0000000000000000000000000000000000000000000000000000000000000000', '');
