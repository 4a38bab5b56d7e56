//! Real agents over A2A: the official SDK's classifier, a specialist agent on loopback,
//! multi-turn tasks, and peers that are down, slow, broken or answer errors.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::{AgentMode, FakeAgent, SdkClassifier};
use crate::helpers::{API_KEY, APP_SECRET, fixture, spawn_app_with, text_messages};
use switchboard_adapters::inbound::whatsapp::signature;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn classified_and_routed_by_the_sdk_classifier(mode: &str) {
    let classifier = SdkClassifier::start(mode).await;
    let specialist = FakeAgent::start(AgentMode::Helpful).await;
    let agents = format!("concierge={}|greeting", specialist.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_CLASSIFIER_URL", &classifier.url), ("SWITCHBOARD_AGENTS", &agents)]).await;
    let body = fixture("msg_text.json");
    let trace_id = "0af7651916cd43dd8448eb211c80319c";

    app.client
        .post(format!("{}/webhook/whatsapp", app.address))
        .header("x-hub-signature-256", signature::sign(APP_SECRET.as_bytes(), &body))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .body(body)
        .send()
        .await
        .unwrap();
    let replies = app.wait_for_replies(1).await;

    let text = replies[0]["message"]["content"]["body"].as_str().unwrap();
    assert!(text.starts_with("Specialist here: Hi! Is the blue jacket"), "{text}");
    let (request, traceparent) = &specialist.received()[0];
    assert_eq!(request["params"]["message"]["metadata"]["trace_id"], trace_id);
    assert_eq!(request["params"]["message"]["metadata"]["receiver_agent"], "concierge");
    assert!(traceparent.as_deref().unwrap().contains(trace_id));
    assert_eq!(replies[0]["trace_id"], trace_id);
}

#[tokio::test]
async fn the_sdk_classifier_answering_with_a_message_routes_to_the_specialist() {
    classified_and_routed_by_the_sdk_classifier("message").await;
}

#[tokio::test]
async fn the_sdk_classifier_answering_with_a_task_routes_to_the_specialist() {
    classified_and_routed_by_the_sdk_classifier("task").await;
}

#[tokio::test]
async fn an_agents_question_is_asked_and_the_users_answer_completes_the_same_task() {
    let classifier = SdkClassifier::start("message").await;
    let billing = FakeAgent::start(AgentMode::Helpful).await;
    let agents = format!("billing={}|billing", billing.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_CLASSIFIER_URL", &classifier.url), ("SWITCHBOARD_AGENTS", &agents)]).await;
    let user = "447700900812";

    app.post_webhook(&text_messages(user, &[("wamid.Q1", now(), "I want a refund please")])).await;
    let first = app.wait_for_replies(1).await;
    app.post_webhook(&text_messages(user, &[("wamid.Q2", now() + 1, "1042")])).await;
    let both = app.wait_for_replies(2).await;

    assert_eq!(first[0]["message"]["content"]["body"], "Which order number?");
    assert_eq!(both[1]["message"]["content"]["body"], "Refund issued for order 1042.");
    let received = billing.received();
    assert_eq!(received.len(), 2, "the answer went to the agent, not through the classifier to another");
    let (first_call, second_call) = (&received[0].0["params"]["message"], &received[1].0["params"]["message"]);
    assert_eq!(second_call["taskId"], "task-1");
    assert_eq!(second_call["contextId"], first_call["contextId"], "one conversation, one contextId");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM conversations WHERE open_task_id IS NOT NULL").await,
        0,
        "the task is closed"
    );
}

async fn answered_by_the_fallback(agent_url: &str, overrides: &[(&str, &str)]) -> (Vec<Value>, i64) {
    let agents = format!("concierge={agent_url}|greeting");
    let mut all = vec![("SWITCHBOARD_AGENTS", agents.as_str()), ("SWITCHBOARD_JOB_MAX_ATTEMPTS", "2")];
    all.extend_from_slice(overrides);
    let app = spawn_app_with(&all).await;
    app.post_webhook(&text_messages("447700900813", &[("wamid.PEER", now(), "hello")])).await;
    let replies = app.wait_for_replies(1).await;
    let dead = app.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await;
    (replies, dead)
}

fn fallback_text(replies: &[Value]) -> &str {
    replies[0]["message"]["content"]["body"].as_str().unwrap()
}

#[tokio::test]
async fn an_agent_that_is_down_is_retried_and_then_the_default_agent_answers() {
    let unused = switchboard_testkit::free_port();

    let (replies, dead) = answered_by_the_fallback(&format!("http://127.0.0.1:{unused}"), &[]).await;

    assert!(fallback_text(&replies).starts_with("Sorry, I did not understand"), "{replies:?}");
    assert_eq!(dead, 0, "the message did not vanish into a dead job");
}

#[tokio::test]
async fn a_slow_agent_times_out_and_then_the_default_agent_answers() {
    let slow = FakeAgent::start(AgentMode::Slow(Duration::from_secs(3))).await;

    let (replies, _) = answered_by_the_fallback(&slow.uri(), &[("SWITCHBOARD_AGENT_TIMEOUT_SECS", "1")]).await;

    assert!(fallback_text(&replies).starts_with("Sorry"), "{replies:?}");
    assert_eq!(slow.received().len(), 2, "tried once per attempt");
}

#[tokio::test]
async fn an_agent_answering_garbage_or_a_json_rpc_error_is_not_retried_and_the_default_agent_answers() {
    for mode in [AgentMode::Garbage, AgentMode::RpcError] {
        let broken = FakeAgent::start(mode).await;

        let (replies, dead) = answered_by_the_fallback(&broken.uri(), &[]).await;

        assert!(fallback_text(&replies).starts_with("Sorry"), "{mode:?}: {replies:?}");
        assert_eq!(broken.received().len(), 1, "{mode:?}: a broken answer is not asked for again");
        assert_eq!(dead, 0);
    }
}

async fn three_quick_messages_while_the_agent_is_slow(mode: &str) -> (Vec<Value>, usize) {
    let slow = FakeAgent::start(AgentMode::Slow(Duration::from_millis(800))).await;
    let agents = format!("concierge={}|greeting", slow.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents), ("SWITCHBOARD_DOUBLE_TEXTING", mode)]).await;
    let user = "447700900814";
    let t = now();

    app.post_webhook(&text_messages(user, &[("wamid.DT1", t, "hello")])).await;
    // The agent is working on the first while the user double-texts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.post_webhook(&text_messages(user, &[("wamid.DT2", t + 1, "hello?")])).await;
    app.post_webhook(&text_messages(user, &[("wamid.DT3", t + 2, "hello??")])).await;
    let expected = if mode == "coalesce" { 2 } else { 3 };
    let replies = app.wait_for_replies(expected).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND processed_at IS NULL").await,
        0,
        "none lost"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 0);
    (replies, slow.received().len())
}

