-- The conversation's latest A2A task with an agent, as the agent last reported it (its
-- id, state and agent), for operators: the console shows it whatever its state, not only
-- while it waits for the user (open_task_id). A plain message answer leaves it as it was.
ALTER TABLE conversations ADD COLUMN task_id TEXT;
ALTER TABLE conversations ADD COLUMN task_state TEXT;
ALTER TABLE conversations ADD COLUMN task_agent TEXT;
