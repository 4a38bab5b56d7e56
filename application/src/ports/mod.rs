//! The driven ports. One small trait per concern, `Send + Sync`, injected as
//! `Arc<dyn Port>`. Each method says what it returns on each failure.
//!
//! The store ports are coarse on purpose: each write that must be atomic (an ingest, a
//! planned reply with its delivery job) is one method, so the adapter can make it one
//! transaction without the use case knowing what a transaction is.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    AgentName, AgentReply, ChannelError, Classification, ContentError, DeliveryState, EmailAddress, InboundMessage,
    Intent, OutboundMessage, StatusUpdate, Wamid, WorkflowRequest,
};
use switchboard_domain::{SendAction, SendFailure};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{LeasedJob, NewJob, SandboxStatus};

mod account;
mod operations;
pub use account::*;
pub use operations::*;

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
    /// The sender limit held it back: its turn takes every message that waited with it.
    pub throttled: bool,
    /// The conversation's agent task waiting for the user's answer, if any.
    pub open_task: Option<OpenTask>,
}

/// An agent task waiting for the user (INPUT_REQUIRED): the next message goes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTask {
    pub agent: AgentName,
    pub task_id: String,
}

/// A reply planned for one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReply {
    pub inbound: Wamid,
    /// Later messages of the same conversation answered together with it (double
    /// texting, coalesced); they are marked processed too.
    pub also_answers: Vec<Wamid>,
    pub conversation_id: Uuid,
    pub intent: Intent,
    pub confidence: f32,
    pub agent: AgentName,
    pub delivery_id: Uuid,
    pub message: OutboundMessage,
    pub trace: TraceContext,
    pub job: NewJob,
    /// The conversation's open task after this reply (`None` closes any).
    pub open_task: Option<OpenTask>,
    /// Lease the delivery job to the caller for this long when no other job of its
    /// ordering key waits: the caller runs it at once, and no worker has to claim it.
    /// `None` queues it for the workers.
    pub lease_delivery: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyRecorded {
    /// Stored; with the delivery job when it was leased to the caller.
    Recorded(Option<crate::jobs::LeasedJob>),
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

    /// The conversation's inbound messages that have no reply yet, in Meta's timestamp
    /// order (then arrival).
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn unanswered(&self, conversation_id: Uuid) -> Result<Vec<InboundMessage>, StoreError>;

    /// Marks the conversation's inbound messages that have no reply yet, and are not
    /// marked already, as held back by the sender limit at `at`; answers how many it
    /// marked (0 when all were marked before, so each message is counted once).
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is marked then.
    async fn mark_throttled(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;

    /// In one transaction: marks the inbound message processed, stores the outbound
    /// message and its pending delivery, sets or clears the conversation's open task,
    /// and enqueues the delivery job (leased to the caller, see
    /// [`NewReply::lease_delivery`]). Idempotent: if
    /// the inbound message was already processed, stores nothing and answers
    /// [`ReplyRecorded::AlreadyProcessed`].
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored then.
    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError>;
}

// ---------------------------------------------------------------- deliveries

/// The channel a delivery goes out on next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The message as planned, on WhatsApp.
    Whatsapp,
    /// The re-engagement template instead (outside the 24-hour window).
    WhatsappTemplate,
    /// Email, with what the WhatsApp message said.
    Email,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::WhatsappTemplate => "whatsapp_template",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "whatsapp" => Some(Self::Whatsapp),
            "whatsapp_template" => Some(Self::WhatsappTemplate),
            "email" => Some(Self::Email),
            _ => None,
        }
    }

    pub fn channel(self) -> &'static str {
        match self {
            Self::Whatsapp | Self::WhatsappTemplate => "whatsapp",
            Self::Email => "email",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub message: OutboundMessage,
    pub state: DeliveryState,
    pub route: Route,
    /// Whether another channel may be used when WhatsApp cannot deliver.
    pub fallback_allowed: bool,
    /// The contact's email address, when known.
    pub email: Option<EmailAddress>,
    /// The contact's WhatsApp profile name, when known.
    pub profile_name: Option<String>,
    /// The user's last inbound message (Meta's timestamp), for the 24-hour window.
    pub last_inbound_at: Option<OffsetDateTime>,
    /// The wamid Meta gave the sent message.
    pub provider_id: Option<Wamid>,
    pub attempts: u32,
    /// When a send timed out (it may have reached Meta) and nothing proved it since.
    pub uncertain_since: Option<OffsetDateTime>,
    /// How many times Meta's pair rate limit (131056) paced it so far.
    pub paced: u32,
    /// How many times it waited for WhatsApp to accept sends again (token, block).
    pub held: u32,
    pub last_error: Option<String>,
    pub trace: TraceContext,
}

