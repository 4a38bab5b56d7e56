//! Schemas for the OpenAPI document only: the bodies handlers build with `json!`, the
//! one error shape, and the A2A JSON-RPC envelope. Nothing serialises these types; each
//! mirrors what its handler answers, so a change to such a body is made here too (only
//! the error codes and the A2A method names are checked against the code by tests).

use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, schema::Object};

use crate::inbound::errors::ErrorCode;

/// The one error body of the HTTP API: a stable code, a message for people, and the
/// trace id to find the request in the logs. A 5xx never carries its internal cause.
#[derive(ToSchema)]
#[schema(as = ApiError, example = json!({"code": "invalid_request", "message": "to: required (or to_user_id)", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}))]
pub struct ApiErrorBody {
    #[schema(schema_with = error_code)]
    pub code: String,
    pub message: String,
    /// The W3C trace id of the request, also in the `X-Trace-Id` response header.
    pub trace_id: String,
}

/// Every code of [`ErrorCode::ALL`], so the document cannot drift from the table.
fn error_code() -> Object {
    let meanings: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("- `{}` ({}): {}", c.as_str(), c.status().as_u16(), c.meaning()))
        .collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .description(Some(format!("Stable snake_case; never renamed.\n\n{}", meanings.join("\n"))))
        .build()
}

/// `POST /api/v1/messages` accepted the message; its delivery runs in the background.
#[derive(ToSchema)]
pub struct SendAccepted {
    /// Follow it with `GET /api/v1/messages/{id}`.
    pub delivery_id: uuid::Uuid,
    /// Always `pending` here.
    #[schema(example = "pending")]
    pub state: String,
    pub trace_id: String,
}

/// A file's bytes, as sent or answered: its own media type in `Content-Type`.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(pub Vec<u8>);

/// `POST /api/v1/media` kept the file.
#[derive(ToSchema)]
pub struct UploadedFile {
    /// Send it with `media: {"key": ...}`.
    #[schema(example = "up/0193a1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b")]
    pub key: String,
    #[schema(example = "image/png")]
    pub mime_type: String,
    /// What WhatsApp will show it as: `image`, `audio`, `video`, `document` or `sticker`.
    #[schema(example = "image")]
    pub kind: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub filename: Option<String>,
}

/// The email-priority switch (`channels.gmail.priority`).
#[derive(ToSchema)]
pub struct EmailPriority {
    #[schema(example = "channels.gmail.priority")]
    pub key: String,
    /// Email first when true; WhatsApp first otherwise.
    pub enabled: bool,
}

/// What the workflow did: the intent, the agent it chose, and the agent's answer.
#[derive(ToSchema)]
pub struct WorkflowOutcome {
    pub reply: String,
    pub intent: String,
    pub confidence: f32,
    pub agent: String,
    /// The agent's task state, `TASK_STATE_COMPLETED` when it answered with a message,
    /// `TASK_STATE_INPUT_REQUIRED` when it asks something (continue with `task_id`).
    pub task_state: String,
    pub task_id: Option<String>,
    pub trace_id: String,
}

/// The process serves HTTP.
#[derive(ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness: each check, and why not ready.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ready` or `unhealthy`.
    #[schema(example = "ready")]
    pub status: String,
    /// `{database, workers, workers_running}`: `ok` or `failing` each.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
    /// Why not ready (only when unhealthy).
    pub reasons: Option<Vec<String>>,
}

/// The WhatsApp account's health. Without a key: `status` and the reason codes only.
#[derive(ToSchema)]
pub struct WhatsAppHealth {
    /// `healthy`, `degraded` or `unhealthy`.
    #[schema(example = "healthy")]
    pub status: String,
    /// Stable reason codes (objects with `code` and details when a key is given).
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<serde_json::Value>,
    /// `sandbox` in sandbox mode.
    pub mode: Option<String>,
}

/// What one webhook delivery held, once committed.
#[derive(ToSchema)]
pub struct WebhookReceipt {
    /// `accepted`, or `quarantined` (stored, but not a WhatsApp envelope).
    #[schema(example = "accepted")]
    pub status: String,
    pub messages: u64,
    pub duplicate_messages: u64,
    pub statuses: u64,
    pub duplicate_statuses: u64,
}

