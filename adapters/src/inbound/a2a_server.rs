//! Switchboard's own A2A server: the agent card at `/.well-known/agent-card.json` and
//! the JSON-RPC endpoint at `/a2a` (v1.0 methods and their v0.3 names; SSE for the
//! streaming ones). API-key protected, as the card declares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use switchboard_application::usecases::a2a_server::{A2aServerError, HandleA2a};
use switchboard_domain::a2a::{Message, Task, TaskState};
use tokio::sync::mpsc;

use super::trace::request_trace;

pub struct A2aState {
    pub handler: Arc<HandleA2a>,
    /// Where clients reach this service (the card's interface URLs).
    pub public_url: String,
}

pub const RPC_PATH: &str = "/a2a";

use switchboard_domain::a2a::HANDOFF_EXTENSION;
use switchboard_domain::choices::CHOICES_EXTENSION;
use switchboard_domain::media::FILES_EXTENSION;

/// `GET /.well-known/agent-card.json`: v1.0 fields, plus the v0.3 ones.
#[utoipa::path(get, path = "/.well-known/agent-card.json", tag = "A2A",
    summary = "Get Switchboard's A2A agent card",
    description = "How A2A clients reach Switchboard: the JSON-RPC interface (A2A 1.0 and 0.3), streaming, the skills `route` and `deliver`, and the API-key scheme. Public.",
    responses((status = 200, description = "the agent card", body = crate::inbound::openapi::schemas::AgentCard)))]
pub async fn agent_card(state: web::Data<A2aState>) -> HttpResponse {
    let url = format!("{}{RPC_PATH}", state.public_url);
    HttpResponse::Ok().json(json!({
        "name": "Switchboard",
        "description": "Routes a user's message to the right specialist agent, and delivers messages to WhatsApp users.",
        "version": env!("CARGO_PKG_VERSION"),
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
        ],
        "capabilities": {"streaming": true, "pushNotifications": false, "extendedAgentCard": false,
            "extensions": [{"uri": HANDOFF_EXTENSION, "required": false,
                "description": "Agents Switchboard routes to may ask for a person: a data part {\"handoff\": {\"reason\": \"...\"}} beside their answer. The answer goes to the user, then people take the conversation over; no agent is asked again until an operator hands it back (with an optional note, passed as message metadata handback_note). See docs/a2a-conventions.md."},
                {"uri": FILES_EXTENSION, "required": false,
                "description": "Users' photos, voice notes, videos and documents reach agents as file parts (bytes inline when small, else a signed expiring link), with size and sha256 in the part's metadata; a file not kept comes as a data part {\"media_refused\": {kind, code, reason}}. Agents' file parts (bytes or URL) are checked against Meta's limits, uploaded and sent; by email they are attached. See docs/a2a-conventions.md."},
                {"uri": CHOICES_EXTENSION, "required": false,
                "description": "Agents offer choices with a data part {\"choices\": {\"options\": [{id, title, description?, section?}], style?}} (schema docs/schemas/choices.v1.json): shown as reply buttons, a list, or numbered text where WhatsApp's limits allow neither. The user's pick returns to the same task as a data part {\"choice\": {id, title}}."}]},
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [
            {"id": "route", "name": "Route", "description": "Hand Switchboard a user message: it classifies it, routes it to the right agent and answers with that agent's reply (INPUT_REQUIRED when the agent asks something).",
             "tags": ["routing", "orchestration"], "examples": ["I want a refund for order 1042"]},
            {"id": "deliver", "name": "Deliver", "description": "Deliver a message to a WhatsApp user: a data part {to, text, channel?, email?} (channel: whatsapp, email or auto).",
             "tags": ["whatsapp", "delivery"], "examples": ["{\"to\": \"+447700900123\", \"text\": \"Your order shipped\"}"]}
        ],
        "securitySchemes": {"apiKey": {"apiKeySecurityScheme": {"description": "Switchboard API key (X-API-Key, or Authorization: Bearer)", "location": "header", "name": "X-API-Key"}}},
        "securityRequirements": [{"schemes": {"apiKey": {"list": []}}}],
        "url": url,
        "protocolVersion": "0.3.0",
        "preferredTransport": "JSONRPC"
    }))
}

