-- Idempotent retries (SPEC §10, domain/src/idempotency.rs): one record per caller's scope, method,
-- path and key. Taken before the request runs (lease_until set), then holding its response (the
-- body sealed with a key derived from the server's secret: it may carry a one-time secret) for 24
-- hours; the sweep deletes it after.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    -- Hex SHA-256 of the request: method, path, query, content type and body.
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    status INTEGER,
    content_type TEXT,
    location TEXT,
    sealed_body BLOB,
    PRIMARY KEY (scope, method, path, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
