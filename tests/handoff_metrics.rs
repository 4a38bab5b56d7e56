//! The handoff metrics as `/metrics` shows them to Prometheus: a user who asks for a
//! person is counted waiting, their wait grows, and the first operator answer ends it
//! with one observation of the time it took; an operator's own take-over of a bot
//! conversation is no wait at all.
//!
//! Its own test binary (so its own process): the Prometheus recorder is process-wide,
//! and the operators of the API tests running beside it would add their own answers to
//! the histogram.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "api/fakes.rs"]
mod fakes;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use helpers::{API_KEY, TestApp, spawn_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The value of the unlabelled series `name`, 0 when it is not there (yet).
fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .find(|(series, _)| *series == name)
        .map_or(0.0, |(_, value)| value.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(format!("{}{path}", app.address)).header("x-api-key", API_KEY).send().await;
    response.unwrap().json().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: Value) -> u16 {
    let response =
        app.client.post(format!("{}{path}", app.address)).header("x-api-key", API_KEY).json(&body).send().await;
    response.unwrap().status().as_u16()
}

/// The first conversation the inbox lists for `handler`, once there is one.
async fn first_in_inbox(app: &TestApp, handler: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = get(app, &format!("/api/v1/inbox?handler={handler}")).await;
        if let Some(id) = inbox["items"][0]["conversation_id"].as_str() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "no conversation handled by {handler}: {inbox}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_wait_for_a_person_is_counted_until_the_first_operator_answer_which_records_it_once() {
    let app = spawn_app().await;
    let seconds = "switchboard_handoff_first_reply_seconds";

    app.post_webhook(&text_messages("447700900801", &[("wamid.WAIT1", now(), "can I talk to a person?")])).await;
    let asked = first_in_inbox(&app, "people").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let while_waiting = scrape(&app).await;
    let status = post(
        &app,
        &format!("/api/v1/conversations/{asked}/reply"),
        json!({"operator": "amelia", "text": "Hi, Amelia here."}),
    )
    .await;
    let answered = scrape(&app).await;
    // Another user, whom the bot answers; an operator takes that conversation over and
    // answers on their own: nobody waited.
    app.post_webhook(&text_messages("447700900802", &[("wamid.BOT1", now(), "hi")])).await;
    let bots = first_in_inbox(&app, "bot").await;
    let taken = post(&app, &format!("/api/v1/conversations/{bots}/take-over"), json!({"operator": "bob"})).await;
    let after_take_over = scrape(&app).await;
    let own = post(
        &app,
        &format!("/api/v1/conversations/{bots}/reply"),
        json!({"operator": "bob", "text": "Bob here, I saw your order."}),
    )
    .await;
    let after_own_answer = scrape(&app).await;

    assert_eq!(value(&while_waiting, "switchboard_handoff_waiting"), 1.0);
    let waited = value(&while_waiting, "switchboard_handoff_oldest_wait_seconds");
    assert!((1.0..60.0).contains(&waited), "the oldest wait grows: {waited}");
    assert_eq!(value(&while_waiting, &format!("{seconds}_count")), 0.0, "nobody answered yet");
    assert_eq!(status, 202);
    assert_eq!(value(&answered, "switchboard_handoff_waiting"), 0.0);
    assert_eq!(value(&answered, "switchboard_handoff_oldest_wait_seconds"), 0.0);
    assert_eq!(value(&answered, &format!("{seconds}_count")), 1.0);
    let measured = value(&answered, &format!("{seconds}_sum"));
    assert!(measured >= waited && measured < 60.0, "from the request to the answer: {measured} s");
    assert_eq!((taken, own), (200, 202));
    assert_eq!(value(&after_take_over, "switchboard_handoff_waiting"), 0.0, "a take-over from the bot is no wait");
    assert_eq!(value(&after_own_answer, &format!("{seconds}_count")), 1.0, "and its answer is not measured");
    assert_eq!(value(&after_own_answer, &format!("{seconds}_sum")), measured);
}
