-- Switchboard schema for PostgreSQL; mirrors sqlite/0001_init.sql table for table and
-- column for column (the two directories are numbered in step). Times stay unix
-- milliseconds in BIGINT (seconds where named *_ts), as in SQLite: the adapters share
-- their SQL and the management API's (time, id) cursors mean the same on both.
-- Native types where they change nothing for the code: BYTEA, BOOLEAN, DOUBLE
-- PRECISION, identity columns.

-- Every authentic webhook body, raw, whatever became of its items.
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,
    received_at   BIGINT NOT NULL,
    trace_id      TEXT NOT NULL,
    trace_context TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('accepted', 'quarantined')),
    reason        TEXT,
    summary       TEXT NOT NULL,
    body          BYTEA NOT NULL
);
CREATE INDEX webhook_events_by_time ON webhook_events (received_at);
CREATE INDEX webhook_events_by_status ON webhook_events (status, received_at);

-- Value-level errors[] of a webhook (not tied to one message or status).
CREATE TABLE webhook_errors (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES webhook_events (id),
    code        BIGINT NOT NULL,
    title       TEXT,
    message     TEXT,
    details     TEXT,
    received_at BIGINT NOT NULL
);

-- A user, keyed on the business-scoped user id when known, else the E.164 phone.
CREATE TABLE contacts (
    id           TEXT PRIMARY KEY,
    scoped_id    TEXT UNIQUE,
    phone        TEXT UNIQUE,
    profile_name TEXT,
    email        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CHECK (scoped_id IS NOT NULL OR phone IS NOT NULL)
);

-- One conversation per contact and business number.
CREATE TABLE conversations (
    id                 TEXT PRIMARY KEY,
    contact_id         TEXT NOT NULL REFERENCES contacts (id),
    business_number_id TEXT NOT NULL,
    channel            TEXT NOT NULL DEFAULT 'whatsapp',
    last_inbound_ts    BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (contact_id, business_number_id)
);

-- Inbound messages (keyed by Meta's wamid) and the replies planned for them.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    wamid           TEXT UNIQUE,
    event_id        TEXT REFERENCES webhook_events (id),
    kind            TEXT NOT NULL,
    content         TEXT NOT NULL,
    raw             TEXT,
    sent_ts         BIGINT NOT NULL,
    trace_id        TEXT NOT NULL,
    in_reply_to     TEXT,
    intent          TEXT,
    confidence      DOUBLE PRECISION,
    agent           TEXT,
    processed_at    BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, sent_ts);
CREATE UNIQUE INDEX messages_one_reply_each ON messages (in_reply_to) WHERE direction = 'outbound';

-- Status webhooks, deduplicated on (wamid, status).
CREATE TABLE message_statuses (
    wamid        TEXT NOT NULL,
    status       TEXT NOT NULL,
    occurred_ts  BIGINT NOT NULL,
    recipient    TEXT,
    errors       TEXT NOT NULL,
    raw          TEXT NOT NULL,
    event_id     TEXT NOT NULL REFERENCES webhook_events (id),
    trace_id     TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (wamid, status)
);

-- One delivery per outbound message: its state and Meta's id for it.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE REFERENCES messages (id),
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    channel         TEXT NOT NULL DEFAULT 'whatsapp',
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'read', 'failed')),
    provider_id     TEXT UNIQUE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    trace_id        TEXT NOT NULL,
    trace_context   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    delivered_at    BIGINT,
    read_at         BIGINT,
    failed_at       BIGINT
);

-- Every attempt of a delivery, on every channel.
CREATE TABLE delivery_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    channel     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

-- The durable job queue. Jobs sharing ordering_key run one at a time in
-- (order_at, id) order; a lease that expires makes the job due again. Replicas claim
-- with FOR UPDATE SKIP LOCKED plus an advisory lock per ordering key (ADR 0007).
CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    ordering_key  TEXT NOT NULL,
    order_at      BIGINT NOT NULL,
    run_at        BIGINT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'dead')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    lease_token   TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    trace_id      TEXT NOT NULL,
    trace_context TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_by_ordering_key ON jobs (ordering_key, order_at, id);

-- What the sandbox WhatsApp gateway would have sent.
CREATE TABLE sandbox_outbox (
    id             TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL UNIQUE,
    from_number_id TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    reply_to       TEXT,
    kind           TEXT NOT NULL,
    message        TEXT NOT NULL,
    trace_id       TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX sandbox_outbox_by_reply_to ON sandbox_outbox (reply_to);
