//! The read side of the management API: contacts, conversations, their messages,
//! deliveries, status, and cursor pagination on every list.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{API_KEY, APP_SECRET, TestApp, VERIFY_TOKEN, spawn_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestApp {
    /// `GET path` with the test API key: (status, body).
    async fn manage(&self, path: &str) -> (u16, Value) {
        let response =
            self.client.get(format!("{}{path}", self.address)).header("x-api-key", API_KEY).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every item of a list, walking it a page of `limit` at a time.
    async fn walk(&self, path: &str, limit: u32) -> (Vec<Value>, usize) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (mut items, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
        loop {
            let url = match &cursor {
                None => format!("{path}{separator}limit={limit}"),
                Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
            };
            let (status, page) = self.manage(&url).await;
            assert_eq!(status, 200, "{url}: {page}");
            pages += 1;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (items, pages),
            }
            assert!(pages < 100, "{path} never ends");
        }
    }
}

/// Three users write once each (a greeting, a help request, a greeting) and get their
/// replies.
async fn three_conversations(app: &TestApp) {
    app.post_webhook(&text_messages("447700900301", &[("wamid.MGMT1", now(), "hello")])).await;
    app.post_webhook(&text_messages("447700900302", &[("wamid.MGMT2", now(), "help, my order is late")])).await;
    app.post_webhook(&text_messages("447700900303", &[("wamid.MGMT3", now(), "hi there")])).await;
    app.wait_for_replies(3).await;
    app.wait_for_state_of_all_sent(3).await;
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].to_string()).collect()
}

#[tokio::test]
async fn an_operator_finds_who_wrote_which_agent_answered_and_what_became_of_the_reply() {
    let app = spawn_app().await;
    three_conversations(&app).await;

    let (_, contacts) = app.manage("/api/v1/contacts").await;
    let contact = contacts["items"].as_array().unwrap().iter().find(|c| c["phone"] == "+447700900302").unwrap().clone();
    let (contact_status, one_contact) =
        app.manage(&format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap())).await;
    let (_, conversations) =
        app.manage(&format!("/api/v1/conversations?contact_id={}", contact["id"].as_str().unwrap())).await;
    let conversation = conversations["items"][0].clone();
    let conversation_id = conversation["id"].as_str().unwrap();
    let (_, one_conversation) = app.manage(&format!("/api/v1/conversations/{conversation_id}")).await;
    let (_, messages) = app.manage(&format!("/api/v1/conversations/{conversation_id}/messages")).await;
    let (_, deliveries) = app.manage(&format!("/api/v1/deliveries?conversation_id={conversation_id}")).await;

    assert_eq!(contacts["items"].as_array().unwrap().len(), 3);
    assert_eq!(contacts["next_cursor"], Value::Null);
    assert_eq!(contact_status, 200);
    assert_eq!(one_contact["profile_name"], "Test User");
    assert_eq!(one_contact["conversations"], 1);
    assert_eq!(conversations["items"].as_array().unwrap().len(), 1);
    assert_eq!(conversation["assigned_agent"], "helpdesk");
    assert_eq!(conversation["state"], "idle");
    assert_eq!(conversation["messages"], 2);
    assert_eq!(one_conversation["id"], conversation["id"]);
    let messages = messages["items"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[0]["wamid"], "wamid.MGMT2");
    assert_eq!(messages[0]["processed"], true);
    assert_eq!(messages[0]["content"]["content"]["body"], "help, my order is late", "{}", messages[0]);
    assert_eq!(messages[1]["direction"], "outbound");
    assert_eq!(messages[1]["in_reply_to"], "wamid.MGMT2");
    assert_eq!(messages[1]["agent"], "helpdesk");
    assert!(messages[1]["wamid"].as_str().is_some(), "the sent reply has Meta's id: {}", messages[1]);
    assert_eq!(messages[1]["delivery_state"], "sent");
    assert_eq!(messages[0]["trace_id"].as_str().unwrap().len(), 32);
    let delivery = &deliveries["items"][0];
    assert_eq!(deliveries["items"].as_array().unwrap().len(), 1);
    assert_eq!(delivery["id"], messages[1]["delivery_id"]);
    assert_eq!(delivery["state"], "sent");
    assert_eq!(delivery["route"], "whatsapp");
    assert_eq!(delivery["attempts"][0]["outcome"], "accepted");
    assert_eq!(delivery, &app.delivery(delivery["id"].as_str().unwrap()).await, "the same view as /messages/{{id}}");
}

