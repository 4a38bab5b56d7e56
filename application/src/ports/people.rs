//! People in the loop: how a conversation is handled, and what operators do with it.

use switchboard_domain::{Handler, HandoffReason, WhatsAppUser};

use super::*;

/// How a conversation is handled, as a turn of the bot reads it with the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handling {
    pub handler: Handler,
    /// Answers in a row by the default agent.
    pub fallback_streak: u32,
    /// An operator's note for the agent, given on hand-back: passed on the next turn.
    pub handback_note: Option<String>,
}

/// A handoff to people that a turn starts: stored with the turn's reply, with the jobs
/// that announce it to operators.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffStart {
    pub reason: HandoffReason,
    pub notify: Vec<NewJob>,
}

/// A conversation as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationHandling {
    pub conversation_id: Uuid,
    pub user: WhatsAppUser,
    pub profile_name: Option<String>,
    pub business_number_id: String,
    pub handler: Handler,
    pub reason: Option<HandoffReason>,
    /// When people were asked for (by the user, an agent or the fallback policy): the
    /// wait starts here. `None` when an operator took the conversation from the bot, or
    /// from closed, on their own: nobody waited then.
    pub handoff_at: Option<OffsetDateTime>,
    pub operator: Option<String>,
    pub taken_at: Option<OffsetDateTime>,
    pub first_human_reply_at: Option<OffsetDateTime>,
    /// The user's last message (Meta's timestamp): the 24-hour window runs from it.
    pub last_inbound_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl ConversationHandling {
    /// People handle it, someone asked for a person, and no operator has answered since.
    /// Taking it over does not end the wait (the user still has no answer); an operator's
    /// own take-over of a conversation nobody waited on does not start one.
    pub fn waits_for_a_person(&self) -> bool {
        self.handler == Handler::People && self.handoff_at.is_some() && self.first_human_reply_at.is_none()
    }
}

/// One entry of a conversation's handling history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationEvent {
    pub at: OffsetDateTime,
    /// `user`, `agent:NAME`, `bot`, or the operator's name.
    pub actor: String,
    /// `handoff`, `take_over`, `reply`, `hand_back`, `close`.
    pub action: String,
    pub detail: Option<String>,
}

/// A change of handling asked by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlingChange {
    /// People handle it, this operator in charge. From a wait for a person, the wait goes
    /// on until an operator answers; from the bot or closed, nobody waits.
    TakeOver { operator: String },
    /// The bot answers again; the note goes to the agent on the next turn.
    HandBack { operator: String, note: Option<String> },
    /// Nobody answers until the user writes again (then the bot does).
    Close { operator: String },
}

impl HandlingChange {
    pub fn operator(&self) -> &str {
        match self {
            Self::TakeOver { operator } | Self::HandBack { operator, .. } | Self::Close { operator } => operator,
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            Self::TakeOver { .. } => "take_over",
            Self::HandBack { .. } => "hand_back",
            Self::Close { .. } => "close",
        }
    }
}

/// Which conversations the inbox lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxFilter {
    /// Of this handler only; of every handler when `None`.
    pub handler: Option<Handler>,
    /// Only conversations waiting for a person, since this time or earlier.
    pub waiting_since_or_before: Option<OffsetDateTime>,
}

/// How many conversations wait for a person, and since when the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitingSummary {
    pub count: u64,
    pub oldest_since: Option<OffsetDateTime>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait People: Send + Sync {
    /// The conversation's handling, or `None` when there is no such conversation.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn handling(&self, conversation_id: Uuid) -> Result<Option<ConversationHandling>, StoreError>;

    /// Conversations as operators list them, matching `filter`: those waiting for a
    /// person first (oldest wait first), then the others, latest activity first; ties by
    /// id. A page's cursor is its last item's place in that order (`at`: the wait's start
    /// for a waiting conversation, else a key after every wait that falls as activity
    /// rises; `id`: the conversation), and the next page starts strictly after it. A
    /// conversation that changes between two pages moves in the order: one that starts
    /// waiting or gets activity moves before the cursor (a first page shows it), one
    /// answered meanwhile may show again among the others. A cursor that matches
    /// nothing gives an empty page.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn inbox(&self, filter: InboxFilter, page: PageRequest) -> Result<Page<ConversationHandling>, StoreError>;

    /// In one transaction, when the conversation's handler is one of `from` (and, for a
    /// take-over, no other operator holds it): applies the change and records it in the
    /// history at `at`. Answers whether it applied.
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is changed then.
    async fn change(
        &self,
        conversation_id: Uuid,
        change: &HandlingChange,
        from: &[Handler],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// The conversation's messages that have no reply are kept for people: marked
    /// processed without any reply (no agent will answer them). Answers how many.
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is marked then.
    async fn hold_for_people(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError>;

    /// The conversation's handling history, oldest first.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn history(&self, conversation_id: Uuid) -> Result<Vec<ConversationEvent>, StoreError>;

    /// A number that changes whenever a conversation, a message or a delivery does (a new
    /// message, a handoff, a delivery tick): the console's live views poll it and
    /// refresh when it moves. Cheap: three index look-ups.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn activity(&self) -> Result<String, StoreError>;

    /// The conversations waiting for a person now, as
    /// [`ConversationHandling::waits_for_a_person`] says.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn waiting(&self) -> Result<WaitingSummary, StoreError>;
}

/// What operators are told when a conversation waits for a person. Carries no message
/// text and a masked number only: it goes to mailboxes and chat rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoffNotice {
    pub conversation_id: Uuid,
    /// The user's number, masked.
    pub user: String,
    pub profile_name: Option<String>,
    /// `user_asked`, `agent_asked`, `repeated_fallback`, `operator`.
    pub reason: String,
    /// Why, as a sentence.
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub waiting_since: OffsetDateTime,
    /// The conversation in the console, when the console's public address is known.
    pub console_url: Option<String>,
    pub trace_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// Not delivered yet (unreachable, 5xx, 429): try again later.
    #[error("announcement not delivered yet: {0}")]
    Transient(String),
    /// Refused for good (4xx, bad address) or not configured.
    #[error("announcement refused: {0}")]
    Rejected(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OperatorAlerts: Send + Sync {
    /// Tells operators on `channel` that a conversation waits for a person.
    ///
    /// Errors: see [`AnnounceError`].
    async fn announce(
        &self,
        channel: crate::jobs::AnnounceChannel,
        notice: &HandoffNotice,
        trace: &TraceContext,
    ) -> Result<(), AnnounceError>;
}
