//! What operators see: /health/whatsapp, `switchboard check`, and /metrics.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::{Answer, FakeGraph, SmtpSink};
use crate::helpers::{API_KEY, BUSINESS_NUMBER_ID, spawn_live_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn whatsapp_health_turns_red_on_an_expired_token_and_green_when_it_recovers() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(
        &graph,
        None,
        &[("SWITCHBOARD_HEALTH_CACHE_SECS", "0"), ("WHATSAPP_BUSINESS_ACCOUNT_ID", "210987654321098")],
    )
    .await;
    let health = || async {
        let response = app
            .client
            .get(format!("{}/health/whatsapp", app.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let public = || async {
        let response = app.client.get(format!("{}/health/whatsapp", app.address)).send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };

    let (green_status, green) = health().await;
    graph.set_token_expired(true);
    let (red_status, red) = health().await;
    let (public_red_status, public_red) = public().await;
    graph.set_token_expired(false);
    let (again_status, _) = health().await;

    assert_eq!(green_status, 200);
    assert_eq!(green["status"], "healthy");
    assert_eq!(green["quality_rating"], "GREEN");
    assert_eq!(green["webhook_subscribed"], true);
    assert_eq!(red_status, 503);
    assert_eq!(red["status"], "unhealthy");
    assert_eq!(red["token_valid"], false);
    assert_eq!(red["reasons"][0]["code"], "token_expired", "{red}");
    assert!(red["reasons"][0]["detail"].as_str().unwrap().contains("190"), "{red}");
    assert_eq!(public_red_status, 503);
    assert_eq!(
        public_red,
        json!({"status": "unhealthy", "reasons": ["token_expired"], "checked_at": public_red["checked_at"]})
    );
    assert_eq!(again_status, 200);
}

#[tokio::test]
async fn debug_token_gives_the_days_to_expiry_when_an_app_token_is_configured() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(
        &graph,
        None,
        &[("SWITCHBOARD_HEALTH_CACHE_SECS", "0"), ("WHATSAPP_APP_TOKEN", "123|app-secret")],
    )
    .await;

    let report: Value = app
        .client
        .get(format!("{}/health/whatsapp", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let days = report["token_expires_in_days"].as_f64().unwrap();
    assert!((29.0..=30.0).contains(&days), "{report}");
}

fn check(graph: &FakeGraph, dir: &std::path::Path) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check")
        .env_clear()
        .envs([
            ("SWITCHBOARD_DATA_DIR", dir.to_str().unwrap()),
            ("WHATSAPP_ACCESS_TOKEN", "test-token"),
            ("WHATSAPP_PHONE_NUMBER_ID", BUSINESS_NUMBER_ID),
            ("WHATSAPP_APP_SECRET", "s"),
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "v"),
            ("SWITCHBOARD_API_KEYS", "k"),
            ("WHATSAPP_API_BASE_URL", graph.uri().as_str()),
        ])
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn switchboard_check_exits_1_on_an_expired_token_and_0_when_it_recovers() {
    let graph = FakeGraph::start().await;
    let dir = tempfile::tempdir().unwrap();

    graph.set_token_expired(true);
    let (red_code, red) = {
        let (g, d) = (graph.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || check(&g, &d)).await.unwrap()
    };
    graph.set_token_expired(false);
    let (green_code, green) = {
        let (g, d) = (graph.clone(), dir.path().to_owned());
        tokio::task::spawn_blocking(move || check(&g, &d)).await.unwrap()
    };

    assert_eq!(red_code, 1, "{red}");
    assert!(red.contains("whatsapp        UNHEALTHY") && red.contains("190"), "{red}");
    assert_eq!(green_code, 0, "{green}");
    assert!(green.contains("whatsapp        ok") && green.contains("quality rating       GREEN"), "{green}");
}

#[tokio::test]
async fn metrics_show_every_named_metric_moving() {
    let graph = FakeGraph::start().await;
    graph.script([Answer::Error { code: 131026, status: 400 }]);
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(
        &graph,
        Some(&smtp),
        &[
            ("SWITCHBOARD_RATE_LIMITS_ENABLED", "true"),
            ("SWITCHBOARD_RECIPIENT_BURST", "1"),
            ("SWITCHBOARD_RECIPIENT_INTERVAL_MS", "300"),
        ],
    )
    .await;

    // A fallback to email (131026), then replies to WhatsApp messages, two to one user.
    let mut body = serde_json::json!({"to": "447700900990", "template": {"name": "t", "language": "en"}, "email": "ops@example.com"});
    body["channel"] = serde_json::json!("auto");
    app.send_ok(body).await;
    smtp.wait_for(1).await;
    app.post_webhook(&text_messages("447700900991", &[("wamid.M1", now(), "hello"), ("wamid.M2", now() + 1, "help")]))
        .await;
    app.wait_for_state_of_all_sent(3).await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();

    for name in [
        "whatsapp_messages_received_total",
        "whatsapp_messages_sent_total{status=\"success\"}",
        "whatsapp_api_calls_total{status=\"success\",outcome=\"ok\"}",
        "whatsapp_api_calls_total{status=\"error\",outcome=\"graph_error\"}",
        "whatsapp_api_errors_total{code=\"131026\"}",
        "whatsapp_webhook_duration_seconds_bucket",
        "switchboard_job_queue_depth",
        "switchboard_job_oldest_age_seconds",
        "switchboard_jobs_dead",
        "switchboard_deliveries{state=\"sent\"}",
        "switchboard_fallbacks_total{reason=\"undeliverable\"}",
        "switchboard_classifications_total{intent=\"greeting\"}",
        "switchboard_agent_call_duration_seconds_bucket",
        "switchboard_rate_limit_waits_total{limiter=\"recipient\"}",
        "switchboard_sqlite_commit_seconds_bucket",
        "switchboard_sqlite_writes_total",
        "switchboard_sqlite_wal_pages_total",
        "switchboard_inbound_throttled_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(!text.contains("447700900991"), "no phone numbers in labels");
    let _ = Duration::ZERO;
}

#[test]
fn the_alert_rules_parse_are_complete_and_use_only_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
    let rules: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Every metric an alert reads is declared (so exported, with # HELP, from start).
    let declared: Vec<&str> = switchboard_adapters::inbound::metrics::METRICS.iter().map(|m| m.name).collect();
    let exported = |metric: &str| {
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| metric.strip_suffix(s)).unwrap_or(metric);
        declared.contains(&metric) || declared.contains(&base)
    };
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            assert!(rule["for"].as_str().is_some(), "{name}: no for");
            assert!(matches!(rule["labels"]["severity"].as_str(), Some("critical" | "warning")), "{name}: severity");
            assert!(rule["annotations"]["summary"].as_str().is_some(), "{name}: summary");
            assert!(
                rule["annotations"]["runbook"].as_str().unwrap().starts_with("docs/operations.md#"),
                "{name}: runbook"
            );
            let metrics: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("whatsapp_") || w.starts_with("switchboard_"))
                .collect();
            assert!(!metrics.is_empty(), "{name}: no metric");
            for metric in metrics {
                assert!(exported(metric), "{name}: {metric} is not exported");
            }
            alerts.push(name.to_owned());
        }
    }
    for needed in [
        "WhatsAppApiErrorRateHigh",
        "WhatsAppNoMessagesReceived",
        "WhatsAppTokenExpiringSoon",
        "SwitchboardQueueBackingUp",
        "SwitchboardSqliteCommitsSlow",
        "SwitchboardSecretRedacted",
        "SwitchboardConversationWaitingForAPerson",
    ] {
        assert!(alerts.iter().any(|a| a == needed), "{needed} missing");
    }
}

