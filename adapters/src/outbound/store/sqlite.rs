//! SQLite store: WAL journal, `synchronous = FULL` by default (an acknowledged webhook
//! survives a power cut; `SWITCHBOARD_SQLITE_SYNCHRONOUS=normal` trades that for speed), `BEGIN IMMEDIATE` for every write transaction (no lock upgrades that
//! fail under contention), migrations embedded in the binary.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use switchboard_application::jobs::{LeasedJob, NewJob};
use switchboard_application::ports::{
    A2aTasks, AttemptOutcome, ChannelSettings, Deliveries, Delivery, DeliveryView, EventDisposition, InboundRecord,
    Inbox, IngestBatch, IngestReceipt, JobQueue, Messages, NewOutbound, NewReply, OpenTask, ReplyRecorded, Route,
    StoreError, StoredTask,
};
use switchboard_domain::{
    AgentName, DeliveryState, EmailAddress, InboundMessage, OutboundMessage, Wamid, WhatsAppUser,
};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use super::records::{
    corrupt, from_ms, json, lease_until, leased_at_insert, leased_job, millis as ms, parse_trace, unavailable,
};

use super::sqlite_readers::Readers;
use super::sqlite_writer::{GroupCommit, failed};
use super::wake::{WorkSignal, until_due};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Wakes idle workers in this process when a job is enqueued.
    wake: Arc<WorkSignal>,
    /// `channels.gmail.priority` until an operator sets it.
    email_priority_default: bool,
    /// The one writer of this process: a thread that commits concurrent writes together
    /// (ADR 0010, 0011). Every write goes through it; the pool only reads (and migrates).
    group: GroupCommit,
    /// The workers' hot point reads, run in place (`sqlite_readers.rs`).
    readers: Arc<Readers>,
}

/// Whether a sandbox send was recorded now or before (then with the wamid it got).
enum Recorded {
    Now { jobs: bool, provider_id: String },
    Before(String),
}

/// A message the sandbox gateway recorded instead of sending.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxRecord {
    pub provider_id: String,
    /// The delivery it was sent for (`GET /api/v1/messages/{id}` shows its ticks).
    pub delivery_id: Option<String>,
    pub recipient: String,
    pub reply_to: Option<String>,
    pub message: serde_json::Value,
    pub trace_id: String,
    pub created_at: i64,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        busy_timeout: Duration,
        full_sync: bool,
    ) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| "DATABASE_URL is not a valid sqlite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        // The writer and the readers open the file by name beside the pool: an in-memory
        // database would be a different, empty one on each connection.
        let filename = options.get_filename();
        let named = filename.to_string_lossy();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory") || named.contains("in-memory");
        if in_memory || named.is_empty() {
            anyhow::bail!(
                "DATABASE_URL names an in-memory SQLite database; Switchboard keeps its data in a file: use sqlite://PATH (the default is sqlite://<SWITCHBOARD_DATA_DIR>/switchboard.db)"
            );
        }
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the database directory {}", parent.display()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)))
            .connect_with(options.clone())
            .await
            .with_context(|| "cannot open the SQLite database")?;
        // The pool has created the file and set WAL mode; the writer opens its own connection.
        let group = GroupCommit::start(options.get_filename(), full_sync, busy_timeout)?;
        let readers = Arc::new(Readers::new(options.get_filename(), busy_timeout));
        Ok(Self { pool, wake: Arc::new(WorkSignal::default()), email_priority_default: false, group, readers })
    }

    /// The email priority [`ChannelSettings`] answers until an operator sets one.
    #[must_use]
    pub fn with_email_priority_default(mut self, on: bool) -> Self {
        self.email_priority_default = on;
        self
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Readiness: the database answers and every embedded migration is applied.
    pub async fn ready(&self) -> Result<(), String> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| format!("database unreachable: {e}"))?;
        let expected = i64::try_from(MIGRATOR.iter().count()).unwrap_or(i64::MAX);
        if applied < expected {
            return Err(format!("{applied} of {expected} migrations applied; run `switchboard migrate`"));
        }
        Ok(())
    }

    /// Records what the sandbox gateway would have sent, with the jobs that will post
    /// its status webhooks, in one transaction. A delivery's message (of one kind) is
    /// recorded once: when it was recorded before, nothing is written and the wamid it
    /// got then is answered, as an idempotent send would.
    pub async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        let row = (
            Uuid::now_v7().to_string(),
            provider_id.to_owned(),
            message.from_number_id.clone(),
            message.to.key().as_storage_key(),
            message.reply_to.as_ref().map(|w| w.as_str().to_owned()),
            message.content.kind_name(),
            json(message)?,
            trace.trace_id.to_string(),
            delivery_id.map(|id| id.to_string()),
        );
        let recorded = self
            .group
            .write(move |conn| {
                let (id, provider_id, from_number_id, recipient, reply_to, kind, message, trace_id, delivery_id) = row;
                let now = ms(OffsetDateTime::now_utc());
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO sandbox_outbox (id, provider_id, from_number_id, recipient, reply_to, kind, message,
                                                     trace_id, created_at, delivery_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (delivery_id, kind) DO NOTHING",
                    )
                    .and_then(|mut insert| {
                        insert.execute(params![
                            id,
                            provider_id,
                            from_number_id,
                            recipient,
                            reply_to,
                            kind,
                            message,
                            trace_id,
                            now,
                            delivery_id
                        ])
                    })
                    .map_err(failed)?;
                if inserted == 0 {
                    let earlier: String = conn
                        .prepare_cached("SELECT provider_id FROM sandbox_outbox WHERE delivery_id = ?1 AND kind = ?2")
                        .and_then(|mut select| select.query_row(params![delivery_id, kind], |r| r.get(0)))
                        .map_err(failed)?;
                    return Ok(Recorded::Before(earlier));
                }
                for job in &statuses {
                    insert_job(conn, job, now)?;
                }
                Ok(Recorded::Now { jobs: !statuses.is_empty(), provider_id })
            })
            .await?;
        Ok(match recorded {
            Recorded::Now { jobs, provider_id } => {
                if jobs {
                    self.notify_workers();
                }
                provider_id
            }
            Recorded::Before(provider_id) => provider_id,
        })
    }

    /// What the sandbox recorded, oldest first; only replies to `reply_to` when given.
    pub async fn sandbox_outbox(&self, reply_to: Option<&str>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider_id, delivery_id, recipient, reply_to, message, trace_id, created_at FROM sandbox_outbox
             WHERE (?1 IS NULL OR reply_to = ?1) ORDER BY created_at, id LIMIT ?2",
        )
        .bind(reply_to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|row| {
                let message: String = row.get("message");
                Ok(SandboxRecord {
                    provider_id: row.get("provider_id"),
                    delivery_id: row.get("delivery_id"),
                    recipient: row.get("recipient"),
                    reply_to: row.get("reply_to"),
                    message: serde_json::from_str(&message).map_err(|e| corrupt("sandbox message", e))?,
                    trace_id: row.get("trace_id"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    fn notify_workers(&self) {
        self.wake.signal();
    }
}

fn insert_job(conn: &Connection, job: &NewJob, now: i64) -> Result<(), StoreError> {
    insert_job_leased(conn, job, now, None)
}

/// Inserts a job queued, or leased to the caller with this token until this time.
fn insert_job_leased(conn: &Connection, job: &NewJob, now: i64, lease: Option<(Uuid, i64)>) -> Result<(), StoreError> {
    let payload = json(&job.kind)?;
    let (state, attempts, token, until) = match lease {
        Some((token, until)) => ("leased", 1, Some(token.to_string()), Some(until)),
        None => ("queued", 0, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, attempts, lease_token, lease_until,
                           trace_id, trace_context, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            job.kind.name(),
            payload,
            job.ordering_key,
            ms(job.order_at),
            ms(job.run_at),
            state,
            attempts,
            token,
            until,
            job.trace.trace_id.to_string(),
            job.trace.to_traceparent(),
            now
        ])
    })
    .map_err(failed)?;
    Ok(())
}

/// One row of a delivery's history.
fn insert_attempt(
    conn: &Connection,
    delivery_id: Uuid,
    outcome: &str,
    detail: &str,
    at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO delivery_attempts (delivery_id, channel, outcome, detail, at)
         SELECT ?1, CASE route WHEN 'email' THEN 'email' ELSE 'whatsapp' END, ?2, ?3, ?4 FROM deliveries WHERE id = ?1",
    )
    .and_then(|mut insert| insert.execute(params![delivery_id.to_string(), outcome, detail, at]))
    .map_err(failed)?;
    Ok(())
}

/// Runs one cached statement; answers the rows it changed.
fn run(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute(values)).map_err(failed)
}

