//! Durable ingest: every fixture stored once and answered once; duplicates, order,
//! quarantine and store failures.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{fixture, fixture_names, recent, spawn_app, spawn_app_with, text_messages};

fn ids_in(body: &[u8], key: &str) -> Vec<(String, String)> {
    let value: Value = serde_json::from_slice(body).unwrap();
    let mut out = Vec::new();
    for entry in value["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            for item in change["value"][key].as_array().cloned().unwrap_or_default() {
                out.push((item["id"].as_str().unwrap().to_owned(), item["status"].as_str().unwrap_or("").to_owned()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_fixture_is_stored_once_and_each_message_gets_exactly_one_reply() {
    // Arrange
    let app = spawn_app().await;
    let good: Vec<String> = fixture_names().into_iter().filter(|n| !n.starts_with("bad_")).collect();
    let mut expected_messages = BTreeSet::new();
    let mut expected_statuses = BTreeSet::new();

    // Act
    for name in &good {
        let body = fixture(name);
        expected_messages.extend(ids_in(&body, "messages").into_iter().map(|(id, _)| id));
        expected_statuses.extend(ids_in(&body, "statuses"));
        let response = app.post_webhook(&body).await;
        assert_eq!(response.status(), 200, "{name}: {}", response.text().await.unwrap());
    }
    let replies = app.wait_for_replies(expected_messages.len()).await;

    // Assert
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events WHERE status = 'accepted'").await, good.len() as i64);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'").await,
        expected_messages.len() as i64
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM message_statuses").await, expected_statuses.len() as i64);
    let replied_to: Vec<String> = replies.iter().map(|r| r["reply_to"].as_str().unwrap().to_owned()).collect();
    assert_eq!(replied_to.len(), expected_messages.len(), "one reply per message, no more");
    assert_eq!(replied_to.into_iter().collect::<BTreeSet<_>>(), expected_messages);
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 0, "every job finished, none dead");
}

#[tokio::test]
async fn non_text_messages_reach_the_agent_in_a_channel_neutral_form() {
    let app = spawn_app().await;

    app.post_webhook(&fixture("msg_audio_voice.json")).await;
    app.post_webhook(&fixture("msg_unsupported.json")).await;
    let replies = app.wait_for_replies(2).await;

    let texts: Vec<&str> = replies.iter().map(|r| r["message"]["content"]["body"].as_str().unwrap()).collect();
    assert!(texts.iter().any(|t| t.contains("voice note")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("can't read that kind of message")), "{texts:?}");
    let kinds = app.count("SELECT COUNT(*) FROM messages WHERE kind IN ('audio', 'unsupported')").await;
    assert_eq!(kinds, 2);
}

#[tokio::test]
async fn bad_bodies_are_quarantined_raw_and_acknowledged() {
    let app = spawn_app().await;

    for name in ["bad_missing_entry.json", "bad_truncated.json", "bad_wrong_object.json"] {
        let body = fixture(name);
        let response = app.post_webhook(&body).await;
        assert_eq!(response.status(), 200, "{name}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "quarantined", "{name}");

        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT body FROM webhook_events ORDER BY received_at DESC, rowid DESC LIMIT 1")
                .fetch_one(app.store.pool())
                .await
                .unwrap();
        assert_eq!(stored, body, "{name} is kept byte for byte");
    }

    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events WHERE status = 'quarantined' AND reason IS NOT NULL").await,
        3
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
}

#[tokio::test]
async fn duplicate_webhook_delivery_is_processed_once() {
    let app = spawn_app().await;
    let body = fixture("msg_text.json");

    let first: Value = app.post_webhook(&body).await.json().await.unwrap();
    let second: Value = app.post_webhook(&body).await.json().await.unwrap();
    let replies = app.wait_for_replies(1).await;
    let third: Value = app.post_webhook(&body).await.json().await.unwrap();

    assert_eq!(first["messages"], 1);
    assert_eq!(second["messages"], 0);
    assert_eq!(second["duplicate_messages"], 1);
    assert_eq!(third["duplicate_messages"], 1, "a redelivery after processing is a duplicate too");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(app.outbox().await.len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 3, "each delivery is kept raw");
}

#[tokio::test]
async fn duplicate_statuses_are_stored_once() {
    let app = spawn_app().await;

    for name in ["status_sent.json", "status_sent.json", "status_read.json", "status_delivered.json"] {
        assert_eq!(app.post_webhook(&fixture(name)).await.status(), 200);
    }

    assert_eq!(app.count("SELECT COUNT(*) FROM message_statuses").await, 3);
}

#[tokio::test]
async fn messages_delivered_out_of_order_are_processed_in_meta_timestamp_order() {
    let app = spawn_app().await;
    let user = "447700900555";

    // Meta delivers the later message first.
    app.post_webhook(&text_messages(user, &[("wamid.LATER", 1_795_600_101, "help")])).await;
    app.post_webhook(&text_messages(user, &[("wamid.EARLIER", 1_795_600_100, "hello")])).await;
    let replies = app.wait_for_replies(2).await;

    let order: Vec<&str> = replies.iter().map(|r| r["reply_to"].as_str().unwrap()).collect();
    assert_eq!(order, ["wamid.EARLIER", "wamid.LATER"]);
}

#[tokio::test]
async fn messages_in_one_batch_are_processed_in_timestamp_order_per_user() {
    let app = spawn_app().await;
    let user = "5511987650009";

    let batch = text_messages(
        user,
        &[("wamid.3", 1_795_600_203, "three"), ("wamid.1", 1_795_600_201, "one"), ("wamid.2", 1_795_600_202, "two")],
    );
    app.post_webhook(&batch).await;
    let replies = app.wait_for_replies(3).await;

    let order: Vec<&str> = replies.iter().map(|r| r["reply_to"].as_str().unwrap()).collect();
    assert_eq!(order, ["wamid.1", "wamid.2", "wamid.3"]);
}

#[tokio::test]
async fn a_store_failure_answers_503_and_the_redelivery_is_stored() {
    let app = spawn_app_with(&[("SWITCHBOARD_DB_BUSY_TIMEOUT_MS", "100")]).await;
    let body = fixture("msg_text.json");
    // Another process holds the database's write lock.
    let mut blocker = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap()
        .acquire()
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut *blocker).await.unwrap();

    let refused = app.post_webhook(&body).await;
    let status = refused.status();
    let error: Value = refused.json().await.unwrap();
    sqlx::query("ROLLBACK").execute(&mut *blocker).await.unwrap();
    let accepted = app.post_webhook(&body).await;

    assert_eq!(status, 503);
    assert_eq!(error["code"], "store_unavailable");
    assert_eq!(accepted.status(), 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'").await, 1);
    assert_eq!(app.wait_for_replies(1).await.len(), 1);
}

#[tokio::test]
async fn a_user_identified_only_by_a_scoped_id_is_answered() {
    let app = spawn_app().await;
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100200","phone_number_id":"109876543210987"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"","user_id":"US.1349120865530274"}],"messages":[{"from":"","from_user_id":"US.1349120865530274","id":"wamid.BSUID1","timestamp":"1795600300","type":"text","text":{"body":"hello"}}]}}]}]}"#;

    assert_eq!(app.post_webhook(&recent(body)).await.status(), 200);
    let replies = app.wait_for_replies(1).await;

    assert_eq!(replies[0]["recipient"], "bsuid:US.1349120865530274");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM contacts WHERE scoped_id = 'US.1349120865530274' AND phone IS NULL").await,
        1
    );
}

#[tokio::test]
async fn a_phone_known_under_one_scoped_id_does_not_block_another() {
    let app = spawn_app().await;
    let message = |id: &str, user_id: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"109876543210987"}},"messages":[{{"from":"16505550142","from_user_id":"{user_id}","id":"{id}","timestamp":"1795600500","type":"text","text":{{"body":"hi"}}}}]}}}}]}}]}}"#
        )
    };

    let first = app.post_webhook(&recent(message("wamid.S1", "US.1").as_bytes())).await;
    let second = app.post_webhook(&recent(message("wamid.S2", "US.2").as_bytes())).await;

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM contacts").await, 2);
    assert_eq!(app.wait_for_replies(2).await.len(), 2);
}
