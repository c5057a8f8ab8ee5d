-- Every account read (the caller of each request, an account, each row of a list page) needs the
-- account's roles. `user_roles` stays the record that role filters, seat counts and the last-admin
-- rule query; `users.roles` repeats it as one comma-separated, sorted text (role names hold no
-- commas), written by Roster in the same statement as the rest of the row, so a read is one row
-- instead of one more index lookup per account (at a million accounts, a random page each).
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '';

UPDATE users SET roles = coalesce((
    SELECT group_concat(role, ',') FROM (
        SELECT role FROM user_roles WHERE user_roles.user_id = users.id ORDER BY role
    )
), '');
