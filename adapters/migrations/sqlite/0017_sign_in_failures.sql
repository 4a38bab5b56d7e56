-- Failed console sign-ins, counted for every replica (docs/operators.md, Throttling): one
-- row per key, the SHA-256 of a name or a client address (never either in the clear).
-- Times in unix milliseconds.
CREATE TABLE sign_in_failures (
    key_hash        TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    first_failed_at INTEGER NOT NULL,
    locked_until    INTEGER
);
-- Rows whose window and lock are over are deleted as failures come in.
CREATE INDEX sign_in_failures_by_first_failure ON sign_in_failures (first_failed_at);
