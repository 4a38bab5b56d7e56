//! The sandbox plays Meta: after recording a reply it posts the status webhooks Meta
//! would (sent, delivered, read), signed, to the service's own webhook, so the reply
//! shows its ticks and the statuses take the path real ones take.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{API_KEY, TestApp, spans_of_trace, spawn_app_with, text_messages};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn sandbox_with_statuses() -> TestApp {
    spawn_app_with(&[("SWITCHBOARD_SANDBOX_STATUSES", "true"), ("SWITCHBOARD_SANDBOX_STATUS_DELAY_MS", "150")]).await
}

impl TestApp {
    async fn get_with_key(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("json")
    }

    /// The states a delivery is seen in, polling until it is read, in the order seen.
    async fn states_until_read(&self, id: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let state = self.delivery(id).await["state"].as_str().unwrap_or("").to_owned();
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == "read" {
                return seen;
            }
            assert!(Instant::now() < deadline, "never read; seen {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_sandbox_reply_moves_to_delivered_then_read_by_signed_status_webhooks_kept_in_the_archive() {
    // Arrange
    let app = sandbox_with_statuses().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = text_messages("447700900123", &[("wamid.TICKS.1", now, "hello")]);

    // Act: a user writes; the built-in agent answers, and the sandbox records the reply.
    let answered = app.post_webhook_traced(&body, &format!("00-{TRACE_ID}-00f067aa0ba902b7-01")).await;
    assert_eq!(answered.status(), 200);
    let reply = app.wait_for_replies(1).await.remove(0);
    let delivery_id = reply["delivery_id"].as_str().expect("the outbox names the delivery").to_owned();
    let wamid = reply["provider_id"].as_str().unwrap().to_owned();
    let states = app.states_until_read(&delivery_id).await;

    // Assert: the reply's delivery only moved forward, to delivered and then read, and
    // the management list shows it read.
    let order = ["pending", "sent", "delivered", "read"];
    let rank = |s: &String| order.iter().position(|o| o == s).unwrap_or_else(|| panic!("state {s}"));
    assert!(states.windows(2).all(|w| rank(&w[0]) < rank(&w[1])), "{states:?}");
    let (sent_at, delivered_at, read_at): (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT sent_at, delivered_at, read_at FROM deliveries WHERE id = ?1")
            .bind(&delivery_id)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    let (sent_at, delivered_at, read_at) = (sent_at.unwrap(), delivered_at.unwrap(), read_at.unwrap());
    assert!(sent_at <= delivered_at && delivered_at <= read_at, "{sent_at} {delivered_at} {read_at}");
    let listed = app.get_with_key("/api/v1/deliveries?limit=10").await;
    let item = listed["items"].as_array().unwrap().iter().find(|d| d["id"] == delivery_id.as_str()).cloned();
    assert_eq!(item.unwrap()["state"], "read");

    // Assert: one stored status per state, each from its own webhook event in the archive.
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT status, event_id FROM message_statuses WHERE wamid = ?1 ORDER BY occurred_ts, status")
            .bind(&wamid)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    let mut names: Vec<&str> = statuses.iter().map(|(s, _)| s.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["delivered", "read", "sent"]);
    let archive = app.get_with_key("/api/v1/webhook-events?limit=50").await;
    let archived: Vec<&Value> = archive["items"].as_array().unwrap().iter().collect();
    for (status, event_id) in &statuses {
        let event = archived.iter().find(|e| e["id"] == event_id.as_str());
        let event = event.unwrap_or_else(|| panic!("the {status} webhook is not in the archive"));
        assert_eq!(event["status"], "accepted");
        assert_eq!(event["summary"]["statuses"], 1);
    }

    // Assert: each archived body is Meta's status webhook naming the delivery, and
    // those exact bytes, signed with the app secret, are taken as a duplicate.
    for (status, event_id) in &statuses {
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_events WHERE id = ?1")
            .bind(event_id)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
        let event: Value = serde_json::from_slice(&bytes).unwrap();
        let item = &event["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(event["object"], "whatsapp_business_account");
        assert_eq!(item["id"], wamid.as_str());
        assert_eq!(item["status"], status.as_str());
        assert_eq!(item["recipient_id"], "447700900123");
        assert_eq!(item["biz_opaque_callback_data"], delivery_id.as_str());
        let again: Value = app.post_webhook(&bytes).await.json().await.unwrap();
        assert_eq!(again["duplicate_statuses"], 1, "{again}");
    }

    // Assert: the statuses came in through the webhook route, where the signature is
    // checked before anything is stored, in the trace of the message they report on.
    let spans = spans_of_trace(TRACE_ID);
    let named = |name: &str| spans.iter().filter(|s| s.name == name).count();
    assert_eq!(named("sandbox.status_webhook"), 3);
    assert_eq!(named("POST /webhook/whatsapp"), 1 + 3, "the user's message and the three statuses");
}

#[tokio::test]
async fn with_status_webhooks_off_a_sandbox_reply_stays_sent_and_nothing_else_is_posted() {
    // Arrange
    let app = spawn_app_with(&[("SWITCHBOARD_SANDBOX_STATUSES", "false")]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // Act
    app.post_webhook(&text_messages("447700900124", &[("wamid.TICKS.2", now, "hello")])).await;
    let reply = app.wait_for_replies(1).await.remove(0);

    // Assert
    let id = reply["delivery_id"].as_str().unwrap();
    app.wait_for_state(id, "sent").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.delivery(id).await["state"], "sent");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 1, "only the user's message");
}
