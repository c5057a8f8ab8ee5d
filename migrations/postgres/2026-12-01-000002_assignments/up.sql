-- Who is assigned to which instance (SPEC §8, domain/src/assignments.rs): enabled or disabled (a
-- temporary suspension), as the instance's `member` or `admin`. An account and an instance have
-- one assignment at most; it goes with either. By account: an account's assignments.
CREATE TABLE assignments (
    instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    instance_role TEXT NOT NULL CHECK (instance_role IN ('member', 'admin')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX assignments_by_user ON assignments (user_id, application_id);

-- "Access to all": an account's grant of every instance of an application, present and future.
CREATE TABLE all_instance_grants (
    application_id TEXT COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (application_id, user_id)
);
CREATE INDEX all_instance_grants_by_user ON all_instance_grants (user_id);
