//! The management API (API key): contacts, conversations and their messages,
//! deliveries, stored webhook events and their replay, dead jobs and their requeue, and
//! a status page.
//!
//! Every list answers `{items, next_cursor}`, newest first (a conversation's messages:
//! oldest first), `limit` 1..=500 (default 50; more is cut to 500), and `cursor` from
//! the previous page. A cursor is opaque to clients: the hex of `list:time:id`, so one
//! list's cursor is refused by another.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use switchboard_application::ports::{
    AttemptRecord, ContactRecord, ConversationFilter, ConversationRecord, ConversationState, DeadJob, DeliveryFilter,
    DeliveryView, EventFilter, EventSummary, ManagementReads, MessageRecord, OperationalCounters, Page, PageCursor,
    PageRequest, Route, StoreError, TimeRange,
};
use switchboard_application::usecases::IngestWebhook;
use switchboard_domain::DeliveryState;
use switchboard_runtime::{Config, Mode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::api::ApiState;
use super::errors::{ApiError, ErrorCode};
use super::health::{Readiness, WhatsAppHealthState, readiness_report};
use super::trace::request_trace;
use super::whatsapp::replay::replay_event;
use crate::outbound::store::Store;

pub struct ManagementState {
    pub store: Arc<dyn Store>,
    pub ingest: Arc<IngestWebhook>,
    pub reads: Arc<dyn ManagementReads>,
    /// The configuration as `GET /api/v1/status` shows it (no secrets).
    pub status: StatusConfig,
}

// ---------------------------------------------------------------- paging

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The lists a cursor can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Contacts,
    Conversations,
    Messages,
    Deliveries,
    WebhookEvents,
    DeadJobs,
}

impl List {
    fn as_str(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Conversations => "conversations",
            Self::Messages => "messages",
            Self::Deliveries => "deliveries",
            Self::WebhookEvents => "webhook_events",
            Self::DeadJobs => "dead_jobs",
        }
    }
}

fn encode_cursor(list: List, cursor: &PageCursor) -> String {
    hex::encode(format!("{}:{}:{}", list.as_str(), cursor.at, cursor.id))
}

fn decode_cursor(list: List, text: &str) -> Result<PageCursor, ApiError> {
    let refused = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            format!("cursor: not one this list gave; start again without it ({})", list.as_str()),
        )
    };
    let bytes = hex::decode(text).map_err(|_| refused())?;
    let decoded = String::from_utf8(bytes).map_err(|_| refused())?;
    let mut parts = decoded.splitn(3, ':');
    let (Some(name), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else { return Err(refused()) };
    let at = at.parse::<i64>().map_err(|_| refused())?;
    if name != list.as_str() || id.is_empty() || (list == List::DeadJobs && id.parse::<i64>().is_err()) {
        return Err(refused());
    }
    Ok(PageCursor { at, id: id.to_owned() })
}

fn page_request(list: List, limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("{text:?} is not a whole number from 1 to {MAX_LIMIT}"),
                ));
            }
            Ok(n) => u32::try_from(n.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
        },
    };
    let after = cursor.filter(|c| !c.is_empty()).map(|c| decode_cursor(list, c)).transpose()?;
    Ok(PageRequest { limit, after })
}

fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
                .map_err(|_| ApiError::invalid(name, format!("{text:?} is not an RFC 3339 time")))
        })
        .transpose()
}

fn time_range(since: Option<&str>, until: Option<&str>) -> Result<TimeRange, ApiError> {
    let range = TimeRange { since: time_param("since", since)?, until: time_param("until", until)? };
    if let (Some(since), Some(until)) = (range.since, range.until)
        && since > until
    {
        return Err(ApiError::invalid("until", "is before since"));
    }
    Ok(range)
}

fn path_id(what: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid("id", format!("not a {what} id")))
}

fn page_body<T, U: From<T>>(list: List, page: Page<T>) -> PageBody<U> {
    PageBody {
        items: page.items.into_iter().map(U::from).collect(),
        next_cursor: page.next.map(|c| encode_cursor(list, &c)),
    }
}

