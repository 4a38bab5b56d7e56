//! What the console's views show, over plain HTTP: a conversation's agent apart from its
//! operator and its latest A2A task in any state.

use serde_json::Value;
use switchboard_domain::Role;

use crate::console_admin::signed_in;
use crate::fakes::{AgentMode, FakeAgent};
use crate::helpers::{API_KEY, TestApp, spawn_app_with, text_messages};

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