/// One row of a delivery's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub channel: String,
    pub outcome: String,
    pub detail: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A delivery as the send API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    pub id: Uuid,
    pub state: DeliveryState,
    pub route: Route,
    pub recipient: String,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub trace_id: String,
    pub attempts: Vec<AttemptRecord>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// How an attempt ended, for the delivery's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Failed; will be retried.
    Retrying,
    /// Paced by a rate limit; will be sent later.
    Paced,
    /// Held while WhatsApp refuses all sends (token, block).
    Held,
    /// Timed out after sending: Meta may have accepted it.
    Uncertain,
    /// Failed on this channel; another one takes over.
    Rerouted,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrying => "retrying",
            Self::Paced => "paced",
            Self::Held => "held",
            Self::Uncertain => "uncertain",
            Self::Rerouted => "rerouted",
        }
    }
}

/// A message to send that no inbound message asked for (the send API).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    pub delivery_id: Uuid,
    pub message: OutboundMessage,
    pub email: Option<EmailAddress>,
    pub route: Route,
    pub fallback_allowed: bool,
    pub trace: TraceContext,
    pub job: NewJob,
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

    /// The delivery with its history, for the API; `None` when unknown.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn view(&self, id: Uuid) -> Result<Option<DeliveryView>, StoreError>;

    /// Records that `route` accepted the message: state `sent`, with Meta's wamid for
    /// WhatsApp (`provider_id`), or the email's message id in the history. Only a
    /// pending delivery moves; answers whether it did.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn mark_sent(
        &self,
        id: Uuid,
        route: Route,
        provider_id: Option<Wamid>,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Notes that a send is about to leave, so that a crash before its answer is
    /// recorded leaves the delivery uncertain (a status webhook proves it arrived)
    /// instead of sent twice. Any recorded outcome clears the note.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Records a failed attempt; with `is_final`, the delivery ends failed.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn record_failure(
        &self,
        id: Uuid,
        reason: &str,
        is_final: bool,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Adds a row to the delivery's history without ending it (paced, held, uncertain).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        detail: &str,
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

    /// Hands a delivery still in `from` to another route: pending again on `route`,
    /// the failure in its history, and `job` enqueued, in one transaction. Answers
    /// whether it moved.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn reroute(
        &self,
        id: Uuid,
        from: DeliveryState,
        route: Route,
        reason: &str,
        job: NewJob,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores a message the send API asked for: contact (with its email), conversation,
    /// outbound message, pending delivery and its job, in one transaction.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn create(&self, outbound: NewOutbound) -> Result<(), StoreError>;
}

/// Run-time channel switches, shared by every replica.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChannelSettings: Send + Sync {
    /// `channels.gmail.priority`: email first. The configured default until set.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn email_priority(&self) -> Result<bool, StoreError>;

    /// Sets the switch for every replica.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn set_email_priority(&self, on: bool) -> Result<(), StoreError>;
}

/// The inbound limit per sender: how often one sender's messages may be handed to the
/// classifier and agents (each turn costs agent calls, so one sender cannot run up the bill).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SenderLimit: Send + Sync {
    /// Takes a turn for `sender` (a user's storage key) now, or says how long until the
    /// sender has one (nothing is taken then).
    fn admit(&self, sender: &str) -> Option<Duration>;
}

