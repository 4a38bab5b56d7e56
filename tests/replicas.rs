//! Replicas on one PostgreSQL, with the real binary: three Switchboard processes share a
//! database, a burst of signed webhooks is spread across them (some delivered to two
//! replicas at once, as a retrying sender would), and one replica is killed with SIGKILL
//! mid-burst. Its leases expire and the others take its work over: every message is
//! stored once, processed once and answered once, and every reply is sent.
//!
//! PostgreSQL comes from `SWITCHBOARD_TEST_DATABASE_URL` (`scripts/test` starts one);
//! without it the test says it skipped, unless `CI` is set: then it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchboard_testkit::{ServiceProcess, with_database};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const APP_SECRET: &str = "replica-app-secret";
const NUMBER_ID: &str = "109876543210987";
const REPLICAS: usize = 3;
const WEBHOOKS: usize = 300;
const USERS: usize = 20;

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn webhook(from: &str, wamid: &str, ts: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "Replica User"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": "hello"}}],
        }}]}],
    }))
    .unwrap()
}

/// One replica: the binary in sandbox mode on its own port and data directory.
struct Replica {
    service: ServiceProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn start(database_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("SWITCHBOARD_MODE", "sandbox".to_owned()),
            ("SWITCHBOARD_DATA_DIR", dir.path().display().to_string()),
            ("DATABASE_URL", database_url.to_owned()),
            ("SWITCHBOARD_DB_MAX_CONNECTIONS", "6".to_owned()),
            ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "replica-verify".to_owned()),
            ("SWITCHBOARD_API_KEYS", "replica-api-key".to_owned()),
            ("SWITCHBOARD_RATE_LIMITS_ENABLED", "false".to_owned()),
            // Each user writes 15 times in a burst: the sender limit would answer them
            // together, and this test counts one reply per message.
            ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "0".to_owned()),
            // Short leases, so the killed replica's jobs are taken over soon.
            ("SWITCHBOARD_JOB_LEASE_SECS", "3".to_owned()),
            ("SWITCHBOARD_AGENT_TIMEOUT_SECS", "1".to_owned()),
            ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "2".to_owned()),
            ("SWITCHBOARD_JOB_POLL_INTERVAL_MS", "50".to_owned()),
            ("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", "50".to_owned()),
            ("SWITCHBOARD_LOG", "warn".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec();
        let log = dir.path().join("service.log");
        let service =
            ServiceProcess::start(env!("CARGO_BIN_EXE_switchboard"), env, log, Duration::from_secs(30)).unwrap();
        Replica { port: service.port(), service, _dir: dir }
    }

    fn kill(&mut self) {
        self.service.kill();
    }

    fn stop(&mut self) {
        self.service.stop(Duration::from_secs(10));
    }
}