fn rpc_error(id: &Value, code: i64, message: &str, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "a2a-protocol.org"}
    ]}})
}

fn from_error(id: &Value, e: &A2aServerError) -> Value {
    if e.code() == -32603 {
        tracing::error!(error = ?e, "A2A request failed");
    }
    rpc_error(id, e.code(), &e.to_string(), e.reason())
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

// ------------------------------------------------------------------ v0.3 shapes

fn v03_state(state: TaskState) -> &'static str {
    match state {
        TaskState::Submitted => "submitted",
        TaskState::Working => "working",
        TaskState::Completed => "completed",
        TaskState::Failed => "failed",
        TaskState::Canceled => "canceled",
        TaskState::InputRequired => "input-required",
        TaskState::Rejected => "rejected",
        TaskState::AuthRequired => "auth-required",
        TaskState::Unspecified => "unknown",
    }
}

fn v03_parts(parts: &mut Value) {
    for part in parts.as_array_mut().into_iter().flatten() {
        let Some(p) = part.as_object_mut() else { continue };
        if p.contains_key("text") {
            p.insert("kind".into(), json!("text"));
        } else if p.contains_key("data") {
            p.insert("kind".into(), json!("data"));
        } else {
            let mut file = Map::new();
            for (from, to) in [("url", "uri"), ("raw", "bytes"), ("mediaType", "mimeType"), ("filename", "name")] {
                if let Some(v) = p.remove(from) {
                    file.insert(to.into(), v);
                }
            }
            p.insert("kind".into(), json!("file"));
            p.insert("file".into(), Value::Object(file));
        }
    }
}

fn v03_message(message: &mut Value) {
    message["kind"] = json!("message");
    let role = if message["role"] == "ROLE_AGENT" { "agent" } else { "user" };
    message["role"] = json!(role);
    v03_parts(&mut message["parts"]);
}

fn v03_status(status: &mut Value, state: TaskState) {
    status["state"] = json!(v03_state(state));
    if status.get("message").is_some_and(Value::is_object) {
        v03_message(&mut status["message"]);
    }
}

fn v03_task(task: &Task) -> Value {
    let mut v = json!(task);
    v["kind"] = json!("task");
    v03_status(&mut v["status"], task.status.state);
    for m in v.get_mut("history").and_then(Value::as_array_mut).into_iter().flatten() {
        v03_message(m);
    }
    for a in v.get_mut("artifacts").and_then(Value::as_array_mut).into_iter().flatten() {
        v03_parts(&mut a["parts"]);
    }
    v
}

fn task_result(task: &Task, v03: bool) -> Value {
    if v03 { v03_task(task) } else { json!({"task": task}) }
}

fn status_event(task: &Task, v03: bool) -> Value {
    let last = task.status.state.is_terminal() || task.status.state.is_interrupted();
    if v03 {
        let mut status = json!(task.status);
        v03_status(&mut status, task.status.state);
        json!({"kind": "status-update", "taskId": task.id, "contextId": task.context_id, "status": status, "final": last})
    } else {
        json!({"statusUpdate": {"taskId": task.id, "contextId": task.context_id, "status": task.status}})
    }
}

fn artifact_events(task: &Task, v03: bool) -> Vec<Value> {
    task.artifacts
        .iter()
        .map(|a| {
            let mut artifact = json!(a);
            if v03 {
                v03_parts(&mut artifact["parts"]);
                json!({"kind": "artifact-update", "taskId": task.id, "contextId": task.context_id, "artifact": artifact, "append": false, "lastChunk": true})
            } else {
                json!({"artifactUpdate": {"taskId": task.id, "contextId": task.context_id, "artifact": artifact, "append": false, "lastChunk": true}})
            }
        })
        .collect()
}