/// The contact this user is known by: by scoped id, else a contact known by phone alone
/// (which then learns its scoped id).
fn find_contact(conn: &Connection, scoped: Option<&str>, phone: Option<&str>) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(
        "SELECT COALESCE((SELECT id FROM contacts WHERE scoped_id = ?1),
                         (SELECT id FROM contacts WHERE phone = ?2 AND (scoped_id IS NULL OR ?1 IS NULL)))",
    )
    .and_then(|mut find| find.query_row(params![scoped, phone], |row| row.get::<_, Option<String>>(0)))
    .map_err(failed)
}

/// Finds the contact for this user, creating it or completing its ids as needed.
fn resolve_contact(
    conn: &Connection,
    user: &WhatsAppUser,
    profile_name: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    let scoped = user.scoped_id().map(|s| s.as_str().to_owned());
    let phone = user.phone().map(|p| p.as_e164().to_owned());
    let found = find_contact(conn, scoped.as_deref(), phone.as_deref())?;
    let id = match found {
        Some(id) => {
            run(conn, UPDATE_CONTACT, params![id, scoped, phone, profile_name, now])?;
            id
        }
        None => {
            let id = Uuid::now_v7().to_string();
            run(conn, INSERT_CONTACT, params![id, scoped, phone, profile_name, now])?;
            id
        }
    };
    Ok(id)
}

/// The update of a known contact (?1 contact id, ?2 scoped id, ?3 phone, ?4 profile name,
/// ?5 now): it learns the ids it lacked; a phone already held by another contact stays there.
const UPDATE_CONTACT: &str = "UPDATE contacts SET scoped_id = COALESCE(scoped_id, ?2),
        phone = COALESCE(phone, (SELECT ?3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = ?3))),
        profile_name = COALESCE(?4, profile_name), updated_at = ?5
    WHERE id = ?1";

/// The insert of a new contact, with the same parameters; a phone already held by a
/// contact with another scoped id stays with it.
const INSERT_CONTACT: &str = "INSERT INTO contacts (id, scoped_id, phone, profile_name, created_at, updated_at)
    VALUES (?1, ?2, (SELECT ?3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = ?3)), ?4, ?5, ?5)";

#[async_trait]
impl Inbox for SqliteStore {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, StoreError> {
        let span =
            tracing::debug_span!("sqlite.ingest", messages = batch.messages.len(), statuses = batch.statuses.len());
        async {
            // Committed with whatever other writes are waiting; answered after the commit.
            let receipt = self.group.write_urgent(move |conn| ingest_in(conn, &batch)).await?;
            if receipt.new_messages + receipt.new_statuses > 0 {
                self.notify_workers();
            }
            Ok(receipt)
        }
        .instrument(span)
        .await
    }
}

