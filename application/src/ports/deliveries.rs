//! Deliveries: an outbound message's way to the user, its attempts and states.

use super::*;

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
    /// The job lease that marked it in flight when its reply was recorded (the reply's
    /// delivery leased to the worker that planned it, ADR 0034): that lease sends without
    /// marking again; any other sees an uncertain send.
    pub in_flight_by: Option<Uuid>,
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
    /// An operator's reply: recorded in the conversation's history, and its first reply
    /// since the handoff ends the wait.
    pub operator: Option<String>,
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
    /// pending delivery moves; answers whether it did. In the same transaction, ends the
    /// job `ends` names whether the delivery moved or not (ADR 0038).
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored or ended then.
    async fn mark_sent(
        &self,
        id: Uuid,
        route: Route,
        provider_id: Option<Wamid>,
        detail: &str,
        at: OffsetDateTime,
        ends: Option<crate::jobs::JobLease>,
    ) -> Result<bool, StoreError>;

    /// Notes that a send is about to leave, so that a crash before its answer is
    /// recorded leaves the delivery uncertain (a status webhook proves it arrived)
    /// instead of sent twice. Any recorded outcome clears the note.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Takes back the in-flight note of a send that is not leaving now after all (the
    /// note made when the reply was recorded, when the send waits for the pacing).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn clear_in_flight(&self, id: Uuid) -> Result<(), StoreError>;

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
