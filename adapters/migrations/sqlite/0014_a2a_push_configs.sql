-- Where A2A clients want their tasks' updates posted (push notifications). The token
-- and credentials are the client's own, sent back to its endpoint on every post.
CREATE TABLE a2a_push_configs (
    task_id          TEXT NOT NULL,
    id               TEXT NOT NULL,
    url              TEXT NOT NULL,
    token            TEXT,
    auth_scheme      TEXT,
    auth_credentials TEXT,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (task_id, id)
);
