//! Crashes under load, with the real binary: webhooks arrive at a steady rate while the
//! process is killed with SIGKILL several times and restarted on the same database.
//! Like Meta, the load generator redelivers every webhook until it is answered 200.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_adapters::inbound::whatsapp::signature;
use switchboard_testkit::ServiceProcess;

use crate::fakes::FakeGraph;
use crate::helpers::{API_KEY, APP_SECRET, BUSINESS_NUMBER_ID, VERIFY_TOKEN, text_messages};

const WEBHOOKS: usize = 600;
const SENDERS: usize = 6;
const USERS: usize = 25;
const KILLS: usize = 3;

/// The binary's `serve`, ready, with its output beside the database.
fn start(env: Vec<(String, String)>, dir: &std::path::Path) -> ServiceProcess {
    ServiceProcess::start(env!("CARGO_BIN_EXE_switchboard"), env, dir.join("service.log"), Duration::from_secs(20))
        .unwrap()
}

/// The environment both crash tests share: short leases so a killed process's jobs are
/// taken over quickly, and a short grace for sends a kill left uncertain.
fn crash_env(dir: &std::path::Path, db: &std::path::Path) -> Vec<(String, String)> {
    [
        ("SWITCHBOARD_DATA_DIR", dir.display().to_string()),
        ("DATABASE_URL", format!("sqlite://{}", db.display())),
        ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
        ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
        ("SWITCHBOARD_API_KEYS", API_KEY.to_owned()),
        ("SWITCHBOARD_RATE_LIMITS_ENABLED", "false".to_owned()),
        // Each user writes several times a second here: the sender limit would (rightly)
        // answer them together, and this test counts one reply per message.
        ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "0".to_owned()),
        ("SWITCHBOARD_JOB_LEASE_SECS", "3".to_owned()),
        ("SWITCHBOARD_AGENT_TIMEOUT_SECS", "1".to_owned()),
        ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "2".to_owned()),
        ("SWITCHBOARD_JOB_POLL_INTERVAL_MS", "50".to_owned()),
        ("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", "50".to_owned()),
        ("SWITCHBOARD_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Delivers `WEBHOOKS` text messages (`wamid.<prefix>.<n>`, each a new wamid) from
/// `SENDERS` connections at about 150 webhooks/s, each until it is answered 200, while
/// the service is killed with SIGKILL `KILLS` times and restarted. Answers how many
/// deliveries were refused and had to be made again.
async fn deliver_while_killing(service: &Arc<Mutex<ServiceProcess>>, prefix: &'static str) -> usize {
    let port = service.lock().unwrap().port();
    let next = Arc::new(AtomicUsize::new(0));
    let redeliveries = Arc::new(AtomicUsize::new(0));
    let base_ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (next, redeliveries) = (next.clone(), redeliveries.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= WEBHOOKS {
                    return;
                }
                // A steady offered rate of about 150 webhooks/s.
                let due = Duration::from_millis((i as u64) * 1000 / 150);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let from = format!("4477009{:05}", i % USERS);
                let body = text_messages(&from, &[(&format!("wamid.{prefix}.{i}"), base_ts + i as i64, "hello")]);
                let signed = signature::sign(APP_SECRET.as_bytes(), &body);
                loop {
                    let sent = client
                        .post(format!("http://127.0.0.1:{port}/webhook/whatsapp"))
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", &signed)
                        .body(body.clone())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status() == 200) {
                        break;
                    }
                    let refused = redeliveries.fetch_add(1, Ordering::SeqCst);
                    assert!(refused < WEBHOOKS * 20, "webhooks keep being refused");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    let killer = {
        let service = service.clone();
        tokio::spawn(async move {
            for _ in 0..KILLS {
                tokio::time::sleep(Duration::from_millis(900)).await;
                service.lock().unwrap().kill();
                tokio::time::sleep(Duration::from_millis(150)).await;
                service.lock().unwrap().restart(Duration::from_secs(20)).unwrap();
            }
        })
    };
    for sender in senders {
        sender.await.unwrap();
    }
    killer.await.unwrap();
    redeliveries.load(Ordering::SeqCst)
}

async fn scalar(pool: &sqlx::SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_under_load_nothing_acknowledged_is_lost_or_processed_twice() {
    // Arrange: the service in live mode against the fake Graph.
    let graph = FakeGraph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let mut env = crash_env(dir.path(), &db);
    env.extend(
        [
            ("SWITCHBOARD_MODE", "live".to_owned()),
            ("WHATSAPP_ACCESS_TOKEN", "test-token".to_owned()),
            ("WHATSAPP_PHONE_NUMBER_ID", BUSINESS_NUMBER_ID.to_owned()),
            ("WHATSAPP_API_BASE_URL", graph.uri()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let service = Arc::new(Mutex::new(start(env, dir.path())));

    // Act: senders deliver every webhook until it is answered 200, while the process
    // is killed and restarted.
    let redeliveries = deliver_while_killing(&service, "CRASH").await;

    // Every message gets its reply out, eventually.
    let deadline = Instant::now() + Duration::from_secs(90);
    let replied = |sends: &[serde_json::Value]| -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for send in sends {
            if let Some(wamid) = send["context"]["message_id"].as_str() {
                *counts.entry(wamid.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    };
    while replied(&graph.sends()).len() < WEBHOOKS {
        assert!(Instant::now() < deadline, "only {} of {WEBHOOKS} replies sent", replied(&graph.sends()).len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.lock().unwrap().stop(Duration::from_secs(10));

    // Assert: each webhook stored once, processed once, with exactly one reply; each
    // reply sent at least once (a send cut off by SIGKILL before it was recorded is
    // sent again: counted and reported, never lost).
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let stored =
        scalar(&pool, "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.CRASH.%'").await;
    let processed = scalar(
        &pool,
        "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.CRASH.%' AND processed_at IS NOT NULL",
    )
    .await;
    let replies = scalar(
        &pool,
        "SELECT COUNT(*) FROM messages o JOIN messages i ON o.in_reply_to IN (i.id, i.wamid)
         WHERE o.direction = 'outbound' AND i.wamid LIKE 'wamid.CRASH.%'",
    )
    .await;
    let jobs_left = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE state != 'dead'").await;
    let dead = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await;
    let counts = replied(&graph.sends());
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "crash test: {WEBHOOKS} webhooks, {KILLS} SIGKILLs, {redeliveries} redeliveries by the sender, {stored} stored, \
         {processed} processed, {replies} replies, {duplicates} duplicate sends, {dead} dead jobs"
    );
    assert_eq!(stored, WEBHOOKS as i64, "every acknowledged webhook is stored once");
    assert_eq!(processed, WEBHOOKS as i64, "every stored message is processed");
    assert_eq!(replies, WEBHOOKS as i64, "exactly one reply per message");
    assert_eq!(counts.len(), WEBHOOKS, "every reply reached Graph");
    assert_eq!(dead, 0, "no job died");
    assert_eq!(jobs_left, 0, "the queue drained");
    assert!(duplicates <= KILLS * 8, "more duplicate sends than sends in flight at the kills: {duplicates}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_under_load_in_sandbox_mode_every_message_is_replied_to_exactly_once() {
    // Arrange: the service in sandbox mode, which records each reply in its outbox.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let mut env = crash_env(dir.path(), &db);
    env.push(("SWITCHBOARD_MODE".to_owned(), "sandbox".to_owned()));
    let service = Arc::new(Mutex::new(start(env, dir.path())));

    // Act
    let redeliveries = deliver_while_killing(&service, "SANDBOXCRASH").await;

    // Every message gets its reply recorded, eventually.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let replied = "SELECT COUNT(DISTINCT reply_to) FROM sandbox_outbox WHERE reply_to LIKE 'wamid.SANDBOXCRASH.%'";
    let deadline = Instant::now() + Duration::from_secs(90);
    while scalar(&pool, replied).await < WEBHOOKS as i64 {
        assert!(Instant::now() < deadline, "only {} of {WEBHOOKS} replies recorded", scalar(&pool, replied).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And every reply ends read: the status webhooks the sandbox owes outlive the kills.
    let read = "SELECT COUNT(*) FROM deliveries WHERE state = 'read'";
    while scalar(&pool, read).await < WEBHOOKS as i64 {
        assert!(Instant::now() < deadline, "only {} of {WEBHOOKS} replies read", scalar(&pool, read).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.lock().unwrap().stop(Duration::from_secs(10));

    // Assert: each webhook stored once and processed once, and the sandbox recorded
    // exactly one reply to each: no kill made a second send.
    let stored = scalar(
        &pool,
        "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.SANDBOXCRASH.%'",
    )
    .await;
    let processed = scalar(
        &pool,
        "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.SANDBOXCRASH.%'
         AND processed_at IS NOT NULL",
    )
    .await;
    let replies = scalar(
        &pool,
        "SELECT COUNT(*) FROM messages o JOIN messages i ON o.in_reply_to IN (i.id, i.wamid)
         WHERE o.direction = 'outbound' AND i.wamid LIKE 'wamid.SANDBOXCRASH.%'",
    )
    .await;
    let recorded =
        scalar(&pool, "SELECT COUNT(*) FROM sandbox_outbox WHERE reply_to LIKE 'wamid.SANDBOXCRASH.%'").await;
    let twice = scalar(
        &pool,
        "SELECT COUNT(*) FROM (SELECT reply_to FROM sandbox_outbox WHERE reply_to LIKE 'wamid.SANDBOXCRASH.%'
         GROUP BY reply_to HAVING COUNT(*) > 1)",
    )
    .await;
    let dead = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await;
    let jobs_left = scalar(&pool, "SELECT COUNT(*) FROM jobs WHERE state != 'dead'").await;
    let statuses = scalar(&pool, "SELECT COUNT(*) FROM message_statuses WHERE wamid LIKE 'wamid.SANDBOX.%'").await;
    let settled =
        scalar(&pool, "SELECT COUNT(*) FROM delivery_attempts WHERE detail = 'linked by status webhook'").await;
    println!(
        "sandbox crash test: {WEBHOOKS} webhooks, {KILLS} SIGKILLs, {redeliveries} redeliveries by the sender, \
         {stored} stored, {processed} processed, {replies} replies, {recorded} sandbox sends, {twice} replied to twice, \
         {statuses} statuses stored, {settled} sends settled by their status, {dead} dead jobs"
    );
    assert_eq!(stored, WEBHOOKS as i64, "every acknowledged webhook is stored once");
    assert_eq!(processed, WEBHOOKS as i64, "every stored message is processed");
    assert_eq!(replies, WEBHOOKS as i64, "exactly one reply planned per message");
    assert_eq!(twice, 0, "a message replied to more than once");
    assert_eq!(recorded, WEBHOOKS as i64, "exactly one sandbox send per message");
    assert_eq!(statuses, 3 * WEBHOOKS as i64, "sent, delivered and read stored once each");
    assert_eq!(dead, 0, "no job died");
    assert_eq!(jobs_left, 0, "the queue drained");
}

/// Switchboard's own A2A task that its caller does not wait on (`returnImmediately`)
/// runs on the job queue: killed with SIGKILL while the agent is still answering, the
/// service restarts, the task's job is taken over, and the task completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a2a_task_running_when_the_process_is_killed_resumes_after_the_restart_and_completes() {
    let agent = crate::fakes::FakeAgent::start(crate::fakes::AgentMode::Slow(Duration::from_secs(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let mut env = crash_env(dir.path(), &db);
    let registry = format!("slow={}|billing", agent.uri());
    env.extend(
        [
            ("SWITCHBOARD_MODE", "sandbox".to_owned()),
            ("SWITCHBOARD_AGENTS", registry),
            ("SWITCHBOARD_DEFAULT_AGENT", "slow".to_owned()),
            ("SWITCHBOARD_JOB_LEASE_SECS", "5".to_owned()),
            ("SWITCHBOARD_AGENT_TIMEOUT_SECS", "4".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let mut service = start(env, dir.path());
    let client = reqwest::Client::new();
    let rpc = |base: String, method: &'static str, params: serde_json::Value| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/a2a"))
                .header("x-api-key", API_KEY)
                .header("a2a-version", "1.0")
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    let accepted = rpc(
        service.base_url(),
        "SendMessage",
        serde_json::json!({"message": {"messageId": "crash-1", "role": "ROLE_USER", "parts": [{"text": "this thing"}]},
                           "configuration": {"returnImmediately": true}}),
    )
    .await;
    let task_id = accepted["result"]["task"]["id"].as_str().unwrap().to_owned();
    // The agent has the question and is still thinking: now the process dies.
    let asked = Instant::now() + Duration::from_secs(10);
    while agent.received().is_empty() {
        assert!(Instant::now() < asked, "the agent was never asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.kill();
    service.restart(Duration::from_secs(20)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let task = rpc(service.base_url(), "GetTask", serde_json::json!({"id": task_id})).await;
        if task["result"]["status"]["state"] == "TASK_STATE_COMPLETED" {
            break task;
        }
        assert!(Instant::now() < deadline, "the task never completed after the restart: {task:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    service.stop(Duration::from_secs(10));

    assert_eq!(accepted["result"]["task"]["status"]["state"], "TASK_STATE_WORKING");
    assert_eq!(done["result"]["status"]["message"]["parts"][0]["text"], "late");
    assert!(agent.received().len() >= 2, "the agent was asked again after the crash");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM jobs").await, 0, "the task's job finished; none died");
}