/// Shared by every list: `limit` and `cursor`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 500 (default 50; more is cut to 500).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A time filter: RFC 3339, both ends inclusive.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeQuery {
    /// Created (received) at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Created (received) at or before this RFC 3339 time.
    pub until: Option<String>,
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Give it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Declares the documented page type of one list (utoipa names each schema).
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Give it as `cursor` for the next page; `null` on the last page.
            pub next_cursor: Option<String>,
        }
    };
}

page_schema!(ContactPage, ContactBody);
page_schema!(ConversationPage, ConversationBody);
page_schema!(MessagePage, MessageBody);
page_schema!(DeliveryPage, DeliveryBody);
page_schema!(WebhookEventPage, WebhookEventBody);
page_schema!(DeadJobPage, DeadJobBody);

// ---------------------------------------------------------------- bodies

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
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
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

// ---------------------------------------------------------------- contacts

/// `GET /api/v1/contacts?since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(TimeQuery, PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "contacts, newest first", body = ContactPage), (status = 400, description = "bad filter or cursor, named"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.contacts")]
pub async fn list_contacts(
    state: web::Data<ManagementState>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = time_range(time.since.as_deref(), time.until.as_deref())?;
    let page = page_request(List::Contacts, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.contacts(range, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, ContactBody>(List::Contacts, found)))
}

/// `GET /api/v1/contacts/{id}`
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "contact id")), security(("api_key" = [])),
    responses((status = 200, description = "the contact", body = ContactBody), (status = 404, description = "no such contact"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.contact")]
pub async fn get_contact(state: web::Data<ManagementState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id("contact", &id)?;
    match state.reads.contact(id).await? {
        Some(contact) => Ok(HttpResponse::Ok().json(ContactBody::from(contact))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no contact {id}"))),
    }
}

// ---------------------------------------------------------------- conversations

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// `input_required` (an agent waits for the user) or `idle`.
    pub state: Option<String>,
    /// The assigned agent's name.
    pub agent: Option<String>,
    pub contact_id: Option<String>,
}

/// `GET /api/v1/conversations?state=&agent=&contact_id=&since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "conversations with their assigned agent and open task, newest first", body = ConversationPage), (status = 400, description = "bad filter or cursor, named"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.conversations")]
pub async fn list_conversations(
    state: web::Data<ManagementState>,
    filter: web::Query<ConversationQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = ConversationFilter {
        created: time_range(time.since.as_deref(), time.until.as_deref())?,
        state: filter
            .state
            .as_deref()
            .map(|s| {
                ConversationState::parse(s)
                    .ok_or_else(|| ApiError::invalid("state", format!("{s:?} is not input_required or idle")))
            })
            .transpose()?,
        agent: filter.agent.clone(),
        contact_id: filter
            .contact_id
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::invalid("contact_id", "not a contact id")))
            .transpose()?,
    };
    let page = page_request(List::Conversations, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.conversations(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, ConversationBody>(List::Conversations, found)))
}

