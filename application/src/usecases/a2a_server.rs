//! Switchboard as an A2A agent. Skills: `route` (hand it a user message; it classifies,
//! routes to the right agent and answers with that agent's reply, keeping the agent's
//! question open as INPUT_REQUIRED) and `deliver` (a data part in the send API's shape,
//! `{to, text, media?, buttons?, list?, ...}`, and file parts: deliver a message to a
//! WhatsApp user). Tasks are stored, so they survive a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_domain::a2a::{Artifact, Message, Part, PushConfig, Role, Task, TaskState, TaskStatus, parts_text};
use switchboard_domain::media;
use switchboard_domain::{Channel, InboundContent, WorkflowRequest};
use switchboard_shared::TraceContext;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{NewJob, a2a_task_job, push_job};
use crate::ports::{
    A2aTasks, AgentError, Clock, OpenTask, PushConfigs, PushError, PushNotifier, StoreError, StoredTask,
};
use crate::usecases::Attempt;
use crate::usecases::route::Router;
use crate::usecases::{AcceptUpload, MediaOrder, SendMessage, SendMessageError, SendOrder, UploadError};

/// Push notifications: the configs, and who posts them.
type Push = (Arc<dyn PushConfigs>, Arc<dyn PushNotifier>);

/// A2A errors with their JSON-RPC codes.
#[derive(Debug, thiserror::Error)]
pub enum A2aServerError {
    #[error("task {0} not found")]
    TaskNotFound(String),
    #[error("task {0} is already {1} and cannot be canceled")]
    TaskNotCancelable(String, &'static str),
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("push notifications are not supported (see the agent card)")]
    PushNotSupported,
    /// What the spec answers with UnsupportedOperationError, e.g. a message to, or a
    /// subscription to, a task that has ended.
    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Agent(#[from] AgentError),
}

impl A2aServerError {
    pub fn code(&self) -> i64 {
        match self {
            Self::TaskNotFound(_) => -32001,
            Self::TaskNotCancelable(..) => -32002,
            Self::InvalidParams(_) => -32602,
            Self::PushNotSupported => -32003,
            Self::UnsupportedOperation(_) => -32004,
            Self::Store(_) | Self::Agent(_) => -32603,
        }
    }

    /// The `reason` of the `google.rpc.ErrorInfo` in `error.data`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TaskNotFound(_) => "TASK_NOT_FOUND",
            Self::TaskNotCancelable(..) => "TASK_NOT_CANCELABLE",
            Self::InvalidParams(_) => "INVALID_PARAMS",
            Self::PushNotSupported => "PUSH_NOTIFICATION_NOT_SUPPORTED",
            Self::UnsupportedOperation(_) => "UNSUPPORTED_OPERATION",
            Self::Store(_) | Self::Agent(_) => "INTERNAL",
        }
    }
}

pub struct HandleA2a {
    tasks: Arc<dyn A2aTasks>,
    router: Arc<Router>,
    send: Arc<SendMessage>,
    uploads: Option<Arc<AcceptUpload>>,
    clock: Arc<dyn Clock>,
    default_number_id: String,
    /// The id of each task saved in this process, for subscribers to wake on.
    changes: tokio::sync::broadcast::Sender<String>,
    /// Push notifications: the configs, and who posts them.
    push: Option<Push>,
}

fn now_rfc3339(clock: &dyn Clock) -> Option<String> {
    clock.now().format(&Rfc3339).ok()
}

fn agent_message(context_id: &str, task_id: &str, text: String) -> Message {
    Message {
        message_id: Uuid::now_v7().to_string(),
        context_id: Some(context_id.to_owned()),
        task_id: Some(task_id.to_owned()),
        role: Role::Agent,
        parts: vec![Part::text(text)],
        metadata: None,
        extensions: Vec::new(),
        reference_task_ids: Vec::new(),
    }
}

/// The `deliver` skill's data part, when the message carries one.
fn delivery_order(message: &Message) -> Option<&Value> {
    let asked = message.metadata.as_ref().and_then(|m| m.get("skill")).and_then(Value::as_str) == Some("deliver");
    message.parts.iter().filter_map(|p| p.data.as_ref()).find(|d| asked || d.get("to").is_some())
}

