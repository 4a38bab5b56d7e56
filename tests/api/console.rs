//! The console over plain HTTP (the browser tests in `tests/browser.rs` drive it in
//! Chromium): not opened by an API key, cookies Secure behind an https proxy, assets
//! embedded and cached, errors in the one shape for a JSON client.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::Value;
use switchboard_adapters::outbound::passwords::Argon2Passwords;
use switchboard_application::ports::PasswordHasher as _;
use switchboard_domain::{OperatorName, Role};

use crate::helpers::{API_KEY, TestApp, spawn_app, spawn_app_with};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn add_operator(app: &TestApp, name: &str, password: &str) {
    let hash = Argon2Passwords::new().hash(&SecretString::from(password)).await.unwrap();
    let name = OperatorName::parse(name).unwrap();
    assert!(app.store.add_operator(&name, Role::Operator, &hash, time::OffsetDateTime::now_utc()).await.unwrap());
}

/// The value of the cookie `name` among the response's Set-Cookie headers, with its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

#[tokio::test]
async fn an_api_key_does_not_open_the_console() {
    let app = spawn_app().await;

    let browser = client().get(format!("{}/console", app.address)).header("x-api-key", API_KEY).send().await.unwrap();
    let json_client = client()
        .get(format!("{}/console/admin", app.address))
        .bearer_auth(API_KEY)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();

    assert_eq!(browser.status(), 303);
    assert_eq!(browser.headers().get(LOCATION).unwrap(), "/console/sign-in");
    assert_eq!(json_client.status(), 401);
    let trace_id = json_client.headers().get("x-trace-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = json_client.json().await.unwrap();
    assert_eq!(body["code"], "sign_in_required");
    assert_eq!(body["trace_id"], trace_id);
}

#[tokio::test]
async fn the_console_assets_are_embedded_and_may_be_cached() {
    let app = spawn_app().await;

    let css = client().get(format!("{}/console/assets/console.css", app.address)).send().await.unwrap();
    let js = client().get(format!("{}/console/assets/console.js", app.address)).send().await.unwrap();
    let missing = client().get(format!("{}/console/assets/nothing.js", app.address)).send().await.unwrap();

    assert_eq!(css.status(), 200);
    assert_eq!(css.headers().get(CONTENT_TYPE).unwrap(), "text/css; charset=utf-8");
    assert!(css.headers().get(CACHE_CONTROL).unwrap().to_str().unwrap().contains("max-age="));
    assert_eq!(js.headers().get(CONTENT_TYPE).unwrap(), "text/javascript; charset=utf-8");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn behind_an_https_proxy_the_session_cookie_is_secure_and_a_wrong_password_gets_the_error_shape() {
    let app = spawn_app().await;
    add_operator(&app, "ana", "a long enough password").await;
    let page = client()
        .get(format!("{}/console/sign-in", app.address))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let form_cookie = set_cookie(&page, "switchboard_sign_in").unwrap();
    let token = cookie_value(&form_cookie).to_owned();
    let sign_in = |password: &'static str, accept: &'static str| {
        client()
            .post(format!("{}/console/sign-in", app.address))
            .header("x-forwarded-proto", "https")
            .header("cookie", format!("switchboard_sign_in={token}"))
            .header("accept", accept)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("name=ana&password={}&csrf={token}", password.replace(' ', "+")))
            .send()
    };

    let wrong = sign_in("not the password", "application/json").await.unwrap();
    let right = sign_in("a long enough password", "text/html").await.unwrap();

    assert!(form_cookie.contains("Secure") && form_cookie.contains("HttpOnly"), "{form_cookie}");
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "invalid_credentials");
    assert!(!body.to_string().contains("not the password"));
    assert_eq!(right.status(), 303);
    let session = set_cookie(&right, "switchboard_session").unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{attribute} missing: {session}");
    }
    let inbox = client()
        .get(format!("{}/console", app.address))
        .header("cookie", format!("switchboard_session={}", cookie_value(&session)))
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
    assert!(inbox.text().await.unwrap().contains("ana"));
}

#[tokio::test]
async fn over_plain_http_the_cookies_are_not_marked_secure() {
    let app = spawn_app().await;

    let page = client().get(format!("{}/console/sign-in", app.address)).send().await.unwrap();

    let form_cookie = set_cookie(&page, "switchboard_sign_in").unwrap();
    assert!(!form_cookie.contains("Secure"), "{form_cookie}");
    assert!(form_cookie.contains("SameSite=Strict"), "{form_cookie}");
}

