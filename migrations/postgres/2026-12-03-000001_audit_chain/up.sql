-- The audit trail's hash chain (SPEC §9, `domain::chain`). Writers do not link their own events
-- (a chain head held by every write would make writes wait for one another); one linker at a time
-- (holding the single row of `audit_chain`) links them shortly after they commit, appending each
-- event's place, the previous event's hash, its own, and the salted digest of its personal values
-- to `audit_links` (insert-only: no event row is rewritten).
-- Which events are still to link: each event records the transaction that wrote it (`xact`, set
-- by its default), and the linker takes the events after its last one in (xact, id) order whose
-- transaction is older than every one still running (the snapshot's xmin), so an event committed
-- late is never passed over. The linker's position is `audit_chain.mark` ("xact:id"); the index
-- on (xact, id) reads exactly the events after it (a BRIN index, cheaper to write, made every
-- pass read whole unsummarised block ranges: measured, it cost creates and patches more).
-- `audit_chain` also keeps the checkpoint retention leaves: the last removed event's place and
-- hash. A salt is set to NULL when the event's personal values are erased.
CREATE TABLE audit_links (
    seq BIGINT PRIMARY KEY NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    salt TEXT,
    digest TEXT NOT NULL
);
-- Events written before: transaction 0, linked first.
ALTER TABLE audit_events ADD COLUMN xact BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX audit_events_xact ON audit_events (xact, id);
CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    checkpoint_seq BIGINT NOT NULL,
    checkpoint_hash TEXT NOT NULL,
    mark TEXT NOT NULL
);
INSERT INTO audit_chain (id, seq, hash, checkpoint_seq, checkpoint_hash, mark) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
     0, '0000000000000000000000000000000000000000000000000000000000000000', '-1:');
