//! The REST API (API-key protected): send a message on WhatsApp, email or `auto`, look
//! at its delivery, and switch email priority at run time.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_application::ports::OpenTask;
use switchboard_application::ports::{ChannelSettings, Deliveries};
use switchboard_application::usecases::{RequestedChannel, RunWorkflow, SendMessage, SendRequest};
use switchboard_domain::{
    AgentName, Channel, EmailAddress, InboundContent, OutboundContent, PhoneNumber, ScopedUserId, TemplateComponent,
    WhatsAppUser, WorkflowRequest,
};
use uuid::Uuid;

use super::errors::{ApiError, ErrorCode};
use super::trace::request_trace;

pub struct ApiState {
    pub send: Arc<SendMessage>,
    pub workflows: Arc<RunWorkflow>,
    pub deliveries: Arc<dyn Deliveries>,
    pub settings: Arc<dyn ChannelSettings>,
    /// The number messages go from unless the request names one.
    pub default_number_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub name: String,
    pub language: String,
    /// Meta's template components: `{type, sub_type?, index?, parameters}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub components: Vec<TemplateComponent>,
}

/// `POST /api/v1/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The user's phone number (any common format).
    pub to: Option<String>,
    /// Or their business-scoped user id.
    pub to_user_id: Option<String>,
    /// `whatsapp`, `email` or `auto` (the default: WhatsApp, then email).
    #[schema(value_type = Option<String>, example = "auto")]
    pub channel: Option<RequestedChannel>,
    pub text: Option<String>,
    #[serde(default)]
    pub preview_url: bool,
    pub template: Option<TemplateBody>,
    /// Where an email goes; stored on the contact for later fallbacks.
    pub email: Option<String>,
    pub from_number_id: Option<String>,
}

impl SendBody {
    fn into_request(self, default_number_id: &str) -> Result<SendRequest, ApiError> {
        let to = match (self.to.as_deref(), self.to_user_id.as_deref()) {
            (Some(phone), None) => {
                WhatsAppUser::new(None, Some(PhoneNumber::parse(phone).map_err(|e| ApiError::invalid("to", e))?))
            }
            (None, Some(id)) => {
                WhatsAppUser::new(Some(ScopedUserId::parse(id).map_err(|e| ApiError::invalid("to_user_id", e))?), None)
            }
            (Some(_), Some(_)) => return Err(ApiError::invalid("to", "give to or to_user_id, not both")),
            (None, None) => return Err(ApiError::invalid("to", "required (or to_user_id)")),
        }
        .map_err(|e| ApiError::invalid("to", e))?;
        let content = match (self.text, self.template) {
            (Some(body), None) => OutboundContent::Text { body, preview_url: self.preview_url },
            (None, Some(t)) => {
                OutboundContent::Template { name: t.name, language: t.language, components: t.components }
            }
            (Some(_), Some(_)) => return Err(ApiError::invalid("text", "give text or template, not both")),
            (None, None) => return Err(ApiError::invalid("text", "required (or template)")),
        };
        let email =
            self.email.as_deref().map(EmailAddress::parse).transpose().map_err(|e| ApiError::invalid("email", e))?;
        Ok(SendRequest {
            to,
            email,
            channel: self.channel.unwrap_or(RequestedChannel::Auto),
            content,
            from_number_id: self.from_number_id.unwrap_or_else(|| default_number_id.to_owned()),
        })
    }
}

#[utoipa::path(post, path = "/api/v1/messages", request_body = SendBody, tag = "Messages", security(("api_key" = [])),
    summary = "Send a message to a WhatsApp user",
    description = "Queues a text or a template for a user named by phone number (`to`) or business-scoped user id (`to_user_id`). `channel` `auto` (the default) tries WhatsApp, then email; outside the 24-hour window a text needs a template. Answers once the delivery is stored; follow it with `GET /api/v1/messages/{id}`.",
    responses((status = 202, description = "stored; delivery runs in the background", body = crate::inbound::openapi::schemas::SendAccepted), (status = 400, description = "`invalid_request`: a field is invalid; the message starts with its name"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the message could not be stored")))]
pub async fn send_message(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<SendBody>,
) -> Result<HttpResponse, ApiError> {
    let trace = request_trace(&req);
    let request = body.into_inner().into_request(&state.default_number_id)?;
    let id = state.send.execute(request, trace).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "delivery_id": id,
        "state": "pending",
        "trace_id": trace.trace_id.to_string(),
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