impl HandleA2a {
    pub fn new(
        tasks: Arc<dyn A2aTasks>,
        router: Arc<Router>,
        send: Arc<SendMessage>,
        clock: Arc<dyn Clock>,
        default_number_id: String,
    ) -> Self {
        let (changes, _) = tokio::sync::broadcast::channel(256);
        Self { tasks, router, send, uploads: None, clock, default_number_id, changes, push: None }
    }

    /// Task ids as this process saves them: a subscriber wakes on its task's change
    /// instead of polling (a lagging receiver should read the task again).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Clients may register push notifications; each change of their task is posted.
    #[must_use]
    pub fn with_push(mut self, configs: Arc<dyn PushConfigs>, notifier: Arc<dyn PushNotifier>) -> Self {
        self.push = Some((configs, notifier));
        self
    }

    /// Whether clients may register push notifications (the card says so).
    pub fn pushes(&self) -> bool {
        self.push.is_some()
    }

    async fn save(&self, stored: &StoredTask) -> Result<(), A2aServerError> {
        self.save_with(stored, Vec::new()).await
    }

    /// Stores the task with `jobs` and a push job per registered config, in one
    /// transaction, and tells followers.
    async fn save_with(&self, stored: &StoredTask, mut jobs: Vec<NewJob>) -> Result<(), A2aServerError> {
        if let Some((configs, _)) = &self.push {
            let configs = configs.push_configs(&stored.task.id).await?;
            if !configs.is_empty() {
                let event = serde_json::to_string(&json!({"task": stored.task})).unwrap_or_default();
                let trace = switchboard_shared::TraceId::parse(&stored.trace_id)
                    .map_or_else(|_| TraceContext::new_root(), TraceContext::root_of);
                let now = self.clock.now();
                jobs.extend(configs.iter().map(|c| push_job(&stored.task.id, &c.id, event.clone(), trace, now)));
            }
        }
        if jobs.is_empty() {
            self.tasks.save(stored).await?;
        } else {
            self.tasks.save_with_jobs(stored, &jobs).await?;
        }
        // Nobody listening is fine.
        let _ = self.changes.send(stored.task.id.clone());
        Ok(())
    }

    fn push_parts(&self) -> Result<&Push, A2aServerError> {
        self.push.as_ref().ok_or(A2aServerError::PushNotSupported)
    }

    /// A push config sent with the message, for the task it starts or continues.
    async fn register_push(&self, stored: &StoredTask, push: Option<PushConfig>) -> Result<(), A2aServerError> {
        let Some(mut config) = push else { return Ok(()) };
        let (configs, notifier) = self.push_parts()?;
        notifier.check(&config.url).await.map_err(|e| A2aServerError::InvalidParams(format!("url: {e}")))?;
        config.task_id.clone_from(&stored.task.id);
        if config.id.trim().is_empty() {
            config.id = Uuid::now_v7().to_string();
        }
        configs.put_push_config(&config).await?;
        Ok(())
    }

    /// Registers (or replaces) a push config of an existing task, after checking that
    /// its URL may be posted to.
    pub async fn set_push_config(&self, mut config: PushConfig) -> Result<PushConfig, A2aServerError> {
        let (configs, notifier) = self.push_parts()?;
        if config.task_id.trim().is_empty() {
            return Err(A2aServerError::InvalidParams(String::from("taskId is required")));
        }
        if self.tasks.get(&config.task_id).await?.is_none() {
            return Err(A2aServerError::TaskNotFound(config.task_id.clone()));
        }
        notifier.check(&config.url).await.map_err(|e| A2aServerError::InvalidParams(format!("url: {e}")))?;
        if config.id.trim().is_empty() {
            config.id = Uuid::now_v7().to_string();
        }
        configs.put_push_config(&config).await?;
        tracing::info!(task_id = %config.task_id, config_id = %config.id, "push notifications registered");
        Ok(config)
    }

