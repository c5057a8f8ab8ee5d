-- Usernames a person would confuse count as the same username (SPEC §1): the UTS #39 confusable
-- skeleton of each username's key, computed by Roster (the account writer), unique. Accounts made
-- before this migration get theirs from Roster at start-up (the derived-data refresh).
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