/// Stores one webhook's event, messages, statuses and their jobs.
fn ingest_in(conn: &Connection, batch: &IngestBatch) -> Result<IngestReceipt, StoreError> {
    let now = ms(batch.event.received_at);
    let event_id = batch.event.id.to_string();
    let trace_id = batch.event.trace.trace_id.to_string();
    let (status, reason) = match &batch.event.disposition {
        EventDisposition::Accepted => ("accepted", None),
        EventDisposition::Quarantined { reason } => ("quarantined", Some(reason.as_str())),
    };
    run(
        conn,
        "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event_id,
            now,
            trace_id,
            batch.event.trace.to_traceparent(),
            status,
            reason,
            json(&batch.event.summary)?,
            batch.event.body
        ],
    )?;

    for error in &batch.errors {
        run(
            conn,
            "INSERT INTO webhook_errors (event_id, code, title, message, details, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![event_id, error.code, error.title, error.message, error.details, now],
        )?;
    }

    let mut receipt = IngestReceipt::default();
    for item in &batch.messages {
        if !ingest_message(conn, item, &event_id, &trace_id, now)? {
            receipt.duplicate_messages += 1;
            continue;
        }
        receipt.new_messages += 1;
    }

    for item in &batch.statuses {
        let status = &item.status;
        let inserted = run(
            conn,
            "INSERT INTO message_statuses (wamid, status, occurred_ts, recipient, errors, raw, event_id, trace_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (wamid, status) DO NOTHING",
            params![
                status.wamid.as_str(),
                status.status,
                status.occurred_at.unix_timestamp(),
                status.recipient,
                json(&status.errors)?,
                json(&item.raw)?,
                event_id,
                trace_id,
                now
            ],
        )?;
        if inserted == 0 {
            receipt.duplicate_statuses += 1;
            continue;
        }
        insert_job(conn, &item.job, now)?;
        receipt.new_statuses += 1;
    }
    Ok(receipt)
}

/// Stores one inbound message with its contact, conversation and job. Answers false for a
/// duplicate, which writes nothing.
fn ingest_message(
    conn: &Connection,
    item: &switchboard_application::ports::NewInbound,
    event_id: &str,
    trace_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let message = &item.message;
    let known = conn
        .prepare_cached("SELECT 1 FROM messages WHERE wamid = ?1")
        .and_then(|mut find| find.exists([message.wamid.as_str()]))
        .map_err(failed)?;
    if known {
        return Ok(false);
    }
    let contact_id = resolve_contact(conn, &message.from, message.profile_name.as_deref(), now)?;
    run(
        conn,
        "INSERT INTO conversations (id, contact_id, business_number_id, last_inbound_ts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (contact_id, business_number_id) DO UPDATE SET
             last_inbound_ts = MAX(COALESCE(conversations.last_inbound_ts, 0), excluded.last_inbound_ts),
             updated_at = excluded.updated_at",
        params![
            Uuid::now_v7().to_string(),
            contact_id,
            message.business_number_id,
            message.sent_at.unix_timestamp(),
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, wamid, event_id, kind, content, raw, sent_ts, trace_id, created_at)
         VALUES (?1, (SELECT id FROM conversations WHERE contact_id = ?2 AND business_number_id = ?3), 'inbound',
                 ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            Uuid::now_v7().to_string(),
            contact_id,
            message.business_number_id,
            message.wamid.as_str(),
            event_id,
            message.content.kind_name(),
            json(message)?,
            json(&item.raw)?,
            message.sent_at.unix_timestamp(),
            trace_id,
            now
        ],
    )?;
    insert_job(conn, &item.job, now)?;
    Ok(true)
}

#[async_trait]
impl Messages for SqliteStore {
    async fn inbound(&self, wamid: &Wamid) -> Result<Option<InboundRecord>, StoreError> {
        let row = self.readers.read(|conn| {
            conn.prepare_cached(
                "SELECT m.content, m.conversation_id, m.processed_at IS NOT NULL, v.open_task_id, v.open_task_agent,
                        m.throttled_at IS NOT NULL
                 FROM messages m JOIN conversations v ON v.id = m.conversation_id
                 WHERE m.wamid = ?1 AND m.direction = 'inbound'",
            )
            .and_then(|mut find| {
                find.query_row([wamid.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, bool>(5)?,
                    ))
                })
                .optional()
            })
            .map_err(failed)
        })?;
        let Some((content, conversation_id, processed, task_id, agent, throttled)) = row else { return Ok(None) };
        Ok(Some(InboundRecord {
            message: serde_json::from_str(&content).map_err(|e| corrupt("inbound message", e))?,
            conversation_id: Uuid::parse_str(&conversation_id).map_err(|e| corrupt("conversation id", e))?,
            processed,
            throttled,
            open_task: task_id.zip(agent).map(|(task_id, agent)| OpenTask { agent: AgentName::new(agent), task_id }),
        }))
    }

    async fn unanswered(&self, conversation_id: Uuid) -> Result<Vec<InboundMessage>, StoreError> {
        let rows: Vec<String> = self.readers.read(|conn| {
            conn.prepare_cached(
                "SELECT content FROM messages
                 WHERE conversation_id = ?1 AND direction = 'inbound' AND processed_at IS NULL
                 ORDER BY sent_ts, created_at, rowid",
            )
            .and_then(|mut find| find.query_map([conversation_id.to_string()], |row| row.get(0))?.collect())
            .map_err(failed)
        })?;
        rows.iter().map(|c| serde_json::from_str(c).map_err(|e| corrupt("inbound message", e))).collect()
    }

    async fn mark_throttled(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
        let (conversation_id, at) = (conversation_id.to_string(), ms(at));
        let marked = self
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE messages SET throttled_at = ?2
                     WHERE conversation_id = ?1 AND direction = 'inbound'
                       AND processed_at IS NULL AND throttled_at IS NULL",
                    params![conversation_id, at],
                )
            })
            .await?;
        Ok(u64::try_from(marked).unwrap_or(0))
    }

    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError> {
        let recorded = self.group.write(move |conn| record_reply_in(conn, &reply)).await?;
        // A delivery job leased to the caller needs no worker.
        if recorded == ReplyRecorded::Recorded(None) {
            self.notify_workers();
        }
        Ok(recorded)
    }
}

