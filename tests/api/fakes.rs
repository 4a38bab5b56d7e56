//! Loopback fakes for the outside world: a Graph API (wiremock with a scripted
//! responder) and an SMTP server that keeps what it receives.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One scripted answer of the fake Graph.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Meta's error envelope with this code and HTTP status.
    Error { code: i64, status: u16 },
    /// A bare HTTP status with no body.
    Status(u16),
    /// Accept, but only after this delay (longer than the client's timeout).
    Slow(Duration),
    /// Accept at once (to interleave failures with successes in a script).
    Accept,
    /// Meta's error envelope whose message quotes the whole request back (URL, headers,
    /// body), as a careless proxy or a debugging endpoint would.
    Echo { code: i64, status: u16 },
    /// 200 with a body that is not JSON and quotes the request.
    Garbage,
}

/// The request as text: method, URL with its query, every header, the body.
pub fn echo_of(request: &Request) -> String {
    let headers: Vec<String> =
        request.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?"))).collect();
    format!("{} {} {} {}", request.method, request.url, headers.join("; "), String::from_utf8_lossy(&request.body))
}

#[derive(Default)]
struct GraphState {
    script: VecDeque<Answer>,
    /// When set, every send is answered with error 190 (token expired).
    token_expired: bool,
    /// When set, the account endpoints answer 500 with the request quoted back.
    account_echo: bool,
    /// When set, more than this many sends within 900 ms get 130429.
    throughput: Option<usize>,
    accepted_at: Vec<Instant>,
    throttled: usize,
    next_wamid: usize,
    fixed_wamids: VecDeque<String>,
    sends: Vec<Value>,
}

/// A fake Graph API: accepts every send unless scripted otherwise, and records them.
#[derive(Clone)]
pub struct FakeGraph {
    pub server: Arc<MockServer>,
    state: Arc<Mutex<GraphState>>,
}

struct Responder(Arc<Mutex<GraphState>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = self.0.lock().unwrap();
        if body["status"] == "read" {
            return ResponseTemplate::new(200).set_body_json(json!({"success": true}));
        }
        let accept = |state: &mut GraphState| {
            state.next_wamid += 1;
            let wamid = state.fixed_wamids.pop_front().unwrap_or_else(|| format!("wamid.FAKE.{}", state.next_wamid));
            state.accepted_at.push(Instant::now());
            state.sends.push(body.clone());
            ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }))
        };
        let error = |code: i64, status: u16| {
            ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": "fake Graph error", "type": "OAuthException", "code": code, "fbtrace_id": "FAKE"}
            }))
        };
        if state.token_expired {
            return error(190, 401);
        }
        if let Some(limit) = state.throughput {
            let now = Instant::now();
            let recent =
                state.accepted_at.iter().filter(|t| now.duration_since(**t) < Duration::from_millis(900)).count();
            if recent >= limit {
                state.throttled += 1;
                return error(130429, 400);
            }
        }
        match state.script.pop_front() {
            None => accept(&mut state),
            Some(Answer::Error { code, status }) => error(code, status),
            Some(Answer::Status(status)) => ResponseTemplate::new(status),
            Some(Answer::Slow(delay)) => accept(&mut state).set_delay(delay),
            Some(Answer::Accept) => accept(&mut state),
            Some(Answer::Echo { code, status }) => ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": format!("cannot process {}", echo_of(request)), "type": "OAuthException", "code": code, "fbtrace_id": "FAKE"}
            })),
            Some(Answer::Garbage) => {
                ResponseTemplate::new(200).set_body_string(format!("<html>upstream said: {}</html>", echo_of(request)))
            }
        }
    }
}

/// The account endpoints health checks read: the phone number, `subscribed_apps`,
/// `debug_token`.
struct AccountResponder(Arc<Mutex<GraphState>>);

