//! Hostile HTTP: oversized bodies, slow clients, wrong content types, deep nesting,
//! invalid UTF-8 and huge headers each get a clear 4xx, and the service stays up.
//! Slow clients and oversized heads are written over raw TCP, as an attacker would.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_adapters::inbound::whatsapp::signature;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{API_KEY, APP_SECRET, TestApp, fixture, spawn_app, spawn_app_with};

/// How long a raw exchange may take before the test gives up: a hang guard, far above
/// any limit under test, not a measurement.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in address")
}

/// Writes `parts` one after the other (pausing `pause` between them), then reads until
/// the server closes. Write errors are ignored: the server may refuse and close before
/// the client has finished sending, which is the point.
async fn raw_exchange(app: &TestApp, parts: Vec<Vec<u8>>, pause: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app))).await.expect("connect");
    let exchange = async {
        for part in parts {
            if stream.write_all(&part).await.is_err() {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    };
    tokio::time::timeout(HANG_GUARD, exchange).await.expect("the server answered and closed the connection")
}

fn status_of(raw: &str) -> u16 {
    raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn json_body_of(raw: &str) -> Value {
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

async fn assert_still_up(app: &TestApp) {
    let live = app.client.get(format!("{}/health/live", app.address)).send().await.expect("service reachable");
    let status = live.status();
    assert_eq!(status, 200, "the service still answers /health/live: {}", live.text().await.unwrap_or_default());
}

async fn assert_error_shape(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["trace_id"].as_str().is_some_and(|t| t.len() == 32), "{body}");
}

fn api_post(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client.post(format!("{}{path}", app.address)).header("x-api-key", API_KEY)
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_on_every_route_that_takes_one() {
    let app = spawn_app().await;
    let big = json!({"to": "+447700900123", "text": "x".repeat(300 * 1024)}).to_string();

    for path in ["/api/v1/messages", "/api/v1/workflows", "/a2a", "/api/v1/webhook-events/replay"] {
        let response =
            api_post(&app, path).header("content-type", "application/json").body(big.clone()).send().await.unwrap();
        assert_error_shape(response, 413, "payload_too_large").await;
    }
    let webhook = vec![b' '; 3 * 1024 * 1024 + 1];
    let response = app.post_webhook(&webhook).await;

    assert_error_shape(response, 413, "payload_too_large").await;
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_cut_off_at_the_limit_with_413() {
    let app = spawn_app().await;
    let head = b"POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nX-API-Key: test-api-key\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = [format!("{:x}\r\n", 64 * 1024).into_bytes(), vec![b' '; 64 * 1024], b"\r\n".to_vec()].concat();
    let mut parts = vec![head];
    parts.extend(std::iter::repeat_n(chunk, 8));
    // The server drains a refused chunked body rather than cut it, so the client ends it.
    parts.push(b"0\r\n\r\n".to_vec());

    let raw = raw_exchange(&app, parts, Duration::ZERO).await;

    assert_eq!(status_of(&raw), 413, "{raw}");
    assert_eq!(json_body_of(&raw)["code"], "payload_too_large");
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_client_that_sends_its_body_too_slowly_gets_408() {
    let app = spawn_app_with(&[("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS", "300")]).await;
    let head = b"POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nX-API-Key: test-api-key\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to\":".to_vec();

    // The rest of the body never comes; the connection stays open.
    let raw = raw_exchange(&app, vec![head], Duration::ZERO).await;

    assert_eq!(status_of(&raw), 408, "{raw}");
    assert_eq!(json_body_of(&raw)["code"], "request_timeout");
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_slow_webhook_body_gets_408_and_nothing_is_stored() {
    let app = spawn_app_with(&[("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS", "300")]).await;
    let body = fixture("msg_text.json");
    let head = format!(
        "POST /webhook/whatsapp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        signature::sign(APP_SECRET.as_bytes(), &body),
        body.len()
    );
    let half = body[..body.len() / 2].to_vec();

    let raw = raw_exchange(&app, vec![head.into_bytes(), half], Duration::ZERO).await;

    assert_eq!(status_of(&raw), 408, "{raw}");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_answered_408_and_disconnected() {
    let app = spawn_app_with(&[("SWITCHBOARD_HTTP_HEADER_TIMEOUT_MS", "2000")]).await;

    let raw = raw_exchange(&app, vec![b"GET /health/live HTTP/1.1\r\nHost: loc".to_vec()], Duration::ZERO).await;

    assert_eq!(status_of(&raw), 408, "{raw}");
    assert_still_up(&app).await;
}

#[tokio::test]
async fn headers_over_16_kb_get_431_in_the_error_shape() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-padding", "a".repeat(17 * 1024))
        .send()
        .await
        .unwrap();

    assert_error_shape(response, 431, "headers_too_large").await;
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_head_too_big_to_parse_is_refused_with_431_before_any_route_runs() {
    let app = spawn_app().await;
    let head = format!("GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\n\r\n", "a".repeat(200 * 1024));

    let raw = raw_exchange(&app, vec![head.into_bytes()], Duration::ZERO).await;

    assert_eq!(status_of(&raw), 431, "{raw}");
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_non_json_content_type_gets_415_on_the_json_routes() {
    let app = spawn_app().await;
    let body = json!({"to": "+447700900123", "text": "hi"}).to_string();

    for path in ["/api/v1/messages", "/a2a"] {
        let response =
            api_post(&app, path).header("content-type", "text/plain").body(body.clone()).send().await.unwrap();
        assert_error_shape(response, 415, "unsupported_media_type").await;
    }
    let form = api_post(&app, "/api/v1/messages")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("to=%2B447700900123&text=hi")
        .send()
        .await
        .unwrap();
    assert_error_shape(form, 415, "unsupported_media_type").await;
    let missing = api_post(&app, "/api/v1/messages").body(body).send().await.unwrap();

    assert_error_shape(missing, 415, "unsupported_media_type").await;
    assert_still_up(&app).await;
}

#[tokio::test]
async fn deeply_nested_json_gets_400_and_never_overflows_the_stack() {
    let app = spawn_app().await;

    for path in ["/api/v1/messages", "/a2a"] {
        let response =
            api_post(&app, path).header("content-type", "application/json").body(nested(100_000)).send().await.unwrap();
        assert_error_shape(response, 400, "json_too_deep").await;
    }
    let just_over = api_post(&app, "/api/v1/messages")
        .header("content-type", "application/json")
        .body(format!("{{\"to\":{}}}", nested(64)))
        .send()
        .await
        .unwrap();

    assert_error_shape(just_over, 400, "json_too_deep").await;
    assert_still_up(&app).await;
}

#[tokio::test]
async fn a_signed_webhook_nested_too_deep_is_quarantined_and_an_unsigned_one_refused() {
    let app = spawn_app().await;
    let body = format!("{{\"object\":\"whatsapp_business_account\",\"entry\":{}}}", nested(50_000)).into_bytes();

    let signed = app.post_webhook(&body).await;
    let unsigned = app.post_webhook_signed(&body, None).await;

    assert_eq!(signed.status(), 200);
    assert_eq!(signed.json::<Value>().await.unwrap()["status"], "quarantined");
    assert_error_shape(unsigned, 401, "invalid_signature").await;
    assert_still_up(&app).await;
}

#[tokio::test]
async fn invalid_utf8_gets_400_on_the_json_routes_and_is_quarantined_on_the_webhook() {
    let app = spawn_app().await;
    let body = b"{\"to\":\"+447700900123\",\"text\":\"caf\xe9\"}".to_vec();

    let api = api_post(&app, "/api/v1/messages")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let webhook = app.post_webhook(&body).await;

    assert_error_shape(api, 400, "invalid_utf8").await;
    assert_eq!(webhook.status(), 200);
    assert_eq!(webhook.json::<Value>().await.unwrap()["status"], "quarantined");
    assert_still_up(&app).await;
}

#[tokio::test]
async fn malformed_json_and_bad_path_ids_answer_in_the_error_shape_not_plain_text() {
    let app = spawn_app().await;

    let malformed = api_post(&app, "/api/v1/messages")
        .header("content-type", "application/json")
        .body("{\"to\": ")
        .send()
        .await
        .unwrap();
    let wrong_type = api_post(&app, "/api/v1/messages")
        .header("content-type", "application/json")
        .body("[1, 2, 3]")
        .send()
        .await
        .unwrap();

    let bad_job_id = api_post(&app, "/api/v1/jobs/not-a-number/requeue").send().await.unwrap();

    assert_error_shape(malformed, 400, "bad_request").await;
    assert_error_shape(wrong_type, 400, "bad_request").await;
    assert_error_shape(bad_job_id, 404, "not_found").await;
    assert_still_up(&app).await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Not a timed assertion: the test counts refusals and prints resident memory (the
/// service runs in this process) before, at its sampled peak and after.
#[tokio::test]
async fn fifty_concurrent_oversized_webhooks_are_all_refused_and_memory_stays_bounded() {
    let app = spawn_app().await;
    let body_len = 3 * 1024 * 1024 + 64 * 1024;
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // One shared chunk, so the clients' own memory does not blur the figure.
    let plain_chunk: std::sync::Arc<[u8]> = vec![b' '; 64 * 1024].into();
    let chunked_chunk: std::sync::Arc<[u8]> =
        [format!("{:x}\r\n", 64 * 1024).into_bytes(), vec![b' '; 64 * 1024], b"\r\n".to_vec()].concat().into();
    let mut statuses = Vec::new();
    for chunked in [false, true] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let head = if chunked {
                "POST /webhook/whatsapp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
            } else {
                format!(
                    "POST /webhook/whatsapp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
                )
            };
            let chunk = if chunked { chunked_chunk.clone() } else { plain_chunk.clone() };
            let port = port(&app);
            tasks.spawn(async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
                if stream.write_all(head.as_bytes()).await.is_ok() {
                    for _ in 0..body_len / (64 * 1024) {
                        if stream.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    if chunked {
                        let _ = stream.write_all(b"0\r\n\r\n").await;
                    }
                }
                let mut response = Vec::new();
                let _ = tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut response)).await;
                status_of(&String::from_utf8_lossy(&response))
            });
        }
        while let Some(status) = tasks.join_next().await {
            statuses.push((chunked, status.expect("client task")));
        }
    }
    sampler.abort();
    let after = rss_kib();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);

    println!(
        "hostile: 100 webhooks of {} KiB (50 with Content-Length, 50 chunked), RSS before {} KiB, peak {} KiB (+{} KiB), after {} KiB",
        body_len / 1024,
        before,
        peak,
        peak.saturating_sub(before),
        after
    );
    let too_large = statuses.iter().filter(|(_, s)| *s == 413).count();
    let busy = statuses.iter().filter(|(_, s)| *s == 503).count();
    let answered = statuses.iter().filter(|(_, s)| *s != 0).count();
    println!(
        "hostile: {too_large} answered 413, {busy} answered 503 (body budget spent), {answered} answered at all, of {}",
        statuses.len()
    );
    assert!(statuses.iter().all(|(_, s)| matches!(s, 413 | 503 | 0)), "{statuses:?}");
    assert!(statuses.iter().filter(|(chunked, _)| !chunked).all(|(_, s)| *s == 413), "{statuses:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
    assert_still_up(&app).await;
}

#[tokio::test]
async fn an_upload_beyond_the_body_budget_gets_503_at_once_and_the_budget_comes_back() {
    let app = spawn_app_with(&[
        ("SWITCHBOARD_HTTP_BODY_BUDGET_BYTES", "3145728"),
        ("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS", "3000"),
    ])
    .await;
    // A slow chunked webhook reserves the whole budget (its route's limit) and holds it.
    let mut slow = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
    slow.write_all(b"POST /webhook/whatsapp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n").await.unwrap();

    // Let the slow upload take its reservation first (ordering, not a measurement).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut busy = None;
    for _ in 0..100 {
        let response = app.post_webhook(&fixture("msg_text.json")).await;
        if response.status() == 503 {
            busy = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = busy.expect("a webhook is refused while the budget is held");
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_error_shape(busy, 503, "server_busy").await;

    // Read the answer's head only: the server discards the rest of a chunked body rather
    // than cut the connection, so it does not close while this client keeps it open.
    let mut head = Vec::new();
    let read_head = async {
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && slow.read(&mut byte).await.is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(HANG_GUARD, read_head).await.expect("the slow upload is answered");
    assert_eq!(status_of(&String::from_utf8_lossy(&head)), 408, "the slow upload ran out of time");
    let after = app.post_webhook(&fixture("msg_text.json")).await;
    assert_eq!(after.status(), 200, "the budget is free again");
}
