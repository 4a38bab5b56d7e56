-- Mirrors sqlite/0016_sign_in_failures.sql. Failed console sign-ins, counted for every
-- replica: one row per key, the SHA-256 of a name or a client address. Times in unix ms.
CREATE TABLE sign_in_failures (
    key_hash        TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    locked_until    BIGINT
);
CREATE INDEX sign_in_failures_by_first_failure ON sign_in_failures (first_failed_at);