impl Respond for AccountResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = self.0.lock().unwrap();
        let expired = || {
            ResponseTemplate::new(401).set_body_json(json!({"error": {
                "message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463
            }}))
        };
        let path = request.url.path();
        if state.account_echo {
            return ResponseTemplate::new(500).set_body_json(json!({"error": {
                "message": format!("internal error handling {}", echo_of(request)), "type": "OAuthException", "code": 2
            }}));
        }
        if path.ends_with("/debug_token") {
            // Graph takes the app token in the header too; Switchboard must never put it in
            // the query, where every proxy and error message would see it.
            let app_token_in_header = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer ") && v.contains('|'));
            if !app_token_in_header || request.url.query_pairs().any(|(k, _)| k == "access_token") {
                return ResponseTemplate::new(400).set_body_json(json!({"error": {
                    "message": "the fake wants the app token in the Authorization header only", "type": "OAuthException", "code": 100
                }}));
            }
            let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 30 * 86_400;
            return ResponseTemplate::new(200).set_body_json(
                json!({"data": {"is_valid": !state.token_expired, "expires_at": expires, "type": "SYSTEM_USER"}}),
            );
        }
        if state.token_expired {
            return expired();
        }
        if path.ends_with("/message_templates") {
            let after = request.url.query_pairs().find(|(k, _)| k == "after").map(|(_, v)| v.into_owned());
            return ResponseTemplate::new(200).set_body_json(template_page(after.as_deref()));
        }
        if path.ends_with("/subscribed_apps") {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"whatsapp_business_api_data": {"name": "Switchboard", "id": "1"}}]}));
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "display_phone_number": "15550100200", "verified_name": "Test Shop", "quality_rating": "GREEN", "status": "CONNECTED", "id": "109876543210987"
        }))
    }
}

/// `GET /{waba}/message_templates` as Graph pages it: two approved templates and a
/// cursor, then one more on the second page.
fn template_page(after: Option<&str>) -> Value {
    match after {
        None => json!({
            "data": [
                {"name": "order_update", "parameter_format": "POSITIONAL", "language": "en_US", "status": "APPROVED",
                 "category": "UTILITY", "id": "1203456789012345", "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Your order"},
                    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.",
                     "example": {"body_text": [["Ana", "#1042"]]}},
                    {"type": "FOOTER", "text": "Reply STOP to opt out"}
                ]},
                {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
                 "id": "1203456789012346", "components": [{"type": "BODY", "text": "Welcome and congratulations!!"}]}
            ],
            "paging": {"cursors": {"before": "QVFIUmxt", "after": "QVFIUjZA"},
                       "next": "https://graph.facebook.com/v25.0/200000000000009/message_templates?limit=2&after=QVFIUjZA"}
        }),
        Some(_) => json!({
            "data": [
                {"name": "appointment_named", "parameter_format": "NAMED", "language": "es", "status": "APPROVED",
                 "category": "UTILITY", "id": "1203456789012347", "components": [
                    {"type": "BODY", "text": "Hola {{first_name}}, su cita es el {{date}}."}
                ]}
            ],
            "paging": {"cursors": {"before": "QVFIUjZA", "after": "QVFIUjZB"}}
        }),
    }
}

