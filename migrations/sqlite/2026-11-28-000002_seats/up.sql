-- Seats and licence limits (SPEC §2). One row per limited seat: its limit and how many hold it.
-- `active_users`: active accounts that are not guests (limit: the setting `active_user_limit`);
-- `role:<name>`: active accounts holding the role (limit: the role's `seats` from the catalog,
-- written at start-up); `guest_seats`: rows of `guest_seats` (limit: the `guest` role's seats).
-- A count is taken from the rows when its limit is set, and kept by the account writer in the
-- transaction of every change while the limit stays set (`seat_limit` NULL: not kept).
CREATE TABLE seat_usage (
    seat TEXT PRIMARY KEY NOT NULL,
    used BIGINT NOT NULL,
    seat_limit BIGINT
);

-- The guest seat is bound to an email for good: the first time an email (by its key) holds
-- `guest` it takes a row here, which neither a role change nor a deletion gives back.
CREATE TABLE guest_seats (
    email_key TEXT PRIMARY KEY NOT NULL,
    taken_at TIMESTAMP NOT NULL
);

INSERT INTO guest_seats (email_key, taken_at)
    SELECT email_key, created_at FROM users WHERE roles = 'guest';
