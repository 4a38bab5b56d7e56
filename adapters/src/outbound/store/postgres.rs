//! PostgreSQL store, for several replicas sharing one database. Every write is a plain
//! READ COMMITTED transaction; what makes it safe across processes is in the SQL:
//! `ON CONFLICT` where two replicas may insert the same row (messages by wamid, statuses,
//! conversations, settings, A2A tasks); an ingest or outbound create that still collides
//! with a concurrent one (the same new contact) runs again whole; and a job claim locks
//! rows with `FOR UPDATE SKIP LOCKED` and each ordering key with a transaction-scoped
//! advisory lock (see [`JobQueue::claim`] below and ADR 0007). Idle workers wake on this
//! process's enqueues and otherwise poll (no LISTEN/NOTIFY).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row, Transaction};
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
use super::wake::{WorkSignal, until_due};

use super::{OperationalSnapshot, SandboxRecord};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How often an ingest or an outbound create that collided with a concurrent one (the
/// same new contact, the same wamid from two replicas) runs again before the error goes
/// to the caller.
const CONFLICT_TRIES: u32 = 4;

/// The PostgreSQL implementation of every store port.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Wakes idle workers in this process when a job is enqueued; other replicas poll.
    wake: Arc<WorkSignal>,
    /// `channels.gmail.priority` until an operator sets it.
    email_priority_default: bool,
}

