-- The management API lists contacts, conversations and deliveries newest first, a page
-- at a time from a (created_at, id) cursor; without these each page sorts the table.
-- Dead jobs list by when they died.
CREATE INDEX contacts_newest_first ON contacts (created_at DESC, id DESC);
CREATE INDEX conversations_newest_first ON conversations (created_at DESC, id DESC);
CREATE INDEX deliveries_newest_first ON deliveries (created_at DESC, id DESC);
CREATE INDEX messages_by_conversation_in_order ON messages (conversation_id, created_at, id);
CREATE INDEX jobs_dead_newest_first ON jobs (state, updated_at DESC, id DESC);
