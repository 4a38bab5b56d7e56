//! The REST API (API-key protected): send a message on WhatsApp, email or `auto`, look
//! at its delivery, and switch email priority at run time.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_application::ports::OpenTask;
use switchboard_application::ports::{ChannelSettings, Deliveries};
use switchboard_application::usecases::{AcceptUpload, RunWorkflow, SendMessage, SendOrder};
use switchboard_domain::{AgentName, Channel, InboundContent, TemplateComponent, WorkflowRequest};
use uuid::Uuid;

use super::errors::{ApiError, ErrorCode};
use super::trace::request_trace;

pub struct ApiState {
    pub send: Arc<SendMessage>,
    pub uploads: Arc<AcceptUpload>,
    pub workflows: Arc<RunWorkflow>,
    pub deliveries: Arc<dyn Deliveries>,
    pub settings: Arc<dyn ChannelSettings>,
    /// The number messages go from unless the request names one.
    pub default_number_id: String,
}

// The request bodies of `POST /api/v1/messages` as the API reference shows them. The
// handler reads `SendOrder` (the application's one shape, shared with the A2A `deliver`
// skill); a test checks that these name the same fields.

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TemplateBody {
    pub name: String,
    pub language: String,
    /// Meta's template components: `{type, sub_type?, index?, parameters}`.
    #[schema(value_type = Vec<Object>)]
    pub components: Option<Vec<TemplateComponent>>,
}