/// `GET /api/v1/conversations/{id}`
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    responses((status = 200, description = "the conversation, its assigned agent and open task", body = ConversationBody), (status = 404, description = "no such conversation"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.conversation")]
pub async fn get_conversation(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    match state.reads.conversation(id).await? {
        Some(conversation) => Ok(HttpResponse::Ok().json(ConversationBody::from(conversation))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no conversation {id}"))),
    }
}

/// `GET /api/v1/conversations/{id}/messages?limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path, description = "conversation id"), PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "inbound messages and replies, oldest first", body = MessagePage), (status = 400, description = "bad cursor"), (status = 404, description = "no such conversation"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.conversation_messages")]
pub async fn conversation_messages(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let page = page_request(List::Messages, page.limit.as_deref(), page.cursor.as_deref())?;
    match state.reads.conversation_messages(id, page).await? {
        Some(found) => Ok(HttpResponse::Ok().json(page_body::<_, MessageBody>(List::Messages, found))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no conversation {id}"))),
    }
}

// ---------------------------------------------------------------- deliveries

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `sent`, `delivered`, `read` or `failed`.
    pub state: Option<String>,
    /// `whatsapp`, `whatsapp_template` or `email`.
    pub route: Option<String>,
    /// `whatsapp` (either WhatsApp route) or `email`.
    pub channel: Option<String>,
    pub conversation_id: Option<String>,
}

fn delivery_state(text: &str) -> Result<DeliveryState, ApiError> {
    match text {
        "pending" | "sent" | "delivered" | "read" | "failed" => text.parse().map_err(|e| ApiError::invalid("state", e)),
        other => Err(ApiError::invalid("state", format!("{other:?} is not pending, sent, delivered, read or failed"))),
    }
}

/// `GET /api/v1/deliveries?state=&route=&channel=&conversation_id=&since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries", params(DeliveryQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "deliveries with every attempt, newest first", body = DeliveryPage), (status = 400, description = "bad filter or cursor, named"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.deliveries")]
pub async fn list_deliveries(
    state: web::Data<ManagementState>,
    filter: web::Query<DeliveryQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let channel = match filter.channel.as_deref() {
        None => None,
        Some(c @ ("whatsapp" | "email")) => Some(c.to_owned()),
        Some(other) => return Err(ApiError::invalid("channel", format!("{other:?} is not whatsapp or email"))),
    };
    let filter = DeliveryFilter {
        created: time_range(time.since.as_deref(), time.until.as_deref())?,
        state: filter.state.as_deref().map(delivery_state).transpose()?,
        route: filter
            .route
            .as_deref()
            .map(|r| {
                Route::parse(r).ok_or_else(|| {
                    ApiError::invalid("route", format!("{r:?} is not whatsapp, whatsapp_template or email"))
                })
            })
            .transpose()?,
        channel,
        conversation_id: filter
            .conversation_id
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::invalid("conversation_id", "not a conversation id")))
            .transpose()?,
    };
    let page = page_request(List::Deliveries, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.deliveries(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, DeliveryBody>(List::Deliveries, found)))
}

// ---------------------------------------------------------------- webhook events

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `accepted` or `quarantined`.
    pub status: Option<String>,
}

fn event_filter(status: Option<&str>, time: &TimeQuery) -> Result<EventFilter, ApiError> {
    let status = match status {
        None => None,
        Some(s @ ("accepted" | "quarantined")) => Some(s.to_owned()),
        Some(other) => return Err(ApiError::invalid("status", format!("{other:?} is not accepted or quarantined"))),
    };
    Ok(EventFilter { status, received: time_range(time.since.as_deref(), time.until.as_deref())? })
}

/// `GET /api/v1/webhook-events?status=quarantined&since=...&until=...&limit=...&cursor=...`
#[utoipa::path(get, path = "/api/v1/webhook-events", tag = "webhook events", params(EventsQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "stored webhook events, newest first", body = WebhookEventPage), (status = 400, description = "bad filter or cursor, named"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.webhook_events")]
pub async fn list_events(
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = event_filter(query.status.as_deref(), &time)?;
    let page = page_request(List::WebhookEvents, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.webhook_events(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, WebhookEventBody>(List::WebhookEvents, found)))
}

