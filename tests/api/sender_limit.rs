//! One sender cannot run up the agents' bill: past the sender limit, messages are stored
//! and acknowledged as always, held, and handed to the agent together in the sender's
//! next turn (ADR 0018), while other senders are answered as usual.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{API_KEY, TestApp, spawn_app_with, text_messages};

const FLOODER: &str = "447700900777";
const CALM: &str = "447700900888";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestApp {
    /// Replies the sandbox recorded to one user, read with the API key.
    async fn replies_to(&self, user: &str) -> Vec<Value> {
        let messages = self.outbox().await;
        messages.into_iter().filter(|m| m["recipient"].as_str().is_some_and(|r| r.ends_with(user))).collect()
    }

    /// Inbound messages of `wamid`'s conversation that have their reply.
    async fn answered_in_conversation_of(&self, wamid: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND processed_at IS NOT NULL
               AND conversation_id = (SELECT conversation_id FROM messages WHERE wamid = ?1)",
        )
        .bind(wamid)
        .fetch_one(self.store.pool())
        .await
        .expect("count")
    }

    /// Waits until `n` inbound messages of `wamid`'s conversation have their reply.
    async fn wait_until_answered(&self, wamid: &str, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.answered_in_conversation_of(wamid).await < n {
            assert!(Instant::now() < deadline, "fewer than {n} messages answered after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The conversation's messages as `GET /api/v1/conversations/{id}/messages` lists them.
    async fn conversation_messages_of(&self, wamid: &str) -> Vec<Value> {
        let conversation: String = sqlx::query_scalar("SELECT conversation_id FROM messages WHERE wamid = ?1")
            .bind(wamid)
            .fetch_one(self.store.pool())
            .await
            .expect("conversation");
        let page: Value = self
            .client
            .get(format!("{}/api/v1/conversations/{conversation}/messages?limit=200", self.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("json");
        page["items"].as_array().cloned().expect("items")
    }
}

#[tokio::test]
async fn a_flooding_sender_reaches_the_agents_a_bounded_number_of_times_loses_nothing_and_holds_no_one_else_back() {
    // Arrange: 5 turns at once, then one a second.
    let app = spawn_app_with(&[("SWITCHBOARD_SENDER_BURST", "5"), ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "60")]).await;
    let t = now() - 60;

    // Act: 50 messages from one sender, each its own webhook; another sender writes meanwhile.
    let started = Instant::now();
    for i in 0..50 {
        let body = text_messages(FLOODER, &[(&format!("wamid.FLOOD{i:02}"), t + i, "hello")]);
        assert_eq!(app.post_webhook(&body).await.status(), 200, "message {i} acknowledged");
        if i % 20 == 5 {
            let body = text_messages(CALM, &[(&format!("wamid.CALM{i:02}"), t + i, "hi")]);
            assert_eq!(app.post_webhook(&body).await.status(), 200);
        }
    }
    let flooding = started.elapsed();
    app.wait_until_answered("wamid.FLOOD00", 50).await;
    app.wait_until_answered("wamid.CALM05", 3).await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Assert: a turn per reply; the burst, then about one a second while the flood lasted.
    let flooder_turns = app.replies_to(FLOODER).await.len();
    let bound = 5 + usize::try_from(flooding.as_secs()).unwrap() + 2;
    eprintln!("50 messages in {flooding:?}: {flooder_turns} agent turns (bound {bound})");
    assert!(flooder_turns >= 2, "the burst was answered, then the held messages together: {flooder_turns}");
    assert!(flooder_turns <= bound, "{flooder_turns} turns for 50 messages in {flooding:?}; at most {bound}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'").await,
        53,
        "every message stored"
    );
    assert_eq!(app.replies_to(CALM).await.len(), 3, "the other sender is answered once per message");

    let messages = app.conversation_messages_of("wamid.FLOOD00").await;
    let inbound: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "inbound").collect();
    let held = inbound.iter().filter(|m| m["throttled"] == true && m["throttled_at"].is_string()).count();
    assert_eq!(inbound.len(), 50);
    assert!(inbound.iter().all(|m| m["processed"] == true), "every held message was handed over in the end");
    assert!(held >= 50 - flooder_turns, "the conversation shows the held messages: {held}");
    let calm = app.conversation_messages_of("wamid.CALM05").await;
    assert!(calm.iter().all(|m| m["throttled"] == false), "the other sender was never held");

    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("# HELP switchboard_inbound_throttled_total"), "{metrics}");
    let counted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_inbound_throttled_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the throttled counter");
    assert!(counted >= held as f64, "{counted} counted, {held} held");
}

#[tokio::test]
async fn held_messages_survive_a_restart_and_are_answered_together_after_it() {
    // Arrange: one turn, then one every 2 s.
    let app = spawn_app_with(&[("SWITCHBOARD_SENDER_BURST", "1"), ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "30")]).await;
    let t = now() - 60;
    app.post_webhook(&text_messages(FLOODER, &[("wamid.HELD0", t, "hello")])).await;
    app.wait_until_answered("wamid.HELD0", 1).await;
    let more: Vec<(String, i64, &str)> = (1..5).map(|i| (format!("wamid.HELD{i}"), t + i, "hello?")).collect();
    let more: Vec<(&str, i64, &str)> = more.iter().map(|(id, at, text)| (id.as_str(), *at, *text)).collect();
    assert_eq!(app.post_webhook(&text_messages(FLOODER, &more)).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("SELECT COUNT(*) FROM messages WHERE throttled_at IS NOT NULL").await == 0 {
        assert!(Instant::now() < deadline, "the later messages were never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act
    let app = app.restart().await;

    // Assert: after the restart, the held messages go to the agent in one turn.
    app.wait_until_answered("wamid.HELD0", 5).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.replies_to(FLOODER).await.len(), 2, "one turn for the first message, one for the four held");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE throttled_at IS NOT NULL").await, 4);
}
