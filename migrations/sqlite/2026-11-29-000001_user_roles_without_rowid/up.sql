-- `user_roles` without its rowid: its rows are small and always found by their key, so the key's
-- B-tree can hold them itself. A new account's role rows then write one B-tree fewer (the rowid
-- table and its primary-key index were two): one 4 KB WAL frame fewer a create, what taking a
-- limited seat added (bench/README.md, "Seats and licence limits").
CREATE TABLE user_roles_keyed (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
) WITHOUT ROWID;
INSERT INTO user_roles_keyed (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_keyed RENAME TO user_roles;
CREATE INDEX user_roles_role ON user_roles (role, user_id);