/// The two rate limiters: per sending number, and per recipient.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SendPacing: Send + Sync {
    /// Takes a slot for one message from `from_number_id` to `recipient` now, or says
    /// how long to wait before asking again (nothing is taken then).
    fn reserve(&self, from_number_id: &str, recipient: &str) -> Option<Duration>;
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
    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError>;

    /// The job will not succeed: it stays, dead, with its last error, for operators.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError>;

    /// Puts the job back until `run_at` without counting the attempt (a rate limit or
    /// a hold: waiting is not failing).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError>;

    /// Gives the lease back without counting the attempt (shutdown).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError>;

    /// A count that moves each time this process commits work for the queue. Read it
    /// before [`JobQueue::claim`] and pass it to [`JobQueue::wait_for_work`].
    fn work_count(&self) -> u64;

    /// Waits until a job may be due: work was committed here since `seen` was read (then
    /// at once), the earliest queued job falls due, or `max` passed (jobs enqueued by
    /// other replicas are found by this poll).
    async fn wait_for_work(&self, seen: u64, max: Duration);
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
    /// A limit of the Cloud API is broken; checked before sending.
    #[error("not sent: {0}")]
    Invalid(#[from] ContentError),
    /// Meta answered with an error; [`SendFailure`] says what it means.
    #[error("WhatsApp error {code} ({}): {message}", failure.label())]
    Graph { code: i64, failure: SendFailure, message: String },
    /// The request did not reach Meta (connection refused or reset before sending).
    #[error("network error: {0}")]
    Network(String),
    /// No answer in time after the request was sent: Meta may have accepted it.
    #[error("timed out: {0} (Meta may have accepted it)")]
    Timeout(String),
}

impl SendError {
    /// What the shared policy says to do about it.
    pub fn action(&self) -> SendAction {
        match self {
            Self::Invalid(_) => SendAction::NeverRetry,
            Self::Graph { failure, .. } => failure.action(),
            Self::Network(_) | Self::Timeout(_) => SendAction::RetryWithBackoff,
        }
    }

    pub fn is_retriable(&self) -> bool {
        matches!(self.action(), SendAction::RetryWithBackoff | SendAction::PaceRecipient | SendAction::StopAndAlert)
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Graph { failure, .. } => failure.label(),
            Self::Network(_) => "network",
            Self::Timeout(_) => "timeout",
        }
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WhatsAppGateway: Send + Sync {
    /// Sends one message. `Ok` means Meta accepted it (not that it was delivered).
    /// `callback_data` comes back in its status webhooks (`biz_opaque_callback_data`).
    ///
    /// Errors: see [`SendError`]; [`SendError::action`] says what to do.
    async fn send(
        &self,
        message: &OutboundMessage,
        callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError>;

    /// Marks an inbound message read and shows the typing indicator. Best effort: the
    /// caller logs a failure and goes on.
    ///
    /// Errors: see [`SendError`].
    async fn mark_read(&self, business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError>;
}

/// Sandbox mode's stand-in for Meta's side of status webhooks (ADR 0017).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SandboxStatusWebhooks: Send + Sync {
    /// Posts the status webhook Meta would send for `status`, signed with the app
    /// secret, to this service's own webhook. `Ok` once it was answered 200, that is
    /// once the status is stored.
    ///
    /// Errors: [`SendError::Network`] when the webhook could not be reached or did not
    /// answer 200; the caller tries again later, as Meta delivers again.
    async fn post(&self, status: &SandboxStatus, trace: &TraceContext) -> Result<(), SendError>;
}

/// A media file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WhatsAppMedia: Send + Sync {
    /// Downloads an inbound media file by its id (the short-lived URL is resolved and
    /// fetched with the token).
    ///
    /// Errors: see [`SendError`].
    async fn download(&self, media_id: &str, trace: &TraceContext) -> Result<MediaFile, SendError>;

    /// Uploads a file for sending; answers its media id.
    ///
    /// Errors: see [`SendError`].
    async fn upload(
        &self,
        from_number_id: &str,
        file: MediaFile,
        filename: &str,
        trace: &TraceContext,
    ) -> Result<String, SendError>;
}

// ---------------------------------------------------------------- email

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub to: EmailAddress,
    pub text: String,
    pub delivery_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The server could not be reached or answered 4xx: try again later.
    #[error("email not sent yet: {0}")]
    Transient(String),
    /// The server refused it for good (5xx, bad address).
    #[error("email refused: {0}")]
    Rejected(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EmailGateway: Send + Sync {
    /// Sends one email; answers its message id.
    ///
    /// Errors: see [`EmailError`].
    async fn send(&self, email: &OutboundEmail, trace: &TraceContext) -> Result<String, EmailError>;
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

// ---------------------------------------------------------------- a2a server

/// A task of Switchboard's own A2A server, with the agent task behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTask {
    pub task: switchboard_domain::a2a::Task,
    /// The specialist agent and its task, while that task waits for input.
    pub agent: Option<String>,
    pub agent_task_id: Option<String>,
    pub trace_id: String,
    /// Unix milliseconds; tasks list newest first.
    pub created_at: i64,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait A2aTasks: Send + Sync {
    /// Stores the task (new or updated).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn save(&self, task: &StoredTask) -> Result<(), StoreError>;

    /// The task, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn get(&self, id: &str) -> Result<Option<StoredTask>, StoreError>;

    /// Up to `limit` tasks, newest first, older than the `after` cursor, of one context
    /// when given.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn list(
        &self,
        context_id: Option<String>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<StoredTask>, StoreError>;
}

// ---------------------------------------------------------------- management reads

/// Where a page starts: the sort key (unix milliseconds) and id of the last item of the
/// previous page. Lists are ordered by (time, id), so a page never repeats or skips an
/// item that existed when the walk began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub at: i64,
    pub id: String,
}

/// One page request: at most `limit` items after `after` (from the start when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<PageCursor>,
}

/// A page of items and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageCursor>,
}

