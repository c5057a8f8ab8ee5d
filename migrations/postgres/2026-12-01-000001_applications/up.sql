-- Applications and their instances (SPEC §8, domain/src/assignments.rs), managed by admins. Names
-- are unique by their folded key: applications among themselves, instances within their
-- application. Deleting an application deletes its instances.
CREATE TABLE applications (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL CONSTRAINT applications_name_key UNIQUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE instances (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    application_id TEXT COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT instances_name_key UNIQUE (application_id, name_key)
);
