-- Mirrors sqlite/0016_conversation_task.sql. The conversation's latest A2A task with an
-- agent (id, state, agent) as the agent last reported it, for operators.
ALTER TABLE conversations ADD COLUMN task_id TEXT;
ALTER TABLE conversations ADD COLUMN task_state TEXT;
ALTER TABLE conversations ADD COLUMN task_agent TEXT;
