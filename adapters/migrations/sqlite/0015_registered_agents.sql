-- Agents registered through the management API by URL alone (POST /api/v1/agents);
-- routed to by their cards, like SWITCHBOARD_AGENTS entries without intents.
CREATE TABLE registered_agents (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
