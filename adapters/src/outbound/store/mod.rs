//! Store adapters: the SQL behind the `Inbox`, `Messages`, `Deliveries`, `ChannelSettings`,
//! `JobQueue`, `A2aTasks` and `ManagementReads` ports. SQLite is the embedded default for
//! one process; PostgreSQL lets several replicas share one database (ADR 0007). Both
//! implement [`Store`], so the rest of the service holds an `Arc<dyn Store>` and never
//! names a database.

pub mod postgres;
mod postgres_reads;
mod records;
pub mod sqlite;
mod sqlite_readers;
mod sqlite_reads;
mod sqlite_writer;
mod wake;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::{
    A2aTasks, ChannelSettings, Deliveries, Inbox, JobQueue, ManagementReads, Messages, StoreError,
};
use switchboard_domain::OutboundMessage;
use switchboard_runtime::Config;
use switchboard_shared::TraceContext;
use uuid::Uuid;

pub use postgres::PgStore;
pub use sqlite::{OperationalSnapshot, SandboxRecord, SqliteStore};
/// The operators' views moved to the `ManagementReads` port; kept reachable here.
pub use switchboard_application::ports::{DeadJob, EventSummary};

/// What the service needs of its database beyond the application's ports: schema,
/// health, the sandbox outbox, replay and requeue bookkeeping, gauges and shutdown.
/// Inbound adapters and the binary call these; use cases never do, hence not a port.
#[async_trait]
pub trait StoreOperations: Send + Sync {
    /// Applies the embedded migrations that are not applied yet. Errors when the
    /// database is unreachable or a migration fails (nothing of that migration stays).
    async fn migrate(&self) -> anyhow::Result<()>;

    /// Readiness: the database answers and every embedded migration is applied; else
    /// why not, in words an operator can act on.
    async fn ready(&self) -> Result<(), String>;

    /// Records what the sandbox gateway would have sent for `delivery_id`, and enqueues
    /// `statuses` (the jobs that post its status webhooks), in one transaction. Answers
    /// the wamid recorded: `provider_id`, or the one this delivery's message of the same
    /// kind got when it was recorded before (then nothing is written: the send is
    /// idempotent per delivery, so a worker that died before marking it sent does not
    /// make a second reply). `Unavailable` when the write fails.
    async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError>;

    /// What the sandbox recorded, oldest first; only replies to `reply_to` when given.
    async fn sandbox_outbox(&self, reply_to: Option<&str>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError>;

    /// The raw body of a stored webhook event, or `None` when no event has this id.
    async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Notes that an operator replayed the event now.
    async fn mark_replayed(&self, id: &str) -> Result<(), StoreError>;

    /// Puts a dead job back in the queue with fresh attempts; answers whether it was dead.
    async fn requeue(&self, id: i64) -> Result<bool, StoreError>;

    /// Queue depth, oldest job age, dead jobs and deliveries by state, for the gauges.
    async fn operational_snapshot(&self) -> Result<OperationalSnapshot, StoreError>;

    /// Closes the connection pool; calls after this fail with `Unavailable`.
    async fn close(&self);
}

/// Everything the service keeps in its database, as one object-safe trait so the binary
/// wires a single `Arc<dyn Store>` whichever database `DATABASE_URL` names.
pub trait Store:
    Inbox + Messages + Deliveries + ChannelSettings + JobQueue + A2aTasks + ManagementReads + StoreOperations
{
}

impl<T> Store for T where
    T: Inbox + Messages + Deliveries + ChannelSettings + JobQueue + A2aTasks + ManagementReads + StoreOperations
{
}

/// The database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:` or `postgres://` / `postgresql://`; `None` for anything else.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Connects to the database `DATABASE_URL` names (migrations are the caller's step).
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database.url.expose_secret();
    let email_priority = config.delivery.email_priority;
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(
            SqliteStore::connect(
                url,
                config.database.max_connections,
                config.database.busy_timeout,
                config.database.sqlite_full_sync,
            )
            .await?
            .with_email_priority_default(email_priority),
        )),
        Some(Backend::Postgres) => Ok(Arc::new(
            PgStore::connect(url, config.database.max_connections, config.database.busy_timeout)
                .await?
                .with_email_priority_default(email_priority),
        )),
        None => anyhow::bail!("DATABASE_URL: expected a sqlite:, postgres:// or postgresql:// URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn the_url_scheme_picks_the_database() {
        assert_eq!(Backend::of_url("sqlite://./data/switchboard.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@db/switchboard"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("postgresql://u@db:5432/switchboard"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("mysql://db/switchboard"), None);
    }
}