/// The output modes the caller accepts must include one this agent produces.
fn accepts_our_output(params: &Value) -> bool {
    let Some(modes) = params.pointer("/configuration/acceptedOutputModes").and_then(Value::as_array) else {
        return true;
    };
    modes.is_empty()
        || modes.iter().filter_map(Value::as_str).any(|m| {
            matches!(m.trim(), "text/plain" | "application/json" | "text/*" | "application/*" | "*/*" | "text" | "data")
        })
}

/// A message in v1.0 or v0.3 shape (v0.3 file parts are moved to v1.0 fields).
fn parse_message(params: &Value) -> Result<Message, String> {
    let mut message = params.get("message").cloned().ok_or_else(|| String::from("params.message is required"))?;
    for part in message.get_mut("parts").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(Value::Object(file)) = part.as_object_mut().and_then(|p| p.remove("file")) {
            for (from, to) in [("uri", "url"), ("bytes", "raw"), ("mimeType", "mediaType"), ("name", "filename")] {
                if let Some(v) = file.get(from) {
                    part[to] = v.clone();
                }
            }
        }
    }
    serde_json::from_value(message).map_err(|e| format!("params.message: {e}"))
}

fn sse(rx: mpsc::Receiver<Value>) -> HttpResponse {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok::<_, actix_web::Error>(web::Bytes::from(format!("data: {event}\n\n"))), rx))
    });
    HttpResponse::Ok()
        .insert_header(("content-type", "text/event-stream"))
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

fn json_response(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// `POST /a2a`: one JSON-RPC 2.0 request.
#[utoipa::path(post, path = "/a2a", tag = "A2A", security(("api_key" = [])),
    summary = "Call an A2A method (JSON-RPC 2.0)",
    description = "One JSON-RPC 2.0 request per POST: the A2A v1.0 methods, and the v0.3 names for older peers (which get v0.3-shaped objects back). `SendStreamingMessage` and `SubscribeToTask` answer a `text/event-stream`, each `data:` line a complete JSON-RPC response. Protocol errors are JSON-RPC errors in a 200 answer; only the API-key guard and the body limits answer HTTP errors.",
    params(("A2A-Version" = Option<String>, Header, description = "`1.0` or `0.3`; without it the request is taken as 0.3. Any other version answers -32009.")),
    request_body(content = crate::inbound::openapi::schemas::JsonRpcRequest, description = "A JSON-RPC 2.0 request (`Content-Type: application/json`, or none)", examples(
        ("SendMessage" = (summary = "Send a user's message and wait for the answer", value = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "what are your opening hours?"}]}}}))),
        ("SendMessage, deliver" = (summary = "Deliver a message to a WhatsApp user", value = json!({"jsonrpc": "2.0", "id": 2, "method": "SendMessage", "params": {"message": {"messageId": "m-2", "role": "ROLE_USER", "parts": [{"data": {"to": "+447700900123", "text": "Your order shipped"}}]}}}))),
        ("GetTask" = (summary = "Read a task", value = json!({"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": "TASK_ID", "historyLength": 10}}))),
        ("ListTasks" = (summary = "List tasks, newest first", value = json!({"jsonrpc": "2.0", "id": 4, "method": "ListTasks", "params": {"pageSize": 20}}))),
        ("CancelTask" = (summary = "Cancel a task", value = json!({"jsonrpc": "2.0", "id": 5, "method": "CancelTask", "params": {"id": "TASK_ID"}}))),
        ("message/send (v0.3)" = (summary = "The v0.3 name and shapes", value = json!({"jsonrpc": "2.0", "id": 6, "method": "message/send", "params": {"message": {"kind": "message", "messageId": "m-3", "role": "user", "parts": [{"kind": "text", "text": "hello"}]}}})))
    )),
    responses(
        (status = 200, description = "a JSON-RPC response (`result` or `error`), or for the streaming methods an SSE stream of them", content(
            (crate::inbound::openapi::schemas::JsonRpcResponse = "application/json"),
            (String = "text/event-stream")
        )),
        (status = 401, description = "no or wrong API key")
    ))]