/// The reply, its delivery and job, and the inbound messages it answers marked processed.
/// The claim of the inbound message decides whether anything is stored.
fn record_reply_in(conn: &Connection, reply: &NewReply) -> Result<ReplyRecorded, StoreError> {
    let now = ms(OffsetDateTime::now_utc());
    let claimed = run(
        conn,
        "UPDATE messages SET processed_at = ?2 WHERE wamid = ?1 AND direction = 'inbound' AND processed_at IS NULL",
        params![reply.inbound.as_str(), now],
    )?;
    if claimed == 0 {
        return Ok(ReplyRecorded::AlreadyProcessed);
    }
    if !reply.also_answers.is_empty() {
        let also_answers: Vec<&str> = reply.also_answers.iter().map(Wamid::as_str).collect();
        run(
            conn,
            "UPDATE messages SET processed_at = ?2
             WHERE wamid IN (SELECT value FROM json_each(?1)) AND direction = 'inbound' AND processed_at IS NULL",
            params![json(&also_answers)?, now],
        )?;
    }
    let conversation_id = reply.conversation_id.to_string();
    run(
        conn,
        "UPDATE conversations SET open_task_id = ?2, open_task_agent = ?3, updated_at = ?4 WHERE id = ?1",
        params![
            conversation_id,
            reply.open_task.as_ref().map(|t| t.task_id.as_str()),
            reply.open_task.as_ref().map(|t| t.agent.as_str()),
            now
        ],
    )?;
    let message_id = Uuid::now_v7().to_string();
    let trace_id = reply.trace.trace_id.to_string();
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, in_reply_to, intent, confidence, agent, created_at)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            message_id,
            conversation_id,
            reply.message.content.kind_name(),
            json(&reply.message)?,
            now / 1000,
            trace_id,
            reply.inbound.as_str(),
            reply.intent.as_str(),
            f64::from(reply.confidence),
            reply.agent.as_str(),
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO deliveries (id, message_id, conversation_id, state, trace_id, trace_context, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6)",
        params![reply.delivery_id.to_string(), message_id, conversation_id, trace_id, reply.trace.to_traceparent(), now],
    )?;
    Ok(ReplyRecorded::Recorded(insert_delivery_job(conn, &reply.job, now, reply.lease_delivery)?))
}

/// A reply's delivery job: leased to the caller for `lease` when no other job of its
/// ordering key waits (it runs it at once), else queued for the workers.
fn insert_delivery_job(
    conn: &Connection,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<LeasedJob>, StoreError> {
    let waiting = || {
        conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE ordering_key = ?1 AND state IN ('queued', 'leased'))",
        )
        .and_then(|mut find| find.query_row([&job.ordering_key], |row| row.get::<_, bool>(0)))
        .map_err(failed)
    };
    let lease = match lease {
        Some(lease) if !waiting()? => lease,
        _ => {
            insert_job(conn, job, now)?;
            return Ok(None);
        }
    };
    let token = Uuid::new_v4();
    insert_job_leased(conn, job, now, Some((token, lease_until(now, lease))))?;
    Ok(Some(leased_at_insert(conn.last_insert_rowid(), job, token)))
}

/// A delivery with what sending it needs, in [`DeliveryRow`]'s column order.
macro_rules! delivery_select {
    ($clause:literal) => {
        concat!(
            "SELECT d.id, d.state, d.route, d.fallback_allowed, d.provider_id, d.attempts,
                    d.uncertain_since, d.paced, d.held, d.last_error, d.trace_context, m.content,
                    c.email, c.profile_name, v.last_inbound_ts
             FROM deliveries d
             JOIN messages m ON m.id = d.message_id
             JOIN conversations v ON v.id = d.conversation_id
             JOIN contacts c ON c.id = v.contact_id
             WHERE ",
            $clause
        )
    };
}
const DELIVERY_BY_ID: &str = delivery_select!("d.id = ?1");
const DELIVERY_BY_PROVIDER_ID: &str = delivery_select!("d.provider_id = ?1");

/// A delivery's columns as read by [`DELIVERY_SELECT`], before parsing.
struct DeliveryRow {
    id: String,
    state: String,
    route: String,
    fallback_allowed: bool,
    provider_id: Option<String>,
    attempts: i64,
    uncertain_since: Option<i64>,
    paced: i64,
    held: i64,
    last_error: Option<String>,
    trace_context: String,
    content: String,
    email: Option<String>,
    profile_name: Option<String>,
    last_inbound_ts: Option<i64>,
}

