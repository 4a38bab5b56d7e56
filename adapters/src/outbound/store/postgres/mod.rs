//! PostgreSQL store, for several replicas sharing one database. Every write is a plain
//! READ COMMITTED transaction; what makes it safe across processes is in the SQL:
//! `ON CONFLICT` where two replicas may insert the same row (messages by wamid, statuses,
//! conversations, settings, A2A tasks); an ingest or outbound create that still collides
//! with a concurrent one (the same new contact) runs again whole; and a job claim locks
//! rows with `FOR UPDATE SKIP LOCKED` and each ordering key with a transaction-scoped
//! advisory lock (see [`JobQueue::claim`] below and ADR 0007). Idle workers wake on this
//! process's enqueues and otherwise poll (no LISTEN/NOTIFY).
//!
//! One file per port: `inbox.rs`, `messages.rs`, `deliveries.rs`, `jobs.rs`,
//! `settings.rs`, `sandbox.rs`; what both databases share is in `../management.rs` and
//! `../operations.rs`.

mod deliveries;
mod inbox;
mod jobs;
mod messages;
mod sandbox;
mod settings;

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Transaction};
use switchboard_application::jobs::{LeasedJob, NewJob};
use switchboard_application::ports::StoreError;
use switchboard_domain::{InboundMessage, WhatsAppUser};
use uuid::Uuid;

use super::engine::{Arg, Engine, SqlStore, Statement};
use super::records::{json, lease_until, leased_at_insert, millis as ms, unavailable};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How often an ingest or an outbound create that collided with a concurrent one (the
/// same new contact, the same wamid from two replicas) runs again before the error goes
/// to the caller.
const CONFLICT_TRIES: u32 = 4;

/// The PostgreSQL store: every port over one [`PgEngine`].
pub type PgStore = SqlStore<PgEngine>;

/// How SQL reaches PostgreSQL: one pool, for reads and writes alike.
#[derive(Clone)]
pub struct PgEngine {
    pool: PgPool,
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
        Ok(Self::over(PgEngine { pool }))
    }

    /// The pool, for tests that set up rows by hand.
    pub fn pool(&self) -> &PgPool {
        &self.engine.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.engine.pool.begin().await.map_err(unavailable)
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Bool(v) => query.bind(v),
        };
    }
    query
}

#[async_trait]
impl Engine for PgEngine {
    type Row = PgRow;

    async fn scan(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<PgRow>, StoreError> {
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(&self.pool).await.map_err(unavailable)
    }

    async fn write(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(bind_all(sqlx::query(sql), args).execute(&self.pool).await.map_err(integrity)?.rows_affected())
    }

    async fn transact(&self, guard: Statement, then: Vec<Statement>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let (sql, args) = guard;
        if bind_all(sqlx::query(sql), args).execute(&mut *tx).await.map_err(integrity)?.rows_affected() == 0 {
            tx.rollback().await.map_err(integrity)?;
            return Ok(false);
        }
        for (sql, args) in then {
            bind_all(sqlx::query(sql), args).execute(&mut *tx).await.map_err(integrity)?;
        }
        tx.commit().await.map_err(integrity)?;
        Ok(true)
    }

    /// Replicas starting together are safe: the migrator holds an advisory lock while it
    /// runs.
    async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    fn migrations(&self) -> usize {
        MIGRATOR.iter().count()
    }

    async fn close(&self) {
        self.pool.close().await;
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

/// Inserts `job` leased to the caller until `start + lease` when no other job of its
/// ordering key is queued or leased (so it is the next of its key and runs without a
/// claim); else queued. Answers the leased job and its lease's end; `None` when queued,
/// which it always is without a `lease`.
async fn insert_leased_if_first(
    tx: &mut Transaction<'static, Postgres>,
    job: &NewJob,
    now: i64,
    start: i64,
    lease: Option<Duration>,
) -> Result<Option<(LeasedJob, i64)>, StoreError> {
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
    let until = lease_until(start, lease);
    let id = insert_job_leased(tx, job, now, Some((token, until))).await?;
    Ok(Some((leased_at_insert(id, job, token), until)))
}

/// A new message's job for the hand-off after commit (ADR 0021): leased until its due time
/// plus `lease` when it is the next of its key. The caller holds the key's advisory lock
/// (see `inbox::lock_ordering_keys`).
async fn insert_job_leased_if_first(
    tx: &mut Transaction<'static, Postgres>,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<super::handoff::Handed>, StoreError> {
    let run_at = ms(job.run_at);
    let leased = insert_leased_if_first(tx, job, now, run_at.max(now), lease).await?;
    Ok(leased.map(|(job, lease_until)| super::handoff::Handed { job, run_at, lease_until }))
}

/// A reply's delivery job: leased to the caller for `lease` when no other job of its
/// ordering key waits (it runs it at once), else queued for the workers.
async fn insert_delivery_job(
    tx: &mut Transaction<'static, Postgres>,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<LeasedJob>, StoreError> {
    Ok(insert_leased_if_first(tx, job, now, now, lease).await?.map(|(job, _)| job))
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
        // Written only when it learns something: its `updated_at` is when it last changed.
        Some(id) => {
            sqlx::query(
                "UPDATE contacts SET scoped_id = COALESCE(scoped_id, $2),
                        phone = COALESCE(phone, (SELECT $3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = $3))),
                        profile_name = COALESCE($4, profile_name), updated_at = $5
                 WHERE id = $1 AND ((scoped_id IS NULL AND $2::TEXT IS NOT NULL) OR (phone IS NULL AND $3::TEXT IS NOT NULL)
                     OR ($4::TEXT IS NOT NULL AND profile_name IS DISTINCT FROM $4))",
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
