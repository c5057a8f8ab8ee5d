-- Accounts. Key columns use the "C" collation so a prefix is a byte range an index can scan.
-- Every column holding an account id uses "C" too: a join between columns of different
-- collations cannot use the other side's index (a sequential scan per lookup).
-- The *_key columns hold case-folded values (folded by Roster, not by SQL, so both
-- databases fold alike); the unique indexes on them make the database decide uniqueness.
CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT COLLATE "C" NOT NULL,
    first_name TEXT NOT NULL,
    first_name_key TEXT COLLATE "C" NOT NULL,
    last_name TEXT NOT NULL,
    last_name_key TEXT COLLATE "C" NOT NULL,
    origin TEXT NOT NULL,
    location TEXT,
    erp_id TEXT,
    external_key TEXT,
    locale TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    mfa_required BOOLEAN NOT NULL,
    mfa_enabled BOOLEAN NOT NULL,
    expires_at TIMESTAMP,
    email_notifications BOOLEAN NOT NULL,
    password_hash TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    created_by TEXT,
    updated_by TEXT,
    activated_at TIMESTAMP,
    last_active_at TIMESTAMP,
    locked_at TIMESTAMP,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
CREATE INDEX users_first_name_key ON users (first_name_key, id);
CREATE INDEX users_last_name_key ON users (last_name_key, id);

CREATE TABLE user_roles (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role, user_id);

CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    display_prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

-- No foreign keys: events outlive the accounts they name (snapshots in *_username/label).
CREATE TABLE audit_events (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT COLLATE "C",
    actor_username TEXT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT COLLATE "C",
    target_label TEXT,
    address TEXT,
    user_agent TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_id, action);
CREATE INDEX audit_events_target ON audit_events (target_id);

CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    document TEXT NOT NULL
);
INSERT INTO settings (id, document) VALUES (1, '{}');

-- One row at most: inserting it is how exactly one setup call wins.
CREATE TABLE setup_claim (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    claimed_at TIMESTAMP NOT NULL
);

CREATE TABLE instance_state (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
