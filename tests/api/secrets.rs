//! Nothing secret leaves (ADR 0015). Every secret is configured with a unique marker;
//! then Graph goes down, goes silent, answers 5xx, 190, garbage and quotes our requests
//! back; SMTP is down or quotes our AUTH back; the database is locked; an agent is down,
//! another quotes its input back in an error, a third in its answer. Afterwards no
//! marker may be in any HTTP answer, any log line, any exported span, the metrics, any
//! stored row or any email — and the safety net that redacts logs, spans and answers
//! must never have had to catch one (each catch is a source that forgot to scrub).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Column, Row};
use switchboard_shared::secrets;
use switchboard_testkit::free_port;

use crate::fakes::{AgentMode, Answer, FakeAgent, FakeGraph, SmtpSink};
use crate::helpers::{TestApp, all_logs, all_spans, spawn_app_with, text_messages};

const ACCESS_TOKEN: &str = "EAAGmarkerACCESSa1b2c3d4e5";
const APP_SECRET: &str = "marker-app-secret-5b2e9f";
const APP_TOKEN_SECRET: &str = "marker-app-token-secret-9a1d";
const VERIFY_TOKEN: &str = "marker-verify-token-c4e8a7";
const API_KEY: &str = "marker-api-key-0d6f3b";
const SECOND_API_KEY: &str = "marker-api-key-two-8e2a61";
const SMTP_PASSWORD: &str = "marker-smtp-password-3f7b0c";
const AGENT_PASSWORD: &str = "marker-agent-pass-6c1e5d";
const CLASSIFIER_PASSWORD: &str = "marker-classifier-pass-2a9b";

const MARKERS: [&str; 9] = [
    ACCESS_TOKEN,
    APP_SECRET,
    APP_TOKEN_SECRET,
    VERIFY_TOKEN,
    API_KEY,
    SECOND_API_KEY,
    SMTP_PASSWORD,
    AGENT_PASSWORD,
    CLASSIFIER_PASSWORD,
];

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A peer that accepts connections and never answers.
async fn silent_peer() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

/// `http://user:PASSWORD@127.0.0.1:port`
fn with_credentials(uri: &str, user: &str, password: &str) -> String {
    uri.replacen("http://", &format!("http://{user}:{password}@"), 1)
}

/// Everything a client got back: status, headers, body.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn keep(&mut self, what: &str, response: reqwest::Response) -> Value {
        let status = response.status();
        let headers: Vec<String> =
            response.headers().iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?"))).collect();
        let body = response.text().await.unwrap_or_default();
        self.0.push(format!("{what} -> {status} {} {body}", headers.join("; ")));
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> Value {
        let response =
            app.client.get(format!("{}{path}", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
        self.keep(path, response).await
    }

    /// What an operator and an outsider can read of the service after the failures.
    async fn read_everything(&mut self, app: &TestApp, delivery_ids: &[String]) {
        for id in delivery_ids {
            self.get(app, &format!("/api/v1/messages/{id}")).await;
        }
        let conversations = self.get(app, "/api/v1/conversations").await;
        for conversation in conversations["items"].as_array().cloned().unwrap_or_default() {
            let id = conversation["id"].as_str().unwrap_or_default().to_owned();
            self.get(app, &format!("/api/v1/conversations/{id}/messages")).await;
        }
        for path in ["/api/v1/deliveries", "/api/v1/jobs/dead", "/api/v1/status", "/api/v1/webhook-events", "/metrics"]
        {
            self.get(app, path).await;
        }
        let public = app.client.get(format!("{}/health/whatsapp", app.address)).send().await.unwrap();
        self.keep("/health/whatsapp (public)", public).await;
        self.get(app, "/health/whatsapp").await;
        self.get(app, "/health/ready").await;
    }
}

/// Every text value of every row of every table of the app's database.
async fn database_text(app: &TestApp) -> String {
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    let mut text = String::new();
    for table in tables {
        let sql = sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\""));
        let rows = sqlx::query(sql).fetch_all(app.store.pool()).await.unwrap();
        for row in rows {
            for column in row.columns() {
                let i = column.ordinal();
                if let Ok(Some(value)) = row.try_get::<Option<String>, _>(i) {
                    text.push_str(&value);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
                text.push('\n');
            }
        }
    }
    text
}

