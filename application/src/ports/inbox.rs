//! The inbox: what one webhook adds, stored all or nothing.

use super::*;

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