/// `POST /api/v1/webhook-events/{id}/replay`
#[utoipa::path(post, path = "/api/v1/webhook-events/{id}/replay", tag = "webhook events", params(("id" = String, Path, description = "event id")), security(("api_key" = [])),
    responses((status = 200, description = "new and duplicate messages, or why it is still quarantined"), (status = 404, description = "no such event"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.replay_one")]
pub async fn replay_one(
    req: HttpRequest,
    state: web::Data<ManagementState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match replay_event(state.store.as_ref(), &state.ingest, &id, request_trace(&req)).await? {
        Some(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no webhook event {id}"))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// At most this many events (default 1000, at most 10000).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
}

/// `POST /api/v1/webhook-events/replay?status=quarantined&since=...`: every matching event.
#[utoipa::path(post, path = "/api/v1/webhook-events/replay", tag = "webhook events", params(EventsQuery, TimeQuery, ReplayQuery), security(("api_key" = [])), responses((status = 200, description = "{replayed: [...]}, oldest first"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.replay_many")]
pub async fn replay_many(
    req: HttpRequest,
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
    time: web::Query<TimeQuery>,
    limit: web::Query<ReplayQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = event_filter(query.status.as_deref(), &time)?;
    let limit = match limit.limit.as_deref() {
        None => 1000,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..) => n.min(10_000),
            _ => return Err(ApiError::invalid("limit", format!("{text:?} is not a whole number from 1 to 10000"))),
        },
    };
    let events = state.reads.webhook_events(filter, PageRequest { limit, after: None }).await?;
    let mut outcomes = Vec::with_capacity(events.items.len());
    // Oldest first, as Meta sent them.
    for event in events.items.iter().rev() {
        if let Some(outcome) = replay_event(state.store.as_ref(), &state.ingest, &event.id, request_trace(&req)).await?
        {
            outcomes.push(outcome);
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "replayed": outcomes })))
}

// ---------------------------------------------------------------- jobs

