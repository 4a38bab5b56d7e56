//! People in the loop, from outside: a user who asks for a person, an agent that asks for
//! one (the official SDK), the fallback policy, and an operator who takes over; each
//! through the real service with nothing lost or answered twice.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fakes::{SdkClassifier, SmtpSink};
use crate::helpers::{API_KEY, TestApp, spawn_app_with, text_messages};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl TestApp {
    async fn api_get(&self, path: &str) -> (u16, Value) {
        let response =
            self.client.get(format!("{}{path}", self.address)).header("x-api-key", API_KEY).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// The conversations people handle, longest wait first.
    async fn waiting_for_people(&self) -> Vec<Value> {
        self.api_get("/api/v1/inbox?handler=people").await.1["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until one conversation is with people, and answers it.
    async fn wait_for_handoff(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(first) = self.waiting_for_people().await.into_iter().next() {
                return first;
            }
            assert!(Instant::now() < deadline, "no conversation went to people");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every inbound message is processed (answered, or kept for people).
    async fn wait_until_all_processed(&self, inbound: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let done = self
                .count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND processed_at IS NOT NULL")
                .await;
            if done >= inbound {
                return;
            }
            assert!(Instant::now() < deadline, "{done} of {inbound} inbound messages processed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn history_actions(&self, conversation: &str) -> Vec<(String, String)> {
        let (_, handling) = self.api_get(&format!("/api/v1/conversations/{conversation}/handling")).await;
        handling["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["actor"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned()))
            .collect()
    }
}

fn bodies(replies: &[Value]) -> Vec<String> {
    replies.iter().map(|r| r["message"]["content"]["body"].as_str().unwrap_or("").to_owned()).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[tokio::test]
async fn a_user_who_asks_for_a_person_gets_one_and_then_the_bot_again_with_nothing_lost_or_answered_twice() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).and(path("/handoff")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let smtp = SmtpSink::start().await;
    let hook = format!("{}/handoff", receiver.uri());
    let smtp_port = smtp.port.to_string();
    let app = spawn_app_with(&[
        ("SWITCHBOARD_HANDOFF_WEBHOOK_URL", &hook),
        ("SWITCHBOARD_HANDOFF_WEBHOOK_SECRET", "hook-secret-for-tests"),
        ("SWITCHBOARD_HANDOFF_NOTIFY_EMAIL", "operators@switchboard.test"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &smtp_port),
        ("SMTP_TLS", "none"),
        ("SMTP_FROM", "bot@switchboard.test"),
    ])
    .await;
    let user = "447700900501";

    app.post_webhook(&text_messages(user, &[("wamid.H1", now(), "can I talk to a person?")])).await;
    let acknowledged = app.wait_for_replies(1).await;
    let waiting = app.wait_for_handoff().await;
    let conversation = waiting["conversation_id"].as_str().unwrap().to_owned();
    app.post_webhook(&text_messages(user, &[("wamid.H2", now() + 1, "hello??")])).await;
    app.wait_until_all_processed(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let while_waiting = app.outbox().await;
    let (status, reply) = app
        .api_post(
            &format!("/api/v1/conversations/{conversation}/reply"),
            json!({"operator": "amelia", "text": "Hi, Amelia here. How can I help?"}),
        )
        .await;
    let answered = app.wait_for_replies(2).await;
    let taken = app.api_get(&format!("/api/v1/conversations/{conversation}/handling")).await.1;
    let (back_status, _) = app
        .api_post(
            &format!("/api/v1/conversations/{conversation}/hand-back"),
            json!({"operator": "amelia", "note": "address updated"}),
        )
        .await;
    app.post_webhook(&text_messages(user, &[("wamid.H3", now() + 2, "hi")])).await;
    let all = app.wait_for_replies(3).await;
    let announced = smtp.wait_for(1).await;
    let hooks = receiver.received_requests().await.unwrap();

    assert_eq!(
        bodies(&acknowledged),
        ["I'm passing this conversation to a person on our team. They will answer you here."]
    );
    assert_eq!(waiting["reason"], "user_asked");
    assert_eq!(waiting["waiting"], true);
    assert!(!waiting["user"].as_str().unwrap().contains("7700900501"), "operators' lists mask the number");
    assert_eq!(while_waiting.len(), 1, "nobody answers for people: {while_waiting:?}");
    assert_eq!(status, 202, "{reply}");
    assert_eq!(bodies(&answered)[1], "Hi, Amelia here. How can I help?");
    assert_eq!(taken["operator"], "amelia");
    assert_eq!(taken["waiting"], false);
    assert_eq!(back_status, 200);
    assert_eq!(all.len(), 3, "one answer per turn: {:?}", bodies(&all));
    assert!(bodies(&all)[2].starts_with("Hello"), "the bot greets again: {:?}", bodies(&all));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND processed_at IS NULL").await,
        0,
        "every message was answered or kept for people"
    );
    assert_eq!(
        app.history_actions(&conversation).await,
        pairs(&[("user", "handoff"), ("amelia", "take_over"), ("amelia", "reply"), ("amelia", "hand_back")])
    );
    assert_eq!(hooks.len(), 1, "one webhook announcement");
    let signed = hooks[0].headers.get("x-switchboard-signature").unwrap().to_str().unwrap().to_owned();
    let timestamp: i64 = hooks[0].headers.get("x-switchboard-timestamp").unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(
        signed,
        switchboard_adapters::outbound::announce::signature(b"hook-secret-for-tests", timestamp, &hooks[0].body)
    );
    let notice: Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(notice["conversation_id"], conversation);
    assert_eq!(notice["reason"], "user_asked");
    assert_eq!(
        notice["text"].as_str().unwrap(),
        "A conversation waits for a person: Test User (+********0501), the user asked for a person.",
        "a Slack incoming webhook takes the body as it is"
    );
    assert!(!String::from_utf8_lossy(&hooks[0].body).contains("talk to a person"), "no message text in a notice");
    assert!(announced[0].contains("A conversation waits for a person"), "{}", announced[0]);
}

#[tokio::test]
async fn an_official_sdk_agent_that_asks_for_a_person_hands_the_conversation_over_with_its_reason() {
    let agent = SdkClassifier::start_script("handoff_agent.py").await;
    let agents = format!("support={}|help", agent.url);
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents)]).await;
    let user = "447700900502";

    app.post_webhook(&text_messages(user, &[("wamid.A1", now(), "help me with a refund please")])).await;
    let replies = app.wait_for_replies(1).await;
    let waiting = app.wait_for_handoff().await;
    app.post_webhook(&text_messages(user, &[("wamid.A2", now() + 1, "help, still there?")])).await;
    app.wait_until_all_processed(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(bodies(&replies), ["A colleague will take this over."]);
    assert_eq!(waiting["reason"], "agent_asked");
    assert_eq!(waiting["reason_text"], "agent support asked for a person: refund over the limit");
    assert_eq!(app.outbox().await.len(), 1, "the agent is not asked again while people handle it");
}

#[tokio::test]
async fn after_too_many_answers_in_a_row_by_the_default_agent_people_are_called() {
    let app = spawn_app_with(&[("SWITCHBOARD_HANDOFF_AFTER_FALLBACKS", "2")]).await;
    let user = "447700900503";

    app.post_webhook(&text_messages(user, &[("wamid.F1", now(), "blorp")])).await;
    app.wait_for_replies(1).await;
    let before = app.waiting_for_people().await;
    app.post_webhook(&text_messages(user, &[("wamid.F2", now() + 1, "qwzx vvv")])).await;
    app.wait_for_replies(2).await;
    let waiting = app.wait_for_handoff().await;
    app.post_webhook(&text_messages(user, &[("wamid.F3", now() + 2, "zzz")])).await;
    app.wait_until_all_processed(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(before.is_empty(), "one fallback answer calls nobody");
    assert_eq!(waiting["reason"], "repeated_fallback");
    assert_eq!(waiting["reason_text"], "the bot could not help 2 times in a row");
    assert_eq!(app.outbox().await.len(), 2);
}

#[tokio::test]
async fn an_operator_takes_over_a_bot_conversation_and_the_bot_stays_silent_until_it_is_closed() {
    let app = spawn_app_with(&[]).await;
    let user = "447700900504";
    app.post_webhook(&text_messages(user, &[("wamid.O1", now(), "hi")])).await;
    app.wait_for_replies(1).await;
    let (_, listed) = app.api_get("/api/v1/inbox?handler=bot").await;
    let conversation = listed["items"][0]["conversation_id"].as_str().unwrap().to_owned();
    let at = |action: &str| format!("/api/v1/conversations/{conversation}/{action}");

    let (taken, body) = app.api_post(&at("take-over"), json!({"operator": "amelia"})).await;
    let (stolen, conflict) = app.api_post(&at("take-over"), json!({"operator": "bob"})).await;
    let (bot_reply_refused, _) = app.api_post(&at("reply"), json!({"operator": "bob", "text": "me too"})).await;
    app.post_webhook(&text_messages(user, &[("wamid.O2", now() + 1, "hello? anyone?")])).await;
    app.wait_until_all_processed(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let silent = app.outbox().await.len();
    let (closed, _) = app.api_post(&at("close"), json!({"operator": "amelia"})).await;
    let (closed_again, _) = app.api_post(&at("close"), json!({"operator": "amelia"})).await;
    app.post_webhook(&text_messages(user, &[("wamid.O3", now() + 2, "hi again")])).await;
    let replies = app.wait_for_replies(2).await;

    assert_eq!(taken, 200, "{body}");
    assert_eq!(body["handler"], "people");
    assert_eq!(body["reason"], "operator");
    assert_eq!(stolen, 409);
    assert_eq!(conflict["code"], "conflict");
    assert!(conflict["message"].as_str().unwrap().contains("amelia"), "{conflict}");
    assert_eq!(bot_reply_refused, 409, "only the operator who holds it answers");
    assert_eq!(silent, 1, "the bot does not answer a conversation people took over");
    assert_eq!((closed, closed_again), (200, 409));
    assert_eq!(replies.len(), 2, "a closed conversation opens again for the bot");
    assert_eq!(app.history_actions(&conversation).await, pairs(&[("amelia", "take_over"), ("amelia", "close")]));
}

#[tokio::test]
async fn operator_actions_name_what_is_wrong_and_need_the_api_key() {
    let app = spawn_app_with(&[]).await;
    let unknown = "0190d5a8-0000-7000-8000-000000000000";

    let (bad_operator, bad) =
        app.api_post(&format!("/api/v1/conversations/{unknown}/take-over"), json!({"operator": "a b"})).await;
    let (missing, not_found) =
        app.api_post(&format!("/api/v1/conversations/{unknown}/take-over"), json!({"operator": "amelia"})).await;
    let (bad_handler, handler) = app.api_get("/api/v1/inbox?handler=robots").await;
    let anonymous = app.client.get(format!("{}/api/v1/inbox", app.address)).send().await.unwrap().status();

    assert_eq!((bad_operator, bad["code"].as_str()), (400, Some("invalid_request")));
    assert!(bad["message"].as_str().unwrap().starts_with("operator:"), "{bad}");
    assert_eq!((missing, not_found["code"].as_str()), (404, Some("not_found")));
    assert_eq!(bad_handler, 400);
    assert!(handler["message"].as_str().unwrap().starts_with("handler:"), "{handler}");
    assert_eq!(anonymous, 401);
}

#[tokio::test]
async fn an_operators_hand_back_note_reaches_the_agent_with_the_users_next_message() {
    let agent = crate::fakes::FakeAgent::start(crate::fakes::AgentMode::Helpful).await;
    let agents = format!("support={}|help", agent.uri());
    let app = spawn_app_with(&[("SWITCHBOARD_AGENTS", &agents)]).await;
    let user = "447700900505";

    app.post_webhook(&text_messages(user, &[("wamid.N1", now(), "human please")])).await;
    let conversation = app.wait_for_handoff().await["conversation_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api_post(
            &format!("/api/v1/conversations/{conversation}/hand-back"),
            json!({"operator": "amelia", "note": "refund 1042 issued"}),
        )
        .await;
    app.post_webhook(&text_messages(user, &[("wamid.N2", now() + 1, "help with my order")])).await;
    app.wait_for_replies(2).await;

    assert_eq!(status, 200);
    let received = agent.received();
    assert_eq!(received.len(), 1, "the agent was not asked while people had the conversation");
    assert_eq!(received[0].0["params"]["message"]["metadata"]["handback_note"], "refund 1042 issued");
}

/// Signs `name` in through the sign-in form; answers the session cookie and the page's
/// CSRF token is read from each page later.
async fn console_session(app: &TestApp, name: &str, password: &str) -> String {
    use secrecy::SecretString;
    use switchboard_adapters::outbound::passwords::Argon2Passwords;
    use switchboard_application::ports::PasswordHasher as _;
    let hash = Argon2Passwords::new().hash(&SecretString::from(password)).await.unwrap();
    let operator = switchboard_domain::OperatorName::parse(name).unwrap();
    app.store
        .add_operator(&operator, switchboard_domain::Role::Operator, &hash, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(format!("{}/console/sign-in", app.address)).send().await.unwrap();
    let token = cookie(&page, "switchboard_sign_in");
    let signed_in = client
        .post(format!("{}/console/sign-in", app.address))
        .header("cookie", format!("switchboard_sign_in={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("name", name), ("password", password), ("csrf", token.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    cookie(&signed_in, "switchboard_session")
}

fn cookie(response: &reqwest::Response, name: &str) -> String {
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap()
        .to_owned();
    header.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

#[tokio::test]
async fn outside_the_24_hour_window_the_console_offers_the_approved_templates_and_sends_one_with_its_parameter() {
    let app = spawn_app_with(&[
        ("WHATSAPP_REENGAGEMENT_TEMPLATE", "welcome_back"),
        ("SWITCHBOARD_OUTSIDE_WINDOW", "template"),
    ])
    .await;
    let session = console_session(&app, "olga", "a long enough password").await;
    let user = "447700900506";
    // A day and more ago: the window is closed.
    app.post_webhook(&text_messages(user, &[("wamid.W1", now() - 90_000, "human")])).await;
    let conversation = app.wait_for_handoff().await["conversation_id"].as_str().unwrap().to_owned();
    let page_url = format!("{}/console/conversations/{conversation}", app.address);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |url: String| client.get(url).header("cookie", format!("switchboard_session={session}")).send();

    let page = get(page_url.clone()).await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let take = client
        .post(format!("{page_url}/take-over"))
        .header("cookie", format!("switchboard_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    let taken = get(page_url.clone()).await.unwrap().text().await.unwrap();
    let send = client
        .post(format!("{page_url}/reply"))
        .header("cookie", format!("switchboard_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", csrf.as_str()), ("template", "welcome_back:en_US"), ("param_1", "Priya")]))
        .send()
        .await
        .unwrap();
    // The acknowledgement went as the re-engagement template (the window policy), then the operator's.
    let replies = app.wait_for_replies(2).await;

    assert!(page.contains("closed: only an approved template can be sent"), "{page}");
    assert_eq!(take.status(), 303);
    assert!(taken.contains("Approved template"), "{taken}");
    assert!(taken.contains(r#"<option value="welcome_back:en_US" selected>welcome_back (en_US)</option>"#), "{taken}");
    assert!(taken.contains("order_update (en_US)"), "sandbox mode offers its own templates too: {taken}");
    assert!(taken.contains("Value for {{1}}"), "{taken}");
    assert_eq!(send.status(), 303);
    assert_eq!(send.headers().get("location").unwrap(), &format!("/console/conversations/{conversation}?done=sent"));
    assert_eq!(replies.len(), 2, "{replies:?}");
    for reply in &replies {
        assert_eq!(
            reply["message"]["content"]["name"], "welcome_back",
            "only templates go outside the window: {reply}"
        );
    }
    assert!(
        replies.iter().any(|r| r["message"]["content"]["components"][0]["parameters"][0]["text"] == "Priya"),
        "the operator's value for {{{{1}}}} went as the body parameter: {replies:?}"
    );
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                b' ' => String::from("+"),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn an_operator_opts_a_contact_out_and_in_again_from_the_console_and_the_send_api_follows() {
    let app = spawn_app_with(&[]).await;
    let session = console_session(&app, "olga", "a long enough password").await;
    let user = "447700900507";
    app.post_webhook(&text_messages(user, &[("wamid.C1", now(), "hi")])).await;
    app.wait_for_replies(1).await;
    let (_, listed) = app.api_get("/api/v1/conversations").await;
    let conversation = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let contact = listed["items"][0]["contact_id"].as_str().unwrap().to_owned();
    let page_url = format!("{}/console/conversations/{conversation}", app.address);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = format!("switchboard_session={session}");
    let page = client.get(&page_url).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let consent = |opted_out: &'static str| {
        client
            .post(format!("{page_url}/consent"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf", csrf.as_str()), ("opted_out", opted_out)]))
            .send()
    };

    let out = consent("true").await.unwrap();
    let (_, opted_out) = app.api_get(&format!("/api/v1/contacts/{contact}")).await;
    let refused = app.send_message(json!({"to": format!("+{user}"), "text": "Our sale starts today"})).await.status();
    let back_in = consent("false").await.unwrap();
    let (_, opted_in) = app.api_get(&format!("/api/v1/contacts/{contact}")).await;
    let accepted = app.send_message(json!({"to": format!("+{user}"), "text": "Our sale starts today"})).await.status();

    assert!(page.contains("Opt out of business messages"), "{page}");
    assert_eq!(out.status(), 303);
    assert_eq!(
        out.headers().get("location").unwrap(),
        &format!("/console/conversations/{conversation}?done=opted-out")
    );
    assert_eq!(opted_out["consent"]["opted_out"], true);
    assert_eq!(opted_out["consent"]["opted_out_source"], "operator");
    assert_eq!(refused, 409);
    assert_eq!(back_in.status(), 303);
    assert_eq!(opted_in["consent"]["opted_out"], false);
    assert_eq!(accepted, 202);
}
