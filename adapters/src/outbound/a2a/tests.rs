use super::*;
use std::collections::BTreeMap;
use switchboard_domain::Channel;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request(text: &str) -> WorkflowRequest {
    WorkflowRequest {
        user_message: text.into(),
        content: InboundContent::Text { body: text.into() },
        user_id: "+447700900123".into(),
        session_id: "conv-1".into(),
        channel: Channel::Whatsapp,
        user_name: Some("Amelia".into()),
        metadata: BTreeMap::new(),
        trace_id: "t".into(),
        task_id: None,
        attachments: Vec::new(),
        choice: None,
    }
}

async fn peer(card: Value) -> MockServer {
    let server = MockServer::start().await;
    let mut card = card;
    for field in ["url"] {
        if let Some(s) = card.get(field).and_then(Value::as_str) {
            card[field] = json!(s.replace("{uri}", &server.uri()));
        }
    }
    if let Some(list) = card.get_mut("supportedInterfaces").and_then(Value::as_array_mut) {
        for i in list {
            i["url"] = json!(i["url"].as_str().unwrap().replace("{uri}", &server.uri()));
        }
    }
    Mock::given(method("GET"))
        .and(path("/.well-known/agent-card.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(card))
        .mount(&server)
        .await;
    server
}

fn v1_card() -> Value {
    json!({"name": "billing", "supportedInterfaces": [{"url": "{uri}/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]})
}

fn client() -> A2aClient {
    A2aClient::new(Duration::from_millis(500), Duration::from_secs(60)).unwrap()
}

#[tokio::test]
async fn send_message_speaks_v1_with_the_version_header_and_the_trace_in_metadata() {
    let server = peer(v1_card()).await;
    let trace = TraceContext::new_root();
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(header("a2a-version", "1.0"))
        .and(header("x-trace-id", trace.trace_id.to_string().as_str()))
        .and(body_partial_json(json!({"method": "SendMessage", "params": {"message": {
            "contextId": "conv-1", "role": "ROLE_USER", "parts": [{"text": "refund please"}],
            "metadata": {"trace_id": trace.trace_id.to_string(), "sender_agent": "switchboard", "receiver_agent": "billing"}
        }}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": "1", "result": {"task": {
            "id": "task-9", "contextId": "conv-1", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
            "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "Which order?"}]}}}}})))
        .expect(1)
        .mount(&server)
        .await;
    let agents = A2aAgents::new(
        std::sync::Arc::new(client()),
        &[AgentEntry { name: "billing".into(), url: server.uri(), intents: vec!["billing".into()] }],
    );

    let reply = agents.ask(&AgentName::new("billing"), &request("refund please"), &trace).await.unwrap();

    assert_eq!(reply.text, "Which order?");
    assert_eq!(reply.open_task().map(|t| t.id.as_str()), Some("task-9"));
}

#[tokio::test]
async fn a_v03_peer_is_spoken_to_with_the_old_names_and_shapes() {
    let server = peer(json!({"name": "old", "url": "{uri}/", "protocolVersion": "0.3.0"})).await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(body_partial_json(json!({"method": "message/send", "params": {"message": {"kind": "message", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": "1", "result": {
            "kind": "task", "id": "t", "contextId": "c", "status": {"state": "completed"},
            "artifacts": [{"artifactId": "a", "parts": [{"kind": "text", "text": "Hello from 0.3"}]}]}})))
        .expect(1)
        .mount(&server)
        .await;

    let result = client()
        .send_message(&server.uri(), "old", request_message(&request("hi")), &TraceContext::new_root())
        .await
        .unwrap();

    assert!(
        matches!(result, SendMessageResult::Task(t) if t.reply_text() == "Hello from 0.3" && t.status.state.is_terminal())
    );
}

#[tokio::test]
async fn failures_are_classified_down_slow_garbage_and_rpc_errors() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = client()
        .send_message(
            &format!("http://127.0.0.1:{unused}"),
            "x",
            request_message(&request("hi")),
            &TraceContext::new_root(),
        )
        .await;
    assert!(matches!(down, Err(A2aError::Down(_))), "{down:?}");

    let cases = [
        (ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","result":{"task":{"id":"t","status":{"state":"TASK_STATE_COMPLETED"}}}})).set_delay(Duration::from_secs(2)), "timeout"),
        (ResponseTemplate::new(200).set_body_string("<html>oops</html>"), "protocol"),
        (ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","error":{"code":-32001,"message":"Task not found"}})), "rpc"),
    ];
    for (answer, expected) in cases {
        let server = peer(v1_card()).await;
        Mock::given(method("POST")).and(path("/rpc")).respond_with(answer).mount(&server).await;

        let result =
            client().send_message(&server.uri(), "x", request_message(&request("hi")), &TraceContext::new_root()).await;

        let kind = match result {
            Err(A2aError::Timeout(_)) => "timeout",
            Err(A2aError::Protocol(_)) => "protocol",
            Err(A2aError::Rpc { code: -32001, .. }) => "rpc",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(kind, expected);
    }
}

#[tokio::test]
async fn the_classifier_reads_intent_and_confidence_from_a_data_part() {
    let server = peer(v1_card()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jsonrpc":"2.0","id":"1","result":{"message":{
            "messageId":"m","role":"ROLE_AGENT","parts":[{"data":{"intent":"billing","confidence":0.8},"mediaType":"application/json"}]}}})))
        .mount(&server)
        .await;
    let classifier = A2aClassifier::new(std::sync::Arc::new(client()), server.uri());

    let c = classifier.classify(&request("invoice"), &TraceContext::new_root()).await.unwrap();

    assert_eq!(c.intent, Intent::Other("billing".into()));
    assert!((c.confidence - 0.8).abs() < 1e-6);
}

#[tokio::test]
async fn a_card_is_fetched_once_and_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/agent-card.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "x", "url": "http://x/", "protocolVersion": "0.3.0"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client();

    for _ in 0..3 {
        client.card(&server.uri(), &TraceContext::new_root()).await.unwrap();
    }
}

#[test]
fn the_registry_adds_its_intents_to_the_builtin_routes() {
    let policy = registry_policy(
        &[AgentEntry { name: "billing".into(), url: "http://b".into(), intents: vec!["billing".into()] }],
        "fallback",
        0.5,
    );
    assert_eq!(policy.agent_for(&Classification::new(Intent::Other("billing".into()), 0.9)).as_str(), "billing");
    assert_eq!(policy.agent_for(&Classification::new(Intent::Greeting, 0.9)).as_str(), "greeter");
    assert_eq!(policy.agent_for(&Classification::new(Intent::Other("billing".into()), 0.2)).as_str(), "fallback");
}

#[tokio::test]
async fn canceling_an_agents_task_sends_cancel_task_in_its_version_and_an_ended_task_is_a_failure() {
    let v1 = peer(v1_card()).await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(header("a2a-version", "1.0"))
        .and(body_partial_json(json!({"method": "CancelTask", "params": {"id": "task-9"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"jsonrpc": "2.0", "id": "1", "result": {"id": "task-9", "status": {"state": "TASK_STATE_CANCELED"}}}),
        ))
        .expect(1)
        .mount(&v1)
        .await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .and(body_partial_json(json!({"method": "CancelTask", "params": {"id": "task-done"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"jsonrpc": "2.0", "id": "1", "error": {"code": -32002, "message": "task is completed"}}),
        ))
        .mount(&v1)
        .await;
    let old = peer(json!({"name": "old", "url": "{uri}/", "protocolVersion": "0.3.0"})).await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(body_partial_json(json!({"method": "tasks/cancel", "params": {"id": "t-old"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"jsonrpc": "2.0", "id": "1", "result": {"kind": "task", "id": "t-old", "status": {"state": "canceled"}}}),
        ))
        .expect(1)
        .mount(&old)
        .await;
    let agents = A2aAgents::new(
        std::sync::Arc::new(client()),
        &[
            AgentEntry { name: "billing".into(), url: v1.uri(), intents: vec![] },
            AgentEntry { name: "legacy".into(), url: old.uri(), intents: vec![] },
        ],
    );
    let trace = TraceContext::new_root();

    let canceled = agents.cancel(&AgentName::new("billing"), "task-9", &trace).await;
    let old_canceled = agents.cancel(&AgentName::new("legacy"), "t-old", &trace).await;
    let ended = agents.cancel(&AgentName::new("billing"), "task-done", &trace).await;

    assert!(canceled.is_ok());
    assert!(old_canceled.is_ok());
    assert!(matches!(ended, Err(AgentError::Failed { .. })), "{ended:?}");
}

#[tokio::test]
async fn an_agent_whose_card_prefers_http_json_is_asked_and_canceled_over_rest() {
    let server = peer(json!({"name": "rest-agent", "supportedInterfaces": [
        {"url": "{uri}/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": "{uri}/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]}))
    .await;
    Mock::given(method("POST"))
        .and(path("/rest/message:send"))
        .and(header("a2a-version", "1.0"))
        .and(body_partial_json(json!({"message": {"role": "ROLE_USER", "parts": [{"text": "refund please"}]}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"task": {
            "id": "task-r", "contextId": "conv-1", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
            "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "Which order?"}]}}}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/tasks/task-r:cancel"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "task-r", "status": {"state": "TASK_STATE_CANCELED"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/tasks/gone:cancel"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"code": 404, "status": "NOT_FOUND",
            "message": "task gone not found", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND"}]}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rpc"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let agents = A2aAgents::new(
        std::sync::Arc::new(client()),
        &[AgentEntry { name: "billing".into(), url: server.uri(), intents: vec!["billing".into()] }],
    );
    let trace = TraceContext::new_root();

    let reply = agents.ask(&AgentName::new("billing"), &request("refund please"), &trace).await.unwrap();
    let canceled = agents.cancel(&AgentName::new("billing"), "task-r", &trace).await;
    let gone = agents.client.cancel_task(&server.uri(), "gone", &trace).await;

    assert_eq!(reply.text, "Which order?");
    assert_eq!(reply.open_task().map(|t| t.id.as_str()), Some("task-r"));
    assert!(canceled.is_ok());
    assert!(matches!(gone, Err(A2aError::Rpc { code: -32001, .. })), "{gone:?}");
}
