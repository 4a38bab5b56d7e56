//! The metrics as operators query them: the seed runbook's PromQL works unchanged after a
//! known mix of sends, every series has its `# HELP`, known counters exist at zero from
//! start, and the token gauges move with nobody calling `/health/whatsapp`.
//!
//! Its own test binary (so its own process): the Prometheus recorder is process-wide,
//! and the API tests running beside it would add their own sends to the counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "api/fakes.rs"]
mod fakes;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_adapters::inbound::metrics::METRICS;

use fakes::{Answer, FakeGraph};
use helpers::{API_KEY, TestApp, spawn_live_app};

/// One sample of the exposition: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut helped = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split_whitespace().next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap();
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        samples.push(Sample { name, labels, value: value.parse().unwrap() });
    }
    (samples, helped)
}

async fn scrape(app: &TestApp) -> (Vec<Sample>, Vec<String>) {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    parse(&text)
}

/// `sum(metric{labels})` over the scraped samples.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

fn exists(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> bool {
    samples
        .iter()
        .any(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
}

#[tokio::test]
async fn the_seed_runbooks_queries_work_unchanged_every_series_is_described_from_the_start_and_token_gauges_stay_current()
 {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(
        &graph,
        None,
        &[
            ("SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS", "0"),
            ("WHATSAPP_HTTP_TIMEOUT_SECS", "1"),
            ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "0"),
        ],
    )
    .await;

    // Before anything happened: the known series exist at zero, and the build says itself.
    let (fresh, _) = scrape(&app).await;
    for (name, labels) in [
        ("whatsapp_messages_sent_total", vec![("status", "success")]),
        ("whatsapp_messages_sent_total", vec![("status", "failed")]),
        ("whatsapp_api_calls_total", vec![("status", "error"), ("outcome", "timeout")]),
        ("whatsapp_api_calls_total", vec![("status", "error"), ("outcome", "network")]),
        ("whatsapp_api_calls_total", vec![("status", "success")]),
        ("switchboard_secrets_redacted_total", vec![("output", "log")]),
        ("http_requests_refused_total", vec![("reason", "unauthorized")]),
    ] {
        assert!(exists(&fresh, name, &labels), "{name}{labels:?} is not there from the start");
        assert_eq!(sum(&fresh, name, &labels), 0.0, "{name}{labels:?}");
    }
    let build = fresh.iter().find(|s| s.name == "switchboard_build_info").expect("switchboard_build_info");
    assert_eq!(build.value, 1.0);
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));

    // A known mix (templates: these users never wrote, so only a template may go): of four sends, one times out and then goes through, one is refused for
    // good (131026: undeliverable, and no email to fall back on), two go through at once.
    graph.script([
        Answer::Accept,
        Answer::Error { code: 131026, status: 400 },
        Answer::Slow(Duration::from_secs(3)),
        Answer::Accept,
        Answer::Accept,
    ]);
    for n in 0..4 {
        let response = app
            .client
            .post(format!("{}/api/v1/messages", app.address))
            .header("x-api-key", API_KEY)
            .json(&json!({"to": format!("44770090070{n}"), "channel": "whatsapp", "template": {
                "name": "order_update", "language": "en_US",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "#1042"}]}]
            }}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let (samples, helped) = loop {
        let (samples, helped) = scrape(&app).await;
        let settled = sum(&samples, "whatsapp_messages_sent_total", &[]);
        if settled >= 4.0 {
            break (samples, helped);
        }
        assert!(Instant::now() < deadline, "only {settled} of 4 sends settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // rate(whatsapp_messages_sent_total{status="success"}[5m]) / rate(whatsapp_messages_sent_total[5m])
    let success_rate = sum(&samples, "whatsapp_messages_sent_total", &[("status", "success")])
        / sum(&samples, "whatsapp_messages_sent_total", &[]);
    let sent: Vec<_> = samples.iter().filter(|s| s.name == "whatsapp_messages_sent_total").collect();
    assert_eq!(success_rate, 0.75, "{sent:?}");
    // rate(whatsapp_api_calls_total{status="error"}[5m]): the refusal and the timeout.
    assert_eq!(sum(&samples, "whatsapp_api_calls_total", &[("status", "error")]), 2.0);
    assert_eq!(sum(&samples, "whatsapp_api_calls_total", &[("status", "error"), ("outcome", "timeout")]), 1.0);
    assert_eq!(sum(&samples, "whatsapp_api_calls_total", &[("status", "success")]), 3.0);
    assert_eq!(sum(&samples, "whatsapp_api_calls_total", &[]), 5.0);

    // Every series on the page is a declared metric with its # HELP text.
    let declared: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    for sample in &samples {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.name.strip_suffix(suffix))
            .filter(|base| declared.contains(base))
            .unwrap_or(&sample.name);
        assert!(declared.contains(&base), "{} is not in inbound::metrics::METRICS", sample.name);
        assert!(helped.iter().any(|h| h == base), "{base} has no # HELP: {helped:?}");
    }

    the_token_gauges_are_refreshed_in_the_background_with_nobody_asking().await;
}

/// Run after the mix, not beside it: its health checks are Graph calls too.
async fn the_token_gauges_are_refreshed_in_the_background_with_nobody_asking() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(
        &graph,
        None,
        &[
            ("SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS", "1"),
            ("SWITCHBOARD_HEALTH_CACHE_SECS", "0"),
            ("WHATSAPP_APP_TOKEN", "123|app-secret-of-the-metrics-test"),
        ],
    )
    .await;

    let wait_for = |name: &'static str, want: fn(f64) -> bool| {
        let app = &app;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (samples, _) = scrape(app).await;
                if let Some(s) = samples.iter().find(|s| s.name == name)
                    && want(s.value)
                {
                    return s.value;
                }
                assert!(Instant::now() < deadline, "{name} never became what was wanted");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let days = wait_for("whatsapp_token_expires_in_days", |d| d > 29.0).await;
    assert!(days <= 30.0);
    assert_eq!(wait_for("whatsapp_token_valid", |v| v == 1.0).await, 1.0);
    graph.set_token_expired(true);
    assert_eq!(wait_for("whatsapp_token_valid", |v| v == 0.0).await, 0.0);
}
