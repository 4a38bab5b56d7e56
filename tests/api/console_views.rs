//! What the console's views show, over plain HTTP: a conversation's agent apart from its
//! operator and its latest A2A task in any state, and a failed delivery with Meta's reason.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_domain::Role;

use crate::console_admin::signed_in;
use crate::fakes::{AgentMode, FakeAgent, FakeGraph};
use crate::helpers::{API_KEY, TestApp, spawn_app_with, spawn_live_app, text_messages};

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
