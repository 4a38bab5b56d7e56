//! Switchboard as an A2A agent: the official SDK client, every method, the v0.3 names,
//! errors, the deliver skill, multi-turn routing, and tasks that survive a restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::{AgentMode, FakeAgent, SdkClassifier};
use crate::helpers::{API_KEY, spawn_app, spawn_app_with};

fn user_message(text: &str) -> Value {
    json!({"messageId": uuid::Uuid::new_v4().to_string(), "role": "ROLE_USER", "parts": [{"text": text}]})
}

/// Runs tests/a2a/sdk_client.py (the official SDK's client) over `binding`; its steps.
async fn official_client(binding: &str) -> Vec<Value> {
    let app = spawn_app().await;
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-a2a/bin/python");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/a2a/sdk_client.py");

    let address = app.address.clone();
    let binding = binding.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).args([&address, API_KEY, "hello there", &binding]).output()
    })
    .await
    .unwrap()
    .unwrap();

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_the_client_did_it_all(steps: &[Value]) {
    let step = |name: &str| steps.iter().filter(|s| s["step"] == name).map(|s| s["data"].clone()).collect::<Vec<_>>();
    assert_eq!(step("card")[0]["name"], "Switchboard");
    let sent = &step("send")[0]["task"];
    assert_eq!(sent["status"]["state"], "TASK_STATE_COMPLETED");
    assert!(sent["status"]["message"]["parts"][0]["text"].as_str().unwrap().starts_with("Hello!"));
    assert_eq!(step("get")[0]["id"], sent["id"]);
    let stream = step("stream");
    assert_eq!(stream[0]["task"]["status"]["state"], "TASK_STATE_WORKING");
    assert_eq!(stream.last().unwrap()["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED");
    let listed = step("list")[0]["tasks"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "both tasks, newest first: {listed:#?}");
    assert_eq!(listed[1]["id"], sent["id"]);
    assert_eq!(step("cancel_missing")[0]["error"], "TaskNotFoundError", "{:#}", step("cancel_missing")[0]);
}

#[tokio::test]
async fn the_official_sdk_client_over_json_rpc_resolves_the_card_sends_gets_streams_lists_and_cancels() {
    assert_the_client_did_it_all(&official_client("JSONRPC").await);
}

#[tokio::test]
async fn the_official_sdk_client_over_http_json_does_the_same_on_the_same_tasks() {
    assert_the_client_did_it_all(&official_client("HTTP+JSON").await);
}

#[tokio::test]
async fn the_card_declares_both_versions_the_skills_the_api_key_and_the_conventions_agents_may_use() {
    let app = spawn_app().await;

    let card: Value = app
        .client
        .get(format!("{}/.well-known/agent-card.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let skills: Vec<&str> = card["skills"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(skills, ["route", "deliver"]);
    assert_eq!(card["supportedInterfaces"][0]["protocolVersion"], "1.0");
    assert_eq!(card["supportedInterfaces"][0]["url"], format!("{}/a2a", app.address));
    assert_eq!(card["protocolVersion"], "0.3.0");
    assert_eq!(card["securitySchemes"]["apiKey"]["apiKeySecurityScheme"]["name"], "X-API-Key");
    let extensions: Vec<&str> =
        card["capabilities"]["extensions"].as_array().unwrap().iter().map(|e| e["uri"].as_str().unwrap()).collect();
    assert_eq!(
        extensions,
        [
            "urn:switchboard:a2a:handoff:v1",
            "urn:switchboard:a2a:files:v1",
            "urn:switchboard:a2a:transfer:v1",
            "urn:switchboard:a2a:choices:v1"
        ]
    );
    assert!(card["capabilities"]["extensions"][0]["description"].as_str().unwrap().contains("{\"handoff\""));
}

#[tokio::test]
async fn protocol_errors_use_the_spec_codes() {
    let app = spawn_app().await;
    let post = |body: &'static str, key: Option<&'static str>, version: &'static str| {
        let mut request = app.client.post(format!("{}/a2a", app.address)).header("a2a-version", version).body(body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    let (unauthorised, _) =
        post(r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}"#, None, "1.0").await;
    let (_, parse) = post("{not json", Some(API_KEY), "1.0").await;
    let (_, invalid) = post(r#"{"id":1,"method":"GetTask"}"#, Some(API_KEY), "1.0").await;
    let (_, version) =
        post(r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}"#, Some(API_KEY), "2.0").await;
    let (_, unknown) = post(r#"{"jsonrpc":"2.0","id":1,"method":"Teleport","params":{}}"#, Some(API_KEY), "1.0").await;
    let not_found = app.a2a("GetTask", json!({"id": "no-such-task"})).await;
    let push = app.a2a("CreateTaskPushNotificationConfig", json!({})).await;
    let bad_params = app.a2a("SendMessage", json!({"message": {"role": "ROLE_USER"}})).await;
    let audio_only = app
        .a2a(
            "SendMessage",
            json!({"message": user_message("hi"), "configuration": {"acceptedOutputModes": ["audio/ogg"]}}),
        )
        .await;

    assert_eq!(unauthorised, 401);
    assert_eq!(parse["error"]["code"], -32700);
    assert_eq!(invalid["error"]["code"], -32600);
    assert_eq!(version["error"]["code"], -32009);
    assert_eq!(unknown["error"]["code"], -32601);
    assert_eq!(not_found["error"]["code"], -32001);
    assert_eq!(not_found["error"]["data"][0]["reason"], "TASK_NOT_FOUND");
    assert_eq!(push["error"]["code"], -32602, "a push config needs a url: {push}");
    assert_eq!(bad_params["error"]["code"], -32602);
    assert_eq!(audio_only["error"]["code"], -32005);
}

#[tokio::test]
async fn v03_clients_get_v03_names_and_shapes() {
    let app = spawn_app().await;

    let answer: Value = app
        .client
        .post(format!("{}/a2a", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {
            "kind": "message", "messageId": "m-03", "role": "user", "parts": [{"kind": "text", "text": "hello"}]}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let task = &answer["result"];
    assert_eq!(task["kind"], "task");
    assert_eq!(task["status"]["state"], "completed");
    assert_eq!(task["status"]["message"]["role"], "agent");
    assert_eq!(task["status"]["message"]["parts"][0]["kind"], "text");
    let got = app.a2a("tasks/get", json!({"id": task["id"]})).await;
    assert_eq!(got["result"]["status"]["state"], "completed");
}

#[tokio::test]
async fn tasks_list_newest_first_with_cursor_pages_and_survive_a_restart() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let answer = app.a2a("SendMessage", json!({"message": user_message(&format!("hello {i}"))})).await;
        ids.push(answer["result"]["task"]["id"].as_str().unwrap().to_owned());
    }

    let app = app.restart().await;
    let first = app.a2a("ListTasks", json!({"pageSize": 2})).await;
    let second = app.a2a("ListTasks", json!({"pageSize": 2, "pageToken": first["result"]["nextPageToken"]})).await;
    let third = app.a2a("ListTasks", json!({"pageSize": 2, "pageToken": second["result"]["nextPageToken"]})).await;

    let page = |v: &Value| {
        v["result"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let listed: Vec<String> = [page(&first), page(&second), page(&third)].concat();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    assert_eq!(third["result"]["nextPageToken"], "", "the last page says so");
    assert_eq!(first["result"]["totalSize"], third["result"]["totalSize"], "the total does not depend on the page");
    assert_eq!(first["result"]["totalSize"].as_u64().unwrap() as usize, listed.len());
    assert_eq!(app.a2a("GetTask", json!({"id": ids[0]})).await["result"]["status"]["state"], "TASK_STATE_COMPLETED");
}

#[tokio::test]
async fn return_immediately_answers_working_and_the_task_completes_in_the_background() {
    let app = spawn_app().await;

    let answer = app
        .a2a("SendMessage", json!({"message": user_message("hello"), "configuration": {"returnImmediately": true}}))
        .await;
    let id = answer["result"]["task"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let task = app.a2a("GetTask", json!({"id": id})).await;
        if task["result"]["status"]["state"] == "TASK_STATE_COMPLETED" {
            break task;
        }
        assert!(Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(answer["result"]["task"]["status"]["state"], "TASK_STATE_WORKING");
    assert!(!done["result"]["artifacts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_deliver_skill_delivers_a_message_to_a_whatsapp_user() {
    let app = spawn_app().await;
    // The user wrote recently, so a free-form message may go.
    app.post_webhook(&crate::helpers::text_messages(
        "447700900123",
        &[("wamid.D0", time::OffsetDateTime::now_utc().unix_timestamp(), "hello")],
    ))
    .await;
    app.wait_for_replies(1).await;

    let answer = app
        .a2a(
            "SendMessage",
            json!({"message": {"messageId": "d-1", "role": "ROLE_USER", "parts": [
            {"data": {"to": "+44 7700 900123", "text": "Your parcel ships today", "channel": "whatsapp", "from_number_id": "109876543210987"}}]}}),
        )
        .await;
    let replies = app.wait_for_replies(2).await;
    let rejected = app
        .a2a("SendMessage", json!({"message": {"messageId": "d-2", "role": "ROLE_USER", "parts": [{"data": {"to": "not a phone", "text": "x"}}]}}))
        .await;

    let task = &answer["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED");
    assert!(task["artifacts"][0]["parts"][1]["data"]["delivery_id"].is_string());
    assert_eq!(replies[1]["message"]["content"]["body"], "Your parcel ships today");
    assert_eq!(replies[1]["recipient"], "+447700900123");
    assert_eq!(rejected["result"]["task"]["status"]["state"], "TASK_STATE_REJECTED");
}

#[tokio::test]
async fn an_agents_question_over_a2a_keeps_the_task_input_required_until_answered_and_cancel_rules_hold() {
    let classifier = SdkClassifier::start("message").await;
    let billing = FakeAgent::start(AgentMode::Helpful).await;
    let agents = format!("billing={}|billing", billing.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_CLASSIFIER_URL", &classifier.url), ("SWITCHBOARD_AGENTS", &agents)]).await;

    let asked = app.a2a("SendMessage", json!({"message": user_message("I need a refund")})).await;
    let task = &asked["result"]["task"];
    let mut answer = user_message("1042");
    answer["taskId"] = task["id"].clone();
    let answered = app.a2a("SendMessage", json!({"message": answer})).await;
    let cancel_done = app.a2a("CancelTask", json!({"id": task["id"]})).await;
    let other = app.a2a("SendMessage", json!({"message": user_message("refund again")})).await;
    let canceled = app.a2a("CancelTask", json!({"id": other["result"]["task"]["id"]})).await;

    assert_eq!(task["status"]["state"], "TASK_STATE_INPUT_REQUIRED");
    assert_eq!(task["status"]["message"]["parts"][0]["text"], "Which order number?");
    assert_eq!(answered["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(answered["result"]["task"]["status"]["message"]["parts"][0]["text"], "Refund issued for order 1042.");
    assert_eq!(billing.received()[1].0["params"]["message"]["taskId"], "task-1");
    assert_eq!(cancel_done["error"]["code"], -32002);
    assert_eq!(canceled["result"]["status"]["state"], "TASK_STATE_CANCELED");
    let last = billing.received().last().unwrap().0.clone();
    assert_eq!(last["method"], "CancelTask", "the agent's task it waited on was canceled too: {last:#}");
    assert_eq!(last["params"]["id"], "task-3");
}

#[tokio::test]
async fn subscribe_to_task_streams_the_full_task_first_then_its_final_status() {
    let slow = FakeAgent::start(AgentMode::Slow(Duration::from_millis(700))).await;
    let agents = format!("concierge={}|greeting", slow.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents)]).await;
    let started = app
        .a2a("SendMessage", json!({"message": user_message("hello"), "configuration": {"returnImmediately": true}}))
        .await;
    let id = started["result"]["task"]["id"].clone();

    let body = app
        .client
        .post(format!("{}/a2a", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "SubscribeToTask", "params": {"id": id}}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let events: Vec<Value> =
        body.lines().filter_map(|l| l.strip_prefix("data: ")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["result"]["task"]["id"], id);
    assert_eq!(events[0]["result"]["task"]["status"]["state"], "TASK_STATE_WORKING");
    assert_eq!(events.last().unwrap()["result"]["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED");
}

#[tokio::test]
async fn over_http_json_errors_are_http_statuses_with_the_a2a_reason_and_the_card_lists_the_binding() {
    let app = spawn_app().await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = app.client.request(method, format!("{}{path}", app.address)).header("x-api-key", API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (missing_status, missing) = call(reqwest::Method::GET, "/a2a/tasks/no-such-task", None).await;
    let (bad_status, bad) = call(reqwest::Method::POST, "/a2a/message:send", Some(json!({"msg": {}}))).await;
    let (push_status, push) =
        call(reqwest::Method::POST, "/a2a/tasks/t-1/pushNotificationConfigs", Some(json!({"url": "https://x"}))).await;
    let (sent_status, sent) =
        call(reqwest::Method::POST, "/a2a/message:send", Some(json!({"message": user_message("hello")}))).await;
    let task_id = sent["task"]["id"].as_str().unwrap().to_owned();
    let (again_status, again) = call(reqwest::Method::POST, &format!("/a2a/tasks/{task_id}:cancel"), None).await;
    let (got_status, got) = call(reqwest::Method::GET, &format!("/a2a/tasks/{task_id}?historyLength=1"), None).await;
    let unauthenticated = app.client.get(format!("{}/a2a/tasks", app.address)).send().await.unwrap().status();
    let card: Value = app
        .client
        .get(format!("{}/.well-known/agent-card.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let reason = |body: &Value| body["error"]["details"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert_eq!((missing_status, missing["error"]["status"].as_str()), (404, Some("NOT_FOUND")));
    assert_eq!(reason(&missing), "TASK_NOT_FOUND");
    assert_eq!((bad_status, reason(&bad)), (400, String::from("INVALID_PARAMS")));
    assert!(bad["error"]["message"].as_str().unwrap().contains("message"), "{bad}");
    assert_eq!((push_status, reason(&push)), (404, String::from("TASK_NOT_FOUND")), "{push}");
    assert_eq!((sent_status, sent["task"]["status"]["state"].as_str()), (200, Some("TASK_STATE_COMPLETED")));
    assert_eq!((again_status, reason(&again)), (400, String::from("TASK_NOT_CANCELABLE")));
    assert_eq!(again["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(got_status, 200);
    assert_eq!(got["history"].as_array().unwrap().len(), 1);
    assert_eq!(unauthenticated, 401);
    let bindings: Vec<(&str, &str)> = card["supportedInterfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["protocolBinding"].as_str().unwrap(), i["protocolVersion"].as_str().unwrap()))
        .collect();
    assert_eq!(bindings, [("JSONRPC", "1.0"), ("HTTP+JSON", "1.0"), ("JSONRPC", "0.3")]);
}

#[tokio::test]
async fn an_official_sdk_agent_that_speaks_only_http_json_is_asked_answered_and_canceled_over_rest() {
    let agent = SdkClassifier::start_script("rest_agent.py").await;
    let agents = format!("refunds={}|refund", agent.url);
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents), ("SWITCHBOARD_DEFAULT_AGENT", "refunds")]).await;

    let asked = app.a2a("SendMessage", json!({"message": user_message("I want a refund")})).await;
    let task = &asked["result"]["task"];
    let mut answer = user_message("1042");
    answer["taskId"] = task["id"].clone();
    let answered = app.a2a("SendMessage", json!({"message": answer})).await;
    let again = app.a2a("SendMessage", json!({"message": user_message("another refund")})).await;
    let canceled = app.a2a("CancelTask", json!({"id": again["result"]["task"]["id"]})).await;

    assert_eq!(task["status"]["state"], "TASK_STATE_INPUT_REQUIRED", "{asked:#}");
    assert_eq!(task["status"]["message"]["parts"][0]["text"], "REST agent: which order?");
    assert_eq!(answered["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED", "{answered:#}");
    assert!(
        answered["result"]["task"]["status"]["message"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("REST agent refunded order 1042."),
        "{answered:#}"
    );
    assert_eq!(canceled["result"]["status"]["state"], "TASK_STATE_CANCELED");
}
