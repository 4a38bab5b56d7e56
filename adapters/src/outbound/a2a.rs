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
use switchboard_application::ports::{AgentError, AgentGateway, Classifier, ClassifierError};
use switchboard_domain::a2a::{AgentCard, Message, Part, Role, SendMessageResult};
use switchboard_domain::{
    AgentName, AgentReply, AgentTask, Classification, InboundContent, Intent, RoutingPolicy, WorkflowRequest,
};
use switchboard_shared::{TraceContext, secrets};
use uuid::Uuid;

use super::builtin::BuiltinAgents;
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
        let endpoint = card
            .jsonrpc_endpoint()
            .ok_or_else(|| A2aError::Protocol(String::from("the card offers no JSON-RPC interface")))?;
        let metadata = message.metadata.get_or_insert_with(Map::new);
        metadata.insert("trace_id".into(), json!(trace.trace_id.to_string()));
        metadata.insert("traceparent".into(), json!(trace.to_traceparent()));
        metadata.insert("sender_agent".into(), json!("switchboard"));
        metadata.insert("receiver_agent".into(), json!(receiver));
        let (method, params) = if endpoint.v03 {
            ("message/send", json!({"message": to_v03(&message), "configuration": {"blocking": true}}))
        } else {
            ("SendMessage", json!({"message": message, "configuration": {"returnImmediately": false}}))
        };
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
        if let Some(error) = rpc.error {
            // The agent's own words may quote what it was sent.
            return Err(A2aError::Rpc { code: error.code, message: secrets::scrub(&error.message) });
        }
        let result = rpc.result.ok_or_else(|| A2aError::Protocol(String::from("JSON-RPC response with no result")))?;
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
}