/// A file: give exactly one of `key` (an upload's, from `POST /api/v1/media`), `link` (an
/// https URL Meta fetches) or `id` (a media id Meta gave).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MediaBody {
    /// `image`, `audio`, `video`, `document` or `sticker`. Required with `link` or `id`;
    /// for an upload its type decides when left out.
    #[schema(example = "image")]
    pub kind: Option<String>,
    #[schema(example = "up/0193a1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b")]
    pub key: Option<String>,
    pub link: Option<String>,
    pub id: Option<String>,
    /// The name a document shows (an upload's own name when left out).
    pub filename: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ButtonBody {
    /// Comes back in the user's tap (at most 256 characters, unique).
    pub id: String,
    /// At most 20 characters.
    pub title: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ListRowBody {
    pub id: String,
    /// At most 24 characters.
    pub title: String,
    /// At most 72 characters.
    pub description: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ListSectionBody {
    /// At most 24 characters.
    pub title: Option<String>,
    pub rows: Vec<ListRowBody>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ListBody {
    /// The label of the button that opens the list (at most 20 characters).
    pub button: String,
    /// Up to 10 sections, 10 rows in all.
    pub sections: Vec<ListSectionBody>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ReactionBody {
    /// The wamid of the user's message reacted to.
    pub message_id: String,
    /// One emoji; empty removes the reaction.
    pub emoji: String,
}

/// `POST /api/v1/messages`: who, how, and exactly one of: `text`; `template`; `media`
/// (with `text` as its caption); `buttons` or `list` (with `text` as the body, `header`
/// and `footer`; buttons may have `media` as their header); `reaction`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SendBody {
    /// The user's phone number (any common format).
    pub to: Option<String>,
    /// Or their business-scoped user id.
    pub to_user_id: Option<String>,
    /// `whatsapp`, `email` or `auto` (the default: WhatsApp, then email).
    #[schema(example = "auto")]
    pub channel: Option<String>,
    /// Where an email goes; stored on the contact for later fallbacks.
    pub email: Option<String>,
    pub from_number_id: Option<String>,
    /// A text message (at most 4096 characters); the body of buttons or a list (1024); a
    /// file's caption (1024).
    pub text: Option<String>,
    /// Let WhatsApp preview the first link of a text message.
    pub preview_url: Option<bool>,
    pub template: Option<TemplateBody>,
    pub media: Option<MediaBody>,
    /// One to three reply buttons.
    pub buttons: Option<Vec<ButtonBody>>,
    pub list: Option<ListBody>,
    /// A text header above buttons or a list (at most 60 characters).
    pub header: Option<String>,
    /// A footer below buttons or a list (at most 60 characters).
    pub footer: Option<String>,
    pub reaction: Option<ReactionBody>,
}

#[utoipa::path(post, path = "/api/v1/messages", request_body = SendBody, tag = "Messages", security(("api_key" = [])),
    summary = "Send a message to a WhatsApp user",
    description = "Queues a text, a template, a file, reply buttons, a list or a reaction for a user named by phone number (`to`) or business-scoped user id (`to_user_id`). Every WhatsApp limit is checked first and a broken one named (`button title has 25 characters; the limit is 20`). A file is one uploaded with `POST /api/v1/media` (`media.key`), an https link or a Meta media id. `channel` `auto` (the default) tries WhatsApp, then email (which attaches an uploaded file); outside the 24-hour window only a template goes. Answers once the delivery is stored; follow it with `GET /api/v1/messages/{id}`.",
    responses((status = 202, description = "stored; delivery runs in the background", body = crate::inbound::openapi::schemas::SendAccepted), (status = 400, description = "`invalid_request`: a field is missing, malformed, breaks a WhatsApp limit or does not go with another; the message starts with its name"), (status = 401, description = "no or wrong API key"), (status = 409, description = "`opted_out`: the contact opted out of business-initiated (or marketing) messages"), (status = 503, description = "`store_unavailable`: the message could not be stored")))]
pub async fn send_message(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<SendOrder>,
) -> Result<HttpResponse, ApiError> {
    let trace = request_trace(&req);
    let id = state.send.order(body.into_inner(), &state.default_number_id, trace).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "delivery_id": id,
        "state": "pending",
        "trace_id": trace.trace_id.to_string(),
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The name the file carries (a document shows it; an email attaches it under it).
    pub filename: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/media", tag = "Messages", params(UploadQuery), security(("api_key" = [])),
    request_body(content = crate::inbound::openapi::schemas::FileBytes, description = "the file's bytes; `Content-Type` is the file's type", content_type = "application/octet-stream"),
    summary = "Upload a file to send",
    description = "Keeps a file to send with `POST /api/v1/messages` (`media.key`) or the A2A `deliver` skill. Its type and size are checked against Meta's limits for its kind (an image at most 5 MB as JPEG or PNG, a video or audio 16 MB, a sticker WebP, a document 100 MB of any type) and against `SWITCHBOARD_MEDIA_MAX_BYTES`. The file goes to WhatsApp when its message is sent, and is attached to an email fallback.",
    responses((status = 201, description = "kept: the key to send it by, with its type, kind, size and SHA-256", body = crate::inbound::openapi::schemas::UploadedFile), (status = 400, description = "`invalid_request`: an empty file, a type that is not `type/subtype`, a bad file name, or a file Meta would refuse (the message names the limit)"), (status = 401, description = "no or wrong API key"), (status = 413, description = "`payload_too_large`: over `SWITCHBOARD_MEDIA_MAX_BYTES`"), (status = 503, description = "`store_unavailable`: the media store could not be written")))]
pub async fn upload_media(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(content_type) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return Err(ApiError::invalid("content-type", "required: the file's media type"));
    };
    let mime_type = content_type.to_str().map_err(|_| ApiError::invalid("content-type", "not text"))?.to_owned();
    let bytes = super::limits::file_body(payload).await?;
    let stored = state.uploads.execute(&mime_type, query.into_inner().filename, bytes).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "key": stored.key,
        "mime_type": stored.mime_type,
        "kind": switchboard_domain::media::kind_for(&stored.mime_type),
        "size": stored.size,
        "sha256": stored.sha256,
        "filename": stored.filename,
    })))
}

#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "Messages", security(("api_key" = [])), params(("id" = String, Path, description = "delivery id (from `POST /api/v1/messages`)")),
    summary = "Follow a message's delivery",
    description = "The delivery's state (`pending`, `sent`, `delivered`, `read`, `failed`), its route, Meta's message id and every attempt.",
    responses((status = 200, description = "the delivery with every attempt", body = super::management::DeliveryBody), (status = 400, description = "`invalid_request`: not a delivery id"), (status = 404, description = "`not_found`: no such delivery"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
pub async fn get_message(state: web::Data<ApiState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::invalid("id", "not a delivery id"))?;
    match state.deliveries.view(id).await? {
        Some(view) => Ok(HttpResponse::Ok().json(view)),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no delivery {id}"))),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    pub enabled: bool,
}

#[utoipa::path(get, path = "/api/v1/channels/email/priority", tag = "Operations", security(("api_key" = [])),
    summary = "Read the email-priority switch",
    description = "Whether `auto` deliveries try email before WhatsApp (`channels.gmail.priority`).",
    responses((status = 200, description = "the switch", body = crate::inbound::openapi::schemas::EmailPriority), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
pub async fn get_email_priority(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let enabled = state.settings.email_priority().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "key": "channels.gmail.priority", "enabled": enabled })))
}