/// Meta's webhook payload (`object`, `entry[].changes[].value`), signed as raw bytes.
#[derive(ToSchema)]
#[schema(example = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "PHONE_NUMBER_ID"}, "messages": [{"from": "447700900123", "id": "wamid.ID", "timestamp": "1767225600", "type": "text", "text": {"body": "hello"}}]}}]}]}))]
pub struct WhatsAppWebhook {
    #[schema(example = "whatsapp_business_account")]
    pub object: String,
    #[schema(value_type = Vec<Object>)]
    pub entry: Vec<serde_json::Value>,
}

/// One stored webhook event replayed.
#[derive(ToSchema)]
pub struct ReplayOutcome {
    pub event_id: String,
    pub new_messages: u64,
    pub duplicate_messages: u64,
    pub new_statuses: u64,
    /// Still not a WhatsApp envelope: nothing ingested, the reason why.
    pub still_quarantined: Option<String>,
}

/// Every matching event replayed, oldest first.
#[derive(ToSchema)]
pub struct ReplayedEvents {
    pub replayed: Vec<ReplayOutcome>,
}

/// A dead job queued again.
#[derive(ToSchema)]
pub struct Requeued {
    pub id: i64,
    #[schema(example = "queued")]
    pub state: String,
}

/// What the sandbox gateway recorded instead of sending, newest first.
#[derive(ToSchema)]
pub struct SandboxOutbox {
    pub messages: Vec<SandboxMessage>,
}

/// One message the sandbox gateway would have sent.
#[derive(ToSchema)]
pub struct SandboxMessage {
    pub provider_id: String,
    /// The delivery it was sent for (`GET /api/v1/messages/{id}` shows its ticks).
    pub delivery_id: Option<String>,
    pub recipient: String,
    /// The inbound wamid it answers.
    pub reply_to: Option<String>,
    /// The Graph API message body it would have posted.
    #[schema(value_type = Object)]
    pub message: serde_json::Value,
    pub trace_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

// ------------------------------------------------------------------ A2A

/// The methods `/a2a` answers: the v1.0 names, then the v0.3 names it also accepts
/// (a v0.3 name gets v0.3-shaped objects back).
pub const A2A_METHODS: &[(&str, &str)] = &[
    (
        "SendMessage",
        "params `{message, configuration?, metadata?}`; result `{task}` (blocks until the task is terminal or interrupted unless `configuration.returnImmediately`)",
    ),
    (
        "SendStreamingMessage",
        "as SendMessage; answered as an SSE stream of StreamResponse (`task`, then `artifactUpdate`s, then `statusUpdate`)",
    ),
    ("GetTask", "params `{id, historyLength?}`; result the Task"),
    (
        "ListTasks",
        "params `{contextId?, pageSize?, pageToken?}`; result `{tasks, nextPageToken, pageSize}`, newest first",
    ),
    ("CancelTask", "params `{id}`; result the Task, or -32002 TaskNotCancelable"),
    ("SubscribeToTask", "params `{id}`; SSE stream, the first event the full Task"),
    ("CreateTaskPushNotificationConfig", "not supported: -32003"),
    ("GetTaskPushNotificationConfig", "not supported: -32003"),
    ("ListTaskPushNotificationConfigs", "not supported: -32003"),
    ("DeleteTaskPushNotificationConfig", "not supported: -32003"),
    ("GetExtendedAgentCard", "not configured: -32007"),
    ("message/send", "v0.3 SendMessage"),
    ("message/stream", "v0.3 SendStreamingMessage"),
    ("tasks/get", "v0.3 GetTask"),
    ("tasks/list", "v0.3 ListTasks"),
    ("tasks/cancel", "v0.3 CancelTask"),
    ("tasks/resubscribe", "v0.3 SubscribeToTask"),
    ("tasks/pushNotificationConfig/set", "v0.3; not supported: -32003"),
    ("tasks/pushNotificationConfig/get", "v0.3; not supported: -32003"),
    ("tasks/pushNotificationConfig/list", "v0.3; not supported: -32003"),
    ("tasks/pushNotificationConfig/delete", "v0.3; not supported: -32003"),
    ("agent/getAuthenticatedExtendedCard", "v0.3; not configured: -32007"),
];

fn a2a_method() -> Object {
    let lines: Vec<String> = A2A_METHODS.iter().map(|(name, what)| format!("- `{name}`: {what}")).collect();
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(A2A_METHODS.iter().map(|(name, _)| *name)))
        .description(Some(lines.join("\n")))
        .build()
}

