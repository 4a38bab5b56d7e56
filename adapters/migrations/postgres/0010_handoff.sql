-- Mirrors sqlite/0010_handoff.sql. People in the loop (issue 16, docs/operators.md). Who answers a conversation: the bot,
-- people, or nobody (closed; the user's next message opens it again for the bot).
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'bot'
    CHECK (handler IN ('bot', 'people', 'closed'));
-- Why and when people were called (HandoffReason as JSON), who took it and when.
ALTER TABLE conversations ADD COLUMN handoff_reason TEXT;
ALTER TABLE conversations ADD COLUMN handoff_at BIGINT;
ALTER TABLE conversations ADD COLUMN operator TEXT;
ALTER TABLE conversations ADD COLUMN taken_at BIGINT;
-- The first operator reply since the handoff: until then the conversation waits.
ALTER TABLE conversations ADD COLUMN first_human_reply_at BIGINT;
-- Answers in a row by the default agent (the fallback policy).
ALTER TABLE conversations ADD COLUMN fallback_streak BIGINT NOT NULL DEFAULT 0;
-- An operator's note for the agent, given on hand-back; passed on the next turn, then cleared.
ALTER TABLE conversations ADD COLUMN handback_note TEXT;
CREATE INDEX conversations_by_handler ON conversations (handler, handoff_at);

-- What happened to a conversation's handling: who did what, when.
CREATE TABLE conversation_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    detail          TEXT
);
CREATE INDEX conversation_events_by_conversation ON conversation_events (conversation_id, id);
