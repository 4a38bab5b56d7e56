//! The HTTP+JSON (REST) binding of A2A v1.0, beside JSON-RPC and over the same tasks:
//! `POST /a2a/message:send`, `POST /a2a/message:stream`, `GET /a2a/tasks/{id}`,
//! `GET /a2a/tasks`, `POST /a2a/tasks/{id}:cancel`, `GET`/`POST /a2a/tasks/{id}:subscribe`
//! (paths relative to the interface URL `/a2a` the card lists). Bodies are the v1.0
//! objects; errors are HTTP statuses with a `google.rpc.Status` body whose `details`
//! carry the A2A reason, as the official SDK maps them.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::A2aState;
use super::ops::{self, Failure};
use super::shapes::{json_response, sse};
use crate::inbound::trace::request_trace;

pub const REST_SEND_PATH: &str = "/a2a/message:send";
pub const REST_STREAM_PATH: &str = "/a2a/message:stream";
pub const REST_TASKS_PATH: &str = "/a2a/tasks";
pub const REST_TASK_PATH: &str = "/a2a/tasks/{id:[^/:]+}";
pub const REST_CANCEL_PATH: &str = "/a2a/tasks/{id:[^/:]+}:cancel";
pub const REST_SUBSCRIBE_PATH: &str = "/a2a/tasks/{id:[^/:]+}:subscribe";
pub const REST_PUSH_CONFIGS_PATH: &str = "/a2a/tasks/{id:[^/:]+}/pushNotificationConfigs";
pub const REST_PUSH_CONFIG_PATH: &str = "/a2a/tasks/{id:[^/:]+}/pushNotificationConfigs/{config}";
pub const REST_EXTENDED_CARD_PATH: &str = "/a2a/extendedAgentCard";

/// The error body: `{"error": {code, status, message, details}}`.
fn error_body(e: &Failure) -> Value {
    let (status, name) = e.http_status();
    json!({"error": {"code": status.as_u16(), "status": name, "message": e.message(), "details": e.error_info()}})
}

fn failure(e: &Failure) -> HttpResponse {
    json_response(e.http_status().0, error_body(e))
}

fn answer(result: Result<Value, Failure>) -> HttpResponse {
    match result {
        Ok(value) => json_response(StatusCode::OK, value),
        Err(e) => failure(&e),
    }
}

/// Each event as it is (a `StreamResponse`); a failure as the error body, ending it.
fn streamed(result: Result<ops::Events, Failure>) -> HttpResponse {
    let mut events = match result {
        Ok(events) => events,
        Err(e) => return failure(&e),
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let value = event.unwrap_or_else(|e| error_body(&e));
            if tx.send(value).await.is_err() {
                break;
            }
        }
    });
    sse(rx)
}

/// The request's A2A version, when it names one this server does not speak.
fn unsupported_version(req: &HttpRequest) -> Option<Failure> {
    let version = req.headers().get("a2a-version").and_then(|v| v.to_str().ok())?;
    (!matches!(version.trim(), "1.0" | "1")).then(|| Failure::Protocol {
        code: -32009,
        reason: "VERSION_NOT_SUPPORTED",
        message: format!("A2A version {version} is not supported over HTTP+JSON; use 1.0"),
    })
}

fn body_json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Failure::invalid("the body must be a JSON object {message, configuration?, metadata?}"))
}

#[utoipa::path(post, path = "/a2a/message:send", tag = "A2A", security(("api_key" = [])),
    summary = "SendMessage (HTTP+JSON binding)",
    description = "A2A v1.0 over HTTP+JSON: the body is a `SendMessageRequest` `{message, configuration?, metadata?}`, the answer `{\"task\": Task}`. Blocks until the task ends or asks the user (`INPUT_REQUIRED`) unless `configuration.returnImmediately`. The same tasks as the JSON-RPC binding at `/a2a`; skills `route` and `deliver` as the agent card describes.",
    request_body(content = Object, description = "SendMessageRequest", content_type = "application/json"),
    responses((status = 200, description = "`{\"task\": Task}`", body = Object), (status = 400, description = "`{\"error\": {code, status: INVALID_ARGUMENT | FAILED_PRECONDITION, message, details}}`"), (status = 401, description = "no or wrong API key"), (status = 404, description = "`NOT_FOUND`: the message's `taskId` names no task")))]
