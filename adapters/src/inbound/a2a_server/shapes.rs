//! The objects as each protocol version writes them: v1.0 ProtoJSON, and v0.3 for older
//! peers (`kind` fields, lower-case states, file parts nested under `file`); the stream
//! events; and reading a message in either shape.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use switchboard_domain::a2a::{Message, Task, TaskState};
use tokio::sync::mpsc;

/// How often a quiet stream gets a comment line.
pub(super) const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

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

pub(super) fn v03_task(task: &Task) -> Value {
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

pub(super) fn task_result(task: &Task, v03: bool) -> Value {
    if v03 { v03_task(task) } else { json!({"task": task}) }
}

pub(super) fn status_event(task: &Task, v03: bool) -> Value {
    let last = task.status.state.is_terminal() || task.status.state.is_interrupted();
    if v03 {
        let mut status = json!(task.status);
        v03_status(&mut status, task.status.state);
        json!({"kind": "status-update", "taskId": task.id, "contextId": task.context_id, "status": status, "final": last})
    } else {
        json!({"statusUpdate": {"taskId": task.id, "contextId": task.context_id, "status": task.status}})
    }
}

pub(super) fn artifact_events(task: &Task, v03: bool) -> Vec<Value> {
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
pub(super) fn accepts_our_output(params: &Value) -> bool {
    let Some(modes) = params.pointer("/configuration/acceptedOutputModes").and_then(Value::as_array) else {
        return true;
    };
    modes.is_empty()
        || modes.iter().filter_map(Value::as_str).any(|m| {
            matches!(m.trim(), "text/plain" | "application/json" | "text/*" | "application/*" | "*/*" | "text" | "data")
        })
}

/// A message in v1.0 or v0.3 shape (v0.3 file parts are moved to v1.0 fields).
pub(super) fn parse_message(params: &Value) -> Result<Message, String> {
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

/// An SSE stream of `rx`'s events, each one `data:` line; a comment every 15 s keeps
/// proxies from closing a quiet stream.
pub(super) fn sse(rx: mpsc::Receiver<Value>) -> HttpResponse {
    let every = KEEP_ALIVE;
    let keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let stream = futures_util::stream::unfold((rx, keep_alive), |(mut rx, mut keep_alive)| async move {
        let chunk = tokio::select! {
            event = rx.recv() => format!("data: {}\n\n", event?),
            _ = keep_alive.tick() => String::from(": keep-alive\n\n"),
        };
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), (rx, keep_alive)))
    });
    HttpResponse::Ok()
        .insert_header(("content-type", "text/event-stream"))
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

pub(super) fn json_response(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}