impl DeliveryRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            state: row.get(1)?,
            route: row.get(2)?,
            fallback_allowed: row.get(3)?,
            provider_id: row.get(4)?,
            attempts: row.get(5)?,
            uncertain_since: row.get(6)?,
            paced: row.get(7)?,
            held: row.get(8)?,
            last_error: row.get(9)?,
            trace_context: row.get(10)?,
            content: row.get(11)?,
            email: row.get(12)?,
            profile_name: row.get(13)?,
            last_inbound_ts: row.get(14)?,
        })
    }

    fn parse(self) -> Result<Delivery, StoreError> {
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        Ok(Delivery {
            id: Uuid::parse_str(&self.id).map_err(|e| corrupt("delivery id", e))?,
            message: serde_json::from_str::<OutboundMessage>(&self.content)
                .map_err(|e| corrupt("outbound message", e))?,
            state: self.state.parse().map_err(|e| corrupt("delivery state", e))?,
            route: Route::parse(&self.route).ok_or_else(|| corrupt("delivery route", &self.route))?,
            fallback_allowed: self.fallback_allowed,
            // An address stored before validation existed is skipped, not fatal.
            email: self.email.and_then(|e| EmailAddress::parse(&e).ok()),
            profile_name: self.profile_name,
            last_inbound_at: self.last_inbound_ts.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
            provider_id: self
                .provider_id
                .map(|p| Wamid::parse(&p))
                .transpose()
                .map_err(|e| corrupt("provider id", e))?,
            attempts: count(self.attempts),
            uncertain_since: self.uncertain_since.and_then(from_ms),
            paced: count(self.paced),
            held: count(self.held),
            last_error: self.last_error,
            trace: parse_trace(&self.trace_context),
        })
    }
}

impl SqliteStore {
    fn delivery_where(&self, sql: &'static str, value: &str) -> Result<Option<Delivery>, StoreError> {
        let row = self.readers.read(|conn| {
            conn.prepare_cached(sql)
                .and_then(|mut find| find.query_row([value], DeliveryRow::read).optional())
                .map_err(failed)
        })?;
        row.map(DeliveryRow::parse).transpose()
    }
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn get(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where(DELIVERY_BY_ID, &id.to_string())
    }

    async fn find_by_provider_id(&self, wamid: &Wamid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where(DELIVERY_BY_PROVIDER_ID, wamid.as_str())
    }

    async fn view(&self, id: Uuid) -> Result<Option<DeliveryView>, StoreError> {
        self.delivery_view(id).await
    }

    async fn mark_sent(
        &self,
        id: Uuid,
        route: Route,
        provider_id: Option<Wamid>,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        let detail = detail.to_owned();
        self.group
            .write(move |conn| {
                let moved = run(
                    conn,
                    "UPDATE deliveries SET state = 'sent', route = ?2, channel = ?3, provider_id = COALESCE(?4, provider_id),
                            attempts = attempts + 1, uncertain_since = NULL, sent_at = ?5, updated_at = ?5
                     WHERE id = ?1 AND state = 'pending'",
                    params![id.to_string(), route.as_str(), route.channel(), provider_id.as_ref().map(Wamid::as_str), at],
                )?;
                if moved == 1 {
                    insert_attempt(conn, id, "accepted", &detail, at)?;
                }
                Ok(moved == 1)
            })
            .await
    }

    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        let at = ms(at);
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET uncertain_since = ?2, updated_at = ?2 WHERE id = ?1 AND state = 'pending'",
                    params![id.to_string(), at],
                )
            })
            .await?;
        Ok(())
    }

    async fn record_failure(
        &self,
        id: Uuid,
        reason: &str,
        is_final: bool,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let reason = reason.to_owned();
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, updated_at = ?3, uncertain_since = NULL,
                            state = CASE WHEN ?4 THEN 'failed' ELSE state END,
                            failed_at = CASE WHEN ?4 THEN ?3 ELSE failed_at END
                     WHERE id = ?1",
                    params![id.to_string(), reason, at, is_final],
                )?;
                insert_attempt(conn, id, if is_final { "failed" } else { "retrying" }, &reason, at)
            })
            .await
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let detail = detail.to_owned();
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET updated_at = ?3, last_error = ?4,
                            paced = paced + (?2 = 'paced'),
                            held = held + (?2 = 'held'),
                            attempts = attempts + (?2 = 'uncertain'),
                            uncertain_since = CASE WHEN ?2 = 'uncertain' THEN ?3 ELSE NULL END
                     WHERE id = ?1",
                    params![id.to_string(), outcome.as_str(), at, detail],
                )?;
                insert_attempt(conn, id, outcome.as_str(), &detail, at)
            })
            .await
    }

    async fn transition(
        &self,
        id: Uuid,
        from: DeliveryState,
        to: DeliveryState,
        reason: Option<String>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        self.group
            .write(move |conn| {
                let moved = run(
                    conn,
                    "UPDATE deliveries SET state = ?3, updated_at = ?4, last_error = COALESCE(?5, last_error),
                            delivered_at = CASE WHEN ?3 = 'delivered' THEN ?4 ELSE delivered_at END,
                            read_at = CASE WHEN ?3 = 'read' THEN ?4 ELSE read_at END,
                            failed_at = CASE WHEN ?3 = 'failed' THEN ?4 ELSE failed_at END
                     WHERE id = ?1 AND state = ?2",
                    params![id.to_string(), from.as_str(), to.as_str(), at, reason],
                )?;
                Ok(moved == 1)
            })
            .await
    }

    async fn reroute(
        &self,
        id: Uuid,
        from: DeliveryState,
        route: Route,
        reason: &str,
        job: NewJob,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        let reason = reason.to_owned();
        let moved = self
            .group
            .write(move |conn| {
                let still = conn
                    .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1 AND state = ?2")
                    .and_then(|mut find| find.exists(params![id.to_string(), from.as_str()]))
                    .map_err(failed)?;
                if !still {
                    return Ok(false);
                }
                // The failure is recorded on the channel that failed, before the route changes.
                insert_attempt(conn, id, "failed", &reason, at)?;
                run(
                    conn,
                    "UPDATE deliveries SET state = 'pending', route = ?3, provider_id = NULL, uncertain_since = NULL,
                            last_error = ?4, updated_at = ?5
                     WHERE id = ?1 AND state = ?2",
                    params![id.to_string(), from.as_str(), route.as_str(), reason, at],
                )?;
                insert_job(conn, &job, at)?;
                Ok(true)
            })
            .await?;
        if moved {
            self.notify_workers();
        }
        Ok(moved)
    }

    async fn create(&self, outbound: NewOutbound) -> Result<(), StoreError> {
        self.group.write(move |conn| create_in(conn, &outbound)).await?;
        self.notify_workers();
        Ok(())
    }
}

