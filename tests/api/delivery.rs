//! Delivery users can trust: the Graph API on a loopback fake, failures classified once,
//! rate limits, the 24-hour window, the email fallback on a loopback SMTP sink, and
//! delivery status.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::{Answer, FakeGraph, SmtpSink};
use crate::helpers::{API_KEY, TestApp, fixture, spawn_live_app, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn status_webhook(wamid: &str, status: &str, error_code: Option<i64>, callback: Option<&str>) -> Vec<u8> {
    let mut item =
        json!({"id": wamid, "status": status, "timestamp": now().to_string(), "recipient_id": "447700900123"});
    if let Some(code) = error_code {
        item["errors"] =
            json!([{"code": code, "title": "failure", "message": "failure", "error_data": {"details": "fake"}}]);
    }
    if let Some(data) = callback {
        item["biz_opaque_callback_data"] = json!(data);
    }
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": "109876543210987"},
            "statuses": [item],
        }}]}],
    }))
    .unwrap()
}

fn template(to: &str) -> Value {
    json!({"to": to, "template": {"name": "order_update", "language": "en_US", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "#1042"}]}
    ]}})
}

async fn wait_for_sends(graph: &FakeGraph, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sends = graph.sends();
        if sends.len() >= n {
            return sends;
        }
        assert!(Instant::now() < deadline, "only {} of {n} sends reached the fake Graph", sends.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn no_job_left(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.count("SELECT COUNT(*) FROM jobs").await > 0 {
        assert!(Instant::now() < deadline, "jobs left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_reply_goes_through_graph_quoting_the_message_after_marking_it_read() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[]).await;

    app.post_webhook(&text_messages("447700900123", &[("wamid.IN1", now(), "hello")])).await;
    let sends = wait_for_sends(&graph, 1).await;

    let send = &sends[0];
    assert_eq!(send["type"], "text");
    assert_eq!(send["to"], "447700900123");
    assert_eq!(send["context"]["message_id"], "wamid.IN1");
    assert!(send["text"]["body"].as_str().unwrap().starts_with("Hello"));
    let requests = graph.requests().await;
    assert!(
        requests.iter().any(|r| r["status"] == "read"
            && r["message_id"] == "wamid.IN1"
            && r["typing_indicator"]["type"] == "text")
    );
    let delivery_id = send["biz_opaque_callback_data"].as_str().unwrap();
    let delivery = app.wait_for_state(delivery_id, "sent").await;
    assert_eq!(delivery["provider_id"], "wamid.FAKE.1");
}

#[tokio::test]
async fn the_send_api_sends_a_template_and_shows_the_delivery_with_its_attempts() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[]).await;

    let id = app.send_ok(template("+44 7700 900999")).await;
    let delivery = app.wait_for_state(&id, "sent").await;

    let send = &graph.sends()[0];
    assert_eq!(send["template"]["name"], "order_update");
    assert_eq!(send["template"]["components"][0]["parameters"][0]["text"], "#1042");
    assert_eq!(delivery["route"], "whatsapp");
    assert_eq!(delivery["attempts"][0]["outcome"], "accepted");
    assert_eq!(delivery["trace_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn the_send_api_needs_an_api_key_and_names_the_bad_field() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[]).await;

    let without_key = app
        .client
        .post(format!("{}/api/v1/messages", app.address))
        .json(&template("447700900123"))
        .send()
        .await
        .unwrap();
    let wrong_key = app
        .client
        .post(format!("{}/api/v1/messages", app.address))
        .header("authorization", "Bearer nope")
        .json(&template("447700900123"))
        .send()
        .await
        .unwrap();
    let bad_phone: Value = app.send_message(json!({"to": "not a phone", "text": "hi"})).await.json().await.unwrap();
    let bad_channel = app.send_message(json!({"to": "447700900123", "text": "hi", "channel": "fax"})).await;
    let four_buttons_worth: Value =
        app.send_message(json!({"to": "447700900123", "text": "x".repeat(5000)})).await.json().await.unwrap();
    let email_without_address: Value =
        app.send_message(json!({"to": "447700900123", "text": "hi", "channel": "email"})).await.json().await.unwrap();

    assert_eq!(without_key.status(), 401);
    assert_eq!(wrong_key.status(), 401);
    assert_eq!(bad_phone["code"], "invalid_request");
    assert!(bad_phone["message"].as_str().unwrap().starts_with("to:"), "{bad_phone}");
    assert_eq!(bad_channel.status(), 400);
    assert!(bad_channel.text().await.unwrap().contains("fax"));
    assert!(four_buttons_worth["message"].as_str().unwrap().contains("the limit is 4096"), "{four_buttons_worth}");
    assert!(email_without_address["message"].as_str().unwrap().starts_with("email:"), "{email_without_address}");
    assert!(graph.sends().is_empty());
}

#[tokio::test]
async fn a_429_storm_delays_every_message_but_delivers_each_exactly_once() {
    let graph = FakeGraph::start().await;
    graph.script([
        Answer::Status(429),
        Answer::Error { code: 130429, status: 400 },
        Answer::Error { code: 80007, status: 400 },
        Answer::Status(429),
        Answer::Error { code: 4, status: 403 },
        Answer::Error { code: 131000, status: 500 },
        Answer::Status(503),
    ]);
    let app = spawn_live_app(&graph, None, &[]).await;

    for (i, user) in ["447700900201", "447700900202", "447700900203"].iter().enumerate() {
        app.post_webhook(&text_messages(user, &[(&format!("wamid.STORM{i}"), now(), "hello")])).await;
    }
    let sends = wait_for_sends(&graph, 3).await;
    no_job_left(&app).await;

    let quoted: BTreeSet<&str> = sends.iter().map(|s| s["context"]["message_id"].as_str().unwrap()).collect();
    assert_eq!(graph.sends().len(), 3, "each once");
    assert_eq!(quoted.len(), 3);
    assert_eq!(app.count("SELECT COUNT(*) FROM deliveries WHERE state = 'sent'").await, 3);
    assert!(app.count("SELECT COUNT(*) FROM delivery_attempts WHERE outcome = 'retrying'").await >= 7);
}

#[tokio::test]
async fn an_expired_token_holds_deliveries_and_they_resume_when_it_is_fixed() {
    let graph = FakeGraph::start().await;
    graph.set_token_expired(true);
    let app =
        spawn_live_app(&graph, None, &[("SWITCHBOARD_JOB_RETRY_MAX_SECS", "1"), ("SWITCHBOARD_JOB_MAX_ATTEMPTS", "2")])
            .await;

    for (i, user) in ["447700900301", "447700900302", "447700900303"].iter().enumerate() {
        app.post_webhook(&text_messages(user, &[(&format!("wamid.TOKEN{i}"), now(), "hello")])).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = app.count("SELECT COUNT(*) FROM delivery_attempts WHERE outcome = 'held'").await;
    let pending = app.count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'").await;
    let dead = app.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await;
    graph.set_token_expired(false);
    let sends = wait_for_sends(&graph, 3).await;
    no_job_left(&app).await;

    assert!(held >= 6, "each delivery was held more than once, past its 2 attempts: {held}");
    assert_eq!(pending, 3);
    assert_eq!(dead, 0, "waiting for a token never kills a job");
    assert_eq!(sends.len(), 3);
    assert_eq!(app.count("SELECT COUNT(*) FROM deliveries WHERE state = 'sent'").await, 3);
}

#[tokio::test]
async fn a_send_that_timed_out_is_recorded_uncertain_then_sent_again_after_the_grace() {
    let graph = FakeGraph::start().await;
    graph.script([Answer::Slow(Duration::from_millis(1500))]);
    let app = spawn_live_app(
        &graph,
        None,
        &[("WHATSAPP_HTTP_TIMEOUT_SECS", "1"), ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "1")],
    )
    .await;

    app.post_webhook(&text_messages("447700900401", &[("wamid.SLOW", now(), "hello")])).await;
    let sends = wait_for_sends(&graph, 2).await;
    let id = sends[0]["biz_opaque_callback_data"].as_str().unwrap().to_owned();
    let delivery = app.wait_for_state(&id, "sent").await;

    let outcomes: Vec<&str> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["uncertain", "accepted"]);
}

#[tokio::test]
async fn a_status_webhook_proves_a_timed_out_send_arrived_so_it_is_not_sent_twice() {
    let graph = FakeGraph::start().await;
    graph.script([Answer::Slow(Duration::from_millis(1500))]);
    let app = spawn_live_app(
        &graph,
        None,
        &[("WHATSAPP_HTTP_TIMEOUT_SECS", "1"), ("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "5")],
    )
    .await;

    app.post_webhook(&text_messages("447700900402", &[("wamid.SLOW2", now(), "hello")])).await;
    let sends = wait_for_sends(&graph, 1).await;
    let id = sends[0]["biz_opaque_callback_data"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.post_webhook(&status_webhook("wamid.FAKE.1", "delivered", None, Some(&id))).await;
    let delivery = app.wait_for_state(&id, "delivered").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    assert_eq!(delivery["provider_id"], "wamid.FAKE.1");
    assert_eq!(graph.sends().len(), 1, "the proven send is not repeated");
    no_job_left(&app).await;
}

#[tokio::test]
async fn undeliverable_falls_back_to_email_and_the_delivery_shows_both_attempts() {
    let graph = FakeGraph::start().await;
    graph.script([Answer::Error { code: 131026, status: 400 }]);
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(&graph, Some(&smtp), &[]).await;

    let mut body = template("447700900501");
    body["email"] = json!("amelia@example.com");
    let id = app.send_ok(body).await;
    let emails = smtp.wait_for(1).await;
    let delivery = app.wait_for_state(&id, "sent").await;

    assert!(emails[0].contains("To: amelia@example.com"), "{}", emails[0]);
    assert!(emails[0].contains("[template order_update] #1042"), "{}", emails[0]);
    assert_eq!(delivery["route"], "email");
    let attempts: Vec<(String, String)> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["channel"].as_str().unwrap().to_owned(), a["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(attempts, [("whatsapp".into(), "rerouted".into()), ("email".into(), "accepted".into())]);
}

#[tokio::test]
async fn a_later_undeliverable_status_falls_back_to_email() {
    let graph = FakeGraph::start().await;
    graph.answer_with_wamids(&["wamid.LATER.FAIL"]);
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(&graph, Some(&smtp), &[]).await;
    let mut body = template("447700900502");
    body["email"] = json!("joao@example.com");
    let id = app.send_ok(body).await;
    app.wait_for_state(&id, "sent").await;

    app.post_webhook(&status_webhook("wamid.LATER.FAIL", "failed", Some(131026), None)).await;
    let emails = smtp.wait_for(1).await;

    assert!(emails[0].contains("To: joao@example.com"));
    let delivery = app.wait_for_state(&id, "sent").await;
    assert_eq!(delivery["route"], "email");
    assert!(
        delivery["attempts"].as_array().unwrap().iter().any(|a| a["outcome"] == "failed" && a["channel"] == "whatsapp")
    );
}

#[tokio::test]
async fn outside_the_window_with_no_template_a_message_goes_by_email() {
    let graph = FakeGraph::start().await;
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(&graph, Some(&smtp), &[]).await;

    // This user never wrote: no window is open.
    let id = app
        .send_ok(json!({"to": "447700900601", "text": "Your parcel is on its way", "email": "priya@example.com"}))
        .await;
    let emails = smtp.wait_for(1).await;

    assert!(emails[0].contains("Your parcel is on its way"));
    assert_eq!(app.wait_for_state(&id, "sent").await["route"], "email");
    assert!(graph.sends().is_empty(), "no free-form message outside the window");
}

#[tokio::test]
async fn outside_the_window_the_reengagement_template_carries_the_users_name() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[("WHATSAPP_REENGAGEMENT_TEMPLATE", "hello_again")]).await;
    // An old message: the window closed long ago, but the contact and name are known.
    let old = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"109876543210987"},"contacts":[{"profile":{"name":"Priya Shah"},"wa_id":"919820012399"}],"messages":[{"from":"919820012399","id":"wamid.OLD","timestamp":"1700000000","type":"text","text":{"body":"hello"}}]}}]}]}"#;
    app.post_webhook(old).await;

    let sends = wait_for_sends(&graph, 1).await;

    assert_eq!(sends[0]["type"], "template");
    assert_eq!(sends[0]["template"]["name"], "hello_again");
    assert_eq!(sends[0]["template"]["components"][0]["parameters"][0]["text"], "Priya Shah");
}