impl A2aAgents {
    pub fn new(client: std::sync::Arc<A2aClient>, agents: &[AgentEntry]) -> Self {
        Self {
            client,
            registry: agents.iter().map(|a| (a.name.clone(), a.url.clone())).collect(),
            builtin: BuiltinAgents,
        }
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
        let Some(url) = self.registry.get(agent.as_str()) else {
            return self.builtin.ask(agent, request, trace).await;
        };
        let result =
            self.client.send_message(url, agent.as_str(), request_message(request), trace).await.map_err(|e| {
                if e.is_retriable() {
                    AgentError::Unavailable { agent: agent.clone(), message: e.to_string() }
                } else {
                    AgentError::Failed { agent: agent.clone(), message: e.to_string() }
                }
            })?;
        Ok(match result {
            // What an agent says goes to a person: it must not carry what we sent it.
            SendMessageResult::Message(m) => {
                AgentReply { handoff: m.handoff(), ..AgentReply::text(secrets::scrub(m.reply_text())) }
            }
            SendMessageResult::Task(t) => AgentReply {
                text: secrets::scrub(t.reply_text()),
                task: Some(AgentTask { id: t.id.clone(), state: t.status.state }),
                handoff: t.handoff(),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use switchboard_domain::Channel;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn request(text: &str) -> WorkflowRequest {
        WorkflowRequest {
            user_message: text.into(),
            content: InboundContent::Text { body: text.into() },
            user_id: "+447700900123".into(),
            session_id: "conv-1".into(),
            channel: Channel::Whatsapp,
            user_name: Some("Amelia".into()),
            metadata: BTreeMap::new(),
            trace_id: "t".into(),
            task_id: None,
        }
    }

    async fn peer(card: Value) -> MockServer {
        let server = MockServer::start().await;
        let mut card = card;
        for field in ["url"] {
            if let Some(s) = card.get(field).and_then(Value::as_str) {
                card[field] = json!(s.replace("{uri}", &server.uri()));
            }
        }
        if let Some(list) = card.get_mut("supportedInterfaces").and_then(Value::as_array_mut) {
            for i in list {
                i["url"] = json!(i["url"].as_str().unwrap().replace("{uri}", &server.uri()));
            }
        }
        Mock::given(method("GET"))
            .and(path("/.well-known/agent-card.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(card))
            .mount(&server)
            .await;
        server
    }

    fn v1_card() -> Value {
        json!({"name": "billing", "supportedInterfaces": [{"url": "{uri}/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]})
    }

    fn client() -> A2aClient {
        A2aClient::new(Duration::from_millis(500), Duration::from_secs(60)).unwrap()
    }

    #[tokio::test]
    async fn send_message_speaks_v1_with_the_version_header_and_the_trace_in_metadata() {
        let server = peer(v1_card()).await;
        let trace = TraceContext::new_root();
        Mock::given(method("POST"))
            .and(path("/rpc"))
            .and(header("a2a-version", "1.0"))
            .and(header("x-trace-id", trace.trace_id.to_string().as_str()))
            .and(body_partial_json(json!({"method": "SendMessage", "params": {"message": {
                "contextId": "conv-1", "role": "ROLE_USER", "parts": [{"text": "refund please"}],
                "metadata": {"trace_id": trace.trace_id.to_string(), "sender_agent": "switchboard", "receiver_agent": "billing"}
            }}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": "1", "result": {"task": {
                "id": "task-9", "contextId": "conv-1", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
                "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "Which order?"}]}}}}})))
            .expect(1)
            .mount(&server)
            .await;
        let agents = A2aAgents::new(
            std::sync::Arc::new(client()),
            &[AgentEntry { name: "billing".into(), url: server.uri(), intents: vec!["billing".into()] }],
        );

        let reply = agents.ask(&AgentName::new("billing"), &request("refund please"), &trace).await.unwrap();

        assert_eq!(reply.text, "Which order?");
        assert_eq!(reply.open_task().map(|t| t.id.as_str()), Some("task-9"));
    }

    #[tokio::test]
    async fn a_v03_peer_is_spoken_to_with_the_old_names_and_shapes() {
        let server = peer(json!({"name": "old", "url": "{uri}/", "protocolVersion": "0.3.0"})).await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(body_partial_json(json!({"method": "message/send", "params": {"message": {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": "1", "result": {
                "kind": "task", "id": "t", "contextId": "c", "status": {"state": "completed"},
                "artifacts": [{"artifactId": "a", "parts": [{"kind": "text", "text": "Hello from 0.3"}]}]}})))
            .expect(1)
            .mount(&server)
            .await;

        let result = client()
            .send_message(&server.uri(), "old", request_message(&request("hi")), &TraceContext::new_root())
            .await
            .unwrap();

        assert!(
            matches!(result, SendMessageResult::Task(t) if t.reply_text() == "Hello from 0.3" && t.status.state.is_terminal())
        );
    }

    #[tokio::test]
    async fn failures_are_classified_down_slow_garbage_and_rpc_errors() {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let down = client()
            .send_message(
                &format!("http://127.0.0.1:{unused}"),
                "x",
                request_message(&request("hi")),
                &TraceContext::new_root(),
            )
            .await;
        assert!(matches!(down, Err(A2aError::Down(_))), "{down:?}");

        let cases = [
            (ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","result":{"task":{"id":"t","status":{"state":"TASK_STATE_COMPLETED"}}}})).set_delay(Duration::from_secs(2)), "timeout"),
            (ResponseTemplate::new(200).set_body_string("<html>oops</html>"), "protocol"),
            (ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","error":{"code":-32001,"message":"Task not found"}})), "rpc"),
        ];
        for (answer, expected) in cases {
            let server = peer(v1_card()).await;
            Mock::given(method("POST")).and(path("/rpc")).respond_with(answer).mount(&server).await;

            let result = client()
                .send_message(&server.uri(), "x", request_message(&request("hi")), &TraceContext::new_root())
                .await;

            let kind = match result {
                Err(A2aError::Timeout(_)) => "timeout",
                Err(A2aError::Protocol(_)) => "protocol",
                Err(A2aError::Rpc { code: -32001, .. }) => "rpc",
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(kind, expected);
        }
    }

    #[tokio::test]
    async fn the_classifier_reads_intent_and_confidence_from_a_data_part() {
        let server = peer(v1_card()).await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","result":{"message":{
                "messageId":"m","role":"ROLE_AGENT","parts":[{"data":{"intent":"billing","confidence":0.8},"mediaType":"application/json"}]}}})))
            .mount(&server)
            .await;
        let classifier = A2aClassifier::new(std::sync::Arc::new(client()), server.uri());

        let c = classifier.classify(&request("invoice"), &TraceContext::new_root()).await.unwrap();

        assert_eq!(c.intent, Intent::Other("billing".into()));
        assert!((c.confidence - 0.8).abs() < 1e-6);
    }

    #[tokio::test]
    async fn a_card_is_fetched_once_and_cached() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/agent-card.json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"name": "x", "url": "http://x/", "protocolVersion": "0.3.0"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client();

        for _ in 0..3 {
            client.card(&server.uri(), &TraceContext::new_root()).await.unwrap();
        }
    }

    #[test]
    fn the_registry_adds_its_intents_to_the_builtin_routes() {
        let policy = registry_policy(
            &[AgentEntry { name: "billing".into(), url: "http://b".into(), intents: vec!["billing".into()] }],
            "fallback",
            0.5,
        );
        assert_eq!(policy.agent_for(&Classification::new(Intent::Other("billing".into()), 0.9)).as_str(), "billing");
        assert_eq!(policy.agent_for(&Classification::new(Intent::Greeting, 0.9)).as_str(), "greeter");
        assert_eq!(policy.agent_for(&Classification::new(Intent::Other("billing".into()), 0.2)).as_str(), "fallback");
    }
}
