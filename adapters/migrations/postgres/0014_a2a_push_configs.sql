-- Mirrors sqlite/0014_a2a_push_configs.sql. Where A2A clients want their tasks' updates
-- posted (push notifications); visible to every replica.
CREATE TABLE a2a_push_configs (
    task_id          TEXT NOT NULL,
    id               TEXT NOT NULL,
    url              TEXT NOT NULL,
    token            TEXT,
    auth_scheme      TEXT,
    auth_credentials TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (task_id, id)
);
