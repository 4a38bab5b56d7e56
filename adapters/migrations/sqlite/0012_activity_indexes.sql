-- The console's live views ask for the latest change (People::activity) every second:
-- MAX(updated_at) of each table is one index look-up with these.
CREATE INDEX conversations_by_update ON conversations (updated_at);
CREATE INDEX deliveries_by_update ON deliveries (updated_at);
