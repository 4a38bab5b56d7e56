//! The webhook is never open: signatures over the exact bytes, size limit, handshake.

use serde_json::Value;

use crate::helpers::{APP_SECRET, VERIFY_TOKEN, fixture, spawn_app};
use switchboard_adapters::inbound::whatsapp::signature;

#[tokio::test]
async fn unsigned_wrongly_signed_or_reserialised_bodies_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let body = fixture("msg_interactive_list_reply.json");
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    let good_signature = signature::sign(APP_SECRET.as_bytes(), &body);
    let wrong_secret = signature::sign(b"not-the-secret", &body);

    let cases = [
        ("unsigned", app.post_webhook_signed(&body, None).await),
        ("wrong secret", app.post_webhook_signed(&body, Some(&wrong_secret)).await),
        ("malformed header", app.post_webhook_signed(&body, Some("sha256=xyz")).await),
        ("re-serialised body", app.post_webhook_signed(&reserialised, Some(&good_signature)).await),
    ];

    for (case, response) in cases {
        assert_eq!(response.status(), 401, "{case}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "invalid_signature", "{case}");
        assert_eq!(error["trace_id"].as_str().unwrap().len(), 32, "{case}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
}

#[tokio::test]
async fn escaped_unicode_signed_as_sent_is_accepted_and_read_correctly() {
    let app = spawn_app().await;
    // Meta escapes non-ASCII and may escape '/'; the signature covers these bytes.
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100200","phone_number_id":"109876543210987"},"contacts":[{"profile":{"name":"Ren\u00e9e"},"wa_id":"33612345678"}],"messages":[{"from":"33612345678","id":"wamid.ESCAPED","timestamp":"1795600400","type":"text","text":{"body":"Caf\u00e9 ouvert? https:\/\/example.com\/menu \ud83d\ude00"}}]}}]}]}"#;

    let response = app.post_webhook(body).await;

    assert_eq!(response.status(), 200);
    let content: String = sqlx::query_scalar("SELECT content FROM messages WHERE wamid = 'wamid.ESCAPED'")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(stored["content"]["body"], "Café ouvert? https://example.com/menu 😀");
    assert_eq!(stored["profile_name"], "Renée");
}

#[tokio::test]
async fn a_body_over_3_mb_is_refused_with_413() {
    let app = spawn_app().await;
    let body = vec![b' '; 3 * 1024 * 1024 + 1];

    let response = app.post_webhook(&body).await;

    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
}

#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_on_both_paths() {
    let app = spawn_app().await;

    for path in ["/webhook/whatsapp", "/api/v1/whatsapp/webhook"] {
        let response = app
            .client
            .get(format!(
                "{}{path}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444",
                app.address
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(response.text().await.unwrap(), "1158201444");
    }
}

#[tokio::test]
async fn the_handshake_is_refused_with_a_wrong_token_or_mode() {
    let app = spawn_app().await;

    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=test-verify-token&hub.challenge=1",
        "hub.challenge=1",
        "",
    ] {
        let response = app.client.get(format!("{}/webhook/whatsapp?{query}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{query}");
    }
}

#[tokio::test]
async fn the_alias_path_accepts_signed_posts() {
    let app = spawn_app().await;
    let body = fixture("msg_location.json");

    let response = app
        .client
        .post(format!("{}/api/v1/whatsapp/webhook", app.address))
        .header("x-hub-signature-256", signature::sign(APP_SECRET.as_bytes(), &body))
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(app.wait_for_replies(1).await.len(), 1);
}
