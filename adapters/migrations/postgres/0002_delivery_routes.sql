-- Mirrors sqlite/0002_delivery_routes.sql. Deliveries choose a route (WhatsApp, the
-- re-engagement template, email), may fall back, are paced and held without spending
-- attempts, and remember an uncertain send.
ALTER TABLE deliveries ADD COLUMN route TEXT NOT NULL DEFAULT 'whatsapp';
ALTER TABLE deliveries ADD COLUMN fallback_allowed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE deliveries ADD COLUMN uncertain_since BIGINT;
ALTER TABLE deliveries ADD COLUMN paced BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN held BIGINT NOT NULL DEFAULT 0;

-- Run-time switches shared by every replica (channels.gmail.priority).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