/// Failed sign-ins (with the JSON error shape) for `names`, each with its own
/// `X-Forwarded-For`; answers each status and code.
async fn fail_sign_ins(app: &TestApp, attempts: &[(&str, &str)]) -> Vec<(u16, String)> {
    let page = client().get(format!("{}/console/sign-in", app.address)).send().await.unwrap();
    let token = cookie_value(&set_cookie(&page, "switchboard_sign_in").unwrap()).to_owned();
    let mut answers = Vec::new();
    for (name, forwarded_for) in attempts {
        let response = client()
            .post(format!("{}/console/sign-in", app.address))
            .header("x-forwarded-for", *forwarded_for)
            .header("cookie", format!("switchboard_sign_in={token}"))
            .header("accept", "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("name={name}&password=not+the+password&csrf={token}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        answers.push((status, body["code"].as_str().unwrap_or_default().to_owned()));
    }
    answers
}

fn refused() -> (u16, String) {
    (401, String::from("invalid_credentials"))
}

fn throttled() -> (u16, String) {
    (429, String::from("too_many_attempts"))
}

#[tokio::test]
async fn without_a_trusted_proxy_a_rotated_x_forwarded_for_does_not_escape_the_per_address_throttle() {
    let app = spawn_app_with(&[("SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS", "3")]).await;

    // A new name and a new forwarded address each time: only the peer (127.0.0.1) repeats.
    let answers = fail_sign_ins(
        &app,
        &[("n1", "198.51.100.1"), ("n2", "198.51.100.2"), ("n3", "198.51.100.3"), ("n4", "198.51.100.4")],
    )
    .await;

    assert_eq!(answers, [refused(), refused(), refused(), throttled()]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_it_names_is_throttled_and_another_client_is_not() {
    let app = spawn_app_with(&[
        ("SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS", "3"),
        ("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
    ])
    .await;

    let answers = fail_sign_ins(
        &app,
        &[
            ("m1", "203.0.113.7"),
            // What the client wrote itself is left of what the proxy appended.
            ("m2", "198.51.100.9, 203.0.113.7"),
            ("m3", "203.0.113.7"),
            ("m4", "203.0.113.7"),
            ("m5", "203.0.113.8"),
        ],
    )
    .await;

    assert_eq!(answers, [refused(), refused(), refused(), throttled(), refused()]);
}

#[tokio::test]
async fn failed_sign_ins_outlive_a_restart_because_the_database_counts_them() {
    let app = spawn_app_with(&[("SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS", "2")]).await;
    let before = fail_sign_ins(&app, &[("ana", "198.51.100.1"), ("ana", "198.51.100.1")]).await;

    let app = app.restart().await;
    let after = fail_sign_ins(&app, &[("ana", "198.51.100.1")]).await;

    assert_eq!(before, [refused(), refused()]);
    assert_eq!(after, [throttled()], "a restart (or another replica) does not reset the count");
}

#[tokio::test]
async fn an_operator_locked_out_by_failed_sign_ins_signs_in_again_once_an_admin_unlocks_the_name() {
    let app = spawn_app_with(&[
        ("SWITCHBOARD_CONSOLE_SIGN_IN_ATTEMPTS", "3"),
        ("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
    ])
    .await;
    add_operator(&app, "ana", "a long enough password").await;
    // Three clients guess ana's password: the name is locked, whoever asks next.
    let failed = fail_sign_ins(&app, &[("ana", "203.0.113.1"), ("ana", "203.0.113.2"), ("ana", "203.0.113.3")]).await;
    let right_password = || async {
        let page = client().get(format!("{}/console/sign-in", app.address)).send().await.unwrap();
        let token = cookie_value(&set_cookie(&page, "switchboard_sign_in").unwrap()).to_owned();
        client()
            .post(format!("{}/console/sign-in", app.address))
            .header("x-forwarded-for", "198.51.100.50")
            .header("cookie", format!("switchboard_sign_in={token}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("name=ana&password=a+long+enough+password&csrf={token}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let unlock = |name: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["operators", "unlock", name])
            .env("DATABASE_URL", format!("sqlite://{}", app.db_path.display()))
            .env("SWITCHBOARD_LOG", "error")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };

    let while_locked = right_password().await;
    let (unknown_code, unknown) = unlock("nobody");
    let (unlock_code, unlocked) = unlock("ana");
    let after_unlock = right_password().await;

    assert_eq!(failed, [refused(), refused(), refused()]);
    assert_eq!(while_locked, 429, "the right password does not open a locked name");
    assert_eq!(unknown_code, Some(1));
    assert!(unknown.contains("no operator named nobody"), "{unknown}");
    assert_eq!(unlock_code, Some(0), "{unlocked}");
    assert!(unlocked.contains("ana may sign in again"), "{unlocked}");
    assert_eq!(after_unlock, 303, "signed in and sent to the inbox");
}
