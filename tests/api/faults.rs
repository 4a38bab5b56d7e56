//! Faults everywhere at once: Graph fails a share of sends in every way it can, the
//! database is locked by someone else for a while, and the specialist agent is down.
//! Everything acknowledged ends delivered, or failed with a reason after its fallback.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::fakes::{Answer, FakeGraph, SmtpSink};
use crate::helpers::{TestApp, spawn_live_app, text_messages};

const WEBHOOK_MESSAGES: usize = 16;
const API_MESSAGES: usize = 8;

/// Every failure class Graph answers with, mixed with successes: about half the sends fail.
fn flaky_script() -> Vec<Answer> {
    let failures = [
        Answer::Error { code: 131026, status: 400 },
        Answer::Status(429),
        Answer::Error { code: 130429, status: 400 },
        Answer::Status(500),
        Answer::Error { code: 131000, status: 500 },
        Answer::Status(503),
        Answer::Slow(Duration::from_secs(3)),
        Answer::Error { code: 131056, status: 400 },
        Answer::Error { code: 2, status: 503 },
    ];
    failures
        .into_iter()
        .flat_map(|f| [f, Answer::Accept, Answer::Accept])
        .collect::<Vec<_>>()
        .into_iter()
        .cycle()
        .take(40)
        .collect()
}

/// Posts a webhook until it is answered 200, as Meta redelivers; returns how many
/// attempts were refused first.
async fn deliver_like_meta(app: &TestApp, body: &[u8]) -> usize {
    let mut refused = 0;
    loop {
        if app.post_webhook(body).await.status() == 200 {
            return refused;
        }
        refused += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn template(to: &str, email: &str) -> Value {
    json!({"to": to, "email": email, "template": {"name": "order_update", "language": "en", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "#1042"}]}
    ]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_graph_database_and_agent_faults_every_message_ends_delivered_or_failed_with_a_reason() {
    // Arrange
    let graph = FakeGraph::start().await;
    graph.script(flaky_script());
    let smtp = SmtpSink::start().await;
    let down = switchboard_testkit::free_port();
    let agents = format!("concierge=http://127.0.0.1:{down}|greeting");
    let app = spawn_live_app(
        &graph,
        Some(&smtp),
        &[
            ("SWITCHBOARD_AGENTS", &agents),
            ("SWITCHBOARD_JOB_MAX_ATTEMPTS", "8"),
            ("SWITCHBOARD_DB_BUSY_TIMEOUT_MS", "200"),
            ("WHATSAPP_HTTP_TIMEOUT_SECS", "1"),
            ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "1"),
        ],
    )
    .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let webhook = |i: usize| {
        text_messages(&format!("4477009005{:02}", i % 8), &[(&format!("wamid.FAULT.{i}"), now + i as i64, "hello")])
    };

    // Act: half the webhooks, then a database outage while the rest arrive.
    // The API's messages go first, so the first send (answered 131026, undeliverable)
    // is one whose recipient has an email address to fall back to.
    let started = Instant::now();
    let mut api_deliveries = Vec::new();
    for i in 0..API_MESSAGES {
        api_deliveries.push(app.send_ok(template(&format!("4477009006{i:02}"), &format!("user{i}@example.com"))).await);
    }
    // Their first sends reach Graph before any webhook's read receipt can: on a busy host
    // the workers may take their jobs after the first webhooks', and the 131026 would
    // then answer a read receipt, which has no email to fall back to.
    let deadline = Instant::now() + Duration::from_secs(30);
    while graph.requests().await.len() < API_MESSAGES {
        assert!(Instant::now() < deadline, "the API's messages were not sent to Graph");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..WEBHOOK_MESSAGES / 2 {
        deliver_like_meta(&app, &webhook(i)).await;
    }
    let mut locker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", app.db_path.display())).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let outage = Instant::now();
    let unlock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    });
    let mut refused_during_outage = 0;
    for i in WEBHOOK_MESSAGES / 2..WEBHOOK_MESSAGES {
        refused_during_outage += deliver_like_meta(&app, &webhook(i)).await;
    }
    unlock.await.unwrap();
    assert!(outage.elapsed() >= Duration::from_millis(1500));

    // Everything settles: no delivery pending, no job left.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pending = app.count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").await;
        let jobs = app.count("SELECT COUNT(*) FROM jobs WHERE state != 'dead'").await;
        let total = app.count("SELECT COUNT(*) FROM deliveries").await;
        if pending == 0 && jobs == 0 && total == (WEBHOOK_MESSAGES + API_MESSAGES) as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "not settled: {total} deliveries, {pending} pending, {jobs} jobs");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Assert: the database outage was real, and cost nothing.
    assert!(refused_during_outage > 0, "the locked database refused no webhook");
    let stored =
        app.count("SELECT COUNT(*) FROM messages WHERE wamid LIKE 'wamid.FAULT.%' AND processed_at IS NOT NULL").await;
    assert_eq!(stored, WEBHOOK_MESSAGES as i64, "every acknowledged webhook was stored and processed");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await, 0, "no job died");

    // Assert: the agent being down cost nothing either: the default agent answered.
    let rescued = app.count("SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND agent = 'fallback'").await;
    assert_eq!(rescued, WEBHOOK_MESSAGES as i64, "every greeting was answered by the default agent");

    // Assert: each delivery ended sent, or failed with Meta's reason; the ones that could
    // fall back to email did.
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT state, route, last_error FROM deliveries").fetch_all(app.store.pool()).await.unwrap();
    let mut sent = 0;
    let mut by_email = 0;
    for (state, route, error) in &rows {
        match state.as_str() {
            "sent" | "delivered" | "read" => sent += 1,
            "failed" => assert!(error.as_deref().is_some_and(|e| !e.is_empty()), "failed with no reason"),
            other => panic!("delivery left {other}"),
        }
        if route == "email" {
            by_email += 1;
        }
    }
    let failed = rows.len() - sent;
    for id in &api_deliveries {
        let delivery = app.delivery(id).await;
        assert!(delivery["state"] == "sent" || delivery["route"] == "email", "{delivery}");
    }
    assert!(by_email >= 1, "the undeliverable send fell back to email");
    assert_eq!(smtp.messages().len(), by_email, "one email per delivery rerouted to email");
    println!(
        "faults test: {} deliveries, {sent} sent ({by_email} by email), {failed} failed with a reason, \
         {refused_during_outage} webhooks refused during the database outage, {} Graph requests, settled in {:.1} s",
        rows.len(),
        graph.requests().await.len(),
        started.elapsed().as_secs_f64()
    );
}
