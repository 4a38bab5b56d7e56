//! Store adapters: the SQL behind every store port of the application. SQLite is the
//! embedded default for one process; PostgreSQL lets several replicas share one database
//! (ADR 0007). Both are a [`SqlStore`] over an engine (`engine.rs`, ADR 0019): what the
//! two dialects agree on is written once (`management.rs`, `operations.rs`,
//! `operators.rs`, `people.rs`, `consent.rs`), the rest
//! lives in one folder per database with one file per port. Both implement [`Store`],
//! so the rest of the service holds an `Arc<dyn Store>` and never names a database.

mod consent;
mod engine;
mod handoff;
mod management;
mod operations;
mod operators;
mod people;
pub mod postgres;
mod records;
pub mod sqlite;
mod wake;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::{
    A2aTasks, ChannelSettings, Consents, DeadJobs, Deliveries, EventArchive, Gauges, Inbox, JobQueue, ManagementReads,
    Messages, Operators, People, PushConfigs, RegisteredAgents, SandboxOutbox, SignInFailures, StoreError, StoreHealth,
};
use switchboard_domain::OutboundMessage;
use switchboard_runtime::Config;
use switchboard_shared::TraceContext;
use uuid::Uuid;

pub use engine::{Arg, Engine, SqlStore};
pub use postgres::{PgEngine, PgStore};
pub use records::Columns;
pub use sqlite::{SqliteEngine, SqliteStore};

/// The sandbox gateway's side of the store: what it records instead of sending. Only the
/// sandbox gateway (an outbound adapter) calls it.
#[async_trait]
pub trait SandboxRecorder: Send + Sync {
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
}

/// The schema and the pools: the binary's business only.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Applies the embedded migrations that are not applied yet. Errors when the
    /// database is unreachable or a migration fails (nothing of that migration stays).
    async fn migrate(&self) -> anyhow::Result<()>;

    /// Closes the connection pools; calls after this fail with `Unavailable`.
    async fn close(&self);
}

#[async_trait]
impl<E: engine::Engine> Lifecycle for SqlStore<E> {
    async fn migrate(&self) -> anyhow::Result<()> {
        self.engine.migrate().await
    }

    async fn close(&self) {
        self.engine.close().await;
    }
}

/// Everything the service keeps in its database, as one object-safe trait so the binary
/// wires a single `Arc<dyn Store>` whichever database `DATABASE_URL` names, and hands each
/// use case and inbound adapter the ports it needs.
pub trait Store:
    Inbox
    + Messages
    + Deliveries
    + ChannelSettings
    + JobQueue
    + A2aTasks
    + PushConfigs
    + RegisteredAgents
    + ManagementReads
    + EventArchive
    + DeadJobs
    + SandboxOutbox
    + Gauges
    + People
    + Consents
    + StoreHealth
    + Operators
    + SignInFailures
    + SandboxRecorder
    + Lifecycle
{
}

impl<T> Store for T where
    T: Inbox
        + Messages
        + Deliveries
        + ChannelSettings
        + JobQueue
        + A2aTasks
        + PushConfigs
        + RegisteredAgents
        + ManagementReads
        + EventArchive
        + DeadJobs
        + SandboxOutbox
        + Gauges
        + People
        + Consents
        + StoreHealth
        + Operators
        + SignInFailures
        + SandboxRecorder
        + Lifecycle
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
            .with_commit_wait(config.database.sqlite_commit_wait)
            .with_email_priority_default(email_priority)
            .with_handoff(config.workers.lease),
        )),
        Some(Backend::Postgres) => Ok(Arc::new(
            PgStore::connect(url, config.database.max_connections, config.database.busy_timeout)
                .await?
                .with_email_priority_default(email_priority)
                .with_handoff(config.workers.lease),
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
