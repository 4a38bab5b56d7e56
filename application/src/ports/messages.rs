//! Inbound messages and the replies planned for them.

use super::*;

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
    /// Who answers the conversation, and the bot's state in it.
    pub handling: Handling,
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
    /// More messages of the same reply (its files, its choices), each with its own
    /// delivery and job, sent after `message` in order.
    pub follow_ups: Vec<FollowUp>,
    pub trace: TraceContext,
    pub job: NewJob,
    /// The conversation's open task after this reply (`None` closes any).
    pub open_task: Option<OpenTask>,
    /// The task `agent` answered with, in the state it reported; `None` for a plain
    /// message, which leaves the conversation's latest task as it was.
    pub task: Option<switchboard_domain::AgentTask>,
    /// Lease the delivery job to the caller for this long when no other job of its
    /// ordering key waits: the caller runs it at once, and no worker has to claim it.
    /// `None` queues it for the workers.
    pub lease_delivery: Option<std::time::Duration>,
    /// The job this reply was planned under, ended in the same transaction when the
    /// reply is stored (nothing is ended when nothing is stored; ADR 0038).
    pub ends: Option<crate::jobs::JobLease>,
    /// The conversation goes to people with this reply.
    pub handoff: Option<HandoffStart>,
    /// The default agent's answers in a row after this reply (the fallback policy).
    pub fallback_streak: u32,
}

/// One more message of a reply, delivered after the reply's first.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    pub delivery_id: Uuid,
    pub message: OutboundMessage,
    /// Queued for the workers (never leased to the caller).
    pub job: NewJob,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyRecorded {
    /// Stored; with the delivery job when it was leased to the caller.
    Recorded(Option<crate::jobs::LeasedJob>),
    /// The inbound message already had its reply; nothing was stored.
    AlreadyProcessed,
    /// People took the conversation over while the bot worked: nothing was stored, the
    /// message is theirs.
    TakenOver,
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

    /// In one transaction, unless people handle the conversation (then nothing is stored
    /// and it answers [`ReplyRecorded::TakenOver`]): marks the inbound message processed,
    /// stores the outbound message and its pending delivery (and its follow-ups', with their jobs), sets or clears the
    /// conversation's open task, stores its handling (a closed conversation opens again;
    /// a handoff goes to people with its history entry and notification jobs; the
    /// fallback streak; the hand-back note is cleared), and enqueues the delivery job (leased to the caller, see
    /// [`NewReply::lease_delivery`]), and ends the job [`NewReply::ends`] names. Idempotent: if
    /// the inbound message was already processed, stores nothing and answers
    /// [`ReplyRecorded::AlreadyProcessed`].
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored then.
    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError>;
}
