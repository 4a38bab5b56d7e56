//! An agent hands the conversation to another agent (the transfer convention): the
//! user's message goes to the named agent in the same conversation, with the note, and
//! the user gets both answers.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fakes::{AgentMode, FakeAgent};
use crate::helpers::{spawn_app_with, text_messages};

/// A front-desk agent that passes every conversation to `to`.
async fn front_desk(to: &'static str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/agent-card.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "front", "description": "front desk", "version": "1.0.0",
            "supportedInterfaces": [{"url": format!("{}/", server.uri()), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": []
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": body["id"], "result": {"message": {
                "messageId": "m", "role": "ROLE_AGENT", "parts": [
                    {"text": "Passing you to our billing team."},
                    {"data": {"transfer": {"to": to, "note": "wants a refund for order 1042"}}, "mediaType": "application/json"}
                ]}}}))
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn an_agent_hands_the_conversation_to_another_and_the_user_gets_both_answers_with_the_note_passed_on() {
    let front = front_desk("billing").await;
    let billing = FakeAgent::start(AgentMode::Helpful).await;
    let registry = format!("front={}|unknown;billing={}|billing", front.uri(), billing.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &registry), ("SWITCHBOARD_DEFAULT_AGENT", "front")]).await;

    app.post_webhook(&text_messages(
        "447700900860",
        &[("wamid.TRANSFER.1", time::OffsetDateTime::now_utc().unix_timestamp(), "my money back please")],
    ))
    .await;
    let replies = app.wait_for_replies(1).await;

    assert_eq!(replies.len(), 1, "one reply: {replies:#?}");
    assert_eq!(
        replies[0]["message"]["content"]["body"],
        "Passing you to our billing team.\n\nSpecialist here: my money back please"
    );
    let (asked, _) = billing.received().last().cloned().unwrap();
    let metadata = &asked["params"]["message"]["metadata"];
    assert_eq!(metadata["transferred_from"], "front");
    assert_eq!(metadata["transfer_note"], "wants a refund for order 1042");
    assert!(metadata.get("available_skills").is_none());
}