#[tokio::test]
async fn list_filters_select_by_agent_state_route_channel_and_time() {
    let app = spawn_app().await;
    three_conversations(&app).await;

    let (_, greeter) = app.manage("/api/v1/conversations?agent=greeter").await;
    let (_, idle) = app.manage("/api/v1/conversations?state=idle").await;
    let (_, waiting) = app.manage("/api/v1/conversations?state=input_required").await;
    let (_, sent) = app.manage("/api/v1/deliveries?state=sent&route=whatsapp&channel=whatsapp").await;
    let (_, failed) = app.manage("/api/v1/deliveries?state=failed").await;
    let (_, by_email) = app.manage("/api/v1/deliveries?channel=email").await;
    let (_, future) = app.manage("/api/v1/contacts?since=2999-01-01T00:00:00Z").await;
    let (_, past) = app.manage("/api/v1/deliveries?until=2000-01-01T00:00:00Z").await;
    let (_, window) = app.manage("/api/v1/contacts?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").await;

    assert_eq!(greeter["items"].as_array().unwrap().len(), 2, "{greeter}");
    assert_eq!(idle["items"].as_array().unwrap().len(), 3);
    assert_eq!(waiting["items"].as_array().unwrap().len(), 0);
    assert_eq!(sent["items"].as_array().unwrap().len(), 3);
    assert_eq!(failed["items"].as_array().unwrap().len(), 0);
    assert_eq!(by_email["items"].as_array().unwrap().len(), 0);
    assert_eq!(future["items"].as_array().unwrap().len(), 0);
    assert_eq!(past["items"].as_array().unwrap().len(), 0);
    assert_eq!(window["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn walking_every_list_one_item_a_page_visits_each_item_exactly_once() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    // Two more messages in one conversation: four messages there.
    app.post_webhook(&text_messages("447700900301", &[("wamid.MGMT4", now() + 5, "hello again")])).await;
    app.wait_for_replies(4).await;
    sqlx::query("UPDATE jobs SET state = 'dead', updated_at = 1000").execute(app.store.pool()).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, trace_id, trace_context, created_at, updated_at)
         VALUES ('deliver', '{}', 'k1', 0, 0, 'dead', 't', 't', 0, 1000), ('deliver', '{}', 'k2', 0, 0, 'dead', 't', 't', 0, 1000),
                ('deliver', '{}', 'k3', 0, 0, 'dead', 't', 't', 0, 2000)",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let (_, all_conversations) = app.manage("/api/v1/conversations?agent=greeter&limit=500").await;
    let busy = all_conversations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["messages"] == 4)
        .expect("the conversation written to twice")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (path, expected) in [
        (String::from("/api/v1/contacts"), 3),
        (String::from("/api/v1/conversations"), 3),
        (String::from("/api/v1/deliveries"), 4),
        (String::from("/api/v1/webhook-events"), 4),
        (String::from("/api/v1/jobs/dead"), 3),
        (format!("/api/v1/conversations/{busy}/messages"), 4),
    ] {
        let (items, pages) = app.walk(&path, 1).await;
        let (everything, _) = app.walk(&path, 500).await;

        let unique: HashSet<String> = ids(&items).into_iter().collect();
        assert_eq!(items.len(), expected, "{path}: {items:?}");
        assert_eq!(unique.len(), expected, "{path}: an item came twice");
        assert_eq!(ids(&items), ids(&everything), "{path}: pages keep the order of one big page");
        assert!((expected..=expected + 1).contains(&pages), "{path}: {pages} pages");
    }
    let (messages, _) = app.walk(&format!("/api/v1/conversations/{busy}/messages"), 1).await;
    let directions: Vec<&str> = messages.iter().map(|m| m["direction"].as_str().unwrap()).collect();
    assert_eq!(directions, ["inbound", "outbound", "inbound", "outbound"], "oldest first");
}

#[tokio::test]
async fn a_cursor_the_list_did_not_give_and_a_bad_filter_are_refused_naming_what_is_wrong() {
    let app = spawn_app().await;
    three_conversations(&app).await;
    let (_, first) = app.manage("/api/v1/contacts?limit=1").await;
    let contacts_cursor = first["next_cursor"].as_str().unwrap().to_owned();

    let (garbage_status, garbage) = app.manage("/api/v1/deliveries?cursor=not-a-cursor").await;
    let (foreign_status, foreign) = app.manage(&format!("/api/v1/deliveries?cursor={contacts_cursor}")).await;
    let (dead_status, _) = app.manage(&format!("/api/v1/jobs/dead?cursor={contacts_cursor}")).await;
    let (state_status, state) = app.manage("/api/v1/deliveries?state=lost").await;
    let (since_status, since) = app.manage("/api/v1/contacts?since=yesterday").await;
    let (limit_status, limit) = app.manage("/api/v1/webhook-events?limit=0").await;
    let (status_status, status) = app.manage("/api/v1/webhook-events?status=odd").await;
    let (id_status, _) = app.manage("/api/v1/conversations/not-an-id").await;
    let (missing_status, missing) =
        app.manage("/api/v1/conversations/0193a000-0000-7000-8000-000000000000/messages").await;

    assert_eq!(garbage_status, 400);
    assert_eq!(garbage["code"], "invalid_cursor");
    assert!(garbage["trace_id"].is_string());
    assert_eq!(foreign_status, 400, "a contacts cursor is not a deliveries cursor");
    assert_eq!(foreign["code"], "invalid_cursor");
    assert_eq!(dead_status, 400);
    assert_eq!(state_status, 400);
    assert!(state["message"].as_str().unwrap().starts_with("state:"), "{state}");
    assert_eq!(since_status, 400);
    assert!(since["message"].as_str().unwrap().starts_with("since:"), "{since}");
    assert_eq!(limit_status, 400);
    assert!(limit["message"].as_str().unwrap().starts_with("limit:"), "{limit}");
    assert_eq!(status_status, 400);
    assert!(status["message"].as_str().unwrap().starts_with("status:"), "{status}");
    assert_eq!(id_status, 400);
    assert_eq!(missing_status, 404);
    assert_eq!(missing["code"], "not_found");
}

