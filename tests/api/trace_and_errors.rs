//! One trace id from the webhook to the reply; one error shape everywhere.

use serde_json::Value;

use crate::helpers::{API_KEY, APP_SECRET, fixture, spawn_app};
use switchboard_adapters::inbound::whatsapp::signature;

#[tokio::test]
async fn the_webhooks_trace_id_follows_the_message_to_its_reply() {
    let app = spawn_app().await;
    let body = fixture("msg_text.json");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    let response = app
        .client
        .post(format!("{}/webhook/whatsapp", app.address))
        .header("x-hub-signature-256", signature::sign(APP_SECRET.as_bytes(), &body))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body(body)
        .send()
        .await
        .unwrap();
    let echoed = response.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let replies = app.wait_for_replies(1).await;

    assert_eq!(echoed, trace_id);
    assert_eq!(replies[0]["trace_id"], trace_id);
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT trace_id FROM webhook_events UNION ALL SELECT trace_id FROM messages UNION ALL SELECT trace_id FROM deliveries",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert_eq!(stored.len(), 4, "event, inbound, outbound, delivery");
    assert!(stored.iter().all(|t| t == trace_id), "{stored:?}");
}

#[tokio::test]
async fn an_x_trace_id_header_is_used_when_there_is_no_traceparent() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-trace-id", "0af7651916cd43dd8448eb211c80319c")
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["x-trace-id"], "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test]
async fn a_request_without_a_trace_gets_a_new_one() {
    let app = spawn_app().await;

    let response = app.client.get(format!("{}/health/live", app.address)).send().await.unwrap();

    assert_eq!(response.headers()["x-trace-id"].len(), 32);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_one_error_shape() {
    let app = spawn_app().await;

    let missing = app.client.get(format!("{}/nope", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    let wrong_method = app.client.delete(format!("{}/webhook/whatsapp", app.address)).send().await.unwrap();

    assert_eq!(missing.status(), 404);
    let trace_header = missing.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["trace_id"], trace_header);
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
}

#[tokio::test]
async fn readiness_reports_the_database_and_its_migrations() {
    let app = spawn_app().await;

    let response = app.client.get(format!("{}/health/ready", app.address)).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["workers"], "ok");
    assert_eq!(body["checks"]["workers_running"], 4);
}

#[tokio::test]
async fn a_graceful_shutdown_stops_serving() {
    let app = spawn_app().await;
    assert_eq!(app.client.get(format!("{}/health/live", app.address)).send().await.unwrap().status(), 200);

    app.shutdown.stop().await;

    assert!(app.client.get(format!("{}/health/live", app.address)).send().await.is_err());
}