/// An outbound message sent through the API: its contact, conversation, message, delivery
/// and job.
fn create_in(conn: &Connection, outbound: &NewOutbound) -> Result<(), StoreError> {
    let now = ms(OffsetDateTime::now_utc());
    let contact_id = resolve_contact(conn, &outbound.message.to, None, now)?;
    if let Some(email) = &outbound.email {
        run(
            conn,
            "UPDATE contacts SET email = ?2, updated_at = ?3 WHERE id = ?1",
            params![contact_id, email.as_str(), now],
        )?;
    }
    let conversation_id: String = conn
        .prepare_cached(
            "INSERT INTO conversations (id, contact_id, business_number_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (contact_id, business_number_id) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id",
        )
        .and_then(|mut upsert| {
            upsert.query_row(
                params![Uuid::now_v7().to_string(), contact_id, outbound.message.from_number_id, now],
                |row| row.get(0),
            )
        })
        .map_err(failed)?;
    let message_id = Uuid::now_v7().to_string();
    let trace_id = outbound.trace.trace_id.to_string();
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, created_at)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7)",
        params![
            message_id,
            conversation_id,
            outbound.message.content.kind_name(),
            json(&outbound.message)?,
            now / 1000,
            trace_id,
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO deliveries (id, message_id, conversation_id, channel, route, fallback_allowed, state, trace_id, trace_context, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?9)",
        params![
            outbound.delivery_id.to_string(),
            message_id,
            conversation_id,
            outbound.route.channel(),
            outbound.route.as_str(),
            outbound.fallback_allowed,
            trace_id,
            outbound.trace.to_traceparent(),
            now
        ],
    )?;
    insert_job(conn, &outbound.job, now)
}

const EMAIL_PRIORITY: &str = "channels.gmail.priority";

/// Leases up to ?4 due jobs, each the head of its ordering key (?1 lease token, ?2 lease
/// until, ?3 now). Due queued jobs and expired leases are looked up apart: each walks
/// `jobs_due` in (run_at, id) order and stops at the limit. One `OR` over both made SQLite
/// collect and sort every due job on each claim, which grew with the backlog, inside the
/// single writer that webhooks wait on.
const CLAIM: &str =
    "UPDATE jobs SET state = 'leased', lease_token = ?1, lease_until = ?2, attempts = attempts + 1, updated_at = ?3
     WHERE id IN (
         SELECT id FROM (
             SELECT * FROM (
                 SELECT j.id, j.run_at FROM jobs j
                 WHERE j.state = 'queued' AND j.run_at <= ?3 AND NOT EXISTS (
                     SELECT 1 FROM jobs o
                     WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                       AND ((o.state = 'leased' AND o.lease_until > ?3)
                            OR (o.state IN ('queued', 'leased')
                                AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id LIMIT ?4)
             UNION ALL
             SELECT * FROM (
                 SELECT j.id, j.run_at FROM jobs j
                 WHERE j.state = 'leased' AND j.lease_until <= ?3 AND NOT EXISTS (
                     SELECT 1 FROM jobs o
                     WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                       AND ((o.state = 'leased' AND o.lease_until > ?3)
                            OR (o.state IN ('queued', 'leased')
                                AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id LIMIT ?4))
         ORDER BY run_at, id
         LIMIT ?4)
     RETURNING id, payload, trace_context, attempts";

#[async_trait]
impl ChannelSettings for SqliteStore {
    async fn email_priority(&self) -> Result<bool, StoreError> {
        let value: Option<String> = self.readers.read(|conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .and_then(|mut find| find.query_row([EMAIL_PRIORITY], |row| row.get(0)).optional())
                .map_err(failed)
        })?;
        Ok(value.map_or(self.email_priority_default, |v| v == "true"))
    }

    async fn set_email_priority(&self, on: bool) -> Result<(), StoreError> {
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    params![EMAIL_PRIORITY, if on { "true" } else { "false" }, ms(OffsetDateTime::now_utc())],
                )
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let lease_until = lease_until(now, lease);
        let token = Uuid::new_v4();
        let limit = i64::try_from(limit).unwrap_or(1);
        let rows = self
            .group
            .write(move |conn| {
                let leased = conn
                    .prepare_cached(CLAIM)
                    .and_then(|mut claim| {
                        claim
                            .query_map(params![token.to_string(), lease_until, now, limit], |row| {
                                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, i64>(3)?))
                            })?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(failed)?;
                let mut jobs = Vec::with_capacity(leased.len());
                for (id, payload, trace, attempts) in leased {
                    match leased_job(id, &payload, &trace, attempts, token) {
                        Ok(job) => jobs.push(job),
                        Err(reason) => {
                            run(
                                conn,
                                "UPDATE jobs SET state = 'dead', last_error = ?2, lease_token = NULL, lease_until = NULL WHERE id = ?1",
                                params![id, reason],
                            )?;
                        }
                    }
                }
                Ok(jobs)
            })
            .await?;
        Ok(rows)
    }

    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let (id, token) = (job.id, job.lease_token.to_string());
        let done = self
            .group
            .write(move |conn| run(conn, "DELETE FROM jobs WHERE id = ?1 AND lease_token = ?2", params![id, token]))
            .await?;
        if done == 0 {
            tracing::warn!(job_id = job.id, "lease was lost before the job completed; its new holder finishes it");
        }
        // A finished job may unblock the next one of its ordering key.
        self.notify_workers();
        Ok(())
    }

    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError> {
        let (id, token, error) = (job.id, job.lease_token.to_string(), error.to_owned());
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', run_at = ?3, last_error = ?4, lease_token = NULL, lease_until = NULL,
                            updated_at = ?5
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, ms(run_at), error, ms(OffsetDateTime::now_utc())],
                )
            })
            .await?;
        Ok(())
    }

    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError> {
        let (id, token, error) = (job.id, job.lease_token.to_string(), error.to_owned());
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'dead', last_error = ?3, lease_token = NULL, lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, error, ms(OffsetDateTime::now_utc())],
                )
            })
            .await?;
        self.notify_workers();
        Ok(())
    }

    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError> {
        let (id, token) = (job.id, job.lease_token.to_string());
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', run_at = ?3, attempts = MAX(attempts - 1, 0), lease_token = NULL,
                            lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, ms(run_at), ms(OffsetDateTime::now_utc())],
                )
            })
            .await?;
        Ok(())
    }

    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let (id, token) = (job.id, job.lease_token.to_string());
        self.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), lease_token = NULL, lease_until = NULL,
                            updated_at = ?3
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, ms(OffsetDateTime::now_utc())],
                )
            })
            .await?;
        Ok(())
    }

    fn work_count(&self) -> u64 {
        self.wake.count()
    }

    async fn wait_for_work(&self, seen: u64, max: Duration) {
        let now = ms(OffsetDateTime::now_utc());
        let due = self
            .readers
            .read(|conn| {
                conn.prepare_cached("SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at > ?1")
                    .and_then(|mut next| next.query_row([now], |row| row.get::<_, Option<i64>>(0)))
                    .map_err(failed)
            })
            .unwrap_or(None);
        self.wake.wait(seen, until_due(due, now, max)).await;
    }
}

