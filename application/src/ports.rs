//! The driven ports. One small trait per concern, `Send + Sync`, injected as
//! `Arc<dyn Port>`. Each method says what it returns on each failure.
//!
//! The store ports are coarse on purpose: each write that must be atomic (an ingest, a
//! planned reply with its delivery job) is one method, so the adapter can make it one
//! transaction without the use case knowing what a transaction is.

use std::time::Duration;

use async_trait::async_trait;
use switchboard_domain::{
    AgentName, AgentReply, ChannelError, Classification, DeliveryState, InboundMessage, Intent,
    OutboundMessage, StatusUpdate, Wamid, WorkflowRequest,
};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{LeasedJob, NewJob};

/// Failures of any store port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or written (locked, down, disk full). Nothing
    /// of the failed call was stored; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Stored data could not be read back into the model (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

// ---------------------------------------------------------------- ingest

/// What became of a webhook body that passed the signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDisposition {
    /// A WhatsApp envelope; its items were extracted.
    Accepted,
    /// Not JSON, or not a WhatsApp envelope: kept raw for operators, nothing extracted.
    Quarantined { reason: String },
}

/// The raw webhook as received, kept whatever happens to its items.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub id: Uuid,
    pub received_at: OffsetDateTime,
    pub trace: TraceContext,
    pub body: Vec<u8>,
    pub disposition: EventDisposition,
    /// Counts, other `field`s and item-level parse issues, for operators.
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewInbound {
    pub message: InboundMessage,
    /// The message object as Meta sent it, unknown fields included.
    pub raw: serde_json::Value,
    pub job: NewJob,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewStatus {
    pub status: StatusUpdate,
    pub raw: serde_json::Value,
    pub job: NewJob,
}

/// Everything one webhook delivery adds, stored all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBatch {
    pub event: RawEvent,
    pub messages: Vec<NewInbound>,
    pub statuses: Vec<NewStatus>,
    /// Value-level `errors[]` (not tied to a message or status).
    pub errors: Vec<ChannelError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReceipt {
    pub new_messages: usize,
    pub duplicate_messages: usize,
    pub new_statuses: usize,
    pub duplicate_statuses: usize,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Stores the batch in one transaction and commits before returning `Ok`:
    /// the raw event; each message unless its wamid is already stored (then neither the
    /// message nor its job is added); each status unless (wamid, status) is already
    /// stored (likewise); the contact and conversation of each new message; and the
    /// jobs of what was new.
    ///
    /// Errors: [`StoreError::Unavailable`] when the database cannot be written; then
    /// nothing of the batch is stored.
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, StoreError>;
}

// ---------------------------------------------------------------- messages

/// A stored inbound message and where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRecord {
    pub message: InboundMessage,
    pub conversation_id: Uuid,
    /// A reply was already planned for it (a job ran twice).
    pub processed: bool,
}

