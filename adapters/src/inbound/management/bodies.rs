//! The response bodies of the management API, one per record.

use super::*;

/// A contact. The phone number is whole here (the route is protected); it is never
/// logged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactBody {
    pub id: Uuid,
    /// E.164 (`+447700900123`), when known.
    pub phone: Option<String>,
    /// Meta's business-scoped user id, when known.
    pub scoped_id: Option<String>,
    pub profile_name: Option<String>,
    pub email: Option<String>,
    pub conversations: i64,
    /// What the contact opted out of, when and by whom.
    pub consent: ConsentBody,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the contact last changed: an id or profile name it learned, or its consent.
    /// A message that tells nothing new about the contact leaves it as it was.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<ContactRecord> for ContactBody {
    fn from(c: ContactRecord) -> Self {
        Self {
            id: c.id,
            phone: c.phone,
            scoped_id: c.scoped_id,
            profile_name: c.profile_name,
            email: c.email,
            conversations: c.conversations,
            consent: ConsentBody::from(c.consent),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The agent's A2A task that waits for the user's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenTaskBody {
    pub task_id: String,
    pub agent: String,
    /// Always `TASK_STATE_INPUT_REQUIRED`: only a task waiting for the user stays open.
    pub state: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationBody {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub business_number_id: String,
    pub channel: String,
    /// The open task's agent, else the agent that wrote the latest reply.
    pub assigned_agent: Option<String>,
    /// `input_required` (an agent waits for the user) or `idle`.
    pub state: String,
    pub open_task: Option<OpenTaskBody>,
    pub messages: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the conversation last changed: a message came in, or its handling changed
    /// (who answers it, its open or latest task, a handoff, an operator's reply). A turn
    /// of the bot that changes none of these leaves it as it was.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<ConversationRecord> for ConversationBody {
    fn from(c: ConversationRecord) -> Self {
        Self {
            id: c.id,
            contact_id: c.contact_id,
            business_number_id: c.business_number_id,
            channel: c.channel,
            assigned_agent: c.assigned_agent,
            state: c.state.as_str().to_owned(),
            open_task: c.open_task.map(|t| OpenTaskBody {
                task_id: t.task_id,
                agent: t.agent.as_str().to_owned(),
                state: String::from("TASK_STATE_INPUT_REQUIRED"),
            }),
            messages: c.messages,
            last_inbound_at: c.last_inbound_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One message of a conversation, either way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageBody {
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Meta's id of the message (of an outbound one once Meta accepted it).
    pub wamid: Option<String>,
    /// `text`, `image`, `interactive`, `template`, ...
    pub kind: String,
    /// Inbound: a reply was planned for it. Outbound: always true.
    pub processed: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub processed_at: Option<OffsetDateTime>,
    /// Inbound: the sender limit held it back (stored and acknowledged, handed to the
    /// agent later, together with the messages that waited with it).
    pub throttled: bool,
    /// When the sender limit first held it back.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub throttled_at: Option<OffsetDateTime>,
    pub in_reply_to: Option<String>,
    pub intent: Option<String>,
    pub agent: Option<String>,
    pub delivery_id: Option<Uuid>,
    #[schema(value_type = Option<String>)]
    pub delivery_state: Option<DeliveryState>,
    pub trace_id: String,
    /// Meta's timestamp (inbound), or when the reply was planned (outbound).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The stored message, body included.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// The file it carries when one is kept in the media store (a user's photo, voice
    /// note or document; a file sent), with a signed link that opens it.
    #[schema(value_type = Option<MessageFileBody>)]
    pub file: Option<switchboard_application::usecases::MessageFile>,
}

/// A message's stored file.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MessageFileBody {
    #[schema(example = "in/3f2a9c…")]
    pub key: String,
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub mime_type: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub filename: Option<String>,
    /// `GET /media/{key}?expires=&signature=`: opens the file without an API key until it
    /// expires (`SWITCHBOARD_MEDIA_LINK_TTL_SECS`).
    pub url: String,
}

impl From<MessageRecord> for MessageBody {
    fn from(m: MessageRecord) -> Self {
        Self {
            id: m.id,
            direction: m.direction,
            wamid: m.wamid,
            kind: m.kind,
            processed: m.processed,
            processed_at: m.processed_at,
            throttled: m.throttled_at.is_some(),
            throttled_at: m.throttled_at,
            in_reply_to: m.in_reply_to,
            intent: m.intent,
            agent: m.agent,
            delivery_id: m.delivery_id,
            delivery_state: m.delivery_state,
            trace_id: m.trace_id,
            sent_at: m.sent_at,
            created_at: m.created_at,
            content: m.content,
            file: None,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptBody {
    pub channel: String,
    /// `accepted`, `retrying`, `paced`, `held`, `uncertain`, `rerouted`, `failed`.
    pub outcome: String,
    pub detail: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<AttemptRecord> for AttemptBody {
    fn from(a: AttemptRecord) -> Self {
        Self { channel: a.channel, outcome: a.outcome, detail: a.detail, at: a.at }
    }
}

/// A delivery as `GET /api/v1/messages/{id}` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryBody {
    pub id: Uuid,
    /// `pending`, `sent`, `delivered`, `read`, `failed`.
    #[schema(value_type = String)]
    pub state: DeliveryState,
    /// `whatsapp`, `whatsapp_template`, `email`.
    #[schema(value_type = String)]
    pub route: Route,
    pub recipient: String,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub trace_id: String,
    pub attempts: Vec<AttemptBody>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<DeliveryView> for DeliveryBody {
    fn from(d: DeliveryView) -> Self {
        Self {
            id: d.id,
            state: d.state,
            route: d.route,
            recipient: d.recipient,
            provider_id: d.provider_id,
            last_error: d.last_error,
            trace_id: d.trace_id,
            attempts: d.attempts.into_iter().map(AttemptBody::from).collect(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookEventBody {
    pub id: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// `accepted` or `quarantined`.
    pub status: String,
    pub reason: Option<String>,
    pub trace_id: String,
    /// Counts, other fields and item-level parse issues.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    pub bytes: i64,
    /// Unix milliseconds of the last replay.
    pub replayed_at: Option<i64>,
}

impl From<EventSummary> for WebhookEventBody {
    fn from(e: EventSummary) -> Self {
        Self {
            id: e.id,
            received_at: e.received_at,
            status: e.status,
            reason: e.reason,
            trace_id: e.trace_id,
            summary: e.summary,
            bytes: e.bytes,
            replayed_at: e.replayed_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadJobBody {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub trace_id: String,
    /// Unix milliseconds: when it died.
    pub updated_at: i64,
}

impl From<DeadJob> for DeadJobBody {
    fn from(j: DeadJob) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            attempts: j.attempts,
            last_error: j.last_error,
            trace_id: j.trace_id,
            updated_at: j.updated_at,
        }
    }
}
