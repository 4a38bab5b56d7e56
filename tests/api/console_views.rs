//! What the console's views show, over plain HTTP: a conversation's agent apart from its
//! operator and its latest A2A task in any state, a failed delivery with Meta's reason,
//! and the live stream that tells a page of every change made after it was rendered.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_domain::Role;

use crate::console_admin::signed_in;
use crate::fakes::{AgentMode, FakeAgent, FakeGraph};
use crate::helpers::{API_KEY, TestApp, spawn_app, spawn_app_with, spawn_live_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn api_get(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(format!("{}{path}", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The only conversation's id.
async fn the_conversation(app: &TestApp) -> String {
    api_get(app, "/api/v1/conversations").await["items"][0]["id"].as_str().unwrap().to_owned()
}

/// The text of the status row marked `data-testid="{testid}"`, without its markup.
fn field(page: &str, testid: &str) -> String {
    let marker = format!("data-testid=\"{testid}\"");
    let (_, rest) = page.split_once(&marker).unwrap_or_else(|| panic!("no {marker} in {page}"));
    let (_, rest) = rest.split_once('>').unwrap();
    let inner = rest.split("</dd>").next().unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

#[tokio::test]
async fn the_console_shows_the_agent_apart_from_the_operator_and_the_latest_a2a_task_in_each_state() {
    let support = FakeAgent::start(AgentMode::Helpful).await;
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &format!("support={}|help", support.uri()))]).await;
    let olga = signed_in(&app, "olga", Role::Operator).await;
    let user = "447700900881";
    app.post_webhook(&text_messages(user, &[("wamid.TASK.1", now(), "help me with a refund please")])).await;
    app.wait_for_replies(1).await;
    let page = format!("/console/conversations/{}", the_conversation(&app).await);

    let asking = olga.get(&page).await.text().await.unwrap();
    app.post_webhook(&text_messages(user, &[("wamid.TASK.2", now() + 1, "1042")])).await;
    app.wait_for_replies(2).await;
    let taken = olga.act(&format!("{page}/take-over"), "").await;
    let replied = olga.act(&format!("{page}/reply"), "text=Olga+here%2C+anything+else%3F").await;
    let replies = app.wait_for_replies(3).await;
    let after = olga.get(&page).await.text().await.unwrap();

    assert_eq!(field(&asking, "agent"), "support");
    let task = field(&asking, "task");
    assert!(task.starts_with("task-1 · input-required"), "{task}");
    assert!(task.contains("the user's next message goes to it"), "{task}");
    assert_eq!((taken.status().as_u16(), replied.status().as_u16()), (303, 303));
    assert_eq!(replies[2]["message"]["content"]["body"], "Olga here, anything else?");
    assert_eq!(field(&after, "operator"), "olga");
    assert_eq!(field(&after, "agent"), "support", "the operator's reply does not make them the agent");
    let task = field(&after, "task");
    assert!(task.starts_with("task-1 · completed: the agent finished it"), "{task}");
    assert!(after.contains(r#"data-state="completed""#), "{after}");
}

/// A status webhook for `wamid`, as Meta posts it, with `errors[]` when it failed.
fn failed_status(wamid: &str, code: i64, title: &str, details: &str) -> Vec<u8> {
    let item = json!({"id": wamid, "status": "failed", "timestamp": now().to_string(), "recipient_id": "447700900882",
        "errors": [{"code": code, "title": title, "message": title, "error_data": {"details": details}}]});
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": "109876543210987"},
            "statuses": [item],
        }}]}],
    }))
    .unwrap()
}

async fn wait_for_delivery_state(app: &TestApp, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = api_get(app, "/api/v1/deliveries").await;
        if listed["items"][0]["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "the delivery never became {state}: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_failed_delivery_shows_the_failed_tick_with_metas_reason_in_the_conversation() {
    let graph = FakeGraph::start().await;
    graph.answer_with_wamids(&["wamid.CONSOLE.FAIL"]);
    let app = spawn_live_app(&graph, None, &[]).await;
    let olga = signed_in(&app, "olga", Role::Operator).await;
    app.post_webhook(&text_messages("447700900882", &[("wamid.CONSOLE.IN", now(), "hello")])).await;
    wait_for_delivery_state(&app, "sent").await;

    app.post_webhook(&failed_status("wamid.CONSOLE.FAIL", 131026, "Message undeliverable", "Receiver is incapable"))
        .await;
    wait_for_delivery_state(&app, "failed").await;
    let page =
        olga.get(&format!("/console/conversations/{}", the_conversation(&app).await)).await.text().await.unwrap();

    assert!(page.contains(r#"data-state="failed""#), "no failed tick: {page}");
    assert!(page.contains("aria-label=\"Failed: 131026: Message undeliverable\""), "{page}");
    assert!(page.contains("<span class=\"failure\">Failed: 131026: Message undeliverable</span>"), "{page}");
}

/// The `data-since` of a console page: the activity mark it was rendered at.
fn since_of(page: &str) -> String {
    page.split_once("data-since=\"").unwrap().1.split('"').next().unwrap().to_owned()
}

/// What the event stream sent within `wait`, stopping early at an `event: change`.
async fn events_within(stream: &mut reqwest::Response, wait: Duration) -> String {
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = String::new();
    while !seen.contains("event: change") {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    seen
}

#[tokio::test]
async fn the_live_stream_pushes_every_change_made_after_the_page_and_nothing_while_the_page_is_current() {
    let app = spawn_app().await;
    let olga = signed_in(&app, "olga", Role::Operator).await;
    let since = since_of(&olga.get("/console").await.text().await.unwrap());

    let mut current = olga.get(&format!("/console/events?since={since}")).await;
    let while_nothing_happens = events_within(&mut current, Duration::from_millis(2500)).await;
    // A user's message after the page was rendered, before a second page connects.
    app.post_webhook(&text_messages("447700900883", &[("wamid.LIVE.1", now(), "hello")])).await;
    app.wait_for_replies(1).await;
    let to_the_open_stream = events_within(&mut current, Duration::from_secs(5)).await;
    let mut late = olga.get(&format!("/console/events?since={since}")).await;
    let to_the_late_page = events_within(&mut late, Duration::from_secs(1)).await;
    let mut unknown = olga.get("/console/events?since=%3Cscript%3E").await;
    let to_a_malformed_mark = events_within(&mut unknown, Duration::from_secs(1)).await;
    let mut missing = olga.get("/console/events").await;
    let to_no_mark = events_within(&mut missing, Duration::from_secs(1)).await;

    assert_eq!(current.headers().get("content-type").unwrap(), "text/event-stream");
    assert!(since.starts_with("0.0"), "an empty database's mark: {since}");
    assert_eq!(while_nothing_happens, ": ready\n\n", "nothing changed: nothing is pushed");
    assert!(to_the_open_stream.contains("event: change"), "{to_the_open_stream:?}");
    assert!(to_the_late_page.contains("event: change"), "a change before connecting is pushed: {to_the_late_page:?}");
    assert!(to_a_malformed_mark.contains("event: change"), "{to_a_malformed_mark:?}");
    assert!(to_no_mark.contains("event: change"), "{to_no_mark:?}");
}