    /// A task's push config. An unknown task, or a config it does not have, is
    /// TaskNotFoundError, as the official SDKs' servers answer.
    pub async fn push_config(&self, task_id: &str, id: &str) -> Result<PushConfig, A2aServerError> {
        let (configs, _) = self.push_parts()?;
        if self.tasks.get(task_id).await?.is_none() {
            return Err(A2aServerError::TaskNotFound(task_id.to_owned()));
        }
        configs
            .push_config(task_id, id)
            .await?
            .ok_or_else(|| A2aServerError::TaskNotFound(format!("{task_id}'s push notification config {id}")))
    }

    /// A task's push configs.
    pub async fn push_configs(&self, task_id: &str) -> Result<Vec<PushConfig>, A2aServerError> {
        let (configs, _) = self.push_parts()?;
        if self.tasks.get(task_id).await?.is_none() {
            return Err(A2aServerError::TaskNotFound(task_id.to_owned()));
        }
        Ok(configs.push_configs(task_id).await?)
    }

    /// Deletes a task's push config; deleting one that is not there is not an error,
    /// but the task must exist (TaskNotFoundError, as the official SDKs' servers answer).
    pub async fn delete_push_config(&self, task_id: &str, id: &str) -> Result<(), A2aServerError> {
        let (configs, _) = self.push_parts()?;
        if self.tasks.get(task_id).await?.is_none() {
            return Err(A2aServerError::TaskNotFound(task_id.to_owned()));
        }
        configs.delete_push_config(task_id, id).await?;
        Ok(())
    }

    /// The job's post of one task update to one config. A config deleted meanwhile is
    /// skipped.
    ///
    /// Errors: [`PushError`]: refused (the job dies) or failed (it retries).
    pub async fn push_update(
        &self,
        task_id: &str,
        config_id: &str,
        event: &str,
        trace: &TraceContext,
    ) -> Result<(), PushError> {
        let Some((configs, notifier)) = &self.push else {
            return Err(PushError::Refused(String::from("push notifications are off")));
        };
        let config = match configs.push_config(task_id, config_id).await {
            Ok(Some(config)) => config,
            Ok(None) => return Ok(()),
            Err(e) => return Err(PushError::Failed(e.to_string())),
        };
        notifier.post(&config, event, trace).await
    }

