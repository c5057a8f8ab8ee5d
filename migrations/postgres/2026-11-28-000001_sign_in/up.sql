-- Sign-in that holds up (SPEC §4): the lockout counter, a timed lock's end, required actions
-- (set_password), sessions with their rotating refresh tokens, and pending sign-in challenges.

-- Consecutive failed sign-ins; reset by a success or an admin's unlock, never by a timed unlock.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
-- When a timed lock (`lockout.minutes`) ends; NULL with `locked_at` set: locked until an admin
-- unlocks.
ALTER TABLE users ADD COLUMN locked_until TIMESTAMP;

-- What an account must do at its next sign-in before it gets tokens: `set_password` when the
-- password was given by someone else (at create, or a temporary one). Met through the challenge of
-- the same name.
CREATE TABLE required_actions (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, action)
);

-- A signed-in client. Revoking a session deletes its row (and its refresh tokens): an access
-- token names its session (`sid`), so it fails at its next request.
CREATE TABLE sessions (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    -- The absolute end, fixed at sign-in.
    expires_at TIMESTAMP NOT NULL,
    -- The idle end: last use + idle_seconds, moved on when a use is recorded.
    idle_expires_at TIMESTAMP NOT NULL,
    idle_seconds BIGINT NOT NULL,
    address TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Every refresh token a session was given, by the SHA-256 of its secret. `used_at` set: it was
-- exchanged, and presenting it again revokes the session.
CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- A sign-in waiting for a challenge (`set_password` now; `mfa` and `mfa_enrollment` later),
-- by the SHA-256 of its single-use token.
CREATE TABLE sign_in_challenges (
    token_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    address TEXT,
    user_agent TEXT
);
CREATE INDEX sign_in_challenges_user_id ON sign_in_challenges (user_id);
