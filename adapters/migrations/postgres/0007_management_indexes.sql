-- Mirrors sqlite/0007_management_indexes.sql (the two directories are numbered in step):
-- the management API pages contacts, conversations and deliveries newest first from a
-- (created_at, id) cursor, a conversation's messages oldest first, and dead jobs by when
-- they died.
CREATE INDEX contacts_newest_first ON contacts (created_at DESC, id DESC);
CREATE INDEX conversations_newest_first ON conversations (created_at DESC, id DESC);
CREATE INDEX deliveries_newest_first ON deliveries (created_at DESC, id DESC);
CREATE INDEX messages_by_conversation_in_order ON messages (conversation_id, created_at, id);
CREATE INDEX jobs_dead_newest_first ON jobs (state, updated_at DESC, id DESC);