#[tokio::test]
async fn the_email_priority_switch_sends_by_email_first() {
    let graph = FakeGraph::start().await;
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(&graph, Some(&smtp), &[]).await;
    app.post_webhook(&text_messages("447700900701", &[("wamid.PRIO", now(), "hello")])).await;
    wait_for_sends(&graph, 1).await;

    let switched: Value = app
        .client
        .put(format!("{}/api/v1/channels/email/priority", app.address))
        .header("x-api-key", API_KEY)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = app.send_ok(json!({"to": "447700900701", "text": "Order confirmed", "email": "sam@example.com"})).await;
    let emails = smtp.wait_for(1).await;

    assert_eq!(switched["enabled"], true);
    assert!(emails[0].contains("Order confirmed"));
    assert_eq!(app.wait_for_state(&id, "sent").await["route"], "email");
    assert_eq!(graph.sends().len(), 1, "only the earlier reply went by WhatsApp");
}

#[tokio::test]
async fn a_burst_to_one_number_is_held_at_its_rate_with_no_130429() {
    let graph = FakeGraph::start().await;
    graph.limit_throughput(5);
    let app = spawn_live_app(
        &graph,
        None,
        &[("SWITCHBOARD_RATE_LIMITS_ENABLED", "true"), ("WHATSAPP_RATE_LIMIT_PER_SECOND", "5")],
    )
    .await;

    for i in 0..12 {
        app.send_ok(template(&format!("4477009008{i:02}"))).await;
    }
    wait_for_sends(&graph, 12).await;

    let times = graph.accepted_at();
    let spread = times[11].duration_since(times[0]);
    assert_eq!(graph.throttled(), 0, "the fake never had to answer 130429");
    assert!(spread >= Duration::from_millis(1900), "12 sends at 5/s take over 2 s, took {spread:?}");
}

