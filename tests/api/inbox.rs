//! The operators' inbox over the API and in the console: it pages by cursor like every
//! other list (waiting conversations first, then the others, each exactly once), filters
//! on how long a conversation has waited, and refuses a cursor it did not give.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Role;

use crate::console_admin::signed_in;
use crate::helpers::{API_KEY, BUSINESS_NUMBER_ID, TestApp, spawn_app, spawn_app_with, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = app.client.get(format!("{}{path}", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    let trace = response.headers().get("x-trace-id").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), trace, response.json().await.unwrap_or(Value::Null))
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["conversation_id"].as_str().unwrap().to_owned()).collect()
}

/// `askers` users ask for a person and `others` greet the bot; answers when every turn is done.
async fn conversations(app: &TestApp, askers: u32, others: u32) {
    for n in 0..askers {
        let body = text_messages(&format!("4477009008{n:02}"), &[(&format!("wamid.ASK{n}"), now(), "human please")]);
        app.post_webhook(&body).await;
    }
    for n in 0..others {
        let body = text_messages(&format!("4477009009{n:02}"), &[(&format!("wamid.HI{n}"), now(), "hi")]);
        app.post_webhook(&body).await;
    }
    app.wait_for_replies(usize::try_from(askers + others).unwrap()).await;
}

#[tokio::test]
async fn paging_through_the_inbox_gives_every_conversation_once_waiting_ones_first_in_the_order_of_one_page() {
    let app = spawn_app().await;
    conversations(&app, 5, 3).await;

    let (_, _, whole) = get(&app, "/api/v1/inbox?limit=500").await;
    let mut paged = Vec::new();
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, _, page) = get(&app, &format!("/api/v1/inbox?limit=3&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(ids(&page));
        pages.push(page["items"].as_array().unwrap().len());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages.len() < 10, "the pages never end: {pages:?}");
    }

    assert_eq!(whole["next_cursor"], Value::Null);
    assert_eq!(ids(&whole).len(), 8);
    assert_eq!(paged, ids(&whole), "no repeats, no gaps, the same order as one page");
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 8);
    assert_eq!(pages, [3, 3, 2]);
    let items = whole["items"].as_array().unwrap();
    let waiting: Vec<bool> = items.iter().map(|i| i["waiting"].as_bool().unwrap()).collect();
    assert_eq!(waiting, [true, true, true, true, true, false, false, false], "waiting conversations come first");
    let waited: Vec<i64> = items[..5].iter().map(|i| i["waiting_seconds"].as_i64().unwrap()).collect();
    assert!(waited.windows(2).all(|w| w[0] >= w[1]), "longest wait first: {waited:?}");
}

#[tokio::test]
async fn the_inbox_filters_on_how_long_a_conversation_has_waited_and_names_a_bad_wait_or_cursor() {
    let app = spawn_app().await;
    conversations(&app, 3, 1).await;
    let (_, _, people) = get(&app, "/api/v1/inbox?handler=people").await;
    let waiting = ids(&people);
    // The last two to ask have waited ten minutes already; the first only seconds.
    for id in &waiting[1..] {
        sqlx::query("UPDATE conversations SET handoff_at = handoff_at - 600000 WHERE id = ?1")
            .bind(id)
            .execute(app.store.pool())
            .await
            .unwrap();
    }

    let (_, _, long) = get(&app, "/api/v1/inbox?waiting_at_least_secs=300").await;
    let (_, _, any_wait) = get(&app, "/api/v1/inbox?waiting_at_least_secs=0").await;
    let (bad_wait, _, wait_error) = get(&app, "/api/v1/inbox?waiting_at_least_secs=soon").await;
    let (bad_cursor, trace_id, cursor_error) = get(&app, "/api/v1/inbox?cursor=not-a-cursor").await;
    let (_, _, conversations_page) = get(&app, "/api/v1/conversations?limit=1").await;
    let foreign = conversations_page["next_cursor"].as_str().unwrap();
    let (foreign_cursor, _, foreign_error) = get(&app, &format!("/api/v1/inbox?cursor={foreign}")).await;

    assert_eq!(long["items"].as_array().unwrap().len(), 2, "{long}");
    assert_eq!(ids(&long).iter().collect::<HashSet<_>>(), waiting[1..].iter().collect::<HashSet<_>>());
    assert!(long["items"].as_array().unwrap().iter().all(|i| i["waiting_seconds"].as_i64().unwrap() >= 600));
    assert_eq!(ids(&any_wait).len(), 3, "every waiting conversation, not the bot's");
    assert_eq!(bad_wait, 400);
    assert_eq!(wait_error["code"], "invalid_request");
    assert!(wait_error["message"].as_str().unwrap().starts_with("waiting_at_least_secs:"), "{wait_error}");
    assert_eq!(bad_cursor, 400);
    assert_eq!(cursor_error["code"], "invalid_cursor");
    assert_eq!(cursor_error["trace_id"].as_str(), trace_id.as_deref(), "the one error shape");
    assert!(cursor_error["message"].is_string());
    assert_eq!((foreign_cursor, foreign_error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_cursor")));
}

/// One webhook with a message from each of `count` users.
fn from_many_users(count: u32) -> Vec<u8> {
    let users: Vec<String> = (0..count).map(|n| format!("4477009{n:05}")).collect();
    let messages: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(n, user)| json!({"from": user, "id": format!("wamid.MANY{n}"), "timestamp": now().to_string(), "type": "text", "text": {"body": "hello"}}))
        .collect();
    let contacts: Vec<Value> = users.iter().map(|u| json!({"profile": {"name": "Many"}, "wa_id": u})).collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": BUSINESS_NUMBER_ID},
            "contacts": contacts,
            "messages": messages,
        }}]}],
    }))
    .unwrap()
}

/// The conversations a console inbox page lists.
fn rows(page: &str) -> Vec<String> {
    page.split("data-conversation=\"").skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_console_inbox_shows_two_hundred_conversations_and_links_the_older_ones_on_a_next_page() {
    // A long reorder window: no turn runs, so no conversation moves while the pages are read.
    let app = spawn_app_with(&[("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", "600000")]).await;
    assert_eq!(app.post_webhook(&from_many_users(205)).await.status(), 200);
    let olga = signed_in(&app, "olga", Role::Operator).await;

    let first = olga.get("/console").await.text().await.unwrap();
    let older =
        first.split("href=\"").filter_map(|h| h.split_once("\" rel=\"next\"")).map(|(href, _)| href.to_owned()).next();
    let older = older.expect("an Older conversations link");
    let second = olga.get(&older).await.text().await.unwrap();
    let garbage = olga.get("/console?cursor=not-a-cursor").await.status();

    assert_eq!(rows(&first).len(), 200);
    assert!(first.contains("Older conversations") && !first.contains("Newest conversations"));
    assert_eq!(rows(&second).len(), 5);
    assert!(!second.contains("Older conversations"), "the last page links no further");
    assert!(second.contains("Newest conversations"));
    assert!(second.contains(&format!(
        "data-live=\"/console/inbox/rows?cursor={}\"",
        older.trim_start_matches("/console?cursor=")
    )));
    let all: HashSet<String> = rows(&first).into_iter().chain(rows(&second)).collect();
    assert_eq!(all.len(), 205, "every conversation once");
    assert_eq!(garbage, 400);
}
