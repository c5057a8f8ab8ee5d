-- Seats and licence limits (SPEC §2). One row per seat: how many hold it now, and its limit
-- (NULL: unlimited). `active_users`: active accounts that are not guests (limit: the setting
-- `active_user_limit`); `role:<name>`: active accounts holding the role (limit: the role's
-- `seats` from the catalog, written at start-up); `guest_seats`: rows of `guest_seats` (limit:
-- the `guest` role's seats). Kept by the account writer in the transaction of every change, by
-- one conditional update per seat, so a limit holds under concurrent writers.
CREATE TABLE seat_usage (
    seat TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    used BIGINT NOT NULL,
    seat_limit BIGINT
);

-- The guest seat is bound to an email for good: the first time an email (by its key) holds
-- `guest` it takes a row here, which neither a role change nor a deletion gives back.
CREATE TABLE guest_seats (
    email_key TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    taken_at TIMESTAMP NOT NULL
);

INSERT INTO guest_seats (email_key, taken_at)
    SELECT email_key, created_at FROM users WHERE roles = 'guest';
INSERT INTO seat_usage (seat, used)
    SELECT 'active_users', count(*) FROM users WHERE active = TRUE AND roles <> 'guest';
INSERT INTO seat_usage (seat, used)
    SELECT 'guest_seats', count(*) FROM guest_seats;
INSERT INTO seat_usage (seat, used)
    SELECT 'role:' || user_roles.role, count(*) FROM user_roles
    JOIN users ON users.id = user_roles.user_id
    WHERE users.active = TRUE
    GROUP BY user_roles.role;
