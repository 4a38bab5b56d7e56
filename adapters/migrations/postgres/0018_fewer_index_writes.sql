-- Fewer index writes per message (docs/performance.md).

-- The dead-job list's index holds dead jobs only. Over every job, it was updated by each
-- insert, lease, completion and deletion of a live job, several per message, for a list
-- that reads dead ones alone. `state` stays its first column: with it SQLite's planner
-- picks this index for `state = 'dead' ... ORDER BY updated_at DESC`.
DROP INDEX jobs_dead_newest_first;
CREATE INDEX jobs_dead_newest_first ON jobs (state, updated_at DESC, id DESC) WHERE state = 'dead';

-- A conversation's messages were indexed twice, by (conversation_id, sent_ts) and by
-- (conversation_id, created_at, id): every message row paid for both. The second serves
-- every read by conversation; a conversation's unanswered messages, ordered by sent_ts,
-- are the few found through it.
DROP INDEX messages_by_conversation;
