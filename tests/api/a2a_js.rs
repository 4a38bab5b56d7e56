//! Switchboard against the official A2A JavaScript SDK (`@a2a-js/sdk`, pinned in
//! tests/a2a-js/package.json): its client over both bindings of our A2A server, and an
//! agent built on its server that Switchboard routes a WhatsApp message to, and its
//! push-notification API over both bindings. Node runs
//! the scripts in tests/a2a-js on loopback; scripts/test installs their modules
//! (`npm ci --prefix tests/a2a-js`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fakes::{AgentMode, FakeAgent};
use crate::helpers::{API_KEY, spawn_app, spawn_app_with, text_messages};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/a2a-js")
}

/// `node` (or `A2A_JS_NODE`), checked to run and to find the SDK: a missing one fails
/// the test with what to do, never skips it.
fn node() -> PathBuf {
    let node = std::env::var("A2A_JS_NODE").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("node"));
    let version = Command::new(&node).arg("--version").output();
    let major = version.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout).trim().trim_start_matches('v').split('.').next()?.parse::<u32>().ok()
    });
    assert!(
        major.is_some_and(|m| m >= 20),
        "{} is missing or older than Node 20 ({version:?}): the JS SDK interop tests need Node 20 or newer (with npm)",
        node.display()
    );
    let sdk = js_dir().join("node_modules/@a2a-js/sdk/package.json");
    assert!(sdk.exists(), "{} is missing: run scripts/test (it runs npm ci --prefix tests/a2a-js)", sdk.display());
    node
}