impl FakeGraph {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(GraphState::default()));
        Mock::given(method("POST"))
            .and(path_regex(r"^/v25\.0/[0-9]+/messages$"))
            .respond_with(Responder(Arc::clone(&state)))
            .mount(&server)
            .await;
        Mock::given(method("GET")).respond_with(AccountResponder(Arc::clone(&state))).mount(&server).await;
        Self { server: Arc::new(server), state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The next sends are answered like this, in order; then they are accepted.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    pub fn set_token_expired(&self, expired: bool) {
        self.state.lock().unwrap().token_expired = expired;
    }

    /// The account endpoints (health checks) answer 500 quoting the request back.
    pub fn set_account_echo(&self, echo: bool) {
        self.state.lock().unwrap().account_echo = echo;
    }

    pub fn limit_throughput(&self, per_900ms: usize) {
        self.state.lock().unwrap().throughput = Some(per_900ms);
    }

    /// The next accepted sends get these wamids (to match status fixtures).
    pub fn answer_with_wamids(&self, wamids: &[&str]) {
        self.state.lock().unwrap().fixed_wamids.extend(wamids.iter().map(|w| (*w).to_owned()));
    }

    /// The bodies of the accepted sends, in order.
    pub fn sends(&self) -> Vec<Value> {
        self.state.lock().unwrap().sends.clone()
    }

    pub fn accepted_at(&self) -> Vec<Instant> {
        self.state.lock().unwrap().accepted_at.clone()
    }

    pub fn throttled(&self) -> usize {
        self.state.lock().unwrap().throttled
    }

    /// Every request the fake saw (sends, refused sends, mark-read calls).
    pub async fn requests(&self) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

/// An SMTP server on loopback that accepts everything and keeps each message's text.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server that offers AUTH and refuses it, quoting the client's AUTH line back.
    pub async fn start_refusing_auth() -> Self {
        Self::start_with(Some(false)).await
    }

    /// A server that offers AUTH and accepts any credentials.
    pub async fn start_accepting_auth() -> Self {
        Self::start_with(Some(true)).await
    }

    /// `auth`: None, no AUTH offered; Some(accept) offered, and accepted or refused.
    async fn start_with(auth: Option<bool>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&messages);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
                    let mut in_data = false;
                    let mut data = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                store.lock().unwrap().push(std::mem::take(&mut data));
                                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                            } else {
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                data.push('\n');
                            }
                            continue;
                        }
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        if verb == "AUTH" && auth == Some(false) {
                            let _ =
                                write.write_all(format!("535 5.7.8 credentials rejected: {line}\r\n").as_bytes()).await;
                            continue;
                        }
                        let reply: &[u8] = match verb.as_str() {
                            "AUTH" if auth == Some(true) => b"235 2.7.0 Authentication successful\r\n",
                            "EHLO" if auth.is_some() => b"250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                            "EHLO" => b"250-sink.test\r\n250 8BITMIME\r\n",
                            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"502 not implemented\r\n",
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        Self { port, messages }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(Instant::now() < deadline, "only {} of {n} emails after 15 s", messages.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What the fake agent was sent: the JSON-RPC request and its `traceparent` header.
type Received = Arc<Mutex<Vec<(Value, Option<String>)>>>;

/// How the fake A2A agent misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMode {
    /// Answers: a question (INPUT_REQUIRED) to "refund", the completion to a follow-up,
    /// a plain message otherwise.
    Helpful,
    Slow(Duration),
    Garbage,
    RpcError,
    /// A JSON-RPC error whose message quotes the request (headers and body) back.
    EchoError,
    /// A normal answer whose text quotes the request (headers and body) back.
    EchoReply,
}

/// A specialist A2A v1.0 agent on loopback that records what it was sent.
#[derive(Clone)]
pub struct FakeAgent {
    pub server: Arc<MockServer>,
    received: Received,
}

struct AgentResponder {
    mode: AgentMode,
    received: Received,
}

impl Respond for AgentResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let traceparent = request.headers.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut received = self.received.lock().unwrap();
        received.push((body.clone(), traceparent));
        let n = received.len();
        let id = body["id"].clone();
        let message = &body["params"]["message"];
        let text = message["parts"][0]["text"].as_str().unwrap_or("").to_owned();
        let context = message["contextId"].clone();
        let rpc = |result: Value| {
            ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
        };
        if body["method"] == "CancelTask" {
            return rpc(json!({"id": body["params"]["id"], "status": {"state": "TASK_STATE_CANCELED"}}));
        }
        match self.mode {
            AgentMode::Garbage => return ResponseTemplate::new(200).set_body_string("<html>502 Bad Gateway</html>"),
            AgentMode::RpcError => {
                return ResponseTemplate::new(200).set_body_json(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": "internal error"}}),
                );
            }
            AgentMode::Slow(delay) => {
                return rpc(json!({"message": {"messageId": format!("m{n}"), "role": "ROLE_AGENT", "parts": [{"text": "late"}]}}))
                    .set_delay(delay);
            }
            AgentMode::EchoError => {
                return ResponseTemplate::new(200).set_body_json(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": format!("cannot handle {}", echo_of(request))}}),
                );
            }
            AgentMode::EchoReply => {
                return rpc(
                    json!({"message": {"messageId": format!("m{n}"), "contextId": context, "role": "ROLE_AGENT",
                    "parts": [{"text": format!("You sent me {}", echo_of(request))}]}}),
                );
            }
            AgentMode::Helpful => {}
        }
        if let Some(task_id) = message["taskId"].as_str() {
            return rpc(json!({"task": {
                "id": task_id, "contextId": context,
                "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2026-11-22T10:00:00Z"},
                "artifacts": [{"artifactId": format!("a{n}"), "parts": [{"text": format!("Refund issued for order {text}.")}]}]
            }}));
        }
        if text.to_lowercase().contains("refund") {
            return rpc(json!({"task": {
                "id": format!("task-{n}"), "contextId": context,
                "status": {"state": "TASK_STATE_INPUT_REQUIRED",
                    "message": {"messageId": format!("q{n}"), "role": "ROLE_AGENT", "parts": [{"text": "Which order number?"}]}}
            }}));
        }
        rpc(json!({"message": {"messageId": format!("m{n}"), "contextId": context, "role": "ROLE_AGENT",
            "parts": [{"text": format!("Specialist here: {text}")}]}}))
    }
}

