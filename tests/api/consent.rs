//! Consent, from outside: STOP opts a user out of business-initiated messages (one
//! confirmation, then the send API refuses with 409 `opted_out`, while the bot still
//! answers what the user writes), START resumes, Meta's 131050 opts the contact out of
//! marketing templates, and the management API shows and changes consent.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::FakeGraph;
use crate::helpers::{API_KEY, TestApp, spawn_app, spawn_live_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const STOP_CONFIRMATION: &str = "You will get no more messages from us here";
const START_CONFIRMATION: &str = "Welcome back";

impl TestApp {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.address)).header("x-api-key", API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// The contact with this phone (E.164), from the management API.
    async fn contact_with(&self, phone: &str) -> Value {
        let (_, page) = self.call(reqwest::Method::GET, "/api/v1/contacts?limit=500", None).await;
        page["items"].as_array().unwrap().iter().find(|c| c["phone"] == phone).cloned().expect("contact stored")
    }

    async fn send_refused(&self, body: Value) -> Value {
        let response = self.send_message(body).await;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["code"], "opted_out", "{answer}");
        answer
    }
}

fn said(outbox: &[Value], text: &str) -> bool {
    outbox.iter().any(|m| m.to_string().contains(text))
}

#[tokio::test]
async fn stop_is_confirmed_once_then_proactive_sends_are_refused_while_the_bot_still_answers_and_start_resumes() {
    let app = spawn_app().await;
    let user = "447700900701";

    app.post_webhook(&text_messages(user, &[("wamid.CONSENT.STOP", now(), "STOP")])).await;
    let outbox = app.wait_for_replies(1).await;
    assert_eq!(outbox.len(), 1, "one confirmation: {outbox:?}");
    assert!(said(&outbox, STOP_CONFIRMATION), "{outbox:?}");

    let refused = app.send_refused(json!({"to": user, "text": "Our summer sale starts today"})).await;
    assert!(refused["message"].as_str().unwrap().contains("user_keyword"), "{refused}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.outbox().await.len(), 1, "nothing proactive was sent");

    app.post_webhook(&text_messages(user, &[("wamid.CONSENT.HELLO", now() + 1, "hello")])).await;
    assert_eq!(app.wait_for_replies(2).await.len(), 2, "the bot still answers inside the window");

    app.post_webhook(&text_messages(user, &[("wamid.CONSENT.START", now() + 2, "Start")])).await;
    let outbox = app.wait_for_replies(3).await;
    assert!(said(&outbox, START_CONFIRMATION), "{outbox:?}");

    // Accepted again (202); whether it can go on WhatsApp is the window's business.
    app.send_ok(json!({"to": user, "text": "Our summer sale starts today"})).await;
}

#[tokio::test]
async fn the_management_api_shows_and_changes_a_contacts_consent() {
    let app = spawn_app().await;
    let user = "447700900703";
    app.post_webhook(&text_messages(user, &[("wamid.CONSENT.M1", now(), "hello")])).await;
    app.wait_for_replies(1).await;
    let contact = app.contact_with("+447700900703").await;
    assert_eq!(contact["consent"]["opted_out"], false);
    let id = contact["id"].as_str().unwrap().to_owned();

    let (status, consent) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/contacts/{id}/consent"),
            Some(json!({"opted_out": true, "operator": "amelia"})),
        )
        .await;

    assert_eq!(status, 200, "{consent}");
    assert_eq!(consent["opted_out"], true);
    assert_eq!(consent["opted_out_source"], "operator");
    let (_, shown) = app.call(reqwest::Method::GET, &format!("/api/v1/contacts/{id}"), None).await;
    assert_eq!(shown["consent"]["opted_out"], true, "{shown}");
    app.send_refused(json!({"to": user, "text": "News"})).await;

    let (status, consent) = app
        .call(reqwest::Method::PUT, &format!("/api/v1/contacts/{id}/consent"), Some(json!({"opted_out": false})))
        .await;
    assert_eq!(status, 200, "{consent}");
    assert_eq!(consent["opted_out"], false);
    app.send_ok(json!({"to": user, "text": "News"})).await;
}

#[tokio::test]
async fn a_failed_status_with_131050_opts_the_contact_out_of_marketing_and_a_template_is_then_refused() {
    let graph = FakeGraph::start().await;
    graph.answer_with_wamids(&["wamid.CONSENT.MKT"]);
    let app = spawn_live_app(&graph, None, &[]).await;
    let user = "447700900702";
    let template = json!({"to": user, "template": {"name": "summer_sale", "language": "en_US"}});
    let id = app.send_ok(template.clone()).await;
    app.wait_for_state(&id, "sent").await;

    app.post_webhook(&failed_status("wamid.CONSENT.MKT", 131050)).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let contact = app.contact_with("+447700900702").await;
        if contact["consent"]["marketing_opted_out"] == true {
            assert_eq!(contact["consent"]["marketing_opted_out_source"], "meta_131050");
            assert_eq!(contact["consent"]["opted_out"], false);
            break;
        }
        assert!(Instant::now() < deadline, "131050 never opted the contact out of marketing: {contact}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = app.send_refused(template).await;
    assert!(refused["message"].as_str().unwrap().contains("marketing"), "{refused}");
}

fn failed_status(wamid: &str, code: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": "109876543210987"},
            "statuses": [{"id": wamid, "status": "failed", "timestamp": now().to_string(), "recipient_id": "447700900702",
                "errors": [{"code": code, "title": "Message failed to send because the user stopped marketing messages",
                    "message": "failure", "error_data": {"details": "fake"}}]}],
        }}]}],
    }))
    .unwrap()
}
