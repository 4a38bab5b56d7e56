-- People who sign in to the console (docs/operators.md). A password is kept only as its
-- argon2id hash (PHC string, salted); times are unix milliseconds, as everywhere.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A signed-in console session. The id in the cookie is 256 random bits, kept here only
-- as its SHA-256 (hex), so a copy of the database opens no session; removing an
-- operator ends their sessions.
CREATE TABLE operator_sessions (
    id_hash    TEXT PRIMARY KEY,
    operator   TEXT NOT NULL REFERENCES operators (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX operator_sessions_by_expiry ON operator_sessions (expires_at);
CREATE INDEX operator_sessions_by_operator ON operator_sessions (operator);
