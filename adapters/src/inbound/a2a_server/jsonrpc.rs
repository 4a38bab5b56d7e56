//! The JSON-RPC 2.0 binding: `POST /a2a`, one request per POST, v1.0 method names and
//! their v0.3 ones (which get v0.3-shaped objects back); protocol errors are JSON-RPC
//! errors in a 200 answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::A2aState;
use super::ops::{self, Failure};
use super::shapes::{json_response, sse};
use crate::inbound::trace::request_trace;

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
    let reply = |result: Result<Value, Failure>| match result {
        Ok(value) => json_response(StatusCode::OK, ok(&id, value)),
        Err(e) => json_response(StatusCode::OK, from_failure(&id, &e)),
    };
    let streamed = |result: Result<ops::Events, Failure>| match result {
        Ok(events) => sse(enveloped(events, id.clone())),
        Err(e) => json_response(StatusCode::OK, from_failure(&id, &e)),
    };
    let task_id = || {
        params
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Failure::invalid("params.id is required"))
    };

    match method {
        "SendMessage" | "message/send" => reply(ops::send(handler, &params, trace, v03).await),
        "SendStreamingMessage" | "message/stream" => streamed(ops::stream(handler, &params, trace, v03).await),
        "GetTask" | "tasks/get" => {
            let history = params.get("historyLength").and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
            reply(match task_id() {
                Ok(task) => ops::get(handler, &task, history, v03).await,
                Err(e) => Err(e),
            })
        }
        "ListTasks" | "tasks/list" => {
            let size = params.get("pageSize").and_then(Value::as_u64).map(|n| u32::try_from(n).unwrap_or(100));
            let context = params.get("contextId").and_then(Value::as_str).map(str::to_owned);
            let token = params.get("pageToken").and_then(Value::as_str);
            reply(ops::list(handler, context, size, token, v03).await)
        }
        "CancelTask" | "tasks/cancel" => reply(match task_id() {
            Ok(task) => ops::cancel(handler, &task, trace, v03).await,
            Err(e) => Err(e),
        }),
        "SubscribeToTask" | "tasks/resubscribe" => streamed(match task_id() {
            Ok(task) => ops::subscribe(handler, &task, v03).await,
            Err(e) => Err(e),
        }),
        "CreateTaskPushNotificationConfig" => reply(ops::set_push(handler, &params, None).await),
        "GetTaskPushNotificationConfig" | "DeleteTaskPushNotificationConfig" => {
            let field = |name: &str| params.get(name).and_then(Value::as_str).map(str::to_owned);
            let (Some(task), Some(config)) = (field("taskId"), field("id")) else {
                return reply(Err(Failure::invalid("params.taskId and params.id are required")));
            };
            reply(if method.starts_with("Get") {
                ops::get_push(handler, &task, &config).await
            } else {
                ops::delete_push(handler, &task, &config).await
            })
        }
        "ListTaskPushNotificationConfigs" => match params.get("taskId").and_then(Value::as_str) {
            Some(task) => reply(ops::list_push(handler, task).await),
            None => reply(Err(Failure::invalid("params.taskId is required"))),
        },
        "tasks/pushNotificationConfig/set"
        | "tasks/pushNotificationConfig/get"
        | "tasks/pushNotificationConfig/list"
        | "tasks/pushNotificationConfig/delete" => reply(Err(Failure::invalid(
            "push notifications are offered to A2A 1.0 clients (CreateTaskPushNotificationConfig and the rest)",
        ))),
        "GetExtendedAgentCard" | "agent/getAuthenticatedExtendedCard" => reply(Err(Failure::no_extended_card())),
        other => json_response(
            StatusCode::OK,
            rpc_error(&id, -32601, &format!("method not found: {other}"), "METHOD_NOT_FOUND"),
        ),
    }
}

/// Each event as a JSON-RPC response with the request's id.
fn enveloped(mut events: ops::Events, id: Value) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let response = match event {
                Ok(value) => ok(&id, value),
                Err(e) => from_failure(&id, &e),
            };
            if tx.send(response).await.is_err() {
                break;
            }
        }
    });
    rx
}

fn rpc_error(id: &Value, code: i64, message: &str, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "a2a-protocol.org"}
    ]}})
}

fn from_failure(id: &Value, e: &Failure) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code(), "message": e.message(), "data": e.error_info()}})
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}