#[tokio::test]
async fn double_texting_in_sequence_answers_each_message_in_order() {
    let (replies, calls) = three_quick_messages_while_the_agent_is_slow("sequential").await;

    let order: Vec<&str> = replies.iter().map(|r| r["reply_to"].as_str().unwrap()).collect();
    assert_eq!(order, ["wamid.DT1", "wamid.DT2", "wamid.DT3"]);
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn double_texting_coalesced_hands_the_waiting_messages_over_together() {
    let (replies, calls) = three_quick_messages_while_the_agent_is_slow("coalesce").await;

    let order: Vec<&str> = replies.iter().map(|r| r["reply_to"].as_str().unwrap()).collect();
    assert_eq!(order, ["wamid.DT1", "wamid.DT3"], "the second turn answers the two that waited, quoting the last");
    assert_eq!(calls, 2);
}

#[tokio::test]
async fn the_rest_workflow_api_answers_with_reply_intent_agent_task_state_and_trace() {
    let classifier = SdkClassifier::start("task").await;
    let billing = FakeAgent::start(AgentMode::Helpful).await;
    let agents = format!("billing={}|billing", billing.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_CLASSIFIER_URL", &classifier.url), ("SWITCHBOARD_AGENTS", &agents)]).await;
    let post = |body: Value| {
        app.client.post(format!("{}/api/v1/workflows", app.address)).header("x-api-key", API_KEY).json(&body).send()
    };

    let first: Value =
        post(json!({"user_message": "I need a refund", "user_id": "crm-42", "session_id": "s-1", "channel": "crm"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let second: Value = post(json!({"user_message": "1042", "user_id": "crm-42", "session_id": "s-1", "task_id": first["task_id"], "agent": first["agent"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(first["reply"], "Which order number?");
    assert_eq!(first["intent"], "billing");
    assert_eq!(first["agent"], "billing");
    assert_eq!(first["task_state"], "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(first["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(second["reply"], "Refund issued for order 1042.");
    assert_eq!(second["task_state"], "TASK_STATE_COMPLETED");
    assert_eq!(billing.received()[1].0["params"]["message"]["contextId"], "s-1");
}

#[tokio::test]
async fn the_rest_workflow_api_names_the_bad_field_and_needs_a_key() {
    let app = spawn_app_with(&[]).await;

    let missing: Value = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"user_message": "  ", "user_id": "u"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unknown_field = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"user_message": "hi", "user_id": "u", "colour": "blue"}))
        .send()
        .await
        .unwrap();
    let no_key = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .json(&json!({"user_message": "hi", "user_id": "u"}))
        .send()
        .await
        .unwrap();
    let builtin: Value = app
        .client
        .post(format!("{}/api/v1/workflows", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"user_message": "hello", "user_id": "u"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(missing["message"].as_str().unwrap().starts_with("user_message:"), "{missing}");
    assert_eq!(unknown_field.status(), 400);
    assert!(unknown_field.text().await.unwrap().contains("colour"));
    assert_eq!(no_key.status(), 401);
    assert_eq!(builtin["agent"], "greeter");
}