#[tokio::test]
async fn the_status_page_counts_the_work_and_reports_health_without_any_secret() {
    let app = spawn_app().await;
    three_conversations(&app).await;

    let response =
        app.client.get(format!("{}/api/v1/status", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(status, 200);
    for secret in [APP_SECRET, VERIFY_TOKEN, API_KEY, "switchboard.db"] {
        assert!(!text.contains(secret), "{secret:?} is in the status page: {text}");
    }
    assert_eq!(body["config"]["mode"], "sandbox");
    assert_eq!(body["config"]["database"], "sqlite");
    assert_eq!(body["config"]["api_keys_configured"], 1);
    assert_eq!(body["config"]["rate_limits"]["enabled"], false);
    assert_eq!(body["config"]["otel"]["enabled"], false);
    assert!(body["config"]["version"].as_str().is_some());
    assert_eq!(body["counters"]["messages_received"], 3);
    assert_eq!(body["counters"]["messages_processed"], 3);
    assert_eq!(body["counters"]["deliveries"]["sent"], 3);
    assert_eq!(body["counters"]["deliveries"]["failed"], 0);
    assert_eq!(body["counters"]["dead_jobs"], 0);
    assert_eq!(body["counters"]["quarantined_events"], 0);
    assert_eq!(body["health"]["ready"], true, "{body}");
    assert_eq!(body["health"]["whatsapp"]["mode"], "sandbox");
    assert_eq!(body["email_priority"], false);
}

#[tokio::test]
async fn the_status_page_in_live_mode_shows_the_account_health_but_no_token_and_no_agent_credential() {
    let graph = crate::fakes::FakeGraph::start().await;
    let app = crate::helpers::spawn_live_app(
        &graph,
        None,
        &[
            ("WHATSAPP_APP_TOKEN", "123|app-token-secret"),
            (
                "SWITCHBOARD_AGENTS",
                "billing=http://agent-user:agent-password@127.0.0.1:9/a2a?key=agent-query-secret|billing",
            ),
        ],
    )
    .await;

    let (status, body) = app.manage("/api/v1/status").await;
    let text = body.to_string();

    assert_eq!(status, 200);
    for secret in
        ["test-token", "app-token-secret", "agent-password", "agent-query-secret", APP_SECRET, VERIFY_TOKEN, API_KEY]
    {
        assert!(!text.contains(secret), "{secret:?} is in the status page: {text}");
    }
    assert_eq!(body["config"]["mode"], "live");
    assert_eq!(body["config"]["whatsapp_access_token_set"], true);
    assert_eq!(body["config"]["agents"][0]["name"], "billing");
    assert_eq!(body["config"]["agents"][0]["url"], "http://127.0.0.1:9/a2a");
    assert_eq!(body["health"]["whatsapp"]["status"], "healthy", "{body}");
    assert_eq!(body["health"]["whatsapp"]["graph_reachable"], true);
}

#[tokio::test]
async fn a_conversation_whose_agent_asked_a_question_shows_the_open_task_until_the_user_answers() {
    let classifier = crate::fakes::SdkClassifier::start("message").await;
    let billing = crate::fakes::FakeAgent::start(crate::fakes::AgentMode::Helpful).await;
    let agents = format!("billing={}|billing", billing.uri());
    let app = crate::helpers::spawn_app_with(&[
        ("SWITCHBOARD_CLASSIFIER_URL", &classifier.url),
        ("SWITCHBOARD_AGENTS", &agents),
    ])
    .await;
    let user = "447700900313";

    app.post_webhook(&text_messages(user, &[("wamid.ASK1", now(), "I want a refund please")])).await;
    app.wait_for_replies(1).await;
    let (_, waiting) = app.manage("/api/v1/conversations?state=input_required&agent=billing").await;
    app.post_webhook(&text_messages(user, &[("wamid.ASK2", now() + 1, "1042")])).await;
    app.wait_for_replies(2).await;
    let (_, still_waiting) = app.manage("/api/v1/conversations?state=input_required").await;
    let (_, after) = app.manage("/api/v1/conversations?agent=billing").await;

    let conversation = &waiting["items"][0];
    assert_eq!(waiting["items"].as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(conversation["state"], "input_required");
    assert_eq!(conversation["assigned_agent"], "billing");
    assert_eq!(conversation["open_task"]["task_id"], "task-1");
    assert_eq!(conversation["open_task"]["agent"], "billing");
    assert_eq!(conversation["open_task"]["state"], "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(still_waiting["items"].as_array().unwrap().len(), 0);
    assert_eq!(after["items"][0]["state"], "idle");
    assert_eq!(after["items"][0]["open_task"], Value::Null);
    assert_eq!(after["items"][0]["assigned_agent"], "billing", "the agent of the latest reply");
}