#[tokio::test]
async fn a_burst_to_one_user_is_paced_and_stays_in_order() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(
        &graph,
        None,
        &[
            ("SWITCHBOARD_RATE_LIMITS_ENABLED", "true"),
            ("SWITCHBOARD_RECIPIENT_BURST", "2"),
            ("SWITCHBOARD_RECIPIENT_INTERVAL_MS", "600"),
        ],
    )
    .await;
    let t = now();
    let batch: Vec<(String, i64, &str)> = (0..5).map(|i| (format!("wamid.PACE{i}"), t + i, "hello")).collect();
    let batch: Vec<(&str, i64, &str)> = batch.iter().map(|(w, ts, x)| (w.as_str(), *ts, *x)).collect();

    app.post_webhook(&text_messages("447700900901", &batch)).await;
    let sends = wait_for_sends(&graph, 5).await;

    let order: Vec<&str> = sends.iter().map(|s| s["context"]["message_id"].as_str().unwrap()).collect();
    assert_eq!(order, ["wamid.PACE0", "wamid.PACE1", "wamid.PACE2", "wamid.PACE3", "wamid.PACE4"]);
    let times = graph.accepted_at();
    // After the burst of two, the k-th send waits (k-1) intervals; measured from the
    // first, so one late send cannot hide or fake a gap (250 ms for scheduling jitter).
    for (k, at) in times.iter().enumerate().skip(2) {
        let least = Duration::from_millis(600 * (k as u64 - 1)).saturating_sub(Duration::from_millis(250));
        assert!(at.duration_since(times[0]) >= least, "send {k} came too early: {times:?}");
    }
}