impl<T> Page<T> {
    /// Cuts `fetched` (up to `limit + 1` rows) to a page; the extra row only proves there
    /// is a next page, whose cursor is the key of the last item kept.
    pub fn from_overfetch(mut fetched: Vec<T>, limit: u32, key: impl Fn(&T) -> PageCursor) -> Self {
        let limit = limit as usize;
        let next = if fetched.len() > limit {
            fetched.truncate(limit);
            fetched.last().map(key)
        } else {
            None
        };
        Self { items: fetched, next }
    }
}

/// A time range in unix milliseconds, both ends inclusive; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A contact as operators see it. The phone is whole here (the API is protected); it is
/// never logged.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub id: Uuid,
    /// E.164 (`+447700900123`), when known.
    pub phone: Option<String>,
    /// Meta's business-scoped user id, when known.
    pub scoped_id: Option<String>,
    pub profile_name: Option<String>,
    pub email: Option<String>,
    pub conversations: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Whether an agent task waits for the user in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationState {
    /// An agent asked the user a question (A2A `INPUT_REQUIRED`); the next message goes
    /// back to that task.
    InputRequired,
    /// No task waits: the next message is classified and routed afresh.
    Idle,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InputRequired => "input_required",
            Self::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "input_required" => Some(Self::InputRequired),
            "idle" => Some(Self::Idle),
            _ => None,
        }
    }
}

/// A conversation with who handles it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub business_number_id: String,
    pub channel: String,
    /// The agent of the open task, else the agent that wrote the latest reply.
    pub assigned_agent: Option<String>,
    pub state: ConversationState,
    /// The agent's A2A task waiting for the user, with `state` `InputRequired`.
    pub open_task: Option<OpenTask>,
    pub messages: i64,
    /// The user's last message (Meta's timestamp).
    pub last_inbound_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConversationFilter {
    /// On the creation time.
    pub created: TimeRange,
    pub state: Option<ConversationState>,
    /// The assigned agent (see [`ConversationRecord::assigned_agent`]).
    pub agent: Option<String>,
    pub contact_id: Option<Uuid>,
}