#[test]
fn every_runbook_link_of_the_alert_rules_has_its_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbook = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .collect::<String>()
                .replace(' ', "-")
        })
        .collect();
    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    for link in alerts.lines().filter_map(|l| l.trim().strip_prefix("runbook: \"docs/operations.md#")) {
        let anchor = link.trim_end_matches('"');
        assert!(anchors.iter().any(|a| a == anchor), "no section for #{anchor}; sections: {anchors:?}");
    }
}

#[tokio::test]
async fn replaying_a_quarantined_webhook_after_its_cause_is_fixed_processes_it_exactly_once() {
    let app = crate::helpers::spawn_app().await;
    // An older version quarantined this authentic envelope (the bug since fixed).
    let body = text_messages("447700900950", &[("wamid.REPLAY", now(), "hello")]);
    sqlx::query(
        "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
         VALUES ('evt-1', 1, '4bf92f3577b34da6a3ce929d0e0e4736', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'quarantined', 'parser bug', '{}', ?1)",
    )
    .bind(&body)
    .execute(app.store.pool())
    .await
    .unwrap();
    let replay = || async {
        app.client
            .post(format!("{}/api/v1/webhook-events/evt-1/replay", app.address))
            .header("x-api-key", crate::helpers::API_KEY)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    let listed: Value = app
        .client
        .get(format!("{}/api/v1/webhook-events?status=quarantined", app.address))
        .header("x-api-key", crate::helpers::API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = replay().await;
    let replies = app.wait_for_replies(1).await;
    let second = replay().await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(listed["items"][0]["id"], "evt-1");
    assert_eq!(first["new_messages"], 1);
    assert_eq!(second["new_messages"], 0);
    assert_eq!(second["duplicate_messages"], 1);
    assert_eq!(replies.len(), 1);
    assert_eq!(app.outbox().await.len(), 1, "processed exactly once");
}

#[tokio::test]
async fn a_dead_job_is_listed_and_requeued_and_then_processed() {
    let app = crate::helpers::spawn_app().await;
    app.post_webhook(&text_messages("447700900960", &[("wamid.DEAD", now(), "hello")])).await;
    // Before the reorder window ends, an operator-visible failure: the job is dead.
    sqlx::query("UPDATE jobs SET state = 'dead', last_error = 'agent exploded'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let get = |path: &'static str| {
        app.client.get(format!("{}{path}", app.address)).header("x-api-key", crate::helpers::API_KEY).send()
    };

    let dead: Value = get("/api/v1/jobs/dead").await.unwrap().json().await.unwrap();
    let id = dead["items"][0]["id"].as_i64().unwrap();
    let requeued = app
        .client
        .post(format!("{}/api/v1/jobs/{id}/requeue", app.address))
        .header("x-api-key", crate::helpers::API_KEY)
        .send()
        .await
        .unwrap();
    let replies = app.wait_for_replies(1).await;
    let again = app
        .client
        .post(format!("{}/api/v1/jobs/{id}/requeue", app.address))
        .header("x-api-key", crate::helpers::API_KEY)
        .send()
        .await
        .unwrap();

    assert_eq!(dead["items"][0]["last_error"], "agent exploded");
    assert_eq!(requeued.status(), 200);
    assert_eq!(replies[0]["reply_to"], "wamid.DEAD");
    assert_eq!(again.status(), 404, "only a dead job can be requeued");
}

#[tokio::test]
async fn the_openapi_document_validates_and_lists_every_management_route() {
    let app = crate::helpers::spawn_app().await;
    let doc: Value =
        app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();

    let paths = doc["paths"].as_object().unwrap();
    for (path, verb) in [
        ("/api/v1/messages", "post"),
        ("/api/v1/messages/{id}", "get"),
        ("/api/v1/channels/email/priority", "put"),
        ("/api/v1/workflows", "post"),
        ("/api/v1/webhook-events", "get"),
        ("/api/v1/webhook-events/{id}/replay", "post"),
        ("/api/v1/webhook-events/replay", "post"),
        ("/api/v1/jobs/dead", "get"),
        ("/api/v1/jobs/{id}/requeue", "post"),
        ("/api/v1/contacts", "get"),
        ("/api/v1/contacts/{id}", "get"),
        ("/api/v1/conversations", "get"),
        ("/api/v1/conversations/{id}", "get"),
        ("/api/v1/conversations/{id}/messages", "get"),
        ("/api/v1/deliveries", "get"),
        ("/api/v1/status", "get"),
        ("/health/whatsapp", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(verb)).is_some(), "{verb} {path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());

    // The validator of the OpenAPI community, not ours.
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-a2a/bin/python");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let output = std::process::Command::new(python)
        .args(["-c", "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn the_api_reference_loads_its_viewer_from_this_service_without_a_key() {
    let app = crate::helpers::spawn_app().await;
    let page = app.client.get(format!("{}/api/docs", app.address)).send().await.unwrap();
    let status = page.status();
    let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let spec = html.split("data-spec=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    let document = app.client.get(format!("{}{spec}", app.address)).send().await.unwrap();

    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("id=\"swagger-ui\""), "not the Swagger UI page: {html}");
    assert!(html.contains("swagger-ui-bundle.js") && html.contains("swagger-ui.css"), "{html}");
    assert_eq!(document.status(), 200, "the document the page shows ({spec})");
    assert!(document.json::<Value>().await.unwrap()["openapi"].as_str().unwrap().starts_with("3."));

    let loaded: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/api/docs/assets/") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert!(loaded.len() >= 3, "{html}");
    for path in loaded {
        let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if path.ends_with(".js") { "text/javascript" } else { "text/css" };
        assert_eq!(response.status(), 200, "{path}");
        assert!(content_type.starts_with(expected), "{path}: {content_type}");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age="), "{path}");
    }
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
}

#[tokio::test]
async fn every_documented_a2a_method_is_answered() {
    let app = crate::helpers::spawn_app().await;

    for (method, _) in switchboard_adapters::inbound::openapi::schemas::A2A_METHODS {
        let answer = app.a2a(method, serde_json::json!({})).await;

        assert_ne!(answer["error"]["code"], -32601, "{method} is documented but not a method: {answer}");
    }
}
