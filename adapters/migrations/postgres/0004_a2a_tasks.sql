-- Mirrors sqlite/0004_a2a_tasks.sql. Tasks of Switchboard's own A2A server; they
-- survive a restart and are visible to every replica.
CREATE TABLE a2a_tasks (
    id            TEXT PRIMARY KEY,
    context_id    TEXT NOT NULL,
    state         TEXT NOT NULL,
    task          TEXT NOT NULL,
    agent         TEXT,
    agent_task_id TEXT,
    trace_id      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX a2a_tasks_newest_first ON a2a_tasks (created_at DESC, id DESC);
CREATE INDEX a2a_tasks_by_context ON a2a_tasks (context_id, created_at DESC);