pub async fn jsonrpc(req: HttpRequest, state: web::Data<A2aState>, body: web::Bytes) -> HttpResponse {
    // The API key was checked before the request got here (inbound::auth).
    let null = Value::Null;
    if let Some(version) = req.headers().get("a2a-version").and_then(|v| v.to_str().ok())
        && !matches!(version.trim(), "1.0" | "1" | "0.3" | "0.3.0")
    {
        return json_response(
            StatusCode::OK,
            rpc_error(
                &null,
                -32009,
                &format!("A2A version {version} is not supported; use 1.0 or 0.3"),
                "VERSION_NOT_SUPPORTED",
            ),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::OK,
            rpc_error(&null, -32700, "parse error: the body is not JSON", "PARSE_ERROR"),
        );
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let (Some("2.0"), Some(method)) =
        (request.get("jsonrpc").and_then(Value::as_str), request.get("method").and_then(Value::as_str))
    else {
        return json_response(
            StatusCode::OK,
            rpc_error(&id, -32600, "invalid request: jsonrpc must be \"2.0\" and method a string", "INVALID_REQUEST"),
        );
    };
    let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
    let v03 = method.contains('/');
    let trace = request_trace(&req);
    let handler = &state.handler;
    let reply = |result: Result<Value, A2aServerError>| match result {
        Ok(value) => json_response(StatusCode::OK, ok(&id, value)),
        Err(e) => json_response(StatusCode::OK, from_error(&id, &e)),
    };
    let task_id = || {
        params
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| A2aServerError::InvalidParams(String::from("params.id is required")))
    };

    let sends = matches!(method, "SendMessage" | "message/send" | "SendStreamingMessage" | "message/stream");
    if sends && !accepts_our_output(&params) {
        return json_response(
            StatusCode::OK,
            rpc_error(
                &id,
                -32005,
                "this agent answers text/plain and application/json only",
                "CONTENT_TYPE_NOT_SUPPORTED",
            ),
        );
    }
    match method {
        "SendMessage" | "message/send" => {
            let message = match parse_message(&params) {
                Ok(m) => m,
                Err(e) => return reply(Err(A2aServerError::InvalidParams(e))),
            };
            let immediately =
                params.pointer("/configuration/returnImmediately").and_then(Value::as_bool).unwrap_or(false)
                    || params.pointer("/configuration/blocking").and_then(Value::as_bool) == Some(false);
            let accepted = match handler.accept(message, &trace).await {
                Ok(t) => t,
                Err(e) => return reply(Err(e)),
            };
            if immediately {
                let task = accepted.task.clone();
                let background = Arc::clone(handler);
                tokio::spawn(async move {
                    if let Err(e) = background.run(accepted, trace).await {
                        tracing::error!(error = ?e, "A2A task failed in the background");
                    }
                });
                return reply(Ok(task_result(&task, v03)));
            }
            reply(handler.run(accepted, trace).await.map(|t| task_result(&t.task, v03)))
        }
        "SendStreamingMessage" | "message/stream" => {
            let message = match parse_message(&params) {
                Ok(m) => m,
                Err(e) => return reply(Err(A2aServerError::InvalidParams(e))),
            };
            let accepted = match handler.accept(message, &trace).await {
                Ok(t) => t,
                Err(e) => return reply(Err(e)),
            };
            let (tx, rx) = mpsc::channel(16);
            let background = Arc::clone(handler);
            let event_id = id.clone();
            tokio::spawn(async move {
                let send = |v: Value| {
                    let tx = tx.clone();
                    let id = event_id.clone();
                    async move { tx.send(ok(&id, v)).await.is_ok() }
                };
                if !send(task_result(&accepted.task, v03)).await {
                    return;
                }
                match background.run(accepted, trace).await {
                    Ok(done) => {
                        for event in artifact_events(&done.task, v03) {
                            send(event).await;
                        }
                        send(status_event(&done.task, v03)).await;
                    }
                    Err(e) => {
                        let _ = tx.send(from_error(&event_id, &e)).await;
                    }
                }
            });
            sse(rx)
        }
        "GetTask" | "tasks/get" => {
            let history = params.get("historyLength").and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
            let result = match task_id() {
                Ok(id) => handler.get(&id, history).await,
                Err(e) => Err(e),
            };
            reply(result.map(|t| if v03 { v03_task(&t) } else { json!(t) }))
        }
        "ListTasks" | "tasks/list" => {
            let size = params.get("pageSize").and_then(Value::as_u64).map_or(50, |n| u32::try_from(n).unwrap_or(100));
            let context = params.get("contextId").and_then(Value::as_str).map(str::to_owned);
            let token = params.get("pageToken").and_then(Value::as_str);
            reply(handler.list(context, size, token).await.map(|(tasks, next)| {
                let tasks: Vec<Value> = tasks.iter().map(|t| if v03 { v03_task(t) } else { json!(t) }).collect();
                json!({"tasks": tasks, "nextPageToken": next, "pageSize": size})
            }))
        }
        "CancelTask" | "tasks/cancel" => {
            let result = match task_id() {
                Ok(id) => handler.cancel(&id).await,
                Err(e) => Err(e),
            };
            reply(result.map(|t| if v03 { v03_task(&t) } else { json!(t) }))
        }
        "SubscribeToTask" | "tasks/resubscribe" => {
            let first = match task_id() {
                Ok(id) => handler.current(&id).await,
                Err(e) => Err(e),
            };
            let first = match first {
                Ok(t) => t,
                Err(e) => return reply(Err(e)),
            };
            let (tx, rx) = mpsc::channel(16);
            let follow = Arc::clone(handler);
            let event_id = id.clone();
            tokio::spawn(async move {
                let mut last = first.task.status.state;
                if tx.send(ok(&event_id, task_result(&first.task, v03))).await.is_err() {
                    return;
                }
                let deadline = Instant::now() + Duration::from_secs(600);
                while !(last.is_terminal() || last.is_interrupted()) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let Ok(now) = follow.current(&first.task.id).await else { break };
                    if now.task.status.state != last {
                        last = now.task.status.state;
                        for event in artifact_events(&now.task, v03) {
                            let _ = tx.send(ok(&event_id, event)).await;
                        }
                        if tx.send(ok(&event_id, status_event(&now.task, v03))).await.is_err() {
                            break;
                        }
                    }
                }
            });
            sse(rx)
        }
        "CreateTaskPushNotificationConfig"
        | "GetTaskPushNotificationConfig"
        | "ListTaskPushNotificationConfigs"
        | "DeleteTaskPushNotificationConfig"
        | "tasks/pushNotificationConfig/set"
        | "tasks/pushNotificationConfig/get"
        | "tasks/pushNotificationConfig/list"
        | "tasks/pushNotificationConfig/delete" => json_response(
            StatusCode::OK,
            rpc_error(
                &id,
                -32003,
                "push notifications are not supported (see the agent card)",
                "PUSH_NOTIFICATION_NOT_SUPPORTED",
            ),
        ),
        "GetExtendedAgentCard" | "agent/getAuthenticatedExtendedCard" => json_response(
            StatusCode::OK,
            rpc_error(&id, -32007, "this agent has no extended card", "EXTENDED_AGENT_CARD_NOT_CONFIGURED"),
        ),
        other => json_response(
            StatusCode::OK,
            rpc_error(&id, -32601, &format!("method not found: {other}"), "METHOD_NOT_FOUND"),
        ),
    }
}