/// One message of a conversation, either way, with its content (bodies included).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Meta's id: the inbound message's, or the one Meta gave the sent reply.
    pub wamid: Option<String>,
    pub kind: String,
    /// Inbound: a reply was planned for it. Outbound: always true.
    pub processed: bool,
    pub processed_at: Option<OffsetDateTime>,
    /// Inbound: when the sender limit first held it back (it was handed over later,
    /// together with the messages that waited with it). `None`: never held.
    pub throttled_at: Option<OffsetDateTime>,
    /// The inbound wamid an outbound message answers.
    pub in_reply_to: Option<String>,
    pub intent: Option<String>,
    pub agent: Option<String>,
    pub delivery_id: Option<Uuid>,
    pub delivery_state: Option<DeliveryState>,
    pub trace_id: String,
    /// Meta's timestamp (inbound) or when the reply was planned (outbound).
    pub sent_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// The stored message, as the model serialises it.
    pub content: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryFilter {
    /// On the creation time.
    pub created: TimeRange,
    pub state: Option<DeliveryState>,
    pub route: Option<Route>,
    /// `whatsapp` (both WhatsApp routes) or `email`.
    pub channel: Option<String>,
    pub conversation_id: Option<Uuid>,
}

/// A stored webhook event, as operators list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSummary {
    pub id: String,
    /// Unix milliseconds.
    pub received_at: i64,
    pub status: String,
    pub reason: Option<String>,
    pub trace_id: String,
    pub summary: serde_json::Value,
    pub bytes: i64,
    pub replayed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// `accepted` or `quarantined`.
    pub status: Option<String>,
    pub received: TimeRange,
}

/// A dead job, as operators list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub trace_id: String,
    /// Unix milliseconds: when it died.
    pub updated_at: i64,
}

/// What the store counts for the status page (and `/metrics`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OperationalCounters {
    pub messages_received: i64,
    pub messages_processed: i64,
    /// (state, count) for every state with at least one delivery.
    pub deliveries: Vec<(String, i64)>,
    /// Jobs queued or leased.
    pub queue_depth: i64,
    pub oldest_job_age_seconds: f64,
    pub dead_jobs: i64,
    pub quarantined_events: i64,
}

