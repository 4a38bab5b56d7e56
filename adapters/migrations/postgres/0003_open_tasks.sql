-- Mirrors sqlite/0003_open_tasks.sql. A conversation whose agent asked the user a
-- question (INPUT_REQUIRED) remembers the task, so the user's next message goes back to
-- it without being classified again.
ALTER TABLE conversations ADD COLUMN open_task_id TEXT;
ALTER TABLE conversations ADD COLUMN open_task_agent TEXT;