impl SqliteStore {
    /// The raw body of a stored event, or `None`.
    pub async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT body FROM webhook_events WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    pub async fn mark_replayed(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        let now = ms(OffsetDateTime::now_utc());
        self.group
            .write(move |conn| run(conn, "UPDATE webhook_events SET replayed_at = ?2 WHERE id = ?1", params![id, now]))
            .await?;
        Ok(())
    }

    /// Puts a dead job back in the queue with fresh attempts; answers whether it was dead.
    pub async fn requeue(&self, id: i64) -> Result<bool, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let moved = self
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?2, updated_at = ?2 WHERE id = ?1 AND state = 'dead'",
                    params![id, now],
                )
            })
            .await?;
        if moved == 1 {
            self.notify_workers();
        }
        Ok(moved == 1)
    }
}

/// What the metrics endpoint reads at scrape time.
#[derive(Debug, Clone, Default)]
pub struct OperationalSnapshot {
    pub queued: i64,
    pub oldest_age_seconds: f64,
    pub dead: i64,
    pub deliveries: Vec<(String, i64)>,
}

impl SqliteStore {
    pub async fn operational_snapshot(&self) -> Result<OperationalSnapshot, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let (queued, oldest, dead): (i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state IN ('queued', 'leased')), 0), MIN(CASE WHEN state IN ('queued', 'leased') THEN created_at END),
                    COALESCE(SUM(state = 'dead'), 0)
             FROM jobs",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        let deliveries: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        #[expect(clippy::cast_precision_loss, reason = "an age in seconds needs no more than f64")]
        let oldest_age_seconds = oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        Ok(OperationalSnapshot { queued, oldest_age_seconds, dead, deliveries })
    }
}

#[async_trait]
impl super::StoreOperations for SqliteStore {
    async fn migrate(&self) -> anyhow::Result<()> {
        SqliteStore::migrate(self).await
    }

    async fn ready(&self) -> Result<(), String> {
        SqliteStore::ready(self).await
    }

