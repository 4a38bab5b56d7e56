use std::path::PathBuf;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::{Value, json};
use switchboard::{Application, ShutdownHandle};
use switchboard_adapters::inbound::whatsapp::signature;
use switchboard_adapters::outbound::store::Store;
use switchboard_runtime::Config;
use switchboard_runtime::OtelExport;
use switchboard_runtime::config::ConfigSource;
use switchboard_runtime::telemetry::{LogFormat, build_subscriber};
use tempfile::TempDir;

use crate::fakes::{FakeGraph, SmtpSink};

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const BUSINESS_NUMBER_ID: &str = "109876543210987";

static TRACING: Once = Once::new();
static SPANS: OnceLock<InMemorySpanExporter> = OnceLock::new();
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Where the test binary's log lines go: kept in memory (the secrets test reads them
/// all), and copied to stdout when TEST_LOG is set.
struct LogBuffer;

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        if std::env::var("TEST_LOG").is_ok() {
            std::io::stdout().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One subscriber for the whole test binary, as the binary installs one (with the same
/// redaction): spans go to an in-memory OpenTelemetry exporter (tests pick theirs out by
/// trace id), and logs to memory (and stdout when TEST_LOG is set).
fn install_tracing() {
    let exporter = InMemorySpanExporter::default();
    let tracer = OtelExport::with_simple_exporter(exporter.clone()).tracer();
    let _ = SPANS.set(exporter);
    let subscriber = build_subscriber("info", LogFormat::Json, || LogBuffer, Some(tracer));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Every log line the test binary wrote so far.
pub fn all_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

/// Every span exported so far.
pub fn all_spans() -> Vec<SpanData> {
    SPANS.get().map(|e| e.get_finished_spans().expect("spans")).unwrap_or_default()
}

/// Every finished span of one trace, as exported.
pub fn spans_of_trace(trace_id: &str) -> Vec<SpanData> {
    SPANS
        .get()
        .map(|e| e.get_finished_spans().expect("spans"))
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.span_context.trace_id().to_string() == trace_id)
        .collect()
}

/// The service's store as the service holds it, plus a direct connection to the test's
/// SQLite file for the raw SQL assertions some tests make.
#[derive(Clone)]
pub struct TestStore {
    ports: std::sync::Arc<dyn Store>,
    pool: sqlx::SqlitePool,
}

impl TestStore {
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

/// The ports, as on the service's own store.
impl std::ops::Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.ports.as_ref()
    }
}

pub struct TestApp {
    source: ConfigSource,
    pub address: String,
    pub client: reqwest::Client,
    pub store: TestStore,
    pub db_path: PathBuf,
    pub shutdown: ShutdownHandle,
    _dir: TempDir,
}

pub const API_KEY: &str = "test-api-key";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The service in live mode against a fake Graph (and an SMTP sink when given).
pub async fn spawn_live_app(graph: &FakeGraph, smtp: Option<&SmtpSink>, overrides: &[(&str, &str)]) -> TestApp {
    let graph_uri = graph.uri();
    let smtp_port = smtp.map(|s| s.port.to_string());
    let mut all: Vec<(&str, &str)> = vec![
        ("SWITCHBOARD_MODE", "live"),
        ("WHATSAPP_ACCESS_TOKEN", "test-token"),
        ("WHATSAPP_PHONE_NUMBER_ID", BUSINESS_NUMBER_ID),
        ("WHATSAPP_API_BASE_URL", &graph_uri),
        ("WHATSAPP_API_VERSION", "v25.0"),
        ("SWITCHBOARD_API_KEYS", API_KEY),
    ];
    if let Some(port) = &smtp_port {
        all.extend([
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", port.as_str()),
            ("SMTP_TLS", "none"),
            ("SMTP_FROM", "bot@switchboard.test"),
        ]);
    }
    all.extend_from_slice(overrides);
    spawn_app_with(&all).await
}

/// Starts the real service on a free port with its own database, overriding the test
/// defaults with `overrides`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    TRACING.call_once(install_tracing);
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("switchboard.db");
    let mut source = ConfigSource::from_pairs([
        ("SWITCHBOARD_MODE", "sandbox".to_owned()),
        ("SWITCHBOARD_PORT", "0".to_owned()),
        ("SWITCHBOARD_DATA_DIR", dir.path().display().to_string()),
        ("DATABASE_URL", format!("sqlite://{}", db_path.display())),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
        ("SWITCHBOARD_API_KEYS", API_KEY.to_owned()),
        ("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", "400".to_owned()),
        ("SWITCHBOARD_JOB_POLL_INTERVAL_MS", "50".to_owned()),
        ("SWITCHBOARD_JOB_RETRY_BASE_MS", "50".to_owned()),
        ("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "2".to_owned()),
        // Pacing is tested on its own; elsewhere it would only slow the tests down.
        ("SWITCHBOARD_RATE_LIMITS_ENABLED", "false".to_owned()),
        // So are the sandbox's status webhooks (tests/api/sandbox.rs): elsewhere a sandbox
        // reply stays `sent`, and the only webhooks are the test's own.
        ("SWITCHBOARD_SANDBOX_STATUSES", "false".to_owned()),
        // Likewise the sender limit: tests that flood one sender turn it on.
        ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "0".to_owned()),
    ]);
    for (key, value) in overrides {
        source.set(key, *value);
    }
    start(source, db_path, dir).await
}