    /// The `deliver` skill keeps a message's file parts here, to send them.
    #[must_use]
    pub fn with_uploads(mut self, uploads: Arc<AcceptUpload>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// Accepts a message: a new task, or the next turn of one waiting for input. The
    /// task is stored WORKING before any agent is asked; the caller runs it ([`Self::run`]).
    pub async fn accept(&self, message: Message, trace: &TraceContext) -> Result<StoredTask, A2aServerError> {
        self.accept_with(message, None, trace).await
    }

    /// [`Self::accept`], registering `push` (SendMessage's
    /// `configuration.taskPushNotificationConfig`) before the task is first stored, so
    /// that its first post is the WORKING task.
    pub async fn accept_with(
        &self,
        message: Message,
        push: Option<PushConfig>,
        trace: &TraceContext,
    ) -> Result<StoredTask, A2aServerError> {
        let stored = self.prepare(message, trace).await?;
        self.register_push(&stored, push).await?;
        self.save(&stored).await?;
        Ok(stored)
    }

    /// Accepts a message as [`Self::accept`] does, for a caller that will not wait on it:
    /// the task is stored with the job that runs it, in one transaction, so it runs (or
    /// ends FAILED with a reason) whatever happens to this process.
    pub async fn accept_for_later(&self, message: Message, trace: &TraceContext) -> Result<StoredTask, A2aServerError> {
        self.accept_for_later_with(message, None, trace).await
    }

    /// [`Self::accept_for_later`], registering `push` first (see [`Self::accept_with`]).
    pub async fn accept_for_later_with(
        &self,
        message: Message,
        push: Option<PushConfig>,
        trace: &TraceContext,
    ) -> Result<StoredTask, A2aServerError> {
        let stored = self.prepare(message, trace).await?;
        self.register_push(&stored, push).await?;
        self.save_with(&stored, vec![a2a_task_job(&stored.task.id, *trace, self.clock.now())]).await?;
        Ok(stored)
    }

    /// The job's run of a task accepted for later. A task no longer WORKING (canceled,
    /// or already answered by an earlier attempt) is left as it is.
    ///
    /// Errors: the run's, for the job to retry; on the job's last attempt the task ends
    /// FAILED with the reason instead, so that none stays WORKING forever.
    pub async fn run_queued(&self, task_id: &str, trace: TraceContext, attempt: Attempt) -> Result<(), A2aServerError> {
        let Some(stored) = self.tasks.get(task_id).await? else {
            tracing::warn!(task_id, "a queued A2A task is gone; nothing to run");
            return Ok(());
        };
        if stored.task.status.state != TaskState::Working {
            return Ok(());
        }
        match self.run(stored.clone(), trace).await {
            Ok(_) => Ok(()),
            Err(e) if attempt.is_last => {
                tracing::error!(error = %e, task_id, "an A2A task failed on its last attempt; it ends FAILED");
                let mut failed = self.tasks.get(task_id).await?.unwrap_or(stored);
                let context_id = failed.task.context_id.clone().unwrap_or_default();
                let reply = agent_message(
                    &context_id,
                    task_id,
                    String::from("The task could not be completed: no agent could answer. Please try again."),
                );
                failed.task.history.push(reply.clone());
                failed.task.status = TaskStatus {
                    state: TaskState::Failed,
                    message: Some(reply),
                    timestamp: now_rfc3339(self.clock.as_ref()),
                };
                self.save(&failed).await
            }
            Err(e) => Err(e),
        }
    }

    async fn prepare(&self, mut message: Message, trace: &TraceContext) -> Result<StoredTask, A2aServerError> {
        if message.message_id.trim().is_empty() {
            return Err(A2aServerError::InvalidParams(String::from("message.messageId is required")));
        }
        if message.parts.is_empty() {
            return Err(A2aServerError::InvalidParams(String::from("message.parts is empty")));
        }
        let mut stored = match message.task_id.clone() {
            Some(id) => {
                let stored = self.tasks.get(&id).await?.ok_or_else(|| A2aServerError::TaskNotFound(id.clone()))?;
                if stored.task.status.state.is_terminal() {
                    return Err(A2aServerError::UnsupportedOperation(format!(
                        "task {id} is {} and takes no more messages",
                        stored.task.status.state.as_str()
                    )));
                }
                stored
            }
            None => {
                let context_id = message.context_id.clone().unwrap_or_else(|| Uuid::now_v7().to_string());
                StoredTask {
                    task: Task {
                        id: Uuid::now_v7().to_string(),
                        context_id: Some(context_id),
                        status: TaskStatus { state: TaskState::Submitted, message: None, timestamp: None },
                        artifacts: Vec::new(),
                        history: Vec::new(),
                        metadata: None,
                    },
                    agent: None,
                    agent_task_id: None,
                    trace_id: trace.trace_id.to_string(),
                    created_at: i64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
                }
            }
        };
        message.task_id = Some(stored.task.id.clone());
        message.context_id = stored.task.context_id.clone();
        stored.task.history.push(message);
        stored.task.status =
            TaskStatus { state: TaskState::Working, message: None, timestamp: now_rfc3339(self.clock.as_ref()) };
        Ok(stored)
    }

    /// Runs the accepted task's skill to its end (or to the agent's question) and stores
    /// the outcome.
    pub async fn run(&self, mut stored: StoredTask, trace: TraceContext) -> Result<StoredTask, A2aServerError> {
        let span = tracing::info_span!("a2a_task", trace_id = %trace.trace_id, task_id = %stored.task.id);
        // A task may run in the background after its request has been answered: it
        // stays in the request's trace, as the request span's child.
        let trace = switchboard_shared::otel::continue_trace(&span, &trace);
        async move {
            let Some(message) = stored.task.history.last().cloned() else {
                return Err(A2aServerError::InvalidParams(String::from("task has no message")));
            };
            let context_id = stored.task.context_id.clone().unwrap_or_default();
            let (state, text, artifact) =
                match delivery_order(&message) {
                    Some(order) => self.deliver(order, &message.parts, &trace).await,
                    None => {
                        let open = stored.agent.clone().zip(stored.agent_task_id.clone()).map(|(agent, task_id)| {
                            OpenTask { agent: switchboard_domain::AgentName::new(agent), task_id }
                        });
                        let mut request = self.workflow_request(&message, &context_id, &trace);
                        let routed = self.router.route(&mut request, open.as_ref(), true, &trace).await?;
                        stored.agent = routed.open_task.as_ref().map(|t| t.agent.to_string());
                        stored.agent_task_id = routed.open_task.as_ref().map(|t| t.task_id.clone());
                        let state = if routed.open_task.is_some() {
                            TaskState::InputRequired
                        } else if routed.reply.is_failure() {
                            TaskState::Failed
                        } else {
                            TaskState::Completed
                        };
                        let artifact = (state == TaskState::Completed).then(
                            || json!({"agent": routed.agent.as_str(), "intent": routed.classification.intent.as_str()}),
                        );
                        (state, routed.text, artifact)
                    }
                };
            let reply = agent_message(&context_id, &stored.task.id, text.clone());
            if let Some(data) = artifact {
                stored.task.artifacts.push(Artifact {
                    artifact_id: Uuid::now_v7().to_string(),
                    name: Some(String::from("reply")),
                    description: None,
                    parts: vec![Part::text(text), Part::data(data)],
                    metadata: None,
                });
            }
            stored.task.history.push(reply.clone());
            stored.task.status =
                TaskStatus { state, message: Some(reply), timestamp: now_rfc3339(self.clock.as_ref()) };
            // A task canceled meanwhile stays canceled.
            if let Some(current) = self.tasks.get(&stored.task.id).await?
                && current.task.status.state == TaskState::Canceled
            {
                return Ok(current);
            }
            self.save(&stored).await?;
            tracing::info!(state = state.as_str(), "A2A task answered");
            Ok(stored)
        }
        .instrument(span)
        .await
    }

    fn workflow_request(&self, message: &Message, context_id: &str, trace: &TraceContext) -> WorkflowRequest {
        let text = parts_text(&message.parts);
        let metadata: BTreeMap<String, Value> = message.metadata.clone().unwrap_or_default().into_iter().collect();
        let user_id =
            metadata.get("user_id").and_then(Value::as_str).map_or_else(|| format!("a2a:{context_id}"), str::to_owned);
        WorkflowRequest {
            user_message: text.clone(),
            content: InboundContent::Text { body: text },
            user_id,
            session_id: context_id.to_owned(),
            channel: Channel::A2a,
            user_name: metadata.get("user_name").and_then(Value::as_str).map(str::to_owned),
            metadata,
            trace_id: trace.trace_id.to_string(),
            task_id: None,
            attachments: Vec::new(),
            choice: None,
        }
    }

    /// The `deliver` skill: the data part is a [`SendOrder`] (the send API's body); a
    /// file part is the message's file when the order names none (bytes are kept as an
    /// upload, a URL is sent by link).
    async fn deliver(&self, order: &Value, parts: &[Part], trace: &TraceContext) -> (TaskState, String, Option<Value>) {
        let mut order = match serde_json::from_value::<SendOrder>(order.clone()) {
            Ok(order) => order,
            Err(e) => return (TaskState::Rejected, format!("Cannot deliver: {e}"), None),
        };
        if order.media.is_none()
            && let Some(file) = parts.iter().find(|p| p.raw.is_some() || p.url.is_some())
        {
            match self.file_order(file).await {
                Ok(media) => order.media = Some(media),
                Err(UploadError::Refused { field, message }) => {
                    return (TaskState::Rejected, format!("Cannot deliver: file part {field}: {message}"), None);
                }
                Err(UploadError::Store(e)) => {
                    tracing::error!(error = %e, "deliver skill could not keep the file");
                    return (TaskState::Failed, String::from("Cannot deliver right now; try again later."), None);
                }
            }
        }
        match self.send.order(order, &self.default_number_id, *trace).await {
            Ok(id) => {
                (TaskState::Completed, format!("Accepted for delivery as {id}."), Some(json!({"delivery_id": id})))
            }
            Err(e @ (SendMessageError::Store(_) | SendMessageError::Media(_))) => {
                tracing::error!(error = %e, "deliver skill could not store the message");
                (TaskState::Failed, String::from("Cannot deliver right now; try again later."), None)
            }
            Err(e) => (TaskState::Rejected, format!("Cannot deliver: {e}"), None),
        }
    }

    /// A file part as the order's file: bytes kept as an upload, a URL sent by link.
    async fn file_order(&self, part: &Part) -> Result<MediaOrder, UploadError> {
        let refused = |message: &str| UploadError::Refused { field: "raw", message: message.to_owned() };
        let mime_type = part.media_type.clone().unwrap_or_else(|| String::from("application/octet-stream"));
        if let Some(url) = &part.url {
            return Ok(MediaOrder {
                kind: Some(media::kind_for(&mime_type)),
                link: Some(url.clone()),
                filename: part.filename.clone(),
                ..MediaOrder::default()
            });
        }
        let Some(uploads) = &self.uploads else { return Err(refused("this server keeps no files")) };
        let bytes = part.raw.as_deref().and_then(media::base64_decode).ok_or_else(|| refused("not base64"))?;
        let stored = uploads.execute(&mime_type, part.filename.clone(), bytes).await?;
        Ok(MediaOrder { key: Some(stored.key.to_string()), ..MediaOrder::default() })
    }

    pub async fn get(&self, id: &str, history_length: Option<usize>) -> Result<Task, A2aServerError> {
        let mut task = self.tasks.get(id).await?.ok_or_else(|| A2aServerError::TaskNotFound(id.to_owned()))?.task;
        if let Some(n) = history_length {
            let skip = task.history.len().saturating_sub(n);
            task.history.drain(..skip);
        }
        Ok(task)
    }

    /// Newest first; the page token is an opaque cursor, `""` on the last page.
    pub async fn list(
        &self,
        context_id: Option<String>,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<(Vec<Task>, String), A2aServerError> {
        let size = page_size.clamp(1, 100);
        let after = match page_token.filter(|t| !t.is_empty()) {
            Some(token) => Some(
                token.split_once('_').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned()))).ok_or_else(
                    || A2aServerError::InvalidParams(String::from("pageToken is not one this server gave")),
                )?,
            ),
            None => None,
        };
        let mut page = self.tasks.list(context_id, after, size + 1).await?;
        let next = if page.len() > size as usize {
            page.truncate(size as usize);
            page.last().map(|t| format!("{}_{}", t.created_at, t.task.id)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page.into_iter().map(|t| t.task).collect(), next))
    }

    /// How many tasks there are, of one context when given.
    pub async fn count(&self, context_id: Option<String>) -> Result<u64, A2aServerError> {
        Ok(self.tasks.count(context_id).await?)
    }

    /// Cancels the task, and the agent's task it waits on (when an agent asked the user
    /// something), so that neither side keeps it open.
    pub async fn cancel(&self, id: &str, trace: &TraceContext) -> Result<Task, A2aServerError> {
        let mut stored = self.tasks.get(id).await?.ok_or_else(|| A2aServerError::TaskNotFound(id.to_owned()))?;
        let state = stored.task.status.state;
        if state.is_terminal() {
            return Err(A2aServerError::TaskNotCancelable(id.to_owned(), state.as_str()));
        }
        stored.task.status =
            TaskStatus { state: TaskState::Canceled, message: None, timestamp: now_rfc3339(self.clock.as_ref()) };
        self.save(&stored).await?;
        if let (Some(agent), Some(task_id)) = (stored.agent.clone(), stored.agent_task_id.clone()) {
            let open = OpenTask { agent: switchboard_domain::AgentName::new(agent), task_id };
            self.router.cancel(&open, trace).await;
        }
        Ok(stored.task)
    }

    /// The current stored task (for streams that follow it).
    pub async fn current(&self, id: &str) -> Result<StoredTask, A2aServerError> {
        self.tasks.get(id).await?.ok_or_else(|| A2aServerError::TaskNotFound(id.to_owned()))
    }
}

#[cfg(test)]
mod tests;
