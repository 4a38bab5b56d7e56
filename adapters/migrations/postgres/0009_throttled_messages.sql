-- Mirrors sqlite/0008_throttled_messages.sql. When the sender limit first held an inbound
-- message back (ADR 0017); NULL: never held. Unix milliseconds, like processed_at.
ALTER TABLE messages ADD COLUMN throttled_at BIGINT;
