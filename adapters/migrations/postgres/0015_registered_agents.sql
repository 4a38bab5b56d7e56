-- Mirrors sqlite/0015_registered_agents.sql. Agents registered through the management
-- API by URL alone; every replica routes to them by their cards.
CREATE TABLE registered_agents (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
