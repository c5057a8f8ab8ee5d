CREATE TABLE user_roles_rowid (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_rowid (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_rowid RENAME TO user_roles;
CREATE INDEX user_roles_role ON user_roles (role, user_id);