#[tokio::test]
async fn status_fixtures_move_a_delivery_forward_only_even_out_of_order() {
    let graph = FakeGraph::start().await;
    graph.answer_with_wamids(&["wamid.HBgLMTY1MDU1NTAxNDIVAgARGBQwRDkxNzhCNjhDRDEwNkVEMzhCQwA="]);
    let app = spawn_live_app(&graph, None, &[]).await;
    let id = app.send_ok(template("447700900123")).await;
    app.wait_for_state(&id, "sent").await;

    // Meta delivers read first, then the late delivered and sent.
    for name in ["status_read.json", "status_delivered.json", "status_sent.json", "status_read.json"] {
        assert_eq!(app.post_webhook(&fixture(name)).await.status(), 200);
    }
    let delivery = app.wait_for_state(&id, "read").await;
    no_job_left(&app).await;

    assert_eq!(app.delivery(&id).await["state"], "read");
    assert_eq!(delivery["provider_id"], "wamid.HBgLMTY1MDU1NTAxNDIVAgARGBQwRDkxNzhCNjhDRDEwNkVEMzhCQwA=");
}

#[tokio::test]
async fn the_failed_131047_fixture_sends_the_reengagement_template() {
    let graph = FakeGraph::start().await;
    graph.answer_with_wamids(&["wamid.HBgNNTUxMTk4NzY1MDAwMRUCABEYFEM0NjgyNDlFMEQ3MjE0M0UyNUJFAA=="]);
    let app = spawn_live_app(&graph, None, &[("WHATSAPP_REENGAGEMENT_TEMPLATE", "hello_again")]).await;
    let id = app.send_ok(template("16505550142")).await;
    app.wait_for_state(&id, "sent").await;

    app.post_webhook(&fixture("status_failed_131047_reengagement.json")).await;
    let sends = wait_for_sends(&graph, 2).await;

    assert_eq!(sends[1]["template"]["name"], "hello_again");
    let delivery = app.wait_for_state(&id, "sent").await;
    assert_eq!(delivery["route"], "whatsapp_template");
}

#[tokio::test]
async fn a_parameter_error_fails_the_delivery_with_metas_reason_and_no_retry() {
    let graph = FakeGraph::start().await;
    graph.script([Answer::Error { code: 100, status: 400 }]);
    let app = spawn_live_app(&graph, None, &[]).await;

    let id = app.send_ok(template("447700900777")).await;
    let delivery = app.wait_for_state(&id, "failed").await;
    no_job_left(&app).await;

    assert!(delivery["last_error"].as_str().unwrap().contains("100"), "{delivery}");
    assert_eq!(graph.requests().await.len(), 1, "never retried");
}