/// The SQLSTATE of a database error, if `error` is one.
fn sqlstate(error: &StoreError) -> Option<String> {
    let StoreError::Unavailable(e) = error else { return None };
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// A collision with a concurrent transaction that succeeds when tried again: a unique
/// violation (the other side inserted the same row first); the contacts check (another
/// replica created this phone-only user between our lookup and our insert, so the insert
/// found the phone taken and was left with no identity); a serialization failure or a
/// deadlock. Tried again, the lookup finds what the other side committed.
fn is_transient_conflict(error: &StoreError) -> bool {
    matches!(sqlstate(error).as_deref(), Some("23505" | "23514" | "40001" | "40P01"))
}

/// An integrity violation (unique, foreign key, check) is not an outage: trying again
/// cannot help, so it is reported as data the store refuses rather than `Unavailable`.
fn classify(error: StoreError) -> StoreError {
    match (sqlstate(&error), error) {
        (Some(code), StoreError::Unavailable(cause)) if code.starts_with("23") => {
            StoreError::Corrupt(format!("integrity violation ({code}): {cause}"))
        }
        (_, error) => error,
    }
}

fn integrity(e: sqlx::Error) -> StoreError {
    classify(unavailable(e))
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`); `acquire_timeout`
    /// bounds how long a call waits for a free connection before failing `Unavailable`.
    pub async fn connect(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse().with_context(|| "DATABASE_URL is not a valid postgres URL")?;
        let options = options.application_name("switchboard");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout.max(Duration::from_secs(1)))
            .connect_with(options)
            .await
            .with_context(|| "cannot connect to the PostgreSQL database")?;
        Ok(Self { pool, wake: Arc::new(WorkSignal::default()), email_priority_default: false })
    }

    /// The email priority [`ChannelSettings`] answers until an operator sets one.
    #[must_use]
    pub fn with_email_priority_default(mut self, on: bool) -> Self {
        self.email_priority_default = on;
        self
    }

    /// Applies the embedded migrations that are not applied yet. Replicas starting
    /// together are safe: the migrator holds an advisory lock while it runs.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Readiness: the database answers and every embedded migration is applied.
    pub async fn ready(&self) -> Result<(), String> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| format!("database unreachable: {e}"))?;
        let expected = i64::try_from(MIGRATOR.iter().count()).unwrap_or(i64::MAX);
        if applied < expected {
            return Err(format!("{applied} of {expected} migrations applied; run `switchboard migrate`"));
        }
        Ok(())
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(unavailable)
    }

    /// Records what the sandbox gateway would have sent, with the jobs that will post
    /// its status webhooks, in one transaction; once per delivery's message of one kind
    /// (see [`super::StoreOperations::record_sandbox_send`]).
    pub async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let delivery_id = delivery_id.map(|id| id.to_string());
        let kind = message.content.kind_name();
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO sandbox_outbox (id, provider_id, from_number_id, recipient, reply_to, kind, message, trace_id,
                                         created_at, delivery_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (delivery_id, kind) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(provider_id)
        .bind(&message.from_number_id)
        .bind(message.to.key().as_storage_key())
        .bind(message.reply_to.as_ref().map(Wamid::as_str))
        .bind(kind)
        .bind(json(message)?)
        .bind(trace.trace_id.to_string())
        .bind(now)
        .bind(&delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?
        .rows_affected();
        if inserted == 0 {
            let earlier: String =
                sqlx::query_scalar("SELECT provider_id FROM sandbox_outbox WHERE delivery_id = $1 AND kind = $2")
                    .bind(&delivery_id)
                    .bind(kind)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            return Ok(earlier);
        }
        for job in &statuses {
            insert_job(&mut tx, job, now).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        if !statuses.is_empty() {
            self.notify_workers();
        }
        Ok(provider_id.to_owned())
    }

    /// What the sandbox recorded, oldest first; only replies to `reply_to` when given.
    pub async fn sandbox_outbox(&self, reply_to: Option<&str>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider_id, delivery_id, recipient, reply_to, message, trace_id, created_at FROM sandbox_outbox
             WHERE ($1 IS NULL OR reply_to = $1) ORDER BY created_at, id LIMIT $2",
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

async fn insert_job(tx: &mut Transaction<'static, Postgres>, job: &NewJob, now: i64) -> Result<(), StoreError> {
    insert_job_leased(tx, job, now, None).await.map(|_| ())
}

/// Inserts a job queued, or leased to the caller with this token until this time; answers
/// its id.
async fn insert_job_leased(
    tx: &mut Transaction<'static, Postgres>,
    job: &NewJob,
    now: i64,
    lease: Option<(Uuid, i64)>,
) -> Result<i64, StoreError> {
    let (state, attempts, token, until) = match lease {
        Some((token, until)) => ("leased", 1_i64, Some(token.to_string()), Some(until)),
        None => ("queued", 0, None, None),
    };
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, attempts, lease_token, lease_until,
                           trace_id, trace_context, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
         RETURNING id",
    )
    .bind(job.kind.name())
    .bind(json(&job.kind)?)
    .bind(&job.ordering_key)
    .bind(ms(job.order_at))
    .bind(ms(job.run_at))
    .bind(state)
    .bind(attempts)
    .bind(token)
    .bind(until)
    .bind(job.trace.trace_id.to_string())
    .bind(job.trace.to_traceparent())
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(unavailable)
}

/// A reply's delivery job: leased to the caller for `lease` when no other job of its
/// ordering key waits (it runs it at once), else queued for the workers.
async fn insert_delivery_job(
    tx: &mut Transaction<'static, Postgres>,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<LeasedJob>, StoreError> {
    let Some(lease) = lease else {
        insert_job(tx, job, now).await?;
        return Ok(None);
    };
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE ordering_key = $1 AND state IN ('queued', 'leased'))",
    )
    .bind(&job.ordering_key)
    .fetch_one(&mut **tx)
    .await
    .map_err(unavailable)?;
    if waiting {
        insert_job(tx, job, now).await?;
        return Ok(None);
    }
    let token = Uuid::new_v4();
    let id = insert_job_leased(tx, job, now, Some((token, lease_until(now, lease)))).await?;
    Ok(Some(leased_at_insert(id, job, token)))
}

/// One row of a delivery's history.
async fn insert_attempt(
    tx: &mut Transaction<'static, Postgres>,
    delivery_id: Uuid,
    outcome: &str,
    detail: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, channel, outcome, detail, at)
         SELECT $1, CASE route WHEN 'email' THEN 'email' ELSE 'whatsapp' END, $2, $3, $4 FROM deliveries WHERE id = $1",
    )
    .bind(delivery_id.to_string())
    .bind(outcome)
    .bind(detail)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Finds the contact for this user, creating it or completing its ids as needed.
async fn resolve_contact(
    tx: &mut Transaction<'static, Postgres>,
    user: &WhatsAppUser,
    profile_name: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    let scoped = user.scoped_id().map(|s| s.as_str().to_owned());
    let phone = user.phone().map(|p| p.as_e164().to_owned());
    let mut found: Option<String> = None;
    if let Some(scoped) = &scoped {
        found = sqlx::query_scalar("SELECT id FROM contacts WHERE scoped_id = $1")
            .bind(scoped)
            .fetch_optional(&mut **tx)
            .await
            .map_err(unavailable)?;
    }
    if found.is_none()
        && let Some(phone) = &phone
    {
        // A contact known by phone alone learns its scoped id here.
        found = sqlx::query_scalar("SELECT id FROM contacts WHERE phone = $1 AND (scoped_id IS NULL OR $2 IS NULL)")
            .bind(phone)
            .bind(&scoped)
            .fetch_optional(&mut **tx)
            .await
            .map_err(unavailable)?;
    }
    match found {
        Some(id) => {
            sqlx::query(
                "UPDATE contacts SET scoped_id = COALESCE(scoped_id, $2),
                        phone = COALESCE(phone, (SELECT $3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = $3))),
                        profile_name = COALESCE($4, profile_name), updated_at = $5
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(&scoped)
            .bind(&phone)
            .bind(profile_name)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
            Ok(id)
        }
        None => {
            let id = Uuid::now_v7().to_string();
            sqlx::query(
                // A phone already held by a contact with another scoped id stays with it.
                "INSERT INTO contacts (id, scoped_id, phone, profile_name, created_at, updated_at)
                 VALUES ($1, $2, (SELECT $3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = $3)), $4, $5, $5)",
            )
            .bind(&id)
            .bind(&scoped)
            .bind(&phone)
            .bind(profile_name)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
            Ok(id)
        }
    }
}

async fn resolve_conversation(
    tx: &mut Transaction<'static, Postgres>,
    contact_id: &str,
    message: &InboundMessage,
    now: i64,
) -> Result<String, StoreError> {
    let sent = message.sent_at.unix_timestamp();
    let id: String = sqlx::query_scalar(
        "INSERT INTO conversations (id, contact_id, business_number_id, last_inbound_ts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (contact_id, business_number_id) DO UPDATE SET
             last_inbound_ts = GREATEST(COALESCE(conversations.last_inbound_ts, 0), excluded.last_inbound_ts),
             updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(contact_id)
    .bind(&message.business_number_id)
    .bind(sent)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(id)
}

#[async_trait]
impl Inbox for PgStore {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, StoreError> {
        let span =
            tracing::debug_span!("postgres.ingest", messages = batch.messages.len(), statuses = batch.statuses.len());
        async {
            let mut tries = 1;
            loop {
                match self.ingest_once(&batch).await {
                    // Another replica stored the same contact or message first: now that
                    // its transaction committed, this one sees it and counts a duplicate.
                    Err(e) if is_transient_conflict(&e) && tries < CONFLICT_TRIES => {
                        tracing::debug!(tries, "ingest collided with a concurrent one; trying again");
                        tries += 1;
                    }
                    other => return other.map_err(classify),
                }
            }
        }
        .instrument(span)
        .await
    }
}

impl PgStore {
    async fn ingest_once(&self, batch: &IngestBatch) -> Result<IngestReceipt, StoreError> {
        {
            let now = ms(batch.event.received_at);
            let event_id = batch.event.id.to_string();
            let trace_id = batch.event.trace.trace_id.to_string();
            let (status, reason) = match &batch.event.disposition {
                EventDisposition::Accepted => ("accepted", None),
                EventDisposition::Quarantined { reason } => ("quarantined", Some(reason.as_str())),
            };
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&event_id)
            .bind(now)
            .bind(&trace_id)
            .bind(batch.event.trace.to_traceparent())
            .bind(status)
            .bind(reason)
            .bind(json(&batch.event.summary)?)
            .bind(&batch.event.body)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;

            for error in &batch.errors {
                sqlx::query(
                    "INSERT INTO webhook_errors (event_id, code, title, message, details, received_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&event_id)
                .bind(error.code)
                .bind(&error.title)
                .bind(&error.message)
                .bind(&error.details)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }

            let mut receipt = IngestReceipt::default();
            for item in &batch.messages {
                let message = &item.message;
                let known: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM messages WHERE wamid = $1")
                    .bind(message.wamid.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                if known.is_some() {
                    receipt.duplicate_messages += 1;
                    continue;
                }
                let contact_id = resolve_contact(&mut tx, &message.from, message.profile_name.as_deref(), now).await?;
                let conversation_id = resolve_conversation(&mut tx, &contact_id, message, now).await?;
                let inserted = sqlx::query(
                    "INSERT INTO messages (id, conversation_id, direction, wamid, event_id, kind, content, raw, sent_ts, trace_id, created_at)
                     VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (wamid) DO NOTHING",
                )
                .bind(Uuid::now_v7().to_string())
                .bind(&conversation_id)
                .bind(message.wamid.as_str())
                .bind(&event_id)
                .bind(message.content.kind_name())
                .bind(json(message)?)
                .bind(json(&item.raw)?)
                .bind(message.sent_at.unix_timestamp())
                .bind(&trace_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
                if inserted == 0 {
                    // Stored by a concurrent ingest on another replica since the check above.
                    receipt.duplicate_messages += 1;
                    continue;
                }
                insert_job(&mut tx, &item.job, now).await?;
                receipt.new_messages += 1;
            }

            for item in &batch.statuses {
                let status = &item.status;
                let inserted = sqlx::query(
                    "INSERT INTO message_statuses (wamid, status, occurred_ts, recipient, errors, raw, event_id, trace_id, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (wamid, status) DO NOTHING",
                )
                .bind(status.wamid.as_str())
                .bind(&status.status)
                .bind(status.occurred_at.unix_timestamp())
                .bind(&status.recipient)
                .bind(json(&status.errors)?)
                .bind(json(&item.raw)?)
                .bind(&event_id)
                .bind(&trace_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
                if inserted == 0 {
                    receipt.duplicate_statuses += 1;
                    continue;
                }
                insert_job(&mut tx, &item.job, now).await?;
                receipt.new_statuses += 1;
            }

            tx.commit().await.map_err(unavailable)?;
            if receipt.new_messages + receipt.new_statuses > 0 {
                self.notify_workers();
            }
            Ok(receipt)
        }
    }
}

#[async_trait]
impl Messages for PgStore {
    async fn inbound(&self, wamid: &Wamid) -> Result<Option<InboundRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT m.content, m.conversation_id, m.processed_at, v.open_task_id, v.open_task_agent, m.throttled_at
             FROM messages m JOIN conversations v ON v.id = m.conversation_id
             WHERE m.wamid = $1 AND m.direction = 'inbound'",
        )
        .bind(wamid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let content: String = row.get("content");
        let conversation_id: String = row.get("conversation_id");
        let processed_at: Option<i64> = row.get("processed_at");
        let task_id: Option<String> = row.get("open_task_id");
        let agent: Option<String> = row.get("open_task_agent");
        let throttled_at: Option<i64> = row.get("throttled_at");
        Ok(Some(InboundRecord {
            message: serde_json::from_str(&content).map_err(|e| corrupt("inbound message", e))?,
            conversation_id: Uuid::parse_str(&conversation_id).map_err(|e| corrupt("conversation id", e))?,
            processed: processed_at.is_some(),
            throttled: throttled_at.is_some(),
            open_task: task_id.zip(agent).map(|(task_id, agent)| OpenTask { agent: AgentName::new(agent), task_id }),
        }))
    }

    async fn unanswered(&self, conversation_id: Uuid) -> Result<Vec<InboundMessage>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT content FROM messages
             WHERE conversation_id = $1 AND direction = 'inbound' AND processed_at IS NULL
             ORDER BY sent_ts, created_at, id",
        )
        .bind(conversation_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(|c| serde_json::from_str(c).map_err(|e| corrupt("inbound message", e))).collect()
    }

    async fn mark_throttled(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
        let marked = sqlx::query(
            "UPDATE messages SET throttled_at = $2
             WHERE conversation_id = $1 AND direction = 'inbound'
               AND processed_at IS NULL AND throttled_at IS NULL",
        )
        .bind(conversation_id.to_string())
        .bind(ms(at))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(marked)
    }

    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE messages SET processed_at = $2 WHERE wamid = $1 AND direction = 'inbound' AND processed_at IS NULL",
        )
        .bind(reply.inbound.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await.map_err(integrity)?;
            return Ok(ReplyRecorded::AlreadyProcessed);
        }
        for other in &reply.also_answers {
            sqlx::query(
                "UPDATE messages SET processed_at = $2 WHERE wamid = $1 AND direction = 'inbound' AND processed_at IS NULL",
            )
            .bind(other.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(integrity)?;
        }
        let message_id = Uuid::now_v7().to_string();
        let conversation_id = reply.conversation_id.to_string();
        let trace_id = reply.trace.trace_id.to_string();
        sqlx::query("UPDATE conversations SET open_task_id = $2, open_task_agent = $3, updated_at = $4 WHERE id = $1")
            .bind(&conversation_id)
            .bind(reply.open_task.as_ref().map(|t| t.task_id.as_str()))
            .bind(reply.open_task.as_ref().map(|t| t.agent.as_str()))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(integrity)?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, in_reply_to, intent, confidence, agent, created_at)
             VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(reply.message.content.kind_name())
        .bind(json(&reply.message)?)
        .bind(now / 1000)
        .bind(&trace_id)
        .bind(reply.inbound.as_str())
        .bind(reply.intent.as_str())
        .bind(f64::from(reply.confidence))
        .bind(reply.agent.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?;
        sqlx::query(
            "INSERT INTO deliveries (id, message_id, conversation_id, state, trace_id, trace_context, created_at, updated_at)
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6)",
        )
        .bind(reply.delivery_id.to_string())
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(&trace_id)
        .bind(reply.trace.to_traceparent())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?;
        let leased = insert_delivery_job(&mut tx, &reply.job, now, reply.lease_delivery).await?;
        tx.commit().await.map_err(integrity)?;
        if leased.is_none() {
            self.notify_workers();
        }
        Ok(ReplyRecorded::Recorded(leased))
    }
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.state, d.route, d.fallback_allowed, d.provider_id, d.attempts,
            d.uncertain_since, d.paced, d.held, d.last_error, d.trace_context, m.content,
            c.email, c.profile_name, v.last_inbound_ts
     FROM deliveries d
     JOIN messages m ON m.id = d.message_id
     JOIN conversations v ON v.id = d.conversation_id
     JOIN contacts c ON c.id = v.contact_id";

fn delivery_from_row(row: &sqlx::postgres::PgRow) -> Result<Delivery, StoreError> {
    let id: String = row.get("id");
    let state: String = row.get("state");
    let route: String = row.get("route");
    let provider_id: Option<String> = row.get("provider_id");
    let content: String = row.get("content");
    let email: Option<String> = row.get("email");
    let last_inbound: Option<i64> = row.get("last_inbound_ts");
    let uncertain: Option<i64> = row.get("uncertain_since");
    let count = |name: &str| u32::try_from(row.get::<i64, _>(name)).unwrap_or(0);
    let trace: String = row.get("trace_context");
    Ok(Delivery {
        id: Uuid::parse_str(&id).map_err(|e| corrupt("delivery id", e))?,
        message: serde_json::from_str::<OutboundMessage>(&content).map_err(|e| corrupt("outbound message", e))?,
        state: state.parse().map_err(|e| corrupt("delivery state", e))?,
        route: Route::parse(&route).ok_or_else(|| corrupt("delivery route", &route))?,
        fallback_allowed: row.get::<bool, _>("fallback_allowed"),
        // An address stored before validation existed is skipped, not fatal.
        email: email.and_then(|e| EmailAddress::parse(&e).ok()),
        profile_name: row.get("profile_name"),
        last_inbound_at: last_inbound.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
        provider_id: provider_id.map(|p| Wamid::parse(&p)).transpose().map_err(|e| corrupt("provider id", e))?,
        attempts: count("attempts"),
        uncertain_since: uncertain.and_then(from_ms),
        paced: count("paced"),
        held: count("held"),
        last_error: row.get("last_error"),
        trace: parse_trace(&trace),
    })
}

impl PgStore {
    async fn delivery_where(&self, clause: &'static str, value: String) -> Result<Option<Delivery>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{DELIVERY_SELECT} WHERE {clause}"));
        let row = sqlx::query(sql).bind(value).fetch_optional(&self.pool).await.map_err(unavailable)?;
        row.as_ref().map(delivery_from_row).transpose()
    }
}

#[async_trait]
impl Deliveries for PgStore {
    async fn get(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where("d.id = $1", id.to_string()).await
    }

    async fn find_by_provider_id(&self, wamid: &Wamid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where("d.provider_id = $1", wamid.as_str().to_owned()).await
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
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE deliveries SET state = 'sent', route = $2, channel = $3, provider_id = COALESCE($4, provider_id),
                    attempts = attempts + 1, uncertain_since = NULL, sent_at = $5, updated_at = $5
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(route.as_str())
        .bind(route.channel())
        .bind(provider_id.as_ref().map(Wamid::as_str))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved == 1 {
            insert_attempt(&mut tx, id, "accepted", detail, at).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(moved == 1)
    }

    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE deliveries SET uncertain_since = $2, updated_at = $2 WHERE id = $1 AND state = 'pending'")
            .bind(id.to_string())
            .bind(ms(at))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
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
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $2, updated_at = $3, uncertain_since = NULL,
                    state = CASE WHEN $4 THEN 'failed' ELSE state END,
                    failed_at = CASE WHEN $4 THEN $3 ELSE failed_at END
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(reason)
        .bind(at)
        .bind(is_final)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_attempt(&mut tx, id, if is_final { "failed" } else { "retrying" }, reason, at).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET updated_at = $3, last_error = $4,
                    paced = paced + CASE WHEN $2 = 'paced' THEN 1 ELSE 0 END,
                    held = held + CASE WHEN $2 = 'held' THEN 1 ELSE 0 END,
                    attempts = attempts + CASE WHEN $2 = 'uncertain' THEN 1 ELSE 0 END,
                    uncertain_since = CASE WHEN $2 = 'uncertain' THEN $3 ELSE NULL END
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(outcome.as_str())
        .bind(at)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_attempt(&mut tx, id, outcome.as_str(), detail, at).await?;
        tx.commit().await.map_err(unavailable)
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
        let moved = sqlx::query(
            "UPDATE deliveries SET state = $3, updated_at = $4, last_error = COALESCE($5, last_error),
                    delivered_at = CASE WHEN $3 = 'delivered' THEN $4 ELSE delivered_at END,
                    read_at = CASE WHEN $3 = 'read' THEN $4 ELSE read_at END,
                    failed_at = CASE WHEN $3 = 'failed' THEN $4 ELSE failed_at END
             WHERE id = $1 AND state = $2",
        )
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(moved == 1)
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
        let mut tx = self.begin().await?;
        // The failure is recorded on the channel that failed, before the route changes.
        insert_attempt(&mut tx, id, "failed", reason, at).await?;
        let moved = sqlx::query(
            "UPDATE deliveries SET state = 'pending', route = $3, provider_id = NULL, uncertain_since = NULL,
                    last_error = $4, updated_at = $5
             WHERE id = $1 AND state = $2",
        )
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(route.as_str())
        .bind(reason)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        insert_job(&mut tx, &job, at).await?;
        tx.commit().await.map_err(unavailable)?;
        self.notify_workers();
        Ok(true)
    }

    async fn create(&self, outbound: NewOutbound) -> Result<(), StoreError> {
        let mut tries = 1;
        loop {
            match self.create_once(&outbound).await {
                // Another replica created this new contact or conversation first.
                Err(e) if is_transient_conflict(&e) && tries < CONFLICT_TRIES => tries += 1,
                other => return other.map_err(classify),
            }
        }
    }
}

impl PgStore {
    async fn create_once(&self, outbound: &NewOutbound) -> Result<(), StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let mut tx = self.begin().await?;
        let contact_id = resolve_contact(&mut tx, &outbound.message.to, None, now).await?;
        if let Some(email) = &outbound.email {
            sqlx::query("UPDATE contacts SET email = $2, updated_at = $3 WHERE id = $1")
                .bind(&contact_id)
                .bind(email.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let conversation_id: String = sqlx::query_scalar(
            "INSERT INTO conversations (id, contact_id, business_number_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (contact_id, business_number_id) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(&contact_id)
        .bind(&outbound.message.from_number_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let message_id = Uuid::now_v7().to_string();
        let trace_id = outbound.trace.trace_id.to_string();
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, created_at)
             VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7)",
        )
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(outbound.message.content.kind_name())
        .bind(json(&outbound.message)?)
        .bind(now / 1000)
        .bind(&trace_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO deliveries (id, message_id, conversation_id, channel, route, fallback_allowed, state, trace_id, trace_context, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $9)",
        )
        .bind(outbound.delivery_id.to_string())
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(outbound.route.channel())
        .bind(outbound.route.as_str())
        .bind(outbound.fallback_allowed)
        .bind(&trace_id)
        .bind(outbound.trace.to_traceparent())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_job(&mut tx, &outbound.job, now).await?;
        tx.commit().await.map_err(unavailable)?;
        self.notify_workers();
        Ok(())
    }
}

const EMAIL_PRIORITY: &str = "channels.gmail.priority";

/// The first half of the two-part advisory lock keys that guard ordering keys during a
/// claim ("sbjq"); the second half is the key's hash. A hash collision only makes two
/// keys skip each other for the length of one claim.
const ORDERING_KEY_LOCKS: i32 = 0x7362_6a71;

#[async_trait]
impl ChannelSettings for PgStore {
    async fn email_priority(&self) -> Result<bool, StoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(EMAIL_PRIORITY)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(value.map_or(self.email_priority_default, |v| v == "true"))
    }

    async fn set_email_priority(&self, on: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(EMAIL_PRIORITY)
        .bind(if on { "true" } else { "false" })
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for PgStore {
    /// Two statements in one transaction. The first picks due jobs that head their
    /// ordering key, locking each row (`FOR UPDATE SKIP LOCKED`: replicas never wait on
    /// each other's picks) and each key (`pg_try_advisory_xact_lock`: one claimer per key
    /// at a time; a key held elsewhere is skipped). The second leases them, judging
    /// "heads its key" again from a snapshot taken after those locks were held, so it sees
    /// every claim another replica committed for these keys: a job that meanwhile stopped
    /// heading its key (an earlier one arrived and was leased) is left alone.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let lease_until = lease_until(now, lease);
        let token = Uuid::new_v4();
        let mut tx = self.begin().await?;
        let picked: Vec<i64> = sqlx::query_scalar(
            "WITH heads AS (
                 SELECT j.id, j.ordering_key FROM jobs j
                 WHERE ((j.state = 'queued' AND j.run_at <= $1) OR (j.state = 'leased' AND j.lease_until <= $1))
                   AND NOT EXISTS (
                       SELECT 1 FROM jobs o
                       WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                         AND ((o.state = 'leased' AND o.lease_until > $1)
                              OR (o.state IN ('queued', 'leased')
                                  AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id
                 LIMIT $2
                 FOR UPDATE OF j SKIP LOCKED)
             SELECT id FROM heads WHERE pg_try_advisory_xact_lock($3, hashtext(ordering_key))",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(1))
        .bind(ORDERING_KEY_LOCKS)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        if picked.is_empty() {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "UPDATE jobs j SET state = 'leased', lease_token = $1, lease_until = $2, attempts = j.attempts + 1, updated_at = $3
             WHERE j.id = ANY($4)
               AND ((j.state = 'queued' AND j.run_at <= $3) OR (j.state = 'leased' AND j.lease_until <= $3))
               AND NOT EXISTS (
                   SELECT 1 FROM jobs o
                   WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                     AND ((o.state = 'leased' AND o.lease_until > $3)
                          OR (o.state IN ('queued', 'leased')
                              AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
             RETURNING j.id, j.payload, j.trace_context, j.attempts",
        )
        .bind(token.to_string())
        .bind(lease_until)
        .bind(now)
        .bind(&picked)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;

        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get("id");
            let payload: String = row.get("payload");
            let trace: String = row.get("trace_context");
            match leased_job(id, &payload, &trace, row.get("attempts"), token) {
                Ok(job) => jobs.push(job),
                Err(reason) => {
                    sqlx::query("UPDATE jobs SET state = 'dead', last_error = $2, lease_token = NULL, lease_until = NULL WHERE id = $1")
                        .bind(id)
                        .bind(reason)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(jobs)
    }

    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_token = $2")
            .bind(job.id)
            .bind(job.lease_token.to_string())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?
            .rows_affected();
        if done == 0 {
            tracing::warn!(job_id = job.id, "lease was lost before the job completed; its new holder finishes it");
        }
        // A finished job may unblock the next one of its ordering key.
        self.notify_workers();
        Ok(())
    }

    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL, updated_at = $5
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(ms(run_at))
        .bind(error)
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = $3, lease_token = NULL, lease_until = NULL, updated_at = $4
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(error)
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        self.notify_workers();
        Ok(())
    }

    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $3, attempts = GREATEST(attempts - 1, 0), lease_token = NULL,
                    lease_until = NULL, updated_at = $4
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(ms(run_at))
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), lease_token = NULL, lease_until = NULL, updated_at = $3
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    fn work_count(&self) -> u64 {
        self.wake.count()
    }

    async fn wait_for_work(&self, seen: u64, max: Duration) {
        let now = ms(OffsetDateTime::now_utc());
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .unwrap_or(None);
        self.wake.wait(seen, until_due(due, now, max)).await;
    }
}

impl PgStore {
    /// The raw body of a stored event, or `None`.
    pub async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT body FROM webhook_events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    pub async fn mark_replayed(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_events SET replayed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(ms(OffsetDateTime::now_utc()))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Puts a dead job back in the queue with fresh attempts; answers whether it was dead.
    pub async fn requeue(&self, id: i64) -> Result<bool, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let moved = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, updated_at = $2 WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved == 1 {
            self.notify_workers();
        }
        Ok(moved == 1)
    }
}

impl PgStore {
    pub async fn operational_snapshot(&self) -> Result<OperationalSnapshot, StoreError> {
        let now = ms(OffsetDateTime::now_utc());
        let (queued, oldest, dead): (i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE state IN ('queued', 'leased')),
                    MIN(created_at) FILTER (WHERE state IN ('queued', 'leased')),
                    COUNT(*) FILTER (WHERE state = 'dead')
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
impl super::StoreOperations for PgStore {
    async fn migrate(&self) -> anyhow::Result<()> {
        PgStore::migrate(self).await
    }

    async fn ready(&self) -> Result<(), String> {
        PgStore::ready(self).await
    }

    async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        PgStore::record_sandbox_send(self, delivery_id, provider_id, message, statuses, trace).await
    }

    async fn sandbox_outbox(&self, reply_to: Option<&str>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError> {
        PgStore::sandbox_outbox(self, reply_to, limit).await
    }

    async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        PgStore::event_body(self, id).await
    }

    async fn mark_replayed(&self, id: &str) -> Result<(), StoreError> {
        PgStore::mark_replayed(self, id).await
    }

    async fn requeue(&self, id: i64) -> Result<bool, StoreError> {
        PgStore::requeue(self, id).await
    }

    async fn operational_snapshot(&self) -> Result<OperationalSnapshot, StoreError> {
        PgStore::operational_snapshot(self).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn stored_task(row: &sqlx::postgres::PgRow) -> Result<StoredTask, StoreError> {
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
impl A2aTasks for PgStore {
    async fn save(&self, task: &StoredTask) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO a2a_tasks (id, context_id, state, task, agent, agent_task_id, trace_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, task = excluded.task, agent = excluded.agent,
                 agent_task_id = excluded.agent_task_id, updated_at = excluded.updated_at",
        )
        .bind(&task.task.id)
        .bind(task.task.context_id.as_deref().unwrap_or(""))
        .bind(task.task.status.state.as_str())
        .bind(json(&task.task)?)
        .bind(&task.agent)
        .bind(&task.agent_task_id)
        .bind(&task.trace_id)
        .bind(task.created_at)
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<StoredTask>, StoreError> {
        let row = sqlx::query("SELECT task, agent, agent_task_id, trace_id, created_at FROM a2a_tasks WHERE id = $1")
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
             WHERE ($1 IS NULL OR context_id = $1)
               AND (created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4",
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