pub async fn rest_send(req: HttpRequest, state: web::Data<A2aState>, body: web::Bytes) -> HttpResponse {
    if let Some(e) = unsupported_version(&req) {
        return failure(&e);
    }
    let trace = request_trace(&req);
    answer(match body_json(&body) {
        Ok(params) => ops::send(&state.handler, &params, trace, false).await,
        Err(e) => Err(e),
    })
}

#[utoipa::path(post, path = "/a2a/message:stream", tag = "A2A", security(("api_key" = [])),
    summary = "SendStreamingMessage (HTTP+JSON binding)",
    description = "As `message:send`, answered as a `text/event-stream` of `StreamResponse` objects (`{task}`, `{artifactUpdate}`, `{statusUpdate}`), one per `data:` line, with a keep-alive comment every 15 s; the stream ends with the task.",
    request_body(content = Object, description = "SendMessageRequest", content_type = "application/json"),
    responses((status = 200, description = "an SSE stream of StreamResponse", content_type = "text/event-stream", body = String), (status = 400, description = "the error body"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_stream(req: HttpRequest, state: web::Data<A2aState>, body: web::Bytes) -> HttpResponse {
    if let Some(e) = unsupported_version(&req) {
        return failure(&e);
    }
    let trace = request_trace(&req);
    streamed(match body_json(&body) {
        Ok(params) => ops::stream(&state.handler, &params, trace, false).await,
        Err(e) => Err(e),
    })
}

#[utoipa::path(get, path = "/a2a/tasks/{id}", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id"), ("historyLength" = Option<u32>, Query, description = "at most this many of the latest history messages")),
    summary = "GetTask (HTTP+JSON binding)",
    description = "The task with its status, artifacts and history (the latest `historyLength` messages when given).",
    responses((status = 200, description = "the Task", body = Object), (status = 404, description = "`NOT_FOUND` / `TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_get_task(
    state: web::Data<A2aState>,
    id: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let history = match query.get("historyLength").map(|n| n.parse::<usize>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return failure(&Failure::invalid("historyLength must be a whole number")),
    };
    answer(ops::get(&state.handler, &id, history, false).await)
}

#[utoipa::path(get, path = "/a2a/tasks", tag = "A2A", security(("api_key" = [])),
    params(("contextId" = Option<String>, Query, description = "only this conversation's tasks"), ("pageSize" = Option<u32>, Query, description = "1 to 100 (default 50)"), ("pageToken" = Option<String>, Query, description = "`nextPageToken` of the previous page")),
    summary = "ListTasks (HTTP+JSON binding)",
    description = "Tasks newest first, a page at a time; pass `nextPageToken` back as `pageToken` for the next page.",
    responses((status = 200, description = "`{tasks, nextPageToken, pageSize}`, newest first; `nextPageToken` is `\"\"` on the last page", body = Object), (status = 400, description = "a bad page token or size"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_list_tasks(state: web::Data<A2aState>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let size = match query.get("pageSize").map(|n| n.parse::<u32>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return failure(&Failure::invalid("pageSize must be a whole number")),
    };
    let context = query.get("contextId").cloned();
    answer(ops::list(&state.handler, context, size, query.get("pageToken").map(String::as_str), false).await)
}

#[utoipa::path(post, path = "/a2a/tasks/{id}:cancel", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id")),
    summary = "CancelTask (HTTP+JSON binding)",
    description = "Cancels a task that has not ended; one that has answers `TASK_NOT_CANCELABLE`.",
    responses((status = 200, description = "the Task, now CANCELED", body = Object), (status = 400, description = "`FAILED_PRECONDITION` / `TASK_NOT_CANCELABLE`: it already ended"), (status = 404, description = "`NOT_FOUND` / `TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_cancel(req: HttpRequest, state: web::Data<A2aState>, id: web::Path<String>) -> HttpResponse {
    answer(ops::cancel(&state.handler, &id, request_trace(&req), false).await)
}

#[utoipa::path(post, path = "/a2a/tasks/{id}:subscribe", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id")),
    summary = "SubscribeToTask (HTTP+JSON binding; GET works too)",
    description = "An SSE stream: the Task now, then each change, until it ends or asks the user. A task that has already ended is refused (400).",
    responses((status = 200, description = "an SSE stream of StreamResponse", content_type = "text/event-stream", body = String), (status = 400, description = "`FAILED_PRECONDITION` / `UNSUPPORTED_OPERATION`: the task has ended"), (status = 404, description = "`NOT_FOUND` / `TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_subscribe(state: web::Data<A2aState>, id: web::Path<String>) -> HttpResponse {
    streamed(ops::subscribe(&state.handler, &id, false).await)
}

#[utoipa::path(post, path = "/a2a/tasks/{id}/pushNotificationConfigs", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id")),
    request_body(content = Object, description = "TaskPushNotificationConfig `{id?, url, token?, authentication?: {scheme, credentials}}`", content_type = "application/json"),
    summary = "CreateTaskPushNotificationConfig (HTTP+JSON binding)",
    description = "Registers where the task's updates are posted: each change of the task is posted as a `StreamResponse` (`{\"task\": Task}`) through the durable job queue (retried with backoff, dead after the last attempt and listed by `GET /api/v1/jobs/dead`), with `X-A2A-Notification-Token: <token>` and `Authorization: <scheme> <credentials>` when given. URLs resolving to loopback, private or link-local addresses are refused unless `SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL`.",
    responses((status = 200, description = "the config, with its id", body = Object), (status = 400, description = "`INVALID_ARGUMENT`: a bad or internal URL"), (status = 404, description = "`TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_push_configs(state: web::Data<A2aState>, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    answer(match body_json(&body) {
        Ok(params) => ops::set_push(&state.handler, &params, Some(&id)).await,
        Err(e) => Err(e),
    })
}

#[utoipa::path(get, path = "/a2a/extendedAgentCard", tag = "A2A", security(("api_key" = [])),
    summary = "GetExtendedAgentCard (HTTP+JSON binding): none",
    description = "This agent has no extended card: 400 `FAILED_PRECONDITION` / `EXTENDED_AGENT_CARD_NOT_CONFIGURED`.",
    responses((status = 400, description = "`FAILED_PRECONDITION` / `EXTENDED_AGENT_CARD_NOT_CONFIGURED`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_extended_card() -> HttpResponse {
    failure(&Failure::no_extended_card())
}

#[utoipa::path(get, path = "/a2a/tasks/{id}/pushNotificationConfigs", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id")),
    summary = "ListTaskPushNotificationConfigs (HTTP+JSON binding)",
    description = "The task's push configs, in one page: `{configs, nextPageToken: \"\"}`.",
    responses((status = 200, description = "`{configs, nextPageToken}`", body = Object), (status = 404, description = "`TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_push_configs_list(state: web::Data<A2aState>, id: web::Path<String>) -> HttpResponse {
    answer(ops::list_push(&state.handler, &id).await)
}

#[utoipa::path(get, path = "/a2a/tasks/{id}/pushNotificationConfigs/{config}", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id"), ("config" = String, Path, description = "the config id")),
    summary = "GetTaskPushNotificationConfig (HTTP+JSON binding)",
    description = "One of the task's push configs.",
    responses((status = 200, description = "the config", body = Object), (status = 404, description = "`TASK_NOT_FOUND`: no such task, or no such config of it"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_push_config_get(state: web::Data<A2aState>, path: web::Path<(String, String)>) -> HttpResponse {
    answer(ops::get_push(&state.handler, &path.0, &path.1).await)
}

#[utoipa::path(delete, path = "/a2a/tasks/{id}/pushNotificationConfigs/{config}", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id"), ("config" = String, Path, description = "the config id")),
    summary = "DeleteTaskPushNotificationConfig (HTTP+JSON binding)",
    description = "Stops the posts to that config; deleting one that is not there is not an error. Posts already queued for it are dropped.",
    responses((status = 200, description = "`{}`", body = Object), (status = 404, description = "`TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_push_config_delete(state: web::Data<A2aState>, path: web::Path<(String, String)>) -> HttpResponse {
    answer(ops::delete_push(&state.handler, &path.0, &path.1).await)
}

#[utoipa::path(get, path = "/a2a/tasks/{id}:subscribe", tag = "A2A", security(("api_key" = [])),
    params(("id" = String, Path, description = "the task id")),
    summary = "SubscribeToTask (HTTP+JSON binding, GET)",
    description = "As `POST /a2a/tasks/{id}:subscribe`: an SSE stream of the task now, then each change.",
    responses((status = 200, description = "an SSE stream of StreamResponse", content_type = "text/event-stream", body = String), (status = 400, description = "`FAILED_PRECONDITION` / `UNSUPPORTED_OPERATION`: the task has ended"), (status = 404, description = "`NOT_FOUND` / `TASK_NOT_FOUND`"), (status = 401, description = "no or wrong API key")))]
pub async fn rest_subscribe_get(state: web::Data<A2aState>, id: web::Path<String>) -> HttpResponse {
    rest_subscribe(state, id).await
}
