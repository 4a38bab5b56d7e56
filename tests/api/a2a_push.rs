//! Push notifications on Switchboard's A2A server: the official SDK client registers a
//! config over each binding, and the task's updates are posted to the client's endpoint
//! through the job queue with its token and authentication; internal addresses are
//! refused unless configuration allows them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fakes::{AgentMode, FakeAgent};
use crate::helpers::{API_KEY, spawn_app_with};

/// Runs tests/a2a/sdk_push.py over `binding` against a service whose only agent is slow
/// (so the task is still WORKING when the config is made); the steps and what the
/// client's endpoint received.
async fn push_over(binding: &str) -> (Vec<Value>, Vec<wiremock::Request>) {
    let agent = FakeAgent::start(AgentMode::Slow(Duration::from_millis(700))).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST")).and(path("/a2a-hook")).respond_with(ResponseTemplate::new(200)).mount(&hook).await;
    let registry = format!("slow={}|billing", agent.uri());
    let app = spawn_app_with(&[
        ("SWITCHBOARD_AGENTS", &registry),
        ("SWITCHBOARD_DEFAULT_AGENT", "slow"),
        ("SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL", "true"),
    ])
    .await;
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-a2a/bin/python");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/a2a/sdk_push.py");
    let (address, hook_url, binding) = (app.address.clone(), format!("{}/a2a-hook", hook.uri()), binding.to_owned());

    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).args([&address, API_KEY, &hook_url, &binding]).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let steps = String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The completed task's post may follow the client's last read by a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let received = hook.received_requests().await.unwrap();
        let completed = received.iter().any(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|b| b["task"]["status"]["state"] == "TASK_STATE_COMPLETED")
        });
        if completed || Instant::now() > deadline {
            return (steps, received);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_pushed(steps: &[Value], received: &[wiremock::Request]) {
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).map(|s| s["data"].clone()).unwrap();
    assert_eq!(step("card")["capabilities"]["pushNotifications"], true);
    assert_eq!(step("send")["task"]["status"]["state"], "TASK_STATE_WORKING");
    let task_id = step("send")["task"]["id"].as_str().unwrap().to_owned();
    assert_eq!(step("create")["id"], "hook-1");
    assert_eq!(step("create")["taskId"], task_id.as_str());
    assert_eq!(step("get_config")["token"], "tok-123");
    assert_eq!(step("list_configs")["configs"].as_array().unwrap().len(), 1);
    assert_eq!(step("done")["status"]["state"], "TASK_STATE_COMPLETED");
    assert!(step("after_delete").get("configs").is_none_or(|c| c.as_array().unwrap().is_empty()));
    let completed = received
        .iter()
        .find(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|b| b["task"]["status"]["state"] == "TASK_STATE_COMPLETED")
        })
        .expect("the completed task was posted to the client's endpoint");
    let body: Value = serde_json::from_slice(&completed.body).unwrap();
    assert_eq!(body["task"]["id"], task_id.as_str());
    assert_eq!(completed.headers.get("x-a2a-notification-token").unwrap(), "tok-123");
    assert_eq!(completed.headers.get("authorization").unwrap(), "Bearer cred-xyz");
    assert_eq!(completed.headers.get("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn the_official_sdk_client_registers_push_over_json_rpc_and_the_completed_task_is_posted_to_it() {
    let (steps, received) = push_over("JSONRPC").await;

    assert_pushed(&steps, &received);
}

#[tokio::test]
async fn the_official_sdk_client_registers_push_over_http_json_and_the_completed_task_is_posted_to_it() {
    let (steps, received) = push_over("HTTP+JSON").await;

    assert_pushed(&steps, &received);
}

#[tokio::test]
async fn a_push_url_on_an_internal_address_is_refused_unless_configuration_allows_it() {
    let app = spawn_app_with(&[]).await;
    let rpc = |method: &'static str, params: Value| {
        let request = app
            .client
            .post(format!("{}/a2a", app.address))
            .header("x-api-key", API_KEY)
            .header("a2a-version", "1.0")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let sent =
        rpc("SendMessage", json!({"message": {"messageId": "p-1", "role": "ROLE_USER", "parts": [{"text": "hello"}]}}))
            .await;
    let task_id = sent["result"]["task"]["id"].as_str().unwrap().to_owned();

    let mut refused = Vec::new();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "file:///etc/passwd",
    ] {
        refused.push((url, rpc("CreateTaskPushNotificationConfig", json!({"taskId": task_id, "url": url})).await));
    }
    let unknown_task =
        rpc("CreateTaskPushNotificationConfig", json!({"taskId": "no-such-task", "url": "https://example.com/h"}))
            .await;

    for (url, answer) in refused {
        assert_eq!(answer["error"]["code"], -32602, "{url}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("url:"), "{url}: {answer}");
    }
    assert_eq!(unknown_task["error"]["code"], -32001);
}

#[tokio::test]
async fn a_push_config_sent_with_the_message_gets_every_update_of_its_task_from_working_to_completed() {
    let agent = FakeAgent::start(AgentMode::Slow(Duration::from_millis(300))).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST")).and(path("/a2a-hook")).respond_with(ResponseTemplate::new(200)).mount(&hook).await;
    let registry = format!("slow={}|billing", agent.uri());
    let app = spawn_app_with(&[
        ("SWITCHBOARD_AGENTS", &registry),
        ("SWITCHBOARD_DEFAULT_AGENT", "slow"),
        ("SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL", "true"),
    ])
    .await;

    let sent = app
        .a2a(
            "SendMessage",
            json!({"message": {"messageId": "push-1", "role": "ROLE_USER", "parts": [{"text": "this thing"}]},
                   "configuration": {"returnImmediately": true,
                       "taskPushNotificationConfig": {"url": format!("{}/a2a-hook", hook.uri()), "token": "tok-9"}}}),
        )
        .await;
    let task_id = sent["result"]["task"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    let states = loop {
        let states: Vec<String> = hook
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter(|b| b["task"]["id"] == task_id.as_str())
            .map(|b| b["task"]["status"]["state"].as_str().unwrap_or_default().to_owned())
            .collect();
        if states.last().is_some_and(|s| s == "TASK_STATE_COMPLETED") || Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let configs = app.a2a("ListTaskPushNotificationConfigs", json!({"taskId": task_id})).await;

    assert_eq!(states, ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"], "in order, each once");
    assert_eq!(configs["result"]["configs"][0]["token"], "tok-9");
    assert!(
        hook.received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.headers.get("x-a2a-notification-token").unwrap() == "tok-9")
    );
}
