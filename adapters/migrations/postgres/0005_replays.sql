-- Mirrors sqlite/0005_replays.sql. A stored webhook event replayed by an operator
-- (after the bug that quarantined it was fixed) remembers when; replaying is safe, as
-- messages are deduplicated on their wamid.
ALTER TABLE webhook_events ADD COLUMN replayed_at BIGINT;