/// Runs tests/a2a-js/client.mjs (the official JS SDK's client) over `binding`; its steps.
async fn official_js_client(binding: &str) -> Vec<Value> {
    let app = spawn_app().await;
    let node = node();
    let script = js_dir().join("client.mjs");
    let address = app.address.clone();
    let binding = binding.to_owned();

    let output = tokio::task::spawn_blocking(move || {
        Command::new(node).arg(script).args([&address, API_KEY, "hello there", &binding]).output()
    })
    .await
    .unwrap()
    .unwrap();

    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_the_js_client_did_it_all(steps: &[Value], errors: &str) {
    let step = |name: &str| steps.iter().filter(|s| s["step"] == name).map(|s| s["data"].clone()).collect::<Vec<_>>();
    let one = |name: &str| step(name).first().cloned().unwrap_or_else(|| panic!("no {name} step in {steps:#?}"));
    assert_eq!(one("card")["name"], "Switchboard");
    let sent = &one("send")["task"];
    assert_eq!(sent["status"]["state"], "TASK_STATE_COMPLETED", "{sent:#}");
    assert!(sent["status"]["message"]["parts"][0]["text"].as_str().unwrap().starts_with("Hello!"), "{sent:#}");
    assert_eq!(one("get")["id"], sent["id"]);
    let stream = step("stream");
    assert_eq!(stream[0]["task"]["status"]["state"], "TASK_STATE_WORKING", "{stream:#?}");
    assert!(stream.iter().any(|e| e["artifactUpdate"]["artifact"]["parts"][0]["text"].is_string()), "{stream:#?}");
    assert_eq!(stream.last().unwrap()["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED");
    let listed = one("list")["tasks"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "both tasks, newest first: {listed:#?}");
    assert_eq!(listed[1]["id"], sent["id"]);
    // The SDK maps each error to its own class: one per binding (JsonRpc… or Rest…).
    for (name, error, code) in [
        ("cancel_missing", "TaskNotFoundError", if errors == "Rest" { 404 } else { -32001 }),
        ("send_to_ended", "UnsupportedOperationError", if errors == "Rest" { 400 } else { -32004 }),
        ("subscribe_ended", "UnsupportedOperationError", if errors == "Rest" { 400 } else { -32004 }),
    ] {
        let got = one(name);
        assert_eq!(got["error"], error, "{name}: {got:#}");
        assert_eq!(got["class"], format!("{errors}{error}"), "{name}: {got:#}");
        assert_eq!(got["code"], code, "{name}: {got:#}");
    }
    assert!(step("subscribe_event").is_empty(), "an ended task streams nothing: {steps:#?}");
}

#[tokio::test]
async fn the_official_js_sdk_client_over_json_rpc_resolves_the_card_sends_gets_streams_lists_and_gets_the_spec_errors()
{
    assert_the_js_client_did_it_all(&official_js_client("JSONRPC").await, "JsonRpc");
}

#[tokio::test]
async fn the_official_js_sdk_client_over_http_json_does_the_same_and_gets_the_errors_as_http_statuses() {
    assert_the_js_client_did_it_all(&official_js_client("HTTP+JSON").await, "Rest");
}

/// Runs tests/a2a-js/push.mjs (the JS SDK's push-config API) over `binding` against a
/// service whose only agent is slow, so the task is still WORKING when the config is
/// made, as tests/api/a2a_push.rs does for the Python SDK; the steps and what the
/// client's endpoint received.
async fn js_push_over(binding: &str) -> (Vec<Value>, Vec<wiremock::Request>) {
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
    let node = node();
    let script = js_dir().join("push.mjs");
    let (address, hook_url, binding) = (app.address.clone(), format!("{}/a2a-hook", hook.uri()), binding.to_owned());

    let output = tokio::task::spawn_blocking(move || {
        Command::new(node).arg(script).args([&address, API_KEY, &hook_url, &binding]).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let steps = String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The completed task's post may follow the client's last read by a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let received = hook.received_requests().await.unwrap();
        if received.iter().any(posts_completed) || Instant::now() > deadline {
            return (steps, received);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn posts_completed(request: &wiremock::Request) -> bool {
    serde_json::from_slice::<Value>(&request.body).is_ok_and(|b| b["task"]["status"]["state"] == "TASK_STATE_COMPLETED")
}

fn assert_the_js_client_registered_push_and_it_was_posted(
    steps: &[Value],
    received: &[wiremock::Request],
    errors: &str,
) {
    let one = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| s["data"].clone())
            .unwrap_or_else(|| panic!("no {name} step in {steps:#?}"))
    };
    assert_eq!(one("card")["capabilities"]["pushNotifications"], true);
    let sent = one("send")["task"].clone();
    assert_eq!(sent["status"]["state"], "TASK_STATE_WORKING", "{sent:#}");
    let task_id = sent["id"].as_str().unwrap().to_owned();
    for name in ["create", "get_config"] {
        let config = one(name);
        assert_eq!(config["id"], "hook-1", "{name}: {config:#}");
        assert_eq!(config["taskId"], task_id.as_str(), "{name}: {config:#}");
        assert!(config["url"].as_str().unwrap().ends_with("/a2a-hook"), "{name}: {config:#}");
        assert_eq!(config["token"], "tok-123", "{name}: {config:#}");
        assert_eq!(config["authentication"]["scheme"], "Bearer", "{name}: {config:#}");
    }
    let listed = one("list_configs")["configs"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["id"], "hook-1", "{listed:#?}");
    assert_eq!(listed[0]["taskId"], task_id.as_str(), "{listed:#?}");
    let done = one("done");
    assert_eq!(done["id"], task_id.as_str());
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done:#}");
    assert_eq!(one("delete")["ok"], true);
    let after = one("after_delete");
    assert!(after.get("configs").is_none_or(|c| c.as_array().unwrap().is_empty()), "{after:#}");

    // A config that is not there, or any config of a task that is not, is TaskNotFoundError,
    // as the official SDKs' servers answer; mapped to the binding's own error class.
    for name in ["get_deleted", "create_missing_task", "get_missing_task", "list_missing_task", "delete_missing_task"] {
        let got = one(name);
        assert_eq!(got["error"], "TaskNotFoundError", "{name}: {got:#}");
        assert_eq!(got["class"], format!("{errors}TaskNotFoundError"), "{name}: {got:#}");
        assert_eq!(got["code"], if errors == "Rest" { 404 } else { -32001 }, "{name}: {got:#}");
    }

    let completed =
        received.iter().find(|r| posts_completed(r)).expect("the completed task was posted to the client's endpoint");
    let body: Value = serde_json::from_slice(&completed.body).unwrap();
    assert_eq!(body["task"]["id"], task_id.as_str(), "{body:#}");
    assert_eq!(completed.headers.get("x-a2a-notification-token").unwrap(), "tok-123");
    assert_eq!(completed.headers.get("authorization").unwrap(), "Bearer cred-xyz");
    assert_eq!(completed.headers.get("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn the_official_js_sdk_client_registers_push_over_json_rpc_the_completed_task_is_posted_and_missing_configs_are_task_not_found()
 {
    let (steps, received) = js_push_over("JSONRPC").await;

    assert_the_js_client_registered_push_and_it_was_posted(&steps, &received, "JsonRpc");
}

#[tokio::test]
async fn the_official_js_sdk_client_registers_push_over_http_json_the_completed_task_is_posted_and_missing_configs_are_404()
 {
    let (steps, received) = js_push_over("HTTP+JSON").await;

    assert_the_js_client_registered_push_and_it_was_posted(&steps, &received, "Rest");
}

/// tests/a2a-js/agent.mjs, an agent on the JS SDK's server, on a free loopback port;
/// killed when dropped.
struct JsAgent {
    child: Child,
    url: String,
}

impl JsAgent {
    async fn start() -> Self {
        let node = node();
        let port = switchboard_testkit::free_port();
        let child = Command::new(node)
            .arg(js_dir().join("agent.mjs"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the JS SDK agent starts");
        let agent = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/.well-known/agent-card.json", agent.url)).await.is_err() {
            assert!(Instant::now() < deadline, "the JS SDK agent did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        agent
    }
}

impl Drop for JsAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_whatsapp_message_reaches_an_official_js_sdk_agent_and_its_answer_reaches_the_user() {
    let agent = JsAgent::start().await;
    let registry = format!("jsagent={}|billing", agent.url);
    // The built-in classifier knows no billing; the default agent takes what it cannot place.
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &registry), ("SWITCHBOARD_DEFAULT_AGENT", "jsagent")]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    app.post_webhook(&text_messages("447700900123", &[("wamid.JS1", now, "My invoice is wrong")])).await;
    let replies = app.wait_for_replies(1).await;

    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert_eq!(replies[0]["message"]["content"]["body"], "JS agent heard: My invoice is wrong", "{:#}", replies[0]);
    assert_eq!(replies[0]["recipient"], "+447700900123", "{:#}", replies[0]);
    assert_eq!(replies[0]["reply_to"], "wamid.JS1", "{:#}", replies[0]);
}
