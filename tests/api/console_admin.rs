//! The console's Admin view over plain HTTP: admins only, every action behind the CSRF
//! token, and each action does what the management API's would (the browser tests in
//! `tests/browser/` click the same buttons in Chromium).

use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::Value;
use switchboard_adapters::outbound::passwords::Argon2Passwords;
use switchboard_application::ports::PasswordHasher as _;
use switchboard_domain::{OperatorName, Role};

use crate::helpers::{API_KEY, TestApp, spawn_app, text_messages};

const PASSWORD: &str = "a long enough password";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn cookie(response: &reqwest::Response, name: &str) -> String {
    let set = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap()
        .to_owned();
    set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

/// The `csrf` hidden field of a page.
fn csrf_of(page: &str) -> String {
    let (_, rest) = page.split_once("name=\"csrf\" value=\"").unwrap();
    rest.split('"').next().unwrap().to_owned()
}

/// A signed-in browser: its session cookie and CSRF token.
pub(crate) struct Session<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl Session<'_> {
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.app.address))
            .header("cookie", format!("switchboard_session={}", self.cookie))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form (`body` already encoded) with the session cookie.
    async fn post(&self, path: &str, body: String) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.app.address))
            .header("cookie", format!("switchboard_session={}", self.cookie))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form with the session's own token and `fields`.
    pub(crate) async fn act(&self, path: &str, fields: &str) -> reqwest::Response {
        let body =
            if fields.is_empty() { format!("csrf={}", self.csrf) } else { format!("csrf={}&{fields}", self.csrf) };
        self.post(path, body).await
    }
}