async fn start(source: ConfigSource, db_path: PathBuf, dir: TempDir) -> TestApp {
    let config = Config::from_source(&source).expect("test configuration");
    let app = Application::build(config).await.expect("service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display())).await.expect("test database");
    let store = TestStore { ports: app.store().clone(), pool };
    let shutdown = app.shutdown_handle();
    tokio::spawn(app.run_until_stopped());
    TestApp { source, address, client: reqwest::Client::new(), store, db_path, shutdown, _dir: dir }
}

/// A fixture as Meta would send it today: its bytes as written, except that every quoted
/// unix `"timestamp"` moves by one offset so the messages are minutes old (their order and
/// gaps kept). The fixtures were captured on a fixed day; without this, every reply to them
/// would fall outside WhatsApp's 24-hour service window once that day is past.
pub fn fixture(name: &str) -> Vec<u8> {
    recent(&std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}")))
}

/// The unix second the fixtures' timestamps were captured around.
const FIXTURE_EPOCH: i64 = 1_795_600_000;

/// Shifts every quoted `"timestamp": "<unix seconds>"` near the fixtures' day (within ten
/// days of it; a test's own `now`-based times stay as they are) in a webhook body by the same
/// offset (computed once per test process, so a body shifted twice gives the same bytes),
/// leaving every other byte alone: escapes and whitespace stay as signed.
pub fn recent(body: &[u8]) -> Vec<u8> {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        now - 1_000 - FIXTURE_EPOCH
    });
    let Ok(text) = std::str::from_utf8(body) else { return body.to_vec() };
    let key = "\"timestamp\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let spaced = tail.trim_start_matches([' ', ':']);
        let separator = &tail[..tail.len() - spaced.len()];
        let digits: String =
            spaced.strip_prefix('"').map(|s| s.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
        let closed = spaced.get(1 + digits.len()..).is_some_and(|s| s.starts_with('"'));
        match digits.parse::<i64>() {
            Ok(seconds) if closed && separator.contains(':') && (seconds - FIXTURE_EPOCH).abs() < 864_000 => {
                out.push_str(separator);
                out.push_str(&format!("\"{}\"", seconds + offset));
                rest = &spaced[digits.len() + 2..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/whatsapp")
}

/// Every fixture file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("../shared/fixtures/whatsapp exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// A webhook with one text message per (wamid, unix seconds, text), all from one user;
/// seconds on the fixtures' day are moved to today like the fixtures' (see `recent`).
pub fn text_messages(from: &str, messages: &[(&str, i64, &str)]) -> Vec<u8> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(id, ts, text)| json!({"from": from, "id": id, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}))
        .collect();
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": BUSINESS_NUMBER_ID},
            "contacts": [{"profile": {"name": "Test User"}, "wa_id": from}],
            "messages": messages,
        }}]}],
    }));
    recent(&body.expect("json"))
}

impl TestApp {
    /// Stops the service and starts it again on the same database (a new port).
    pub async fn restart(self) -> TestApp {
        self.shutdown.stop().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        start(self.source, self.db_path, self._dir).await
    }

    /// One JSON-RPC call to Switchboard's A2A endpoint, with the test API key.
    pub async fn a2a(&self, method: &str, params: Value) -> Value {
        self.client
            .post(format!("{}/a2a", self.address))
            .header("x-api-key", API_KEY)
            .header("a2a-version", "1.0")
            .json(&json!({"jsonrpc": "2.0", "id": "req-1", "method": method, "params": params}))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("json")
    }

    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        let signature = signature::sign(APP_SECRET.as_bytes(), body);
        self.post_webhook_signed(body, Some(&signature)).await
    }

    /// A signed webhook sent as part of an existing trace (`traceparent`).
    pub async fn post_webhook_traced(&self, body: &[u8], traceparent: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/webhook/whatsapp", self.address))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature::sign(APP_SECRET.as_bytes(), body))
            .header("traceparent", traceparent)
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_webhook_signed(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhook/whatsapp", self.address))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("request sent")
    }

    /// Everything the sandbox gateway recorded, oldest first.
    pub async fn outbox(&self) -> Vec<Value> {
        let body: Value = self
            .client
            .get(format!("{}/sandbox/outbox?limit=1000", self.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .expect("outbox reachable")
            .json()
            .await
            .expect("outbox json");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the outbox holds at least `n` messages, then a little longer to
    /// catch any extra one, and returns them.
    pub async fn wait_for_replies(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let outbox = self.outbox().await;
            if outbox.len() >= n {
                tokio::time::sleep(Duration::from_millis(600)).await;
                return self.outbox().await;
            }
            assert!(Instant::now() < deadline, "only {} of {n} replies after 20 s", outbox.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /api/v1/messages` with the test API key.
    pub async fn send_message(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/messages", self.address))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// Sends and returns the delivery id, asserting 202.
    pub async fn send_ok(&self, body: Value) -> String {
        let response = self.send_message(body).await;
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, 202, "{answer}");
        answer["delivery_id"].as_str().expect("delivery id").to_owned()
    }

    pub async fn delivery(&self, id: &str) -> Value {
        self.client
            .get(format!("{}/api/v1/messages/{id}", self.address))
            .header("authorization", format!("Bearer {API_KEY}"))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("json")
    }

    /// Waits until the delivery is in `state`, and returns it.
    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let delivery = self.delivery(id).await;
            if delivery["state"] == state {
                return delivery;
            }
            assert!(Instant::now() < deadline, "delivery never reached {state}: {delivery}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `n` deliveries are sent (or further along).
    pub async fn wait_for_state_of_all_sent(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count("SELECT COUNT(*) FROM deliveries WHERE state IN ('sent', 'delivered', 'read')").await < n {
            assert!(Instant::now() < deadline, "fewer than {n} deliveries sent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(self.store.pool()).await.expect("count query")
    }
}
