//! Agents found by their cards: registered by URL alone, an agent is routed to by the
//! skills its card offers (the keyword classifier matches their tags and examples); a
//! changed card re-routes; an agent whose card cannot be fetched is marked down and its
//! messages go elsewhere.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{API_KEY, spawn_app_with, text_messages};

/// An A2A agent on loopback whose card can be changed (or broken) while it runs; it
/// answers every message with "<name> here: <text>".
pub(crate) struct CardAgent {
    pub(crate) server: MockServer,
    card: Arc<Mutex<Option<Value>>>,
}

impl CardAgent {
    pub(crate) async fn start(name: &'static str, skills: Value) -> Self {
        let server = MockServer::start().await;
        let card = Arc::new(Mutex::new(None));
        let uri = server.uri();
        *card.lock().unwrap() = Some(Self::card_of(name, &uri, skills));
        let served = card.clone();
        Mock::given(method("GET"))
            .and(path("/.well-known/agent-card.json"))
            .respond_with(move |_: &Request| match served.lock().unwrap().clone() {
                Some(card) => ResponseTemplate::new(200).set_body_json(card),
                None => ResponseTemplate::new(503),
            })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/"))
            .respond_with(move |request: &Request| {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let text = body["params"]["message"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"jsonrpc": "2.0", "id": body["id"], "result": {"message": {
                    "messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": format!("{name} here: {text}")}]}}}))
            })
            .mount(&server)
            .await;
        Self { server, card }
    }

    fn card_of(name: &str, uri: &str, skills: Value) -> Value {
        json!({"name": name, "description": "test agent", "version": "1.0.0",
               "supportedInterfaces": [{"url": format!("{uri}/"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
               "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"], "skills": skills})
    }

    fn set_skills(&self, name: &str, skills: Value) {
        *self.card.lock().unwrap() = Some(Self::card_of(name, &self.server.uri(), skills));
    }

    fn break_card(&self) {
        *self.card.lock().unwrap() = None;
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn an_agent_registered_by_url_alone_is_routed_to_by_its_skills_and_a_changed_or_broken_card_reroutes() {
    let weather = CardAgent::start(
        "weather",
        json!([{"id": "forecast", "name": "Forecast", "description": "Weather forecasts",
                "tags": ["weather", "forecast", "rain"], "examples": ["Will it rain in Lisbon tomorrow?"]}]),
    )
    .await;
    let orders = CardAgent::start(
        "orders",
        json!([{"id": "order-status", "name": "Order status", "description": "Where an order is",
                "tags": ["order", "parcel", "delivery"], "examples": ["Where is my parcel?"]}]),
    )
    .await;
    let registry = format!("weather={};orders={}", weather.server.uri(), orders.server.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &registry), ("SWITCHBOARD_A2A_CARD_TTL_SECS", "1")]).await;
    let reply_to = |n: usize, wamid: &'static str, text: &'static str| {
        let app = &app;
        async move {
            app.post_webhook(&text_messages("447700900850", &[(wamid, now() + n as i64, text)])).await;
            app.wait_for_replies(n).await[n - 1]["message"]["content"]["body"].as_str().unwrap_or_default().to_owned()
        }
    };

    let rain = reply_to(1, "wamid.CARD.1", "Will it rain in Lisbon tomorrow?").await;
    let parcel = reply_to(2, "wamid.CARD.2", "Where is my parcel?").await;
    // The orders agent now also takes rain (say, rain delays); the weather agent goes down.
    orders.set_skills(
        "orders",
        json!([{"id": "order-status", "name": "Order status", "description": "Where an order is",
                "tags": ["order", "parcel", "delivery", "rain"]}]),
    );
    weather.break_card();
    let metrics = || async {
        app.client
            .get(format!("{}/metrics", app.address))
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !metrics().await.contains("switchboard_agent_up{agent=\"weather\"} 0") {
        assert!(Instant::now() < deadline, "the weather agent was never marked down: {}", metrics().await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rain_again = reply_to(3, "wamid.CARD.3", "Will it rain on Friday?").await;
    let exposition = metrics().await;
    let status: Value = app
        .client
        .get(format!("{}/api/v1/status", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agents = status["health"]["agents"].as_array().unwrap().clone();

    assert_eq!(rain, "weather here: Will it rain in Lisbon tomorrow?");
    assert_eq!(parcel, "orders here: Where is my parcel?");
    assert_eq!(rain_again, "orders here: Will it rain on Friday?", "the changed cards re-routed rain");
    assert!(exposition.contains("switchboard_agent_up{agent=\"orders\"} 1"), "{exposition}");
    let entry = |name: &str| agents.iter().find(|a| a["name"] == name).cloned().unwrap();
    assert_eq!(entry("weather")["up"], false);
    assert_eq!(entry("orders")["up"], true);
    assert_eq!(entry("orders")["skills"], json!(["order-status"]));
    assert_eq!(entry("orders")["bindings"], json!(["JSONRPC 1.0"]));
}

#[tokio::test]
async fn an_agent_registered_through_the_management_api_is_routed_to_by_its_skills_until_it_is_removed() {
    let weather = CardAgent::start(
        "weather",
        json!([{"id": "forecast", "name": "Forecast", "description": "Weather forecasts", "tags": ["weather", "rain"]}]),
    )
    .await;
    let app = spawn_app_with(&[]).await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = app.client.request(method, format!("{}{path}", app.address)).header("x-api-key", API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let reply_to = |n: usize, wamid: &'static str, text: &'static str| {
        let app = &app;
        async move {
            app.post_webhook(&text_messages("447700900851", &[(wamid, now() + n as i64, text)])).await;
            app.wait_for_replies(n).await[n - 1]["message"]["content"]["body"].as_str().unwrap_or_default().to_owned()
        }
    };

    let (registered_status, registered) =
        call(reqwest::Method::POST, "/api/v1/agents", Some(json!({"name": "weather", "url": weather.server.uri()})))
            .await;
    let (again_status, _) =
        call(reqwest::Method::POST, "/api/v1/agents", Some(json!({"name": "weather", "url": weather.server.uri()})))
            .await;
    let (builtin_status, _) =
        call(reqwest::Method::POST, "/api/v1/agents", Some(json!({"name": "fallback", "url": weather.server.uri()})))
            .await;
    let (bad_url_status, bad_url) =
        call(reqwest::Method::POST, "/api/v1/agents", Some(json!({"name": "other", "url": "weather.internal"}))).await;
    let (_, listed) = call(reqwest::Method::GET, "/api/v1/agents", None).await;
    let routed = reply_to(1, "wamid.REG.1", "Will it rain tomorrow?").await;
    let (removed_status, _) = call(reqwest::Method::DELETE, "/api/v1/agents/weather", None).await;
    let (gone_status, _) = call(reqwest::Method::DELETE, "/api/v1/agents/weather", None).await;
    let after = reply_to(2, "wamid.REG.2", "Will it rain tomorrow?").await;

    assert_eq!(registered_status, 201, "{registered}");
    assert_eq!((registered["up"].as_bool(), registered["skills"].clone()), (Some(true), json!(["forecast"])));
    assert_eq!(again_status, 409);
    assert_eq!(builtin_status, 409);
    assert_eq!(bad_url_status, 400);
    assert!(bad_url["message"].as_str().unwrap().starts_with("url:"), "{bad_url}");
    assert_eq!(listed["items"][0]["name"], "weather");
    assert_eq!(routed, "weather here: Will it rain tomorrow?");
    assert_eq!((removed_status, gone_status), (204, 404));
    assert!(!after.starts_with("weather here"), "after removal the built-in agents answer: {after}");
}