impl FakeAgent {
    pub async fn start(mode: AgentMode) -> Self {
        let server = MockServer::start().await;
        let received = Arc::new(Mutex::new(Vec::new()));
        Mock::given(method("GET"))
            .and(wiremock::matchers::path("/.well-known/agent-card.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": "Specialist", "description": "test agent", "version": "1.0.0",
                "supportedInterfaces": [{"url": format!("{}/", server.uri()), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
                "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": []
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::path("/"))
            .respond_with(AgentResponder { mode, received: Arc::clone(&received) })
            .mount(&server)
            .await;
        Self { server: Arc::new(server), received }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Every JSON-RPC request it got, with its `traceparent` header.
    pub fn received(&self) -> Vec<(Value, Option<String>)> {
        self.received.lock().unwrap().clone()
    }
}

/// The official SDK's classifier agent (`../shared/tools/a2a-peer/classifier_server.py`)
/// in a child process on a free loopback port; killed when dropped.
pub struct SdkClassifier {
    child: std::process::Child,
    pub url: String,
}

impl SdkClassifier {
    pub async fn start(mode: &str) -> Self {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("../shared/tools/a2a-peer/classifier_server.py");
        let (child, url) = start_sdk_agent(&script, &["--mode", mode]).await;
        Self { child, url }
    }

    /// Another agent built on the official SDK: a script under `tests/a2a/`.
    pub async fn start_script(name: &str) -> Self {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let (child, url) = start_sdk_agent(&root.join("tests/a2a").join(name), &[]).await;
        Self { child, url }
    }
}

/// Runs an SDK agent script with `--port` on a free port; waits for its card.
async fn start_sdk_agent(script: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("A2A_PEER_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv-a2a/bin/python"));
    assert!(python.exists(), "{} is missing: run scripts/test (it sets up the A2A peer's venv)", python.display());
    let port = switchboard_testkit::free_port();
    let child = std::process::Command::new(python)
        .arg(script)
        .args(["--port", &port.to_string()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the SDK agent starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/.well-known/agent-card.json")).await.is_err() {
        assert!(Instant::now() < deadline, "the SDK agent {} did not start", script.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, url)
}

impl Drop for SdkClassifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
