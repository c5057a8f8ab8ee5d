-- The transactional outbox (SPEC §5, domain/src/outbox.rs): each email is written here in the
-- transaction of the change that caused it, then delivered by a background worker. A message holds
-- no secret: a link's token is sealed when the message is sent. No foreign key to the account: a
-- message outlives it (as a sent letter does) until the sweep deletes it, 30 days after it finished,
-- and one whose account is gone before it is sent is cancelled. (An index on the account to cascade
-- a delete cost every message's insert: bench/ab --scenarios create.)
CREATE TABLE outbox (
    -- A UUIDv7: in the order written (GET /api/v1/outbox pages by it, newest first).
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    account_id TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    locale TEXT NOT NULL,
    -- The account's token generation for the link's purpose, for a message with a link.
    generation BIGINT,
    -- JSON: what the text names (username, names as they were). Never a secret.
    details TEXT NOT NULL,
    -- pending, sending, sent, logged, failed, cancelled
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- pending: when it is due; sending: when the worker's hold on it ends.
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
-- What the worker takes: messages due, oldest first.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'sending');
