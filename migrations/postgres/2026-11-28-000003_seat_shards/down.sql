ALTER TABLE settings DROP COLUMN seat_limits;
ALTER TABLE seat_usage ADD COLUMN used BIGINT NOT NULL DEFAULT 0;
UPDATE seat_usage SET used = seat_limit + debt
    - coalesce((SELECT sum(free) FROM seat_counts WHERE seat_counts.seat = seat_usage.seat), 0);
ALTER TABLE seat_usage DROP COLUMN debt;
DROP TABLE seat_counts;
