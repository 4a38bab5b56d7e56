//! The A2A v1.0 client (JSON-RPC over HTTP) and the two ports it serves: the
//! `Classifier` (an agent that answers `{intent, confidence}` as a data part) and the
//! `AgentGateway` (specialist agents from the registry; the built-in agents answer for
//! the names they own).
//!
//! Cards are fetched from `/.well-known/agent-card.json` and cached; a card that offers
//! only v0.3 is spoken to with the v0.3 method names and shapes. Every call carries
//! `A2A-Version: 1.0` (v1 peers), `traceparent`, `X-Trace-Id`, and `trace_id`,
//! `sender_agent` and `receiver_agent` in the message metadata. `SendMessage` is not
//! retried here (it is not idempotent); the job that called it retries with backoff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Map, Value, json};
use switchboard_application::ports::{AgentError, AgentGateway, Classifier, ClassifierError, SKILLS_METADATA};
use switchboard_domain::a2a::{AgentCard, Message, Part, Role, SendMessageResult, parts_text};
use switchboard_domain::choices::choices_in;
use switchboard_domain::media;
use switchboard_domain::{AgentFile, AgentFileSource, Attachment};
use switchboard_domain::{
    AgentName, AgentReply, AgentTask, Classification, InboundContent, Intent, RoutingPolicy, WorkflowRequest,
};
use switchboard_shared::{TraceContext, secrets};
use uuid::Uuid;

use super::builtin::BuiltinAgents;

/// The largest file taken from an agent (Meta's own largest, a document's).
const MAX_AGENT_FILE_BYTES: u64 = switchboard_domain::media::meta::DOCUMENT_BYTES;
use super::http;

/// How a call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum A2aError {
    #[error("peer unreachable: {0}")]
    Down(String),
    #[error("peer did not answer in time: {0}")]
    Timeout(String),
    #[error("peer broke the protocol: {0}")]
    Protocol(String),
    #[error("peer answered JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
}

impl A2aError {
    /// Down and slow peers may answer later; a broken answer will not mend itself.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Down(_) | Self::Timeout(_))
    }
}

pub struct A2aClient {
    http: ClientWithMiddleware,
    cards: Mutex<HashMap<String, (Instant, AgentCard)>>,
    card_ttl: Duration,
}

fn transport(e: reqwest_middleware::Error) -> A2aError {
    match &e {
        reqwest_middleware::Error::Reqwest(inner) if inner.is_timeout() => A2aError::Timeout(http::describe(&e)),
        reqwest_middleware::Error::Reqwest(inner) if inner.is_connect() => A2aError::Down(http::describe(&e)),
        _ => A2aError::Down(http::describe(&e)),
    }
}

/// v0.3 file parts (`{"kind":"file","file":{"uri"|"bytes","mimeType","name"}}`) as v1.0 parts.
fn normalise_v03(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(file)) = map.remove("file") {
                if let Some(uri) = file.get("uri") {
                    map.insert("url".into(), uri.clone());
                }
                if let Some(bytes) = file.get("bytes") {
                    map.insert("raw".into(), bytes.clone());
                }
                if let Some(mime) = file.get("mimeType") {
                    map.insert("mediaType".into(), mime.clone());
                }
                if let Some(name) = file.get("name") {
                    map.insert("filename".into(), name.clone());
                }
            }
            for v in map.values_mut() {
                normalise_v03(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_v03),
        _ => {}
    }
}

/// A v1.0 message in v0.3 shape: `kind` fields, lower-case roles, file parts.
fn to_v03(message: &Message) -> Value {
    let parts: Vec<Value> = message
        .parts
        .iter()
        .map(|p| {
            if let Some(text) = &p.text {
                json!({"kind": "text", "text": text})
            } else if let Some(data) = &p.data {
                json!({"kind": "data", "data": data})
            } else {
                let mut file = Map::new();
                if let Some(url) = &p.url {
                    file.insert("uri".into(), json!(url));
                }
                if let Some(raw) = &p.raw {
                    file.insert("bytes".into(), json!(raw));
                }
                if let Some(m) = &p.media_type {
                    file.insert("mimeType".into(), json!(m));
                }
                if let Some(n) = &p.filename {
                    file.insert("name".into(), json!(n));
                }
                json!({"kind": "file", "file": file})
            }
        })
        .collect();
    let mut out = json!({
        "kind": "message",
        "messageId": message.message_id,
        "role": if message.role == Role::Agent { "agent" } else { "user" },
        "parts": parts,
    });
    if let Some(c) = &message.context_id {
        out["contextId"] = json!(c);
    }
    if let Some(t) = &message.task_id {
        out["taskId"] = json!(t);
    }
    if let Some(m) = &message.metadata {
        out["metadata"] = Value::Object(m.clone());
    }
    out
}

