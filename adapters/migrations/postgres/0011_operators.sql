-- Mirrors sqlite/0011_operators.sql (the two directories are numbered in step). People
-- who sign in to the console: a password kept only as its argon2id hash, a session id
-- only as its SHA-256; times in unix milliseconds.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE operator_sessions (
    id_hash    TEXT PRIMARY KEY,
    operator   TEXT NOT NULL REFERENCES operators (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX operator_sessions_by_expiry ON operator_sessions (expires_at);
CREATE INDEX operator_sessions_by_operator ON operator_sessions (operator);