/// Every string a span carries.
fn spans_text() -> String {
    let mut text = String::new();
    for span in all_spans() {
        text.push_str(&span.name);
        for kv in &span.attributes {
            text.push_str(&format!(" {}={}", kv.key, kv.value));
        }
        for event in span.events.iter() {
            text.push_str(&format!(" {}", event.name));
            for kv in &event.attributes {
                text.push_str(&format!(" {}={}", kv.key, kv.value));
            }
        }
        text.push_str(&format!(" {:?}\n", span.status));
    }
    text
}

/// The configuration every app of this test shares: each secret a marker.
fn secret_config(
    graph_url: &str,
    smtp_port: u16,
    classifier: &str,
    agents: &str,
    default_agent: &str,
) -> Vec<(String, String)> {
    [
        ("SWITCHBOARD_MODE", "live".to_owned()),
        ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN.to_owned()),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_APP_TOKEN", format!("1234567890|{APP_TOKEN_SECRET}")),
        ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
        ("WHATSAPP_PHONE_NUMBER_ID", crate::helpers::BUSINESS_NUMBER_ID.to_owned()),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", "210987654321098".to_owned()),
        ("WHATSAPP_API_BASE_URL", graph_url.to_owned()),
        ("WHATSAPP_API_VERSION", "v25.0".to_owned()),
        ("WHATSAPP_HTTP_TIMEOUT_SECS", "1".to_owned()),
        ("SWITCHBOARD_HEALTH_CACHE_SECS", "0".to_owned()),
        ("SWITCHBOARD_API_KEYS", format!("{API_KEY},{SECOND_API_KEY}")),
        ("SMTP_HOST", "127.0.0.1".to_owned()),
        ("SMTP_PORT", smtp_port.to_string()),
        ("SMTP_TLS", "none".to_owned()),
        ("SMTP_FROM", "bot@switchboard.test".to_owned()),
        ("SMTP_USERNAME", "bot".to_owned()),
        ("SMTP_PASSWORD", SMTP_PASSWORD.to_owned()),
        ("SMTP_TIMEOUT_SECS", "1".to_owned()),
        ("SWITCHBOARD_CLASSIFIER_URL", classifier.to_owned()),
        ("SWITCHBOARD_AGENTS", agents.to_owned()),
        ("SWITCHBOARD_DEFAULT_AGENT", default_agent.to_owned()),
        ("SWITCHBOARD_AGENT_TIMEOUT_SECS", "1".to_owned()),
        ("SWITCHBOARD_JOB_MAX_ATTEMPTS", "3".to_owned()),
        ("SWITCHBOARD_DB_BUSY_TIMEOUT_MS", "300".to_owned()),
        ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn spawn(config: &[(String, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&pairs).await
}

/// A webhook, signed with the marker app secret.
async fn post_signed(app: &TestApp, seen: &mut Seen, body: &[u8]) -> u16 {
    let signature = switchboard_adapters::inbound::whatsapp::signature::sign(APP_SECRET.as_bytes(), body);
    let response = app
        .client
        .post(format!("{}/webhook/whatsapp", app.address))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    seen.keep("POST /webhook/whatsapp", response).await;
    status
}

/// What a client can make the service say about keys and tokens it presents.
async fn probe_with_wrong_credentials(app: &TestApp, seen: &mut Seen) {
    let wrong_key = format!("{API_KEY}x");
    let response =
        app.client.get(format!("{}/api/v1/status", app.address)).header("x-api-key", &wrong_key).send().await.unwrap();
    seen.keep("status with a longer key", response).await;
    for token in [VERIFY_TOKEN.to_owned(), format!("{VERIFY_TOKEN}x")] {
        let response = app
            .client
            .get(format!("{}/webhook/whatsapp", app.address))
            .query(&[("hub.mode", "subscribe"), ("hub.verify_token", token.as_str()), ("hub.challenge", "1158201444")])
            .send()
            .await
            .unwrap();
        seen.keep("verification handshake", response).await;
    }
    let unsigned = text_messages("447700900999", &[("wamid.SECRETS.UNSIGNED", now(), "hi")]);
    let response = app
        .client
        .post(format!("{}/webhook/whatsapp", app.address))
        .header("x-hub-signature-256", format!("sha256={}", hex::encode(APP_SECRET)))
        .body(unsigned)
        .send()
        .await
        .unwrap();
    seen.keep("webhook with a wrong signature", response).await;
}

/// Sends one message through the API on `auto` (WhatsApp, then email) and waits until
/// the delivery has settled (sent or failed) or `within` passed.
async fn send_and_settle(app: &TestApp, seen: &mut Seen, to: &str, within: Duration) -> String {
    let response = app
        .client
        .post(format!("{}/api/v1/messages", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"to": to, "text": "Your order shipped", "channel": "auto", "email": "amelia@example.com"}))
        .send()
        .await
        .unwrap();
    let answer = seen.keep("POST /api/v1/messages", response).await;
    let id = answer["delivery_id"].as_str().expect("a delivery id").to_owned();
    let deadline = Instant::now() + within;
    loop {
        let delivery = seen.get(app, &format!("/api/v1/messages/{id}")).await;
        let settled = matches!(delivery["state"].as_str(), Some("failed" | "sent" | "delivered" | "read"));
        if settled || Instant::now() > deadline {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the app has no job left to run (or `within` passed).
async fn drain(app: &TestApp, within: Duration) {
    let deadline = Instant::now() + within;
    while app.count("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'leased')").await > 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn no_configured_secret_leaves_whatever_graph_smtp_the_database_or_an_agent_does() {
    let mut seen = Seen::default();
    let mut stored = String::new();
    let mut emails = Vec::new();

    // 1. Graph answers, but badly: quotes requests back in its errors (5xx, 190, a bad
    //    parameter), answers garbage; the health endpoints answer 500 quoting the call.
    //    SMTP refuses our AUTH quoting it back. The classifier quotes its input back in
    //    an error; the agent quotes its input back in its answer.
    {
        let graph = FakeGraph::start().await;
        graph.script([
            Answer::Echo { code: 131000, status: 500 },
            Answer::Garbage,
            Answer::Echo { code: 190, status: 401 },
            Answer::Echo { code: 100, status: 400 },
            Answer::Echo { code: 131000, status: 503 },
            Answer::Status(502),
        ]);
        graph.set_account_echo(true);
        let smtp = SmtpSink::start_refusing_auth().await;
        let classifier = FakeAgent::start(AgentMode::EchoError).await;
        let agent = FakeAgent::start(AgentMode::EchoReply).await;
        let config = secret_config(
            &graph.uri(),
            smtp.port,
            &with_credentials(&classifier.uri(), "classifier", CLASSIFIER_PASSWORD),
            &format!("echo={}|anything", with_credentials(&agent.uri(), "agent", AGENT_PASSWORD)),
            "echo",
        );
        let app = spawn(&config).await;

        probe_with_wrong_credentials(&app, &mut seen).await;
        let ids = [
            send_and_settle(&app, &mut seen, "447700900601", Duration::from_secs(15)).await,
            send_and_settle(&app, &mut seen, "447700900602", Duration::from_secs(15)).await,
        ];
        post_signed(&app, &mut seen, &text_messages("447700900603", &[("wamid.SECRETS.ECHO", now(), "hello")])).await;
        drain(&app, Duration::from_secs(15)).await;
        seen.read_everything(&app, &ids).await;
        stored.push_str(&database_text(&app).await);
        emails.extend(smtp.messages());
        assert!(!classifier.received().is_empty() && !agent.received().is_empty(), "both agents were asked");
    }

    // 2. Everything down: Graph, SMTP and the agent refuse connections; then the
    //    database is locked while a webhook arrives.
    {
        let config = secret_config(
            &format!("http://127.0.0.1:{}", free_port()),
            free_port(),
            &format!("http://classifier:{CLASSIFIER_PASSWORD}@127.0.0.1:{}", free_port()),
            &format!("down=http://agent:{AGENT_PASSWORD}@127.0.0.1:{}|anything", free_port()),
            "down",
        );
        let app = spawn(&config).await;

        let id = send_and_settle(&app, &mut seen, "447700900611", Duration::from_secs(15)).await;
        post_signed(&app, &mut seen, &text_messages("447700900612", &[("wamid.SECRETS.DOWN", now(), "hello")])).await;
        drain(&app, Duration::from_secs(15)).await;
        let mut lock = app.store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE").execute(&mut *lock).await.unwrap();
        let locked_status = post_signed(
            &app,
            &mut seen,
            &text_messages("447700900613", &[("wamid.SECRETS.LOCKED", now(), "hello while locked")]),
        )
        .await;
        sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
        drop(lock);
        assert_eq!(locked_status, 503, "a locked database refuses the webhook");
        seen.read_everything(&app, &[id]).await;
        stored.push_str(&database_text(&app).await);
    }

    // 3. Graph and the agent accept the connection and never answer; the email fallback
    //    goes out through an SMTP server that takes our credentials.
    {
        let silent = silent_peer().await;
        let smtp = SmtpSink::start_accepting_auth().await;
        let config = secret_config(
            &format!("http://127.0.0.1:{silent}"),
            smtp.port,
            &format!("http://classifier:{CLASSIFIER_PASSWORD}@127.0.0.1:{}", silent_peer().await),
            &format!("silent=http://agent:{AGENT_PASSWORD}@127.0.0.1:{}|anything", silent_peer().await),
            "silent",
        );
        let app = spawn(&config).await;

        let id = send_and_settle(&app, &mut seen, "447700900621", Duration::from_secs(20)).await;
        post_signed(&app, &mut seen, &text_messages("447700900622", &[("wamid.SECRETS.SILENT", now(), "hello")])).await;
        drain(&app, Duration::from_secs(20)).await;
        seen.read_everything(&app, &[id]).await;
        stored.push_str(&database_text(&app).await);
        emails.extend(smtp.messages());
    }

    // Spans end, and log lines are written, a moment after the work they describe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = seen.0.join("\n");
    let logs = all_logs();
    let spans = spans_text();
    let emails = emails.join("\n");
    assert!(answers.contains("unhealthy") && answers.contains("graph_unreachable"), "the failures were driven");
    assert!(stored.contains("wamid.SECRETS.ECHO"), "the database was read");
    assert!(emails.contains("Your order shipped"), "an email went out");
    for marker in MARKERS {
        assert!(!answers.contains(marker), "{marker} in an HTTP answer:\n{}", around(&answers, marker));
        assert!(!stored.contains(marker), "{marker} in a stored row:\n{}", around(&stored, marker));
        assert!(!emails.contains(marker), "{marker} in an email:\n{}", around(&emails, marker));
        assert!(!logs.contains(marker), "{marker} in a log line:\n{}", around(&logs, marker));
        assert!(!spans.contains(marker), "{marker} in a span:\n{}", around(&spans, marker));
        assert_eq!(
            secrets::caught_by_net(marker),
            0,
            "{marker} reached a log line, a span or an answer and had to be redacted there: some source did not scrub it\nlogs: {}\nspans: {}\nanswers: {}",
            around(&logs, "[redacted"),
            around(&spans, "[redacted"),
            around(&answers, "[redacted"),
        );
    }
}

/// The text around the first occurrence of `marker`, for the failure message.
fn around(text: &str, marker: &str) -> String {
    let at = text.find(marker).unwrap_or(0);
    let start = text.floor_char_boundary(at.saturating_sub(300));
    let end = text.ceil_char_boundary((at + 300).min(text.len()));
    text[start..end].to_owned()
}
