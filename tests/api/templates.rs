//! Approved templates once the 24-hour window has closed: the console offers the
//! account's templates (read from the fake Graph, page after page) with a field per body
//! parameter, the values reach Graph as the body component, a wrong number of values is
//! refused naming the template, and an expired token leaves the page working with the
//! configured template and a note. `GET /api/v1/templates` lists the same.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_domain::Role;

use crate::console_admin::signed_in;
use crate::fakes::FakeGraph;
use crate::helpers::{API_KEY, TestApp, spawn_app_with, spawn_live_app, text_messages};

const WABA: &str = "200000000000009";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A live service that knows its account, with `welcome_back` as its re-engagement template.
async fn live_app(graph: &FakeGraph) -> TestApp {
    spawn_live_app(
        graph,
        None,
        &[("WHATSAPP_BUSINESS_ACCOUNT_ID", WABA), ("WHATSAPP_REENGAGEMENT_TEMPLATE", "welcome_back")],
    )
    .await
}

/// A user who asked for a person more than a day ago (the window is closed): answers the
/// conversation's id once it waits for people.
async fn waiting_a_day(app: &TestApp, user: &str) -> String {
    app.post_webhook(&text_messages(user, &[("wamid.TPL.1", now() - 90_000, "human please")])).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = api_get(app, "/api/v1/inbox?handler=people").await.1;
        if let Some(id) = inbox["items"][0]["conversation_id"].as_str() {
            return id.to_owned();
        }
        assert!(Instant::now() < deadline, "no conversation went to people");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn api_get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(format!("{}{path}", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// The sends the fake Graph accepted, once there are `n`.
async fn wait_for_sends(graph: &FakeGraph, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sends = graph.sends();
        if sends.len() >= n {
            return sends;
        }
        assert!(Instant::now() < deadline, "{} of {n} sends: {sends:?}", sends.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `application/x-www-form-urlencoded` fields.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn an_operator_sends_an_approved_template_with_its_parameters_after_the_window_closed() {
    let graph = FakeGraph::start().await;
    let app = live_app(&graph).await;
    let conversation = waiting_a_day(&app, "447700900601").await;
    // The acknowledgement goes first, as the re-engagement template.
    wait_for_sends(&graph, 1).await;
    let session = signed_in(&app, "olga", Role::Operator).await;
    let page_path = format!("/console/conversations/{conversation}");

    let page = session.get(&page_path).await.text().await.unwrap();
    let chosen = session.get(&format!("{page_path}?template=order_update:en_US")).await.text().await.unwrap();
    let sent = session
        .act(
            &format!("{page_path}/reply"),
            &form(&[("template", "order_update:en_US"), ("param_1", "Ana"), ("param_2", "#1042")]),
        )
        .await;
    let sends = wait_for_sends(&graph, 2).await;

    assert!(page.contains(r#"<option value="welcome_back:en_US" selected>welcome_back (en_US)</option>"#), "{page}");
    for offered in ["order_update (en_US)", "hello_world (en_US)", "appointment_named (es)"] {
        assert!(
            page.contains(offered),
            "{offered} is not offered (the second page of Graph's list has the last):\n{page}"
        );
    }
    assert!(chosen.contains("Hi {{1}}, your order {{2}} has shipped."), "{chosen}");
    assert!(chosen.contains("Value for {{2}}"), "{chosen}");
    assert_eq!(sent.status(), 303);
    let template = &sends[1]["template"];
    assert_eq!(template["name"], "order_update");
    assert_eq!(template["language"]["code"], "en_US");
    assert_eq!(
        template["components"],
        json!([{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1042"}]}])
    );
}

#[tokio::test]
async fn a_template_with_the_wrong_number_of_parameters_is_refused_naming_the_template_and_nothing_is_sent() {
    let graph = FakeGraph::start().await;
    let app = live_app(&graph).await;
    let conversation = waiting_a_day(&app, "447700900602").await;
    wait_for_sends(&graph, 1).await;
    let session = signed_in(&app, "olga", Role::Operator).await;

    let console = session
        .act(
            &format!("/console/conversations/{conversation}/reply"),
            &form(&[("template", "order_update:en_US"), ("param_1", "Ana")]),
        )
        .await;
    let console_status = console.status();
    let console_page = console.text().await.unwrap();
    let api = app
        .client
        .post(format!("{}/api/v1/conversations/{conversation}/reply", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"operator": "olga", "template": {"name": "order_update", "language": "en_US", "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1042"}, {"type": "text", "text": "extra"}]}
        ]}}))
        .send()
        .await
        .unwrap();
    let api_status = api.status();
    let api_body: Value = api.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(console_status, 400);
    assert!(
        console_page.contains("template order_update (en_US) takes 2 body parameters ({{1}}, {{2}}); 1 given"),
        "{console_page}"
    );
    assert_eq!(api_status, 400);
    assert_eq!(api_body["code"], "invalid_request");
    assert_eq!(api_body["message"], "template order_update (en_US) takes 2 body parameters ({{1}}, {{2}}); 3 given");
    assert_eq!(graph.sends().len(), 1, "only the acknowledgement went: {:?}", graph.sends());
}

#[tokio::test]
async fn an_expired_token_leaves_the_page_working_with_the_configured_template_and_a_note() {
    let graph = FakeGraph::start().await;
    let app = live_app(&graph).await;
    let conversation = waiting_a_day(&app, "447700900603").await;
    let session = signed_in(&app, "olga", Role::Operator).await;
    graph.set_token_expired(true);

    let page = session.get(&format!("/console/conversations/{conversation}")).await;
    let status = page.status();
    let page = page.text().await.unwrap();
    let (_, listed) = api_get(&app, "/api/v1/templates").await;

    assert_eq!(status, 200);
    assert!(page.contains("welcome_back (en_US)"), "{page}");
    assert!(!page.contains("order_update"), "{page}");
    assert!(page.contains("data-testid=\"templates-note\""), "{page}");
    assert!(page.contains("error 190"), "{page}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["source"], "configured");
    assert!(listed["note"].as_str().unwrap().contains("only the configured template"), "{listed}");
}

#[tokio::test]
async fn the_api_lists_the_approved_templates_with_their_body_parameters_behind_the_key() {
    let graph = FakeGraph::start().await;
    let app = live_app(&graph).await;

    let (status, listed) = api_get(&app, "/api/v1/templates").await;
    let without_key = app.client.get(format!("{}/api/v1/templates", app.address)).send().await.unwrap().status();

    assert_eq!(status, 200);
    let items = listed["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["welcome_back", "appointment_named", "hello_world", "order_update"]);
    let order = &items[3];
    assert_eq!(order["body"], "Hi {{1}}, your order {{2}} has shipped.");
    assert_eq!(order["body_parameters"], 2);
    assert_eq!(order["category"], "UTILITY");
    assert_eq!(order["source"], "whatsapp");
    assert_eq!(items[1]["placeholders"], json!(["first_name", "date"]));
    assert!(listed["note"].is_null(), "{listed}");
    assert_eq!(without_key, 401);
}

#[tokio::test]
async fn without_the_account_id_only_the_configured_template_is_listed_and_sandbox_mode_adds_its_own() {
    let graph = FakeGraph::start().await;
    let live = spawn_live_app(&graph, None, &[("WHATSAPP_REENGAGEMENT_TEMPLATE", "welcome_back")]).await;
    let sandbox = spawn_app_with(&[("WHATSAPP_REENGAGEMENT_TEMPLATE", "welcome_back")]).await;

    let (_, live_list) = api_get(&live, "/api/v1/templates").await;
    let (_, sandbox_list) = api_get(&sandbox, "/api/v1/templates").await;

    let names = |list: &Value| -> Vec<String> {
        list["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&live_list), ["welcome_back"]);
    assert!(live_list["note"].as_str().unwrap().contains("WHATSAPP_BUSINESS_ACCOUNT_ID"), "{live_list}");
    assert_eq!(names(&sandbox_list), ["welcome_back", "appointment_reminder", "hello_world", "order_update"]);
    assert_eq!(sandbox_list["items"][3]["source"], "sandbox");
}