/// Adds an operator with `role` and signs them in.
pub(crate) async fn signed_in<'a>(app: &'a TestApp, name: &str, role: Role) -> Session<'a> {
    let hash = Argon2Passwords::new().hash(&SecretString::from(PASSWORD)).await.unwrap();
    let operator = OperatorName::parse(name).unwrap();
    assert!(app.store.add_operator(&operator, role, &hash, time::OffsetDateTime::now_utc()).await.unwrap());
    let form = client().get(format!("{}/console/sign-in", app.address)).send().await.unwrap();
    let token = cookie(&form, "switchboard_sign_in");
    let signed_in = client()
        .post(format!("{}/console/sign-in", app.address))
        .header("cookie", format!("switchboard_sign_in={token}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("name={name}&password={}&csrf={token}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let mut session = Session { app, cookie: cookie(&signed_in, "switchboard_session"), csrf: String::new() };
    session.csrf = csrf_of(&session.get("/console").await.text().await.unwrap());
    session
}

/// A user's message whose job died before it ran; answers the job's id.
async fn a_dead_job(app: &TestApp) -> i64 {
    app.post_webhook(&text_messages("447700900970", &[("wamid.ADMIN.DEAD", now(), "hello")])).await;
    // Before the reorder window ends: the job is dead and no reply was sent.
    sqlx::query("UPDATE jobs SET state = 'dead', last_error = 'agent exploded'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let dead: Value = app
        .client
        .get(format!("{}/api/v1/jobs/dead", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    dead["items"][0]["id"].as_i64().unwrap()
}

async fn dead_jobs(app: &TestApp) -> usize {
    let dead: Value = app
        .client
        .get(format!("{}/api/v1/jobs/dead", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    dead["items"].as_array().unwrap().len()
}

async fn email_priority(app: &TestApp) -> bool {
    let body: Value = app
        .client
        .get(format!("{}/api/v1/channels/email/priority", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["enabled"].as_bool().unwrap()
}

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let page = response.text().await.unwrap();
    let code = page.split_once("data-code=\"").map(|(_, rest)| rest.split('"').next().unwrap().to_owned());
    (status, code.unwrap_or_default())
}

#[tokio::test]
async fn an_operator_without_the_admin_role_gets_403_on_the_admin_page_and_every_admin_action() {
    let app = spawn_app().await;
    let job = a_dead_job(&app).await;
    let olga = signed_in(&app, "olga", Role::Operator).await;

    let page = code(olga.get("/console/admin").await).await;
    let requeue = code(olga.act(&format!("/console/admin/jobs/{job}/requeue"), "").await).await;
    let replay = code(olga.act("/console/admin/events/evt-1/replay", "").await).await;
    let priority = code(olga.act("/console/admin/email-priority", "enabled=on").await).await;

    for (what, refused) in [("page", page), ("requeue", requeue), ("replay", replay), ("priority", priority)] {
        assert_eq!(refused, (403, String::from("forbidden")), "{what}");
    }
    assert_eq!(dead_jobs(&app).await, 1, "the job is still dead");
    assert!(!email_priority(&app).await, "email priority is still off");
}

#[tokio::test]
async fn an_admins_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let job = a_dead_job(&app).await;
    let ada = signed_in(&app, "ada", Role::Admin).await;

    let requeue = code(ada.post(&format!("/console/admin/jobs/{job}/requeue"), String::new()).await).await;
    let priority = code(ada.post("/console/admin/email-priority", String::from("enabled=on")).await).await;
    let forged =
        code(ada.post("/console/admin/email-priority", String::from("enabled=on&csrf=not-the-token")).await).await;
    let replay = code(ada.post("/console/admin/events/evt-1/replay", String::from("csrf=")).await).await;

    for (what, refused) in [("requeue", requeue), ("priority", priority), ("forged", forged), ("replay", replay)] {
        assert_eq!(refused, (403, String::from("csrf_rejected")), "{what}");
    }
    assert_eq!(dead_jobs(&app).await, 1, "the job is still dead");
    assert!(!email_priority(&app).await, "email priority is still off");
}

#[tokio::test]
async fn an_admin_sees_the_dead_job_requeues_it_and_the_user_gets_the_reply() {
    let app = spawn_app().await;
    let job = a_dead_job(&app).await;
    let ada = signed_in(&app, "ada", Role::Admin).await;

    let before = ada.get("/console/admin").await.text().await.unwrap();
    let requeued = ada.act(&format!("/console/admin/jobs/{job}/requeue"), "").await;
    let location = requeued.headers().get(LOCATION).unwrap().to_str().unwrap().to_owned();
    let replies = app.wait_for_replies(1).await;
    let again = ada.act(&format!("/console/admin/jobs/{job}/requeue"), "").await;
    let after = ada.get(&location).await.text().await.unwrap();

    assert!(before.contains(&format!("action=\"/console/admin/jobs/{job}/requeue\"")), "{before}");
    assert!(before.contains("agent exploded"));
    assert_eq!(requeued.status(), 303);
    assert_eq!(location, format!("/console/admin?done=requeued-{job}"));
    assert_eq!(replies[0]["reply_to"], "wamid.ADMIN.DEAD");
    assert_eq!(again.headers().get(LOCATION).unwrap(), &format!("/console/admin?done=no-dead-job-{job}"));
    assert!(after.contains(&format!("role=\"status\" data-testid=\"flash\">Job {job} is queued again.")), "{after}");
    assert!(!after.contains("447700900970"), "the whole number is never shown");
    assert!(after.contains("+********0970"), "{after}");
}

#[tokio::test]
async fn an_admin_switches_email_priority_on_and_off_and_the_api_sees_it() {
    let app = spawn_app().await;
    let ada = signed_in(&app, "ada", Role::Admin).await;

    let on = ada.act("/console/admin/email-priority", "enabled=on").await;
    let seen_on = email_priority(&app).await;
    let page = ada.get("/console/admin?done=email-priority-on").await.text().await.unwrap();
    let off = ada.act("/console/admin/email-priority", "enabled=off").await;
    let seen_off = email_priority(&app).await;

    assert_eq!(on.status(), 303);
    assert_eq!(on.headers().get(LOCATION).unwrap(), "/console/admin?done=email-priority-on");
    assert!(seen_on);
    assert!(page.contains("Turn email priority off"), "{page}");
    assert_eq!(off.headers().get(LOCATION).unwrap(), "/console/admin?done=email-priority-off");
    assert!(!seen_off);
}

#[tokio::test]
async fn an_admin_replays_a_quarantined_webhook_and_its_message_is_answered_once() {
    let app = spawn_app().await;
    let body = text_messages("447700900980", &[("wamid.ADMIN.REPLAY", now(), "hello")]);
    sqlx::query(
        "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
         VALUES ('evt-admin', 1, '4bf92f3577b34da6a3ce929d0e0e4736', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'quarantined', 'parser bug', '{}', ?1)",
    )
    .bind(&body)
    .execute(app.store.pool())
    .await
    .unwrap();
    let ada = signed_in(&app, "ada", Role::Admin).await;

    let before = ada.get("/console/admin").await.text().await.unwrap();
    let first = ada.act("/console/admin/events/evt-admin/replay", "").await;
    let replies = app.wait_for_replies(1).await;
    let second = ada.act("/console/admin/events/evt-admin/replay", "").await;
    let missing = ada.act("/console/admin/events/evt-none/replay", "").await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    assert!(before.contains("action=\"/console/admin/events/evt-admin/replay\""), "{before}");
    assert!(before.contains("parser bug"));
    assert_eq!(first.headers().get(LOCATION).unwrap(), "/console/admin?done=replayed-evt-admin");
    assert_eq!(second.headers().get(LOCATION).unwrap(), "/console/admin?done=replayed-evt-admin");
    assert_eq!(missing.headers().get(LOCATION).unwrap(), "/console/admin?done=no-event-evt-none");
    assert_eq!(replies.len(), 1);
    assert_eq!(app.outbox().await.len(), 1, "answered exactly once");
}

/// The `<li>` of agent `name` in the Admin view's Agents card.
fn agent_entry<'p>(page: &'p str, name: &str) -> &'p str {
    let start = page.find(&format!("data-agent=\"{name}\"")).unwrap_or_else(|| panic!("no agent {name}: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</li>").unwrap()]
}

#[tokio::test]
async fn the_admin_view_shows_each_agent_up_or_down_with_its_skills_a_run_time_one_included() {
    let weather = crate::card_routing::CardAgent::start(
        "weather",
        serde_json::json!([{"id": "forecast", "name": "Forecast", "description": "Weather forecasts", "tags": ["rain"]}]),
    )
    .await;
    let nobody_listens = format!("http://127.0.0.1:{}", switchboard_testkit::free_port());
    let agents = format!("ghost={nobody_listens};billing=http://127.0.0.1:9/a2a|billing");
    let app = crate::helpers::spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents)]).await;
    let registered = app
        .client
        .post(format!("{}/api/v1/agents", app.address))
        .header("x-api-key", API_KEY)
        .json(&serde_json::json!({"name": "weather", "url": weather.server.uri()}))
        .send()
        .await
        .unwrap();
    let ada = signed_in(&app, "ada", Role::Admin).await;

    let page = ada.get("/console/admin").await.text().await.unwrap();

    assert_eq!(registered.status(), 201);
    let weather = agent_entry(&page, "weather");
    assert!(weather.contains(r#"data-testid="agent-state">up<"#), "{weather}");
    assert!(weather.contains("1: forecast") && weather.contains("JSONRPC 1.0"), "{weather}");
    let ghost = agent_entry(&page, "ghost");
    assert!(ghost.contains(r#"data-testid="agent-state">down<"#), "an agent whose card cannot be fetched: {ghost}");
    assert!(ghost.contains(&nobody_listens), "{ghost}");
    let billing = agent_entry(&page, "billing");
    assert!(billing.contains(r#"data-testid="agent-state">not checked<"#), "{billing}");
    assert!(page.contains("1 up, 1 down, 1 routed by configured intents."), "{page}");
}
