-- One-time tokens are sealed, not stored (domain/src/one_time.rs). Each is bound to its account's
-- generation for its purpose; re-issuing or revoking a link raises it, which voids every token
-- issued before. No row: generation 0.
CREATE TABLE token_generations (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (user_id, purpose)
) WITHOUT ROWID;
