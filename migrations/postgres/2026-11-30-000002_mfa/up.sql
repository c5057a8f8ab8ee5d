-- Two-factor sign-in (SPEC §6, domain/src/mfa.rs). An account's TOTP factor: its secret sealed
-- with XChaCha20-Poly1305 under a key derived from the server secret (never in the clear), when
-- enrolment was confirmed (NULL: started, not confirmed), and the last RFC 6238 step a code was
-- accepted for (a code is accepted once: only a later step is accepted after it).
CREATE TABLE mfa_factors (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    confirmed_at TIMESTAMP,
    last_used_step BIGINT,
    created_at TIMESTAMP NOT NULL
);

-- Unused recovery codes, by the SHA-256 of each (80 random bits: no slow hash needed). Using one
-- deletes its row: whoever deletes it used it.
CREATE TABLE recovery_codes (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- An admin's one-time password for an account whose holder lost their authenticator (SPEC §6):
-- by its SHA-256 (80 random bits), until it expires (24 h). It meets one `mfa` challenge, once,
-- and removes the factor so the holder enrols again. Issuing another replaces it.
CREATE TABLE mfa_one_time_passwords (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