/// `GET /api/v1/jobs/dead?limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/jobs/dead", tag = "jobs", params(PageQuery), security(("api_key" = [])),
    responses((status = 200, description = "dead jobs with their last error, most recently dead first", body = DeadJobPage), (status = 400, description = "bad limit or cursor"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.dead_jobs")]
pub async fn dead_jobs(
    state: web::Data<ManagementState>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(List::DeadJobs, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.dead_jobs(page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, DeadJobBody>(List::DeadJobs, found)))
}

/// `POST /api/v1/jobs/{id}/requeue`
#[utoipa::path(post, path = "/api/v1/jobs/{id}/requeue", tag = "jobs", params(("id" = i64, Path, description = "job id")), security(("api_key" = [])),
    responses((status = 200, description = "queued again"), (status = 404, description = "no dead job with this id"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.requeue", fields(job_id = *id))]
pub async fn requeue(state: web::Data<ManagementState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    if state.store.requeue(*id).await? {
        tracing::warn!(job_id = *id, "dead job requeued by an operator");
        Ok(HttpResponse::Ok().json(serde_json::json!({ "id": *id, "state": "queued" })))
    } else {
        Err(ApiError::new(ErrorCode::NotFound, format!("no dead job {id}")))
    }
}

// ---------------------------------------------------------------- status

/// An agent of the registry: where it is, without any credential in its address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub name: String,
    /// Scheme, host, port and path only (no user info, no query).
    pub url: String,
    pub intents: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RateLimitSummary {
    pub enabled: bool,
    pub per_number_per_second: u32,
    /// Per sending number id.
    pub per_number_overrides: std::collections::BTreeMap<String, u32>,
    pub recipient_burst: u32,
    pub recipient_interval_ms: u64,
    /// The inbound sender limit: turns at once per sender (`None`: no limit).
    pub sender_burst: Option<u32>,
    /// Then turns per minute per sender (`None`: no limit).
    pub sender_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FallbackSummary {
    /// Outside the 24-hour window: `template` or `email`.
    pub outside_window: String,
    /// The re-engagement template's name, when configured.
    pub reengagement_template: Option<String>,
    /// Whether SMTP is configured (else email goes to files under the data directory).
    pub smtp_configured: bool,
    /// `channels.gmail.priority` as configured at start (the run-time value is `email_priority`).
    pub email_priority_default: bool,
}

/// OpenTelemetry span export.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtelSummary {
    /// Spans are exported over OTLP/HTTP (an endpoint is configured).
    pub enabled: bool,
    /// `http/protobuf` or `http/json`.
    pub protocol: String,
    pub service_name: String,
}

/// The configuration as operators may see it: no secret, no database URL, no token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusConfig {
    pub version: String,
    /// `sandbox` or `live`.
    pub mode: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    pub whatsapp_phone_number_id: String,
    pub whatsapp_api_version: String,
    pub whatsapp_access_token_set: bool,
    pub workers: usize,
    /// `builtin` (keywords) or `a2a`.
    pub classifier: String,
    pub default_agent: String,
    pub agents: Vec<AgentSummary>,
    pub rate_limits: RateLimitSummary,
    pub fallback: FallbackSummary,
    pub otel: OtelSummary,
    pub api_keys_configured: usize,
}

/// An address without user info or query, which may hold credentials.
impl StatusConfig {
    pub fn from_config(config: &Config) -> Self {
        use secrecy::ExposeSecret;
        let database = if config.database.url.expose_secret().starts_with("postgres") { "postgres" } else { "sqlite" };
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode: String::from(match config.mode {
                Mode::Sandbox => "sandbox",
                Mode::Live => "live",
            }),
            database: database.to_owned(),
            whatsapp_phone_number_id: config.whatsapp.phone_number_id.clone(),
            whatsapp_api_version: config.whatsapp.api_version.clone(),
            whatsapp_access_token_set: config.whatsapp.access_token.is_some(),
            workers: config.workers.count,
            classifier: String::from(if config.agents.classifier_url.is_some() { "a2a" } else { "builtin" }),
            default_agent: config.agents.default_agent.clone(),
            agents: config
                .agents
                .agents
                .iter()
                .map(|a| AgentSummary {
                    name: a.name.clone(),
                    url: switchboard_shared::secrets::public_address(&a.url),
                    intents: a.intents.clone(),
                })
                .collect(),
            rate_limits: RateLimitSummary {
                enabled: config.delivery.rate_limits_enabled,
                per_number_per_second: config.delivery.per_number_rate,
                per_number_overrides: config.delivery.per_number_overrides.clone(),
                recipient_burst: config.delivery.recipient_burst,
                recipient_interval_ms: u64::try_from(config.delivery.recipient_interval.as_millis())
                    .unwrap_or(u64::MAX),
                sender_burst: config.agents.sender_limit.map(|l| l.burst),
                sender_per_minute: config.agents.sender_limit.map(|l| l.per_minute),
            },
            fallback: FallbackSummary {
                outside_window: String::from(match config.delivery.outside_window {
                    switchboard_runtime::config::OutsideWindow::Template => "template",
                    switchboard_runtime::config::OutsideWindow::Email => "email",
                }),
                reengagement_template: config.delivery.reengagement_template.as_ref().map(|t| t.name.clone()),
                smtp_configured: config.smtp.is_some(),
                email_priority_default: config.delivery.email_priority,
            },
            otel: OtelSummary {
                enabled: config.otel.traces_endpoint.is_some(),
                protocol: String::from(match config.otel.protocol {
                    switchboard_runtime::config::OtlpProtocol::HttpProtobuf => "http/protobuf",
                    switchboard_runtime::config::OtlpProtocol::HttpJson => "http/json",
                }),
                service_name: config.otel.service_name.clone(),
            },
            api_keys_configured: config.api_keys.len(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountersBody {
    pub messages_received: i64,
    pub messages_processed: i64,
    /// Every state, zero included.
    pub deliveries: std::collections::BTreeMap<String, i64>,
    pub queue_depth: i64,
    pub oldest_job_age_seconds: f64,
    pub dead_jobs: i64,
    pub quarantined_events: i64,
}

impl From<OperationalCounters> for CountersBody {
    fn from(c: OperationalCounters) -> Self {
        let mut deliveries: std::collections::BTreeMap<String, i64> =
            ["pending", "sent", "delivered", "read", "failed"].into_iter().map(|s| (s.to_owned(), 0)).collect();
        deliveries.extend(c.deliveries);
        Self {
            messages_received: c.messages_received,
            messages_processed: c.messages_processed,
            deliveries,
            queue_depth: c.queue_depth,
            oldest_job_age_seconds: c.oldest_job_age_seconds,
            dead_jobs: c.dead_jobs,
            quarantined_events: c.quarantined_events,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    pub ready: bool,
    /// Why not ready, when not.
    pub reasons: Vec<String>,
    /// `/health/ready`'s checks.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
    /// `/health/whatsapp`'s report, from its cache (Meta is asked at most once per cache period).
    #[schema(value_type = Object)]
    pub whatsapp: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    pub config: StatusConfig,
    /// `channels.gmail.priority` now (switchable at run time); `null` when unreadable.
    pub email_priority: Option<bool>,
    /// `null` when the database cannot be read (then `health.ready` is false too).
    pub counters: Option<CountersBody>,
    pub health: HealthBody,
}

/// `GET /api/v1/status`: configuration (no secrets), counters and health.
///
/// The OTLP endpoint itself is left out: collectors often take a key in its query.
#[utoipa::path(get, path = "/api/v1/status", tag = "status", security(("api_key" = [])),
    responses((status = 200, description = "configuration summary without secrets, counters, readiness and WhatsApp health", body = StatusBody), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.status")]
pub async fn status(
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    readiness: web::Data<Readiness>,
    whatsapp: web::Data<WhatsAppHealthState>,
) -> Result<HttpResponse, ApiError> {
    let counters = match state.reads.counters().await {
        Ok(c) => Some(CountersBody::from(c)),
        Err(e) => {
            log_unreadable(&e);
            None
        }
    };
    let email_priority = match api.settings.email_priority().await {
        Ok(on) => Some(on),
        Err(e) => {
            log_unreadable(&e);
            None
        }
    };
    let ready = readiness_report(state.store.as_ref(), &readiness).await;
    let whatsapp = match &whatsapp.0 {
        None => serde_json::json!({"status": "healthy", "mode": "sandbox"}),
        Some(health) => serde_json::to_value(health.check().await).unwrap_or_default(),
    };
    Ok(HttpResponse::Ok().json(StatusBody {
        config: state.status.clone(),
        email_priority,
        counters,
        health: HealthBody { ready: ready.reasons.is_empty(), reasons: ready.reasons, checks: ready.checks, whatsapp },
    }))
}

fn log_unreadable(e: &StoreError) {
    tracing::warn!(error = %e, "status: the database could not be read");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_went_out_and_only_for_its_own_list() {
        let cursor = PageCursor { at: 1_763_800_000_000, id: String::from("0193-abc:def") };

        let text = encode_cursor(List::Deliveries, &cursor);

        assert_eq!(decode_cursor(List::Deliveries, &text).unwrap(), cursor);
        assert_eq!(decode_cursor(List::Contacts, &text).unwrap_err().code, ErrorCode::InvalidCursor);
        assert_eq!(decode_cursor(List::Deliveries, "zz").unwrap_err().code, ErrorCode::InvalidCursor);
        assert_eq!(
            decode_cursor(List::Deliveries, &hex::encode("deliveries:x:1")).unwrap_err().code,
            ErrorCode::InvalidCursor
        );
    }

    #[test]
    fn a_dead_job_cursor_must_name_a_job_number() {
        let bad = hex::encode("dead_jobs:5:abc");

        assert!(decode_cursor(List::DeadJobs, &bad).is_err());
        assert!(decode_cursor(List::DeadJobs, &hex::encode("dead_jobs:5:42")).is_ok());
    }

    #[test]
    fn limits_default_to_50_are_cut_to_500_and_must_be_positive_numbers() {
        assert_eq!(page_request(List::Contacts, None, None).unwrap().limit, 50);
        assert_eq!(page_request(List::Contacts, Some("9999"), None).unwrap().limit, 500);
        assert!(page_request(List::Contacts, Some("0"), None).unwrap_err().message.starts_with("limit:"));
        assert!(page_request(List::Contacts, Some("ten"), None).unwrap_err().message.starts_with("limit:"));
    }

    #[test]
    fn agent_addresses_lose_their_user_info_and_query() {
        assert_eq!(
            switchboard_shared::secrets::public_address("https://user:pw@agents.example/a2a?token=s3cret"),
            "https://agents.example/a2a"
        );
        assert_eq!(switchboard_shared::secrets::public_address("http://127.0.0.1:9000/"), "http://127.0.0.1:9000/");
    }
}
