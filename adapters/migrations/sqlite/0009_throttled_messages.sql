-- When the sender limit first held an inbound message back (ADR 0017): it is stored and
-- acknowledged as any, and handed to the agents later, with the messages that waited
-- with it. NULL: never held. Unix milliseconds, like processed_at.
ALTER TABLE messages ADD COLUMN throttled_at INTEGER;