    async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        SqliteStore::record_sandbox_send(self, delivery_id, provider_id, message, statuses, trace).await
    }

    async fn sandbox_outbox(&self, reply_to: Option<&str>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError> {
        SqliteStore::sandbox_outbox(self, reply_to, limit).await
    }

    async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        SqliteStore::event_body(self, id).await
    }

    async fn mark_replayed(&self, id: &str) -> Result<(), StoreError> {
        SqliteStore::mark_replayed(self, id).await
    }

    async fn requeue(&self, id: i64) -> Result<bool, StoreError> {
        SqliteStore::requeue(self, id).await
    }

    async fn operational_snapshot(&self) -> Result<OperationalSnapshot, StoreError> {
        SqliteStore::operational_snapshot(self).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn stored_task(row: &sqlx::sqlite::SqliteRow) -> Result<StoredTask, StoreError> {
    let task: String = row.get("task");
    Ok(StoredTask {
        task: serde_json::from_str(&task).map_err(|e| corrupt("a2a task", e))?,
        agent: row.get("agent"),
        agent_task_id: row.get("agent_task_id"),
        trace_id: row.get("trace_id"),
        created_at: row.get("created_at"),
    })
}

#[async_trait]
impl A2aTasks for SqliteStore {
    async fn save(&self, task: &StoredTask) -> Result<(), StoreError> {
        let row = (
            task.task.id.clone(),
            task.task.context_id.clone().unwrap_or_default(),
            task.task.status.state.as_str(),
            json(&task.task)?,
            task.agent.clone(),
            task.agent_task_id.clone(),
            task.trace_id.clone(),
            task.created_at,
        );
        self.group
            .write(move |conn| {
                let (id, context_id, state, body, agent, agent_task_id, trace_id, created_at) = row;
                run(
                    conn,
                    "INSERT INTO a2a_tasks (id, context_id, state, task, agent, agent_task_id, trace_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state, task = excluded.task, agent = excluded.agent,
                         agent_task_id = excluded.agent_task_id, updated_at = excluded.updated_at",
                    params![
                        id,
                        context_id,
                        state,
                        body,
                        agent,
                        agent_task_id,
                        trace_id,
                        created_at,
                        ms(OffsetDateTime::now_utc())
                    ],
                )
            })
            .await?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<StoredTask>, StoreError> {
        let row = sqlx::query("SELECT task, agent, agent_task_id, trace_id, created_at FROM a2a_tasks WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(stored_task).transpose()
    }

    async fn list(
        &self,
        context_id: Option<String>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<StoredTask>, StoreError> {
        let (at, id) = after.unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(
            "SELECT task, agent, agent_task_id, trace_id, created_at FROM a2a_tasks
             WHERE (?1 IS NULL OR context_id = ?1)
               AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))
             ORDER BY created_at DESC, id DESC LIMIT ?4",
        )
        .bind(context_id)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(stored_task).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_application::jobs::{JobKind, NewJob};

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_message_naming_the_key() {
        let refused = SqliteStore::connect("sqlite::memory:", 2, Duration::from_secs(1), true).await;

        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("DATABASE_URL") && message.contains("in-memory"), "{message}");
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = SqliteStore::connect(&url, 4, Duration::from_secs(1), true).await.unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    async fn enqueue(store: &SqliteStore, key: &str, wamid: &str, order_at: i64) {
        let job = NewJob {
            kind: JobKind::ProcessInbound { wamid: Wamid::parse(wamid).unwrap() },
            ordering_key: key.to_owned(),
            order_at: OffsetDateTime::from_unix_timestamp(order_at).unwrap(),
            run_at: OffsetDateTime::UNIX_EPOCH,
            trace: TraceContext::new_root(),
        };
        store.group.write(move |conn| insert_job(conn, &job, 0)).await.unwrap();
    }

    fn wamid_of(job: &LeasedJob) -> &str {
        match &job.kind {
            JobKind::ProcessInbound { wamid } => wamid.as_str(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_the_earliest_job_of_an_ordering_key_is_leased_and_none_while_one_runs() {
        let (_dir, store) = store().await;
        enqueue(&store, "user-a", "wamid.A2", 20).await;
        enqueue(&store, "user-a", "wamid.A1", 10).await;
        enqueue(&store, "user-b", "wamid.B1", 30).await;

        let first = store.claim(10, Duration::from_secs(60)).await.unwrap();
        let mut leased: Vec<&str> = first.iter().map(wamid_of).collect();
        leased.sort_unstable();
        let while_running = store.claim(10, Duration::from_secs(60)).await.unwrap();
        let a1 = first.iter().find(|j| wamid_of(j) == "wamid.A1").unwrap();
        store.complete(a1).await.unwrap();
        let next = store.claim(10, Duration::from_secs(60)).await.unwrap();

        assert_eq!(leased, ["wamid.A1", "wamid.B1"]);
        assert!(while_running.is_empty());
        assert_eq!(next.iter().map(wamid_of).collect::<Vec<_>>(), ["wamid.A2"]);
    }

    #[tokio::test]
    async fn a_job_whose_lease_expired_is_leased_again_and_the_old_holder_cannot_finish_it() {
        let (_dir, store) = store().await;
        enqueue(&store, "k", "wamid.X", 1).await;

        let crashed = store.claim(1, Duration::from_millis(1)).await.unwrap().remove(0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let taken_over = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);
        store.complete(&crashed).await.unwrap();
        let still_there: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(store.pool()).await.unwrap();
        store.complete(&taken_over).await.unwrap();
        let gone: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(store.pool()).await.unwrap();

        assert_eq!(taken_over.id, crashed.id);
        assert_eq!(taken_over.attempts, 2);
        assert_eq!(still_there, 1, "the stale lease holder did not remove it");
        assert_eq!(gone, 0);
    }

    #[tokio::test]
    async fn a_retried_job_waits_for_its_time_and_a_buried_one_stays_dead_with_its_error() {
        let (_dir, store) = store().await;
        enqueue(&store, "k1", "wamid.R", 1).await;
        enqueue(&store, "k2", "wamid.D", 1).await;
        let jobs = store.claim(2, Duration::from_secs(60)).await.unwrap();
        let retried = jobs.iter().find(|j| wamid_of(j) == "wamid.R").unwrap();
        let buried = jobs.iter().find(|j| wamid_of(j) == "wamid.D").unwrap();

        store.retry(retried, OffsetDateTime::now_utc() + Duration::from_secs(3600), "agent down").await.unwrap();
        store.bury(buried, "no such message").await.unwrap();
        let due_now = store.claim(10, Duration::from_secs(60)).await.unwrap();
        let dead: (String, String) = sqlx::query_as("SELECT state, last_error FROM jobs WHERE id = ?1")
            .bind(buried.id)
            .fetch_one(store.pool())
            .await
            .unwrap();

        assert!(due_now.is_empty());
        assert_eq!(dead, ("dead".to_owned(), "no such message".to_owned()));
    }

    #[tokio::test]
    async fn a_returned_lease_does_not_count_as_an_attempt() {
        let (_dir, store) = store().await;
        enqueue(&store, "k", "wamid.S", 1).await;

        let job = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);
        store.release(&job).await.unwrap();
        let again = store.claim(1, Duration::from_secs(60)).await.unwrap().remove(0);

        assert_eq!(again.attempts, 1);
    }
}
