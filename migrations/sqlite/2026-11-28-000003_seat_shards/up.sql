-- Escrow counts for limited seats (see persistence/src/stores/seats.rs). A limited seat's room,
-- `seat_limit` minus its holders, is kept in `seat_counts` (`free`): one row per seat on SQLite,
-- which runs one writer at a time (PostgreSQL splits it over 32). `seat_usage.debt`: how far the
-- holders pass a limit lowered below them (`free` is then 0); seats given back pay it off first.
CREATE TABLE seat_counts (
    seat TEXT NOT NULL,
    shard INTEGER NOT NULL,
    free BIGINT NOT NULL,
    PRIMARY KEY (seat, shard)
);

ALTER TABLE seat_usage ADD COLUMN debt BIGINT NOT NULL DEFAULT 0;

INSERT INTO seat_counts (seat, shard, free)
    SELECT seat, 0, max(seat_limit - used, 0) FROM seat_usage WHERE seat_limit IS NOT NULL;

UPDATE seat_usage SET debt = max(used - seat_limit, 0) WHERE seat_limit IS NOT NULL;
DELETE FROM seat_usage WHERE seat_limit IS NULL;
ALTER TABLE seat_usage DROP COLUMN used;

-- The keys of the limited seats, comma-separated (kept on both databases; PostgreSQL's creates
-- read them from the settings row, see `statements::NewAccount`).
ALTER TABLE settings ADD COLUMN seat_limits TEXT NOT NULL DEFAULT '';
UPDATE settings SET seat_limits = coalesce((SELECT group_concat(seat, ',') FROM (SELECT seat FROM seat_usage ORDER BY seat)), '');