/// What operators read through the management API. Lists are newest first, except a
/// conversation's messages (oldest first, as they happened); every list pages with
/// [`PageRequest`]. A cursor that matches nothing gives an empty page, never an error.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ManagementReads: Send + Sync {
    /// Contacts created in `created`, newest first.
    ///
    /// Errors: [`StoreError::Unavailable`] when the database cannot be read;
    /// [`StoreError::Corrupt`] when a stored id is not a UUID.
    async fn contacts(&self, created: TimeRange, page: PageRequest) -> Result<Page<ContactRecord>, StoreError>;

    /// The contact, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn contact(&self, id: Uuid) -> Result<Option<ContactRecord>, StoreError>;

    /// Conversations matching `filter`, newest first.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn conversations(
        &self,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> Result<Page<ConversationRecord>, StoreError>;

    /// The conversation, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError>;

    /// The conversation's messages, inbound and outbound, oldest first (in the order
    /// they were stored); `None` when there is no such conversation.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] when a stored
    /// message no longer parses.
    async fn conversation_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<Option<Page<MessageRecord>>, StoreError>;

    /// Deliveries matching `filter`, newest first, each with every attempt.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn deliveries(&self, filter: DeliveryFilter, page: PageRequest) -> Result<Page<DeliveryView>, StoreError>;

    /// Stored webhook events matching `filter`, newest first.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] when a stored
    /// summary is not JSON.
    async fn webhook_events(&self, filter: EventFilter, page: PageRequest) -> Result<Page<EventSummary>, StoreError>;

    /// Dead jobs, most recently dead first. The cursor's id is the job's number.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn dead_jobs(&self, page: PageRequest) -> Result<Page<DeadJob>, StoreError>;

    /// Counts for the status page, read now from the database (so every replica
    /// reports the shared truth).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn counters(&self) -> Result<OperationalCounters, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &i64) -> PageCursor {
        PageCursor { at: *n, id: n.to_string() }
    }

    #[test]
    fn one_row_more_than_the_limit_means_a_next_page_starting_after_the_last_item_kept() {
        let page = Page::from_overfetch(vec![5, 4, 3], 2, key);

        assert_eq!(page.items, [5, 4]);
        assert_eq!(page.next, Some(PageCursor { at: 4, id: String::from("4") }));
    }

    #[test]
    fn a_page_that_holds_every_row_is_the_last() {
        let full = Page::from_overfetch(vec![2, 1], 2, key);
        let short = Page::from_overfetch(vec![1], 2, key);

        assert_eq!(full.next, None);
        assert_eq!(short.next, None);
        assert_eq!(full.items, [2, 1]);
    }

    #[test]
    fn a_route_reads_back_from_its_name_and_both_whatsapp_routes_are_the_whatsapp_channel() {
        for (route, channel) in
            [(Route::Whatsapp, "whatsapp"), (Route::WhatsappTemplate, "whatsapp"), (Route::Email, "email")]
        {
            assert_eq!(Route::parse(route.as_str()), Some(route));
            assert_eq!(serde_json::to_value(route).unwrap(), serde_json::json!(route.as_str()));
            assert_eq!(route.channel(), channel);
        }
        assert_eq!(Route::parse("sms"), None);
    }

    #[test]
    fn a_conversation_state_reads_back_from_its_name() {
        for state in [ConversationState::InputRequired, ConversationState::Idle] {
            assert_eq!(ConversationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ConversationState::parse("closed"), None);
    }

    #[test]
    fn each_attempt_outcome_has_its_own_name() {
        let names: std::collections::BTreeSet<&str> = [
            AttemptOutcome::Retrying,
            AttemptOutcome::Paced,
            AttemptOutcome::Held,
            AttemptOutcome::Uncertain,
            AttemptOutcome::Rerouted,
        ]
        .into_iter()
        .map(AttemptOutcome::as_str)
        .collect();

        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["held", "paced", "rerouted", "retrying", "uncertain"]);
    }

    #[test]
    fn only_an_unreachable_agent_is_worth_asking_again() {
        let agent = || AgentName::new("helpdesk");

        assert!(AgentError::Unavailable { agent: agent(), message: String::from("timeout") }.is_retriable());
        assert!(!AgentError::Failed { agent: agent(), message: String::from("bad request") }.is_retriable());
        assert!(!AgentError::UnknownAgent(agent()).is_retriable());
    }

    fn graph(code: i64) -> SendError {
        SendError::Graph { code, failure: SendFailure::from_code(code), message: String::from("from Meta") }
    }

    #[test]
    fn a_send_error_is_handled_as_the_shared_policy_says() {
        let invalid = SendError::Invalid(ContentError::InsecureLink);
        let cases = [
            (invalid, SendAction::NeverRetry, false, "invalid"),
            (graph(131056), SendAction::PaceRecipient, true, "pair_rate_limited"),
            (graph(190), SendAction::StopAndAlert, true, "auth_failed"),
            (graph(131026), SendAction::FallBack, false, "undeliverable"),
            (graph(131047), SendAction::NeedsTemplate, false, "outside_window"),
            (SendError::Network(String::from("refused")), SendAction::RetryWithBackoff, true, "network"),
            (SendError::Timeout(String::from("30 s")), SendAction::RetryWithBackoff, true, "timeout"),
        ];

        for (error, action, retriable, label) in cases {
            assert_eq!(error.action(), action, "{error}");
            assert_eq!(error.is_retriable(), retriable, "{error}");
            assert_eq!(error.label(), label, "{error}");
        }
    }

    #[test]
    fn a_graph_error_says_its_code_and_what_it_means() {
        assert_eq!(graph(131056).to_string(), "WhatsApp error 131056 (pair_rate_limited): from Meta");
    }

    #[test]
    fn the_system_clock_tells_the_current_time() {
        let before = OffsetDateTime::now_utc();

        let now = SystemClock.now();

        assert!(before <= now && now <= OffsetDateTime::now_utc());
    }
}