/// A JSON-RPC id: a string, a number, or null (echoed in the response).
fn rpc_id() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)))
        .description(Some("Echoed in the response; null in a response to a request that could not be read."))
        .into()
}

/// One JSON-RPC 2.0 request to Switchboard's A2A server.
#[derive(ToSchema)]
pub struct JsonRpcRequest {
    /// Always `2.0`.
    #[schema(example = "2.0")]
    pub jsonrpc: String,
    #[schema(schema_with = rpc_id)]
    pub id: serde_json::Value,
    #[schema(schema_with = a2a_method)]
    pub method: String,
    /// The method's parameters (A2A objects in camelCase; see the method list).
    #[schema(value_type = Object)]
    pub params: Option<serde_json::Value>,
}

/// One JSON-RPC 2.0 response: `result` on success, `error` otherwise. A streaming
/// method answers `text/event-stream`, each `data:` line one of these.
#[derive(ToSchema)]
pub struct JsonRpcResponse {
    #[schema(example = "2.0")]
    pub jsonrpc: String,
    #[schema(schema_with = rpc_id)]
    pub id: serde_json::Value,
    /// SendMessage: `{task: Task}`; GetTask and CancelTask: the Task; ListTasks:
    /// `{tasks, nextPageToken, pageSize}`. v0.3 names get the Task itself, with `kind`.
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
    pub error: Option<JsonRpcError>,
}

fn error_info() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .property("@type", ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
                .property("reason", ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
                .property("domain", ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))),
        )
        .description(Some("One `google.rpc.ErrorInfo`: `reason` (e.g. `TASK_NOT_FOUND`) and `domain` `a2a-protocol.org`."))
        .examples([json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND", "domain": "a2a-protocol.org"}])])
}

/// A JSON-RPC error. A2A codes: -32001 TaskNotFound, -32002 TaskNotCancelable, -32003
/// PushNotificationNotSupported, -32004 UnsupportedOperation, -32005
/// ContentTypeNotSupported, -32006 InvalidAgentResponse, -32007
/// ExtendedAgentCardNotConfigured, -32009 VersionNotSupported; JSON-RPC codes: -32700
/// parse error, -32600 invalid request, -32601 method not found, -32602 invalid params,
/// -32603 internal error.
#[derive(ToSchema)]
pub struct JsonRpcError {
    #[schema(example = -32001)]
    pub code: i64,
    pub message: String,
    #[schema(schema_with = error_info)]
    pub data: Vec<serde_json::Value>,
}

/// Switchboard's A2A agent card: the v1.0 fields, plus the v0.3 ones (`url`,
/// `protocolVersion`, `preferredTransport`) for older peers.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AgentCard {
    pub name: String,
    pub description: String,
    pub version: String,
    pub supported_interfaces: Vec<AgentInterface>,
    pub capabilities: AgentCapabilities,
    pub default_input_modes: Vec<String>,
    pub default_output_modes: Vec<String>,
    pub skills: Vec<AgentSkill>,
    /// `{apiKey: {apiKeySecurityScheme: {location: "header", name: "X-API-Key"}}}`.
    #[schema(value_type = Object)]
    pub security_schemes: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub security_requirements: Vec<serde_json::Value>,
    /// v0.3: the JSON-RPC endpoint.
    pub url: String,
    /// v0.3: `0.3.0`.
    pub protocol_version: String,
    /// v0.3: `JSONRPC`.
    pub preferred_transport: String,
}

/// Where and how to reach the agent.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AgentInterface {
    pub url: String,
    #[schema(example = "JSONRPC")]
    pub protocol_binding: String,
    #[schema(example = "1.0")]
    pub protocol_version: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct AgentCapabilities {
    pub streaming: bool,
    pub push_notifications: bool,
    pub extended_agent_card: bool,
}

#[derive(ToSchema)]
pub struct AgentSkill {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub examples: Vec<String>,
}