/// A reply planned for one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReply {
    pub inbound: Wamid,
    pub conversation_id: Uuid,
    pub intent: Intent,
    pub confidence: f32,
    pub agent: AgentName,
    pub delivery_id: Uuid,
    pub message: OutboundMessage,
    pub trace: TraceContext,
    pub job: NewJob,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyRecorded {
    Recorded,
    /// The inbound message already had its reply; nothing was stored.
    AlreadyProcessed,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Messages: Send + Sync {
    /// The inbound message with this wamid, or `None` when none is stored.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] when the stored row
    /// no longer parses.
    async fn inbound(&self, wamid: &Wamid) -> Result<Option<InboundRecord>, StoreError>;

    /// In one transaction: marks the inbound message processed, stores the outbound
    /// message and its pending delivery, and enqueues the delivery job. Idempotent: if
    /// the inbound message was already processed, stores nothing and answers
    /// [`ReplyRecorded::AlreadyProcessed`].
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored then.
    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError>;
}

// ---------------------------------------------------------------- deliveries

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub message: OutboundMessage,
    pub state: DeliveryState,
    /// The wamid Meta gave the sent message.
    pub provider_id: Option<Wamid>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// The delivery, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn get(&self, id: Uuid) -> Result<Option<Delivery>, StoreError>;

    /// The delivery whose sent message has this wamid, or `None` (not ours).
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn find_by_provider_id(&self, wamid: &Wamid) -> Result<Option<Delivery>, StoreError>;

    /// Records that the gateway accepted the message: state `sent`, with its wamid.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn mark_sent(
        &self,
        id: Uuid,
        provider_id: &Wamid,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Records a failed attempt; with `final_state`, the delivery ends failed.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn record_failure(
        &self,
        id: Uuid,
        reason: &str,
        is_final: bool,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Moves the delivery from `from` to `to` only if it is still in `from` (so two
    /// status jobs cannot race it backwards). Answers whether it moved.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn transition(
        &self,
        id: Uuid,
        from: DeliveryState,
        to: DeliveryState,
        reason: Option<String>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

// ---------------------------------------------------------------- jobs

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Leases up to `limit` due jobs for `lease`. A job whose lease expired is due
    /// again. Of the jobs sharing an ordering key, only the earliest is leased, and
    /// none while another of them is leased.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] for a payload that
    /// does not parse (that job is buried, the others are returned on the next call).
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError>;

    /// The job succeeded; it is removed. A lost lease (the job was leased again
    /// elsewhere) is not an error: the other holder finishes it.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError>;

    /// The attempt failed; run again at `run_at`.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn retry(
        &self,
        job: &LeasedJob,
        run_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// The job will not succeed: it stays, dead, with its last error, for operators.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError>;

    /// Gives the lease back without counting the attempt (shutdown).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError>;

    /// Waits until a job may be due (one was enqueued here) or `max` passed.
    async fn wait_for_work(&self, max: Duration);
}

// ---------------------------------------------------------------- agents

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("classifier unavailable: {0}")]
    Unavailable(String),
    #[error("classifier answered something unusable: {0}")]
    BadAnswer(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Classifier: Send + Sync {
    /// The intent of the request, with a confidence.
    ///
    /// Errors: [`ClassifierError::Unavailable`] when it cannot be reached (the caller
    /// routes to the default agent); [`ClassifierError::BadAnswer`] when its answer has
    /// no usable intent.
    async fn classify(
        &self,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<Classification, ClassifierError>;
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no agent named {0}")]
    UnknownAgent(AgentName),
    #[error("agent {agent} unavailable: {message}")]
    Unavailable { agent: AgentName, message: String },
    #[error("agent {agent} failed: {message}")]
    Failed { agent: AgentName, message: String },
}

impl AgentError {
    /// Whether asking again later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AgentGateway: Send + Sync {
    /// The named agent's reply to the request.
    ///
    /// Errors: [`AgentError::UnknownAgent`] when the registry has no such agent;
    /// [`AgentError::Unavailable`] when it cannot be reached now (retriable);
    /// [`AgentError::Failed`] when it answered with a failure.
    async fn ask(
        &self,
        agent: &AgentName,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<AgentReply, AgentError>;
}

// ---------------------------------------------------------------- whatsapp

#[derive(Debug, Clone, PartialEq)]
pub struct SendReceipt {
    pub provider_id: Wamid,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Network failure, timeout, rate limit or a Meta-side outage: try again later.
    #[error("temporary failure{}: {message}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Transient { code: Option<i64>, message: String },
    /// Meta refused the message for good (bad parameter, outside the window, opted
    /// out…): retrying the same request cannot succeed.
    #[error("rejected (code {code}): {message}")]
    Rejected { code: i64, message: String },
    /// The token is invalid or expired, or the account is blocked: nothing can be sent
    /// until an operator acts. Retried with backoff so a rotated token picks it up.
    #[error("not authorised (code {code}): {message}")]
    Unauthorized { code: i64, message: String },
}

impl SendError {
    pub fn is_retriable(&self) -> bool {
        !matches!(self, Self::Rejected { .. })
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WhatsAppGateway: Send + Sync {
    /// Sends one message. `Ok` means Meta accepted it (not that it was delivered).
    ///
    /// Errors: see [`SendError`]; each says whether a retry may help.
    async fn send(
        &self,
        message: &OutboundMessage,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError>;

    /// Marks an inbound message read and shows the typing indicator. Best effort: the
    /// caller logs a failure and goes on.
    ///
    /// Errors: see [`SendError`].
    async fn mark_read(
        &self,
        business_number_id: &str,
        wamid: &Wamid,
        trace: &TraceContext,
    ) -> Result<(), SendError>;
}

// ---------------------------------------------------------------- time

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
