//! The operators' ports: what the management API, `/metrics`, the health checks, the
//! sandbox outbox and the CLI need of the database beyond the message path. Inbound
//! adapters and the binary reach the store only through these and the other ports.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// The raw webhook events the store keeps, for replay after a fix.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventArchive: Send + Sync {
    /// The raw body of a stored event, or `None` when no event has this id.
    ///
    /// Errors: [`StoreError::Unavailable`] when the database cannot be read.
    async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Notes that an operator replayed the event at `at`.
    ///
    /// Errors: [`StoreError::Unavailable`] when the write fails.
    async fn mark_replayed(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError>;
}

/// Jobs that used up their attempts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DeadJobs: Send + Sync {
    /// Puts a dead job back in the queue with fresh attempts, due at `at`; answers
    /// whether it was dead (false: no such job, or it is not dead).
    ///
    /// Errors: [`StoreError::Unavailable`] when the write fails.
    async fn requeue(&self, id: i64, at: OffsetDateTime) -> Result<bool, StoreError>;
}

/// A message the sandbox gateway recorded instead of sending.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SandboxRecord {
    pub provider_id: String,
    /// The delivery it was sent for (`GET /api/v1/messages/{id}` shows its ticks).
    pub delivery_id: Option<String>,
    pub recipient: String,
    pub reply_to: Option<String>,
    pub message: serde_json::Value,
    pub trace_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// What the sandbox gateway recorded (sandbox mode only).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SandboxOutbox: Send + Sync {
    /// The recorded sends, oldest first, at most `limit`; only replies to `reply_to`
    /// when given.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] when a stored
    /// message is not JSON.
    async fn sandbox_outbox(&self, reply_to: Option<String>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError>;
}

/// The queue and delivery gauges `/metrics` reads at each scrape: cheap aggregate
/// queries, unlike the status page's [`super::ManagementReads::counters`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueGauges {
    /// Jobs queued or leased.
    pub queued: i64,
    pub oldest_age_seconds: f64,
    pub dead: i64,
    /// (state, count) for every state with at least one delivery.
    pub deliveries: Vec<(String, i64)>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Gauges: Send + Sync {
    /// The gauges as the database holds them at `now` (ages are measured from it).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn gauges(&self, now: OffsetDateTime) -> Result<QueueGauges, StoreError>;
}

/// Whether the database can serve: reachable, and every migration this build embeds
/// applied.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// `Ok` when ready; else why not, in words an operator can act on (never a secret).
    async fn ready(&self) -> Result<(), String>;
}