#[utoipa::path(put, path = "/api/v1/channels/email/priority", tag = "Operations", request_body = PriorityBody, security(("api_key" = [])),
    summary = "Switch email priority on or off",
    description = "Takes effect at once for every replica; logged as a warning.",
    responses((status = 200, description = "the switch as now set", body = crate::inbound::openapi::schemas::EmailPriority), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be written")))]
pub async fn set_email_priority(
    state: web::Data<ApiState>,
    body: web::Json<PriorityBody>,
) -> Result<HttpResponse, ApiError> {
    state.settings.set_email_priority(body.enabled).await?;
    tracing::warn!(enabled = body.enabled, "email priority (channels.gmail.priority) switched");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "key": "channels.gmail.priority", "enabled": body.enabled })))
}

/// `POST /api/v1/workflows`: a `WorkflowRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBody {
    pub user_message: String,
    pub user_id: String,
    pub session_id: Option<String>,
    /// Free-form label of the calling channel (`rest` by default).
    pub channel: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
    /// Continue the agent's task that asked a question (with `agent`).
    pub task_id: Option<String>,
    pub agent: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/workflows", request_body = WorkflowBody, tag = "Messages", security(("api_key" = [])),
    summary = "Run a workflow and wait for the agent's answer",
    description = "Classifies `user_message`, routes it to an agent over A2A and answers with the agent's reply, without WhatsApp. An agent that asks a question answers `TASK_STATE_INPUT_REQUIRED` with a `task_id`: send the next message with `task_id` and `agent` to continue that task.",
    responses((status = 200, description = "the agent's answer", body = crate::inbound::openapi::schemas::WorkflowOutcome), (status = 400, description = "`invalid_request`: a field is invalid; the message starts with its name"), (status = 502, description = "`agent_unavailable`: no agent could answer"), (status = 401, description = "no or wrong API key")))]
pub async fn run_workflow(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<WorkflowBody>,
) -> Result<HttpResponse, ApiError> {
    let trace = request_trace(&req);
    let body = body.into_inner();
    let text = body.user_message.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("user_message", "must not be empty"));
    }
    if text.chars().count() > 4096 {
        return Err(ApiError::invalid("user_message", "longer than 4096 characters"));
    }
    if body.user_id.trim().is_empty() || body.user_id.len() > 256 {
        return Err(ApiError::invalid("user_id", "required, at most 256 characters"));
    }
    let open_task = match (body.task_id, body.agent) {
        (Some(task_id), Some(agent)) => Some(OpenTask { agent: AgentName::new(agent), task_id }),
        (None, None) => None,
        (Some(_), None) => return Err(ApiError::invalid("agent", "required with task_id")),
        (None, Some(_)) => return Err(ApiError::invalid("task_id", "required with agent")),
    };
    let mut metadata = body.metadata;
    if let Some(channel) = body.channel {
        metadata.insert(String::from("source_channel"), serde_json::Value::from(channel));
    }
    let request = WorkflowRequest {
        user_message: text.to_owned(),
        content: InboundContent::Text { body: text.to_owned() },
        user_id: body.user_id,
        session_id: body.session_id.unwrap_or_else(|| Uuid::now_v7().to_string()),
        channel: Channel::Rest,
        user_name: None,
        metadata,
        trace_id: trace.trace_id.to_string(),
        task_id: None,
        attachments: Vec::new(),
        choice: None,
    };
    let outcome = state.workflows.execute(request, open_task, trace).await?;
    Ok(HttpResponse::Ok().json(outcome))
}
