//! What operators read through the management API.

use super::*;

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
    /// What the contact opted out of, when and by whom.
    pub consent: switchboard_domain::Consent,
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
    /// The agent of the open task, else the agent that wrote the latest reply an agent
    /// wrote: never an operator (unlike `assigned_agent` after an operator answered).
    pub agent: Option<String>,
    pub state: ConversationState,
    /// The agent's A2A task waiting for the user, with `state` `InputRequired`.
    pub open_task: Option<OpenTask>,
    /// The latest A2A task an agent answered this conversation with, in whatever state
    /// the agent last reported (working, input required, completed, failed, ...).
    pub latest_task: Option<LatestTask>,
    pub messages: i64,
    /// The user's last message (Meta's timestamp).
    pub last_inbound_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A conversation's latest A2A task as its agent last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestTask {
    pub agent: String,
    /// The agent's task id.
    pub id: String,
    pub state: switchboard_domain::a2a::TaskState,
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
