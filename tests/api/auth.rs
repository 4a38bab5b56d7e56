//! Authentication before anything else: every route the service serves, taken from the
//! same list that mounts them, answers 401 in the one error shape without a valid key,
//! unless it is on the short public list — whatever its body, path or method.

use serde_json::Value;
use switchboard_adapters::inbound::auth::{PUBLIC_PATHS, is_public};
use switchboard_adapters::inbound::routes;

use crate::helpers::{API_KEY, spawn_app};

/// A path of the route with its parameters filled in (ids that do not exist, or that do
/// not parse: authentication must come first either way).
fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer", "{what}");
    let trace_id = response.headers().get("x-trace-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized", "{what}: {body}");
    assert_eq!(body["trace_id"], trace_id, "{what}: {body}");
}

#[tokio::test]
async fn every_route_off_the_public_list_answers_401_before_it_reads_its_body_or_parses_its_path() {
    let app = spawn_app().await;
    let routes = routes(true);
    let protected: Vec<_> = routes.iter().filter(|r| !is_public(r.path)).collect();

    assert!(protected.len() >= 19, "the walk found only {} protected routes", protected.len());
    for route in protected {
        for id in ["42", "not-an-id", "0193a000-0000-7000-8000-000000000000"] {
            let url = format!("{}{}", app.address, concrete(route.path, id));
            let what = format!("{} {}", route.method, concrete(route.path, id));
            // A body that every limit and parser would refuse: not JSON, wrong type.
            let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let hostile = || {
                app.client.request(method.clone(), &url).header("content-type", "text/plain").body(vec![0xff_u8; 1024])
            };

            assert_unauthorized(hostile().send().await.unwrap(), &format!("{what} without a key")).await;
            assert_unauthorized(
                hostile().header("x-api-key", "wrong-key-123").send().await.unwrap(),
                &format!("{what} with a wrong key"),
            )
            .await;
            assert_unauthorized(
                hostile().header("authorization", format!("Bearer {API_KEY}x")).send().await.unwrap(),
                &format!("{what} with a longer key"),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_path_that_matches_no_route_needs_a_key_too_so_routes_cannot_be_probed() {
    let app = spawn_app().await;

    let unknown = app.client.delete(format!("{}/api/v1/no-such-thing", app.address)).send().await.unwrap();
    let known_with_key = app
        .client
        .get(format!("{}/api/v1/no-such-thing", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();

    assert_unauthorized(unknown, "unknown path").await;
    assert_eq!(known_with_key.status(), 404);
}

#[tokio::test]
async fn the_public_routes_answer_without_a_key_and_are_few() {
    let app = spawn_app().await;

    for path in PUBLIC_PATHS {
        let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_ne!(response.status(), 401, "{path}");
    }
    assert!(PUBLIC_PATHS.len() <= 8, "the public list grew: {PUBLIC_PATHS:?}");
}

#[tokio::test]
async fn the_sandbox_outbox_is_not_published_without_a_key() {
    let app = spawn_app().await;

    let without = app.client.get(format!("{}/sandbox/outbox", app.address)).send().await.unwrap();
    let with =
        app.client.get(format!("{}/sandbox/outbox", app.address)).header("x-api-key", API_KEY).send().await.unwrap();

    assert_unauthorized(without, "GET /sandbox/outbox").await;
    assert_eq!(with.status(), 200);
}

#[tokio::test]
async fn a_valid_key_in_either_header_is_let_through() {
    let app = spawn_app().await;

    let by_header =
        app.client.get(format!("{}/api/v1/status", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    let by_bearer = app.client.get(format!("{}/api/v1/status", app.address)).bearer_auth(API_KEY).send().await.unwrap();

    assert_eq!(by_header.status(), 200);
    assert_eq!(by_bearer.status(), 200);
}
