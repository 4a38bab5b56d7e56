//! The A2A operations, whichever binding carries them (JSON-RPC at `/a2a`, HTTP+JSON
//! under `/a2a/`): each takes its parameters as the v1.0 objects and answers the result
//! object, a stream of events, or a [`Failure`] with its A2A code and reason. The
//! bindings only read requests and write answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::{Value, json};
use switchboard_application::usecases::a2a_server::{A2aServerError, HandleA2a};
use switchboard_domain::a2a::PushConfig;
use switchboard_shared::TraceContext;
use tokio::sync::mpsc;

use super::shapes::{accepts_our_output, artifact_events, parse_message, status_event, task_result, v03_task};

/// Why an operation was not carried out: the task use case's error, or one of the
/// protocol's own (a capability not declared, content this agent does not produce).
#[derive(Debug)]
pub(super) enum Failure {
    Task(A2aServerError),
    Protocol { code: i64, reason: &'static str, message: String },
}

impl From<A2aServerError> for Failure {
    fn from(e: A2aServerError) -> Self {
        Self::Task(e)
    }
}

impl Failure {
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::Task(A2aServerError::InvalidParams(message.into()))
    }

    pub(super) fn no_extended_card() -> Self {
        Self::Protocol {
            code: -32007,
            reason: "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            message: String::from("this agent has no extended card"),
        }
    }

    fn content_type_not_supported() -> Self {
        Self::Protocol {
            code: -32005,
            reason: "CONTENT_TYPE_NOT_SUPPORTED",
            message: String::from("this agent answers text/plain and application/json only"),
        }
    }

    pub(super) fn code(&self) -> i64 {
        match self {
            Self::Task(e) => e.code(),
            Self::Protocol { code, .. } => *code,
        }
    }

    pub(super) fn reason(&self) -> &'static str {
        match self {
            Self::Task(e) => e.reason(),
            Self::Protocol { reason, .. } => reason,
        }
    }

    /// The message for the caller; an internal error is logged with its cause here and
    /// answered without it.
    pub(super) fn message(&self) -> String {
        match self {
            Self::Task(e) => {
                if e.code() == -32603 {
                    tracing::error!(error = ?e, "A2A request failed");
                }
                e.to_string()
            }
            Self::Protocol { message, .. } => message.clone(),
        }
    }

    /// The HTTP status and `google.rpc.Code` name the HTTP+JSON binding answers, as the
    /// official SDK maps them.
    pub(super) fn http_status(&self) -> (StatusCode, &'static str) {
        match self.code() {
            -32001 | -32601 => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            -32002 | -32003 | -32004 | -32007 | -32008 | -32009 => (StatusCode::BAD_REQUEST, "FAILED_PRECONDITION"),
            -32603 | -32006 => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            _ => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        }
    }

    /// The `error.data` / `error.details` entry every binding carries.
    pub(super) fn error_info(&self) -> Value {
        json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": self.reason(), "domain": "a2a-protocol.org"}])
    }
}

/// A stream's events, in order; a failure ends it.
pub(super) type Events = mpsc::Receiver<Result<Value, Failure>>;

fn task_value(task: &switchboard_domain::a2a::Task, v03: bool) -> Value {
    if v03 { v03_task(task) } else { json!(task) }
}

fn send_checks(params: &Value) -> Result<switchboard_domain::a2a::Message, Failure> {
    if !accepts_our_output(params) {
        return Err(Failure::content_type_not_supported());
    }
    parse_message(params).map_err(Failure::invalid)
}

/// The push config a send carries (`configuration.taskPushNotificationConfig`).
fn push_in(params: &Value) -> Result<Option<PushConfig>, Failure> {
    params
        .pointer("/configuration/taskPushNotificationConfig")
        .filter(|v| !v.is_null())
        .map(|v| {
            serde_json::from_value::<PushConfig>(v.clone())
                .map_err(|e| Failure::invalid(format!("configuration.taskPushNotificationConfig: {e}")))
        })
        .transpose()
}

/// `SendMessage`: blocks until the task ends or asks, unless `returnImmediately` (or
/// v0.3's `blocking: false`).
pub(super) async fn send(
    handler: &Arc<HandleA2a>,
    params: &Value,
    trace: TraceContext,
    v03: bool,
) -> Result<Value, Failure> {
    let message = send_checks(params)?;
    let immediately = params.pointer("/configuration/returnImmediately").and_then(Value::as_bool).unwrap_or(false)
        || params.pointer("/configuration/blocking").and_then(Value::as_bool) == Some(false);
    let push = push_in(params)?;
    if immediately {
        // On the job queue: it runs even if this process dies now.
        let accepted = handler.accept_for_later_with(message, push, &trace).await?;
        return Ok(task_result(&accepted.task, v03));
    }
    let accepted = handler.accept_with(message, push, &trace).await?;
    Ok(task_result(&handler.run(accepted, trace).await?.task, v03))
}

/// `SendStreamingMessage`: the task as accepted, then its artifacts and its last status.
/// The task runs on the job queue, so a crash resumes it; the stream follows it.
pub(super) async fn stream(
    handler: &Arc<HandleA2a>,
    params: &Value,
    trace: TraceContext,
    v03: bool,
) -> Result<Events, Failure> {
    let message = send_checks(params)?;
    let push = push_in(params)?;
    let changes = handler.changes();
    let accepted = handler.accept_for_later_with(message, push, &trace).await?;
    Ok(follow(handler, accepted, changes, v03))
}