/// Posts the webhook to replica `first`, then to the next ones, until one answers 200.
async fn deliver(client: &reqwest::Client, ports: &[u16], first: usize, body: &[u8], refused: &AtomicUsize) {
    let signed = sign(body);
    for attempt in 0.. {
        let port = ports[(first + attempt) % ports.len()];
        let sent = client
            .post(format!("http://127.0.0.1:{port}/webhook/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signed)
            .body(body.to_vec())
            .send()
            .await;
        if sent.is_ok_and(|r| r.status() == 200) {
            return;
        }
        let n = refused.fetch_add(1, Ordering::SeqCst);
        assert!(n < WEBHOOKS * 20, "webhooks keep being refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_postgres_process_every_message_once_when_one_is_killed_mid_burst() {
    let Ok(admin) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "SWITCHBOARD_TEST_DATABASE_URL is not set: CI must run the replica test (scripts/test starts a server)"
        );
        eprintln!("skipped the replica test: SWITCHBOARD_TEST_DATABASE_URL is not set");
        return;
    };
    // Arrange: a fresh database and three replicas on it (they migrate it together).
    let name = format!("sb_replicas_{}", uuid::Uuid::new_v4().simple());
    let admin_pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin_pool).await.unwrap();
    let url = with_database(&admin, &name);
    let starting: Vec<_> = (0..REPLICAS)
        .map(|_| {
            std::thread::spawn({
                let url = url.clone();
                move || Replica::start(&url)
            })
        })
        .collect();
    let mut replicas: Vec<Replica> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();

    // Act: senders spread the webhooks across the replicas; every tenth goes to two
    // replicas at once. Replica 0 is killed a third of the way in; its webhooks go on to
    // the next replica, as a load balancer would send them.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let base_ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, ports, next, refused) = (client.clone(), ports.clone(), next.clone(), refused.clone());
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= WEBHOOKS {
                    return;
                }
                let from = format!("4477009{:05}", i % USERS);
                let body = webhook(&from, &format!("wamid.REPLICA.{i}"), base_ts + i64::try_from(i).unwrap());
                if i % 10 == 0 {
                    tokio::join!(
                        deliver(&client, &ports, i, &body, &refused),
                        deliver(&client, &ports, i + 1, &body, &refused)
                    );
                } else {
                    deliver(&client, &ports, i, &body, &refused).await;
                }
            }
        });
    }
    while next.load(Ordering::SeqCst) < WEBHOOKS / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replicas[0].kill();
    senders.join_all().await;

    // Every message gets its reply out, eventually (the killed replica's leases expire).
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let scalar = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    let answered = "SELECT COUNT(DISTINCT reply_to) FROM sandbox_outbox WHERE reply_to LIKE 'wamid.REPLICA.%'";
    let deadline = Instant::now() + Duration::from_secs(120);
    while scalar(answered).await < i64::try_from(WEBHOOKS).unwrap() {
        assert!(Instant::now() < deadline, "only {} of {WEBHOOKS} replies sent", scalar(answered).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And read: the sandbox's status webhooks, posted by whichever replica runs them.
    let read = "SELECT COUNT(*) FROM deliveries WHERE state = 'read'";
    while scalar(read).await < i64::try_from(WEBHOOKS).unwrap() {
        assert!(Instant::now() < deadline, "only {} of {WEBHOOKS} replies read", scalar(read).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for replica in &mut replicas {
        replica.stop();
    }

    // Assert: stored once, processed once, one reply each, every reply sent exactly once
    // and read.
    let stored =
        scalar("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.REPLICA.%'").await;
    let processed = scalar(
        "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND wamid LIKE 'wamid.REPLICA.%' AND processed_at IS NOT NULL",
    )
    .await;
    let replies = scalar(
        "SELECT COUNT(*) FROM messages o JOIN messages i ON o.in_reply_to = i.wamid
         WHERE o.direction = 'outbound' AND i.wamid LIKE 'wamid.REPLICA.%'",
    )
    .await;
    let sends = scalar("SELECT COUNT(*) FROM sandbox_outbox WHERE reply_to LIKE 'wamid.REPLICA.%'").await;
    let read = scalar(read).await;
    let jobs_left = scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'dead'").await;
    let dead = scalar("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await;
    let events = scalar("SELECT COUNT(*) FROM webhook_events").await;
    println!(
        "replica test: {REPLICAS} replicas on PostgreSQL, 1 SIGKILL, {WEBHOOKS} messages in {events} webhook deliveries \
         (statuses included) \
         ({} refused and redelivered), {stored} stored, {processed} processed, {replies} replies, {sends} sends \
         ({} duplicate sends), {dead} dead jobs",
        refused.load(Ordering::SeqCst),
        sends - i64::try_from(WEBHOOKS).unwrap()
    );
    let all = i64::try_from(WEBHOOKS).unwrap();
    assert_eq!(stored, all, "every acknowledged message is stored once");
    assert_eq!(processed, all, "every stored message is processed");
    assert_eq!(replies, all, "exactly one reply per message");
    assert_eq!(read, all, "every reply is sent, then read");
    assert_eq!(dead, 0, "no job died");
    assert_eq!(jobs_left, 0, "the queue drained");
    assert_eq!(sends, all, "exactly one sandbox send per reply");

    db.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&admin_pool)
        .await
        .unwrap();
}
