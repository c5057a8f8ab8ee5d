-- Escrow counts for limited seats (see persistence/src/stores/seats.rs). A limited seat's room,
-- `seat_limit` minus its holders, is split over 32 rows of `seat_counts` (`free` each), so
-- concurrent writers that take a seat each hold a different row until they commit rather than all
-- queueing on one. `seat_usage.debt`: how far the holders pass a limit lowered below them (every
-- shard is then 0); seats given back pay it off before any shard gains room.
CREATE TABLE seat_counts (
    seat TEXT COLLATE "C" NOT NULL,
    shard INTEGER NOT NULL,
    free BIGINT NOT NULL,
    PRIMARY KEY (seat, shard)
);

ALTER TABLE seat_usage ADD COLUMN debt BIGINT NOT NULL DEFAULT 0;

INSERT INTO seat_counts (seat, shard, free)
    SELECT seat, s, greatest(seat_limit - used, 0) / 32
        + CASE WHEN s < greatest(seat_limit - used, 0) % 32 THEN 1 ELSE 0 END
    FROM seat_usage, generate_series(0, 31) AS s
    WHERE seat_limit IS NOT NULL;

UPDATE seat_usage SET debt = greatest(used - seat_limit, 0) WHERE seat_limit IS NOT NULL;
DELETE FROM seat_usage WHERE seat_limit IS NULL;
ALTER TABLE seat_usage DROP COLUMN used;

-- The keys of the limited seats, comma-separated, where every create reads them at no cost: the
-- settings row its transaction has read already (see `statements::NewAccount`).
ALTER TABLE settings ADD COLUMN seat_limits TEXT NOT NULL DEFAULT '';
UPDATE settings SET seat_limits = coalesce((SELECT string_agg(seat, ',' ORDER BY seat) FROM seat_usage), '');

-- Statistics from the start: a create's one statement reads both tables, and on tables never
-- analysed the planner assumes ten pages each, prices its generic plan above a custom one and
-- then plans every create afresh (~0.2 ms each; `bench/ab --scenarios create` lost 30 %).
ANALYZE seat_usage, seat_counts;