/// `GetTask`.
pub(super) async fn get(
    handler: &HandleA2a,
    id: &str,
    history_length: Option<usize>,
    v03: bool,
) -> Result<Value, Failure> {
    Ok(task_value(&handler.get(id, history_length).await?, v03))
}

/// `ListTasks`: newest first, `nextPageToken` `""` on the last page, `totalSize` all of them.
pub(super) async fn list(
    handler: &HandleA2a,
    context_id: Option<String>,
    page_size: Option<u32>,
    page_token: Option<&str>,
    v03: bool,
) -> Result<Value, Failure> {
    let size = page_size.unwrap_or(50);
    let (tasks, next) = handler.list(context_id.clone(), size, page_token).await?;
    let total = handler.count(context_id).await?;
    let tasks: Vec<Value> = tasks.iter().map(|t| task_value(t, v03)).collect();
    Ok(json!({"tasks": tasks, "nextPageToken": next, "pageSize": size.clamp(1, 100), "totalSize": total}))
}

/// `CreateTaskPushNotificationConfig`: `params` is a `TaskPushNotificationConfig`; the
/// task id may come from the path instead (HTTP+JSON).
pub(super) async fn set_push(handler: &HandleA2a, params: &Value, task_id: Option<&str>) -> Result<Value, Failure> {
    let mut config: PushConfig = serde_json::from_value(params.clone()).map_err(|e| {
        Failure::invalid(format!("a TaskPushNotificationConfig {{taskId, url, token?, authentication?}}: {e}"))
    })?;
    if let Some(task_id) = task_id {
        config.task_id = task_id.to_owned();
    }
    Ok(json!(handler.set_push_config(config).await?))
}

/// `GetTaskPushNotificationConfig`.
pub(super) async fn get_push(handler: &HandleA2a, task_id: &str, id: &str) -> Result<Value, Failure> {
    Ok(json!(handler.push_config(task_id, id).await?))
}

/// `ListTaskPushNotificationConfigs`: all of the task's, in one page.
pub(super) async fn list_push(handler: &HandleA2a, task_id: &str) -> Result<Value, Failure> {
    Ok(json!({"configs": handler.push_configs(task_id).await?, "nextPageToken": ""}))
}

/// `DeleteTaskPushNotificationConfig`.
pub(super) async fn delete_push(handler: &HandleA2a, task_id: &str, id: &str) -> Result<Value, Failure> {
    handler.delete_push_config(task_id, id).await?;
    Ok(json!({}))
}

/// `CancelTask`, and the agent's task it waits on.
pub(super) async fn cancel(handler: &HandleA2a, id: &str, trace: TraceContext, v03: bool) -> Result<Value, Failure> {
    Ok(task_value(&handler.cancel(id, &trace).await?, v03))
}

/// How often a subscriber reads its task even without a change announced in this
/// process: another replica may have changed it.
const SUBSCRIBE_FALLBACK: Duration = Duration::from_secs(2);

/// `SubscribeToTask`: the task now, then each change until it ends or asks. A task that
/// has ended is refused with UnsupportedOperationError, as the spec (and both official
/// SDKs) answer.
pub(super) async fn subscribe(handler: &Arc<HandleA2a>, id: &str, v03: bool) -> Result<Events, Failure> {
    // Listening before the first read: a change between the two is not missed.
    let changes = handler.changes();
    let first = handler.current(id).await?;
    if first.task.status.state.is_terminal() {
        return Err(Failure::Task(A2aServerError::UnsupportedOperation(format!(
            "task {id} is {} and has nothing more to stream",
            first.task.status.state.as_str()
        ))));
    }
    Ok(follow(handler, first, changes, v03))
}

/// The task as `first` shows it, then each change until it ends or asks (at most ten
/// minutes). It wakes when this process saves the task, and reads it every
/// [`SUBSCRIBE_FALLBACK`] in case another replica did.
fn follow(
    handler: &Arc<HandleA2a>,
    first: switchboard_application::ports::StoredTask,
    mut changes: tokio::sync::broadcast::Receiver<String>,
    v03: bool,
) -> Events {
    let (tx, rx) = mpsc::channel(16);
    let follow = Arc::clone(handler);
    tokio::spawn(async move {
        let mut last = first.task.status.state;
        if tx.send(Ok(task_result(&first.task, v03))).await.is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        while !(last.is_terminal() || last.is_interrupted()) && Instant::now() < deadline {
            tokio::select! {
                changed = changes.recv() => match changed {
                    Ok(changed) if changed != first.task.id => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    // This task, or missed announcements: read it.
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                },
                () = tokio::time::sleep(SUBSCRIBE_FALLBACK) => {}
                () = tx.closed() => break,
            }
            let Ok(now) = follow.current(&first.task.id).await else { break };
            if now.task.status.state != last {
                last = now.task.status.state;
                if last.is_terminal() || last.is_interrupted() {
                    for event in artifact_events(&now.task, v03) {
                        let _ = tx.send(Ok(event)).await;
                    }
                }
                if tx.send(Ok(status_event(&now.task, v03))).await.is_err() {
                    break;
                }
            }
        }
    });
    rx
}