fn from_v03(mut result: Value) -> Result<SendMessageResult, A2aError> {
    normalise_v03(&mut result);
    let kind = result.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
    let bad = |e: serde_json::Error| A2aError::Protocol(secrets::scrub(format!("v0.3 {kind} does not parse: {e}")));
    match kind.as_str() {
        "task" => serde_json::from_value(result).map(SendMessageResult::Task).map_err(bad),
        "message" => serde_json::from_value(result).map(SendMessageResult::Message).map_err(bad),
        other => Err(A2aError::Protocol(format!("v0.3 result of unknown kind {other:?}"))),
    }
}

impl A2aClient {
    pub fn new(timeout: Duration, card_ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self { http: http::client(timeout)?, cards: Mutex::new(HashMap::new()), card_ttl })
    }

    fn cached(&self, base: &str) -> Option<(Instant, AgentCard)> {
        self.cards.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(base).cloned()
    }

    /// The peer's card: cached for the card TTL; a stale card is used when the peer's
    /// card endpoint fails, so a blip does not stop the conversation.
    #[tracing::instrument(name = "a2a.card", skip_all, fields(trace_id = %trace.trace_id, peer = %secrets::public_address(base)))]
    pub async fn card(&self, base: &str, trace: &TraceContext) -> Result<AgentCard, A2aError> {
        let cached = self.cached(base);
        if let Some((at, card)) = &cached
            && at.elapsed() < self.card_ttl
        {
            return Ok(card.clone());
        }
        let url = format!("{}/.well-known/agent-card.json", base.trim_end_matches('/'));
        let mut fetched = self.fetch_card(&url, trace).await;
        // A GET is safe to repeat: one more try before giving up.
        if fetched.as_ref().is_err_and(A2aError::is_retriable) {
            fetched = self.fetch_card(&url, trace).await;
        }
        match (fetched, cached) {
            (Ok(card), _) => {
                self.cards
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(base.to_owned(), (Instant::now(), card.clone()));
                Ok(card)
            }
            (Err(e), Some((_, stale))) => {
                tracing::warn!(error = %e, "agent card unavailable; using the cached one");
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// One call of the HTTP+JSON binding: `POST {base}{path}` with the v1.0 headers;
    /// the answer's JSON, or its `google.rpc.Status` error as [`A2aError::Rpc`] with the
    /// A2A code its reason names (a 5xx as a peer that is down).
    async fn rest_call(
        &self,
        base: &str,
        path: &str,
        body: Option<&Value>,
        trace: &TraceContext,
    ) -> Result<Value, A2aError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut request = self
            .http
            .post(&url)
            .header("A2A-Version", "1.0")
            .header("traceparent", trace.to_traceparent())
            .header("x-trace-id", trace.trace_id.to_string());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| A2aError::Timeout(http::describe_reqwest(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| A2aError::Protocol(secrets::scrub(format!("HTTP {status}, not JSON: {e}"))));
        }
        if status.is_server_error() && status != reqwest::StatusCode::INTERNAL_SERVER_ERROR {
            return Err(A2aError::Down(format!("HTTP {status}")));
        }
        let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reason = error.pointer("/error/details/0/reason").and_then(Value::as_str).unwrap_or_default();
        let code = match reason {
            "TASK_NOT_FOUND" => -32001,
            "TASK_NOT_CANCELABLE" => -32002,
            "PUSH_NOTIFICATION_NOT_SUPPORTED" => -32003,
            "UNSUPPORTED_OPERATION" => -32004,
            "CONTENT_TYPE_NOT_SUPPORTED" => -32005,
            "INVALID_AGENT_RESPONSE" => -32006,
            "INVALID_PARAMS" => -32602,
            _ if status.is_server_error() => -32603,
            _ => -32600,
        };
        let message = error.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message");
        Err(A2aError::Rpc { code, message: secrets::scrub(format!("HTTP {status}: {message}")) })
    }

    /// The peer's card as it is now (never a stale copy), cached for later calls: for the
    /// directory that must see an agent go down or its skills change.
    ///
    /// Errors: the card could not be fetched or read.
    pub async fn fresh_card(&self, base: &str, trace: &TraceContext) -> Result<AgentCard, A2aError> {
        let url = format!("{}/.well-known/agent-card.json", base.trim_end_matches('/'));
        let mut fetched = self.fetch_card(&url, trace).await;
        if fetched.as_ref().is_err_and(A2aError::is_retriable) {
            fetched = self.fetch_card(&url, trace).await;
        }
        let card = fetched?;
        self.cards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(base.to_owned(), (Instant::now(), card.clone()));
        Ok(card)
    }

    async fn fetch_card(&self, url: &str, trace: &TraceContext) -> Result<AgentCard, A2aError> {
        async {
            let response = self
                .http
                .get(url)
                .header("traceparent", trace.to_traceparent())
                .header("x-trace-id", trace.trace_id.to_string())
                .send()
                .await
                .map_err(transport)?;
            if !response.status().is_success() {
                return Err(A2aError::Protocol(format!("agent card answered HTTP {}", response.status())));
            }
            let bytes = response.bytes().await.map_err(|e| A2aError::Timeout(http::describe_reqwest(&e)))?;
            serde_json::from_slice::<AgentCard>(&bytes)
                .map_err(|e| A2aError::Protocol(secrets::scrub(format!("agent card: {e}"))))
        }
        .await
    }

    /// The files among an agent's parts: inline bytes decoded, links fetched (Meta cannot
    /// reach an agent's own addresses, so every file is sent from Switchboard's store).
    /// A file that cannot be read is left out, with a warning.
    pub async fn files(&self, parts: &[&Part], trace: &TraceContext) -> Vec<AgentFile> {
        let mut files = Vec::new();
        for part in parts {
            let mime_type = part.media_type.clone().unwrap_or_else(|| String::from("application/octet-stream"));
            let bytes = if let Some(raw) = &part.raw {
                media::base64_decode(raw).ok_or_else(|| String::from("its raw bytes are not base64"))
            } else if let Some(url) = &part.url {
                self.fetch_file(url, trace).await
            } else {
                continue;
            };
            match bytes {
                Ok(bytes) => files.push(AgentFile {
                    mime_type,
                    filename: part.filename.clone(),
                    source: AgentFileSource::Bytes(bytes),
                }),
                Err(e) => tracing::warn!(error = %e, "an agent's file could not be read; it is left out"),
            }
        }
        files
    }

    async fn fetch_file(&self, url: &str, trace: &TraceContext) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .header("traceparent", trace.to_traceparent())
            .send()
            .await
            .map_err(|e| format!("fetching {}: {}", secrets::public_address(url), http::describe(&e)))?;
        if !response.status().is_success() {
            return Err(format!("fetching {}: HTTP {}", secrets::public_address(url), response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_AGENT_FILE_BYTES) {
            return Err(format!("{} is over {MAX_AGENT_FILE_BYTES} bytes", secrets::public_address(url)));
        }
        let bytes = response.bytes().await.map_err(|e| http::describe_reqwest(&e))?;
        if bytes.len() as u64 > MAX_AGENT_FILE_BYTES {
            return Err(format!("{} is over {MAX_AGENT_FILE_BYTES} bytes", secrets::public_address(url)));
        }
        Ok(bytes.to_vec())
    }

    /// `CancelTask` (or v0.3 `tasks/cancel`) of the peer's task `task_id`.
    ///
    /// Errors: the peer could not be reached, or answered an error (a task that already
    /// ended answers -32002).
    #[tracing::instrument(name = "a2a.cancel_task", skip_all, fields(trace_id = %trace.trace_id, peer = %secrets::public_address(base)))]
    pub async fn cancel_task(&self, base: &str, task_id: &str, trace: &TraceContext) -> Result<(), A2aError> {
        let card = self.card(base, trace).await?;
        if let Some(url) = card.preferred_rest() {
            self.rest_call(&url, &format!("/tasks/{task_id}:cancel"), None, trace).await?;
            return Ok(());
        }
        let endpoint = card
            .jsonrpc_endpoint()
            .ok_or_else(|| A2aError::Protocol(String::from("the card offers no JSON-RPC interface")))?;
        let method = if endpoint.v03 { "tasks/cancel" } else { "CancelTask" };
        self.jsonrpc_call(&endpoint, method, json!({"id": task_id}), trace).await?;
        Ok(())
    }

    /// One JSON-RPC 2.0 call to `endpoint` (with the v1.0 header unless it is v0.3);
    /// the response's `result`, `None` when it has none.
    ///
    /// Errors: the peer could not be reached or did not answer JSON-RPC; its error
    /// object as [`A2aError::Rpc`], scrubbed (an agent's words may quote what it was sent).
    async fn jsonrpc_call(
        &self,
        endpoint: &switchboard_domain::a2a::Endpoint,
        method: &str,
        params: Value,
        trace: &TraceContext,
    ) -> Result<Option<Value>, A2aError> {
        let body = json!({"jsonrpc": "2.0", "id": Uuid::new_v4().to_string(), "method": method, "params": params});
        let mut request = self
            .http
            .post(&endpoint.url)
            .header("traceparent", trace.to_traceparent())
            .header("x-trace-id", trace.trace_id.to_string())
            .json(&body);
        if !endpoint.v03 {
            request = request.header("A2A-Version", "1.0");
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| A2aError::Timeout(http::describe_reqwest(&e)))?;
        let rpc: switchboard_domain::a2a::JsonRpcResponse = serde_json::from_slice(&bytes)
            .map_err(|e| A2aError::Protocol(secrets::scrub(format!("HTTP {status}, not a JSON-RPC response: {e}"))))?;
        match rpc.error {
            Some(error) => Err(A2aError::Rpc { code: error.code, message: secrets::scrub(&error.message) }),
            None => Ok(rpc.result),
        }
    }

    /// `SendMessage` (or v0.3 `message/send`) to the peer at `base`, blocking until the
    /// task is terminal or interrupted.
    #[tracing::instrument(name = "a2a.send_message", skip_all, fields(trace_id = %trace.trace_id, peer = %secrets::public_address(base), receiver))]
    pub async fn send_message(
        &self,
        base: &str,
        receiver: &str,
        mut message: Message,
        trace: &TraceContext,
    ) -> Result<SendMessageResult, A2aError> {
        tracing::Span::current().record("receiver", receiver);
        let card = self.card(base, trace).await?;
        let metadata = message.metadata.get_or_insert_with(Map::new);
        metadata.insert("trace_id".into(), json!(trace.trace_id.to_string()));
        metadata.insert("traceparent".into(), json!(trace.to_traceparent()));
        metadata.insert("sender_agent".into(), json!("switchboard"));
        metadata.insert("receiver_agent".into(), json!(receiver));
        if let Some(url) = card.preferred_rest() {
            let body = json!({"message": message, "configuration": {"returnImmediately": false}});
            let result = self.rest_call(&url, "/message:send", Some(&body), trace).await?;
            return serde_json::from_value(result)
                .map_err(|e| A2aError::Protocol(secrets::scrub(format!("SendMessage result: {e}"))));
        }
        let endpoint = card
            .jsonrpc_endpoint()
            .ok_or_else(|| A2aError::Protocol(String::from("the card offers no JSON-RPC or HTTP+JSON interface")))?;
        let (method, params) = if endpoint.v03 {
            ("message/send", json!({"message": to_v03(&message), "configuration": {"blocking": true}}))
        } else {
            ("SendMessage", json!({"message": message, "configuration": {"returnImmediately": false}}))
        };
        let result = self
            .jsonrpc_call(&endpoint, method, params, trace)
            .await?
            .ok_or_else(|| A2aError::Protocol(String::from("JSON-RPC response with no result")))?;
        if endpoint.v03 {
            return from_v03(result);
        }
        serde_json::from_value(result)
            .map_err(|e| A2aError::Protocol(secrets::scrub(format!("SendMessage result: {e}"))))
    }
}

/// The A2A message for a workflow request: the text, and for non-text input the
/// channel-neutral content as a data part.
pub fn request_message(request: &WorkflowRequest) -> Message {
    let mut parts = vec![Part::text(request.user_message.clone())];
    if !matches!(request.content, InboundContent::Text { .. }) {
        parts.push(Part::data(json!({ "content": request.content })));
    }
    for attachment in &request.attachments {
        parts.push(attachment_part(attachment));
    }
    if let Some(choice) = &request.choice {
        parts.push(Part::data(json!({ "choice": { "id": choice.id, "title": choice.title } })));
    }
    let mut metadata = Map::new();
    metadata.insert("user_id".into(), json!(request.user_id));
    metadata.insert("channel".into(), json!(request.channel.as_str()));
    if let Some(name) = &request.user_name {
        metadata.insert("user_name".into(), json!(name));
    }
    for (k, v) in &request.metadata {
        metadata.insert(k.clone(), v.clone());
    }
    Message {
        message_id: Uuid::now_v7().to_string(),
        context_id: Some(request.session_id.clone()),
        task_id: request.task_id.clone(),
        role: Role::User,
        parts,
        metadata: Some(metadata),
        extensions: Vec::new(),
        reference_task_ids: Vec::new(),
    }
}

/// A user's file as an A2A file part: its bytes inline when small, else the signed link
/// (which a small file's metadata carries too); a refused file as a data part saying why
/// (docs/a2a-conventions.md, Files).
fn attachment_part(attachment: &Attachment) -> Part {
    match attachment {
        Attachment::File { kind, media, url, inline } => {
            let mut metadata = Map::new();
            metadata.insert("kind".into(), json!(kind.as_str()));
            metadata.insert("size".into(), json!(media.size));
            metadata.insert("sha256".into(), json!(media.sha256));
            if let Some(url) = url {
                metadata.insert("url".into(), json!(url));
            }
            Part {
                raw: inline.clone(),
                url: if inline.is_some() { None } else { url.clone() },
                filename: media.filename.clone(),
                media_type: Some(media.mime_type.clone()),
                metadata: Some(metadata),
                ..Part::default()
            }
        }
        Attachment::Refused { kind, code, reason } => Part::data(json!({
            "media_refused": { "kind": kind.as_str(), "code": code.as_str(), "reason": reason }
        })),
    }
}

/// `{intent, confidence}` from the first data part that has an intent.
fn classification_from(result: &SendMessageResult) -> Option<Classification> {
    let data: Vec<&Value> = match result {
        SendMessageResult::Message(m) => m.parts.iter().filter_map(|p| p.data.as_ref()).collect(),
        SendMessageResult::Task(t) => t.data_parts().collect(),
    };
    data.into_iter().find_map(|d| {
        let intent = d.get("intent")?.as_str()?;
        #[expect(clippy::cast_possible_truncation, reason = "a confidence needs no f64 precision")]
        let confidence = d.get("confidence").and_then(Value::as_f64).unwrap_or(1.0) as f32;
        Some(Classification::new(Intent::from(intent.to_owned()), confidence))
    })
}

/// A classifier agent over A2A.
pub struct A2aClassifier {
    client: std::sync::Arc<A2aClient>,
    url: String,
}

impl A2aClassifier {
    pub fn new(client: std::sync::Arc<A2aClient>, url: String) -> Self {
        Self { client, url }
    }
}

#[async_trait]
impl Classifier for A2aClassifier {
    async fn classify(
        &self,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<Classification, ClassifierError> {
        let mut message = request_message(request);
        // Classification is a one-off: never part of an agent's task.
        message.task_id = None;
        // The skills on offer (card-driven routing), as a data part the classifier reads
        // (docs/a2a-conventions.md): it may answer one's id as the intent.
        if let Some(skills) = message.metadata.as_mut().and_then(|m| m.remove(SKILLS_METADATA)) {
            message.parts.push(Part::data(json!({ "skills": skills })));
        }
        let result = self.client.send_message(&self.url, "classifier", message, trace).await.map_err(|e| {
            if e.is_retriable() {
                ClassifierError::Unavailable(e.to_string())
            } else {
                ClassifierError::BadAnswer(e.to_string())
            }
        })?;
        classification_from(&result)
            .ok_or_else(|| ClassifierError::BadAnswer(String::from("no data part with an intent in the answer")))
    }
}

/// One specialist agent of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEntry {
    pub name: String,
    pub url: String,
    pub intents: Vec<String>,
}

/// The agents of the registry over A2A; the built-in agents for their own names.
pub struct A2aAgents {
    client: std::sync::Arc<A2aClient>,
    registry: HashMap<String, String>,
    builtin: BuiltinAgents,
    /// Agents found by their cards, registered ones included.
    directory: Option<std::sync::Arc<CardRoutes>>,
}

impl A2aAgents {
    pub fn new(client: std::sync::Arc<A2aClient>, agents: &[AgentEntry]) -> Self {
        Self {
            client,
            registry: agents.iter().map(|a| (a.name.clone(), a.url.clone())).collect(),
            builtin: BuiltinAgents,
            directory: None,
        }
    }

    /// Agents registered at run time (the management API) are reached through `directory`.
    #[must_use]
    pub fn with_directory(mut self, directory: std::sync::Arc<CardRoutes>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The agent's address: configured, or found by the directory.
    fn url_of(&self, agent: &AgentName) -> Option<String> {
        self.registry
            .get(agent.as_str())
            .cloned()
            .or_else(|| self.directory.as_ref().and_then(|d| d.url_of(agent.as_str())))
    }

    /// Fetches every card once (at start), so a misconfigured agent shows in the logs
    /// before the first message needs it.
    pub async fn warm_up(&self) {
        let trace = TraceContext::new_root();
        for (name, url) in &self.registry {
            match self.client.card(url, &trace).await {
                Ok(card) => tracing::info!(agent = %name, card = %card.name, "agent card fetched"),
                Err(e) => {
                    tracing::warn!(agent = %name, error = %e, "agent card unavailable at start; will retry on use")
                }
            }
        }
    }
}

#[async_trait]
impl AgentGateway for A2aAgents {
    async fn ask(
        &self,
        agent: &AgentName,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<AgentReply, AgentError> {
        let Some(url) = self.url_of(agent) else {
            return self.builtin.ask(agent, request, trace).await;
        };
        let result =
            self.client.send_message(&url, agent.as_str(), request_message(request), trace).await.map_err(|e| {
                if e.is_retriable() {
                    AgentError::Unavailable { agent: agent.clone(), message: e.to_string() }
                } else {
                    AgentError::Failed { agent: agent.clone(), message: e.to_string() }
                }
            })?;
        let parts: Vec<&Part> = match &result {
            SendMessageResult::Message(m) => m.parts.iter().collect(),
            SendMessageResult::Task(t) => t.parts().collect(),
        };
        let files = self.client.files(&parts, trace).await;
        let choices = parts.iter().filter_map(|p| p.data.as_ref()).find_map(|d| match choices_in(d) {
            Some(Ok(choices)) => Some(choices),
            Some(Err(e)) => {
                tracing::warn!(agent = %agent, error = %e, "the agent's choices are malformed; they are left out");
                None
            }
            None => None,
        });
        let transfer = match &result {
            SendMessageResult::Message(m) => m.transfer(),
            SendMessageResult::Task(t) => t.transfer(),
        };
        // With files, choices or a transfer, the text is the text parts alone (not their
        // descriptions).
        let rich = !files.is_empty() || choices.is_some() || transfer.is_some();
        let (text, task, handoff) = match &result {
            SendMessageResult::Message(m) => (if rich { m.text() } else { m.reply_text() }, None, m.handoff()),
            SendMessageResult::Task(t) => (
                if rich { parts_text(&parts.iter().map(|p| (*p).clone()).collect::<Vec<_>>()) } else { t.reply_text() },
                Some(AgentTask { id: t.id.clone(), state: t.status.state }),
                t.handoff(),
            ),
        };
        // What an agent says goes to a person: it must not carry what we sent it.
        Ok(AgentReply { text: secrets::scrub(text), task, handoff, files, choices, transfer })
    }

    async fn cancel(&self, agent: &AgentName, task_id: &str, trace: &TraceContext) -> Result<(), AgentError> {
        let Some(url) = self.url_of(agent) else {
            return self.builtin.cancel(agent, task_id, trace).await;
        };
        self.client.cancel_task(&url, task_id, trace).await.map_err(|e| {
            if e.is_retriable() {
                AgentError::Unavailable { agent: agent.clone(), message: e.to_string() }
            } else {
                AgentError::Failed { agent: agent.clone(), message: e.to_string() }
            }
        })
    }
}

/// The routing policy: the built-in routes, then the registry's intents.
pub fn registry_policy(agents: &[AgentEntry], default_agent: &str, threshold: f32) -> RoutingPolicy {
    let mut policy = RoutingPolicy::new(AgentName::new(default_agent), threshold)
        .route(Intent::Greeting, AgentName::new(super::builtin::GREETER))
        .route(Intent::Help, AgentName::new(super::builtin::HELPDESK))
        .route(Intent::Acknowledgement, AgentName::new(super::builtin::FALLBACK));
    for agent in agents {
        for intent in &agent.intents {
            policy = policy.route(Intent::from(intent.clone()), AgentName::new(agent.name.clone()));
        }
    }
    policy
}

mod directory;
pub use directory::CardRoutes;

#[cfg(test)]
mod tests;
