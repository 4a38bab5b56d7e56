//! The newcomer's round trip, with the real binary: `switchboard serve` on a free port,
//! then `switchboard simulate "hello"` prints the built-in agent's reply, and every log
//! line of that message's journey carries the same trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Command;

use std::time::Duration;
use switchboard_testkit::{ServiceProcess, free_port};

/// `switchboard serve` with `env`, ready, its output in `dir`.
fn serve(env: &[(&str, &str)], dir: &std::path::Path) -> ServiceProcess {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    ServiceProcess::start(env!("CARGO_BIN_EXE_switchboard"), env, dir.join("service.log"), Duration::from_secs(20))
        .unwrap()
}

#[test]
fn simulate_prints_the_reply_and_the_journey_shares_one_trace_id() {
    // Arrange: the service, on embedded defaults, in its own data directory.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let mut server = serve(&[("SWITCHBOARD_DATA_DIR", &data_dir), ("SWITCHBOARD_LOG", "info")], dir.path());
    let port = server.port().to_string();
    let env = [("SWITCHBOARD_DATA_DIR", data_dir.as_str()), ("SWITCHBOARD_PORT", port.as_str())];

    // Act
    let simulate = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["simulate", "hello", "--from", "+44 7700 900123"])
        .envs(env)
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let exit = server.stop(Duration::from_secs(10));
    let logs: Vec<serde_json::Value> = server.output().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();

    // Assert: SIGTERM stopped it cleanly.
    assert!(exit.is_some_and(|s| s.success()), "serve did not stop cleanly on SIGTERM: {exit:?}");

    // Assert: the reply is printed.
    let printed = String::from_utf8(simulate.stdout).unwrap();
    assert!(simulate.status.success(), "simulate failed: {printed} {}", String::from_utf8_lossy(&simulate.stderr));
    assert!(printed.contains("← Hello"), "{printed}");
    assert!(printed.contains("read (blue ticks)"), "the sandbox's status webhooks moved the reply to read: {printed}");
    let trace_id = printed.split("trace_id ").nth(1).unwrap()[..32].to_owned();

    // Assert: every line of the journey (request, ingest, the turn, agent, send,
    // the sandbox's status webhooks) carries that trace id, and none shows the whole
    // phone number or the message body.
    let journey: Vec<&serde_json::Value> = logs.iter().filter(|l| l["trace_id"] == trace_id.as_str()).collect();
    let messages: Vec<&str> = journey.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in [
        "webhook stored",
        "reply planned",
        "sandbox: recorded the message instead of sending it",
        "accepted by WhatsApp",
        "sandbox: status webhook delivered",
        "delivery moved forward",
    ] {
        assert!(messages.contains(&expected), "no {expected:?} line with trace_id {trace_id}: {messages:?}");
    }
    // The turn's line says what the message was taken for and which agent answered.
    let planned = journey.iter().find(|l| l["message"] == "reply planned").unwrap();
    assert!(planned["intent"].is_string() && planned["agent"].is_string(), "{planned}");
    assert!(planned["confidence"].is_number(), "{planned}");
    let job_lines = logs.iter().filter(|l| l["job_id"].is_number()).count();
    assert_eq!(
        job_lines,
        journey.iter().filter(|l| l["job_id"].is_number()).count(),
        "a job line without the trace id"
    );
    let all = logs.iter().map(ToString::to_string).collect::<String>();
    assert!(!all.contains("447700900123"), "a whole phone number was logged");
    assert!(!all.contains("\"hello\""), "the message body was logged");
}

/// SIGTERM, then waits for the exit status; kills it (and answers `None`) if it does
/// not stop within 10 s.
#[test]
fn help_lists_every_key_with_its_default_and_marks_the_secret_ones() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--help").output().unwrap();
    // Clap wraps long lines; compare with runs of whitespace collapsed.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(&String::from_utf8_lossy(&output.stdout));

    for key in switchboard_runtime::config::KEYS {
        let secret = if key.secret { "; secret" } else { "" };
        let entry = words(&format!("{} {} default: {}{secret}", key.name, key.help, key.default));
        assert!(help.contains(&format!("{entry} ")) || help.ends_with(&entry), "--help lacks: {entry}");
    }
}

#[test]
fn the_runbook_commands_run_against_a_fresh_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .env_remove("RUST_LOG")
            .env("SWITCHBOARD_LOG", "error")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };

    let (check_code, check) = run(&["check"]);
    let (dead_code, dead) = run(&["jobs", "dead"]);
    let (replay_code, replay) = run(&["replay", "--id", "no-such-event"]);
    let (requeue_code, _) = run(&["jobs", "requeue", "42"]);

    assert_eq!(check_code, Some(0), "{check}");
    assert!(check.contains("database        ok") && check.contains("whatsapp        skipped"), "{check}");
    assert_eq!(dead_code, Some(0));
    assert!(dead.contains("no dead jobs"), "{dead}");
    assert_eq!(replay_code, Some(0));
    assert!(replay.contains("no-such-event: no such event"), "{replay}");
    assert_eq!(requeue_code, Some(1), "requeueing a job that is not dead fails");
}

/// A loopback OTLP/HTTP receiver: answers every request 200 and keeps the bodies sent
/// to `/v1/traces`.
fn otlp_receiver() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    if request_line.contains("/v1/traces") {
                        let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    stream.write_all(answer.as_bytes()).unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn with_an_otlp_endpoint_the_journey_is_exported_as_spans_of_one_trace() {
    // Arrange: the service exporting to a loopback collector, as OTLP/HTTP JSON.
    let (collector, bodies) = otlp_receiver();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let endpoint = format!("http://127.0.0.1:{collector}");
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_SERVICE_NAME", "switchboard-under-test"),
    ];
    let mut server = serve(&[&[("SWITCHBOARD_DATA_DIR", data_dir.as_str())][..], &otel[..]].concat(), dir.path());
    let port = server.port().to_string();
    let mut env = vec![("SWITCHBOARD_DATA_DIR", data_dir.as_str()), ("SWITCHBOARD_PORT", port.as_str())];
    env.extend(otel);

    // Act: one message, then a clean stop (which flushes the last batch).
    let simulate =
        Command::new(env!("CARGO_BIN_EXE_switchboard")).args(["simulate", "hello"]).envs(env).output().unwrap();
    let printed = String::from_utf8(simulate.stdout).unwrap();
    assert!(printed.contains("← Hello"), "{printed}");
    let trace_id = printed.split("trace_id ").nth(1).unwrap()[..32].to_owned();
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.stop(Duration::from_secs(10)).is_some_and(|s| s.success()));

    // Assert: the collector received the message's spans, named, in its trace.
    let exported: Vec<serde_json::Value> = bodies.try_iter().map(|b| serde_json::from_str(&b).unwrap()).collect();
    assert!(!exported.is_empty(), "nothing was exported");
    let text = exported.iter().map(ToString::to_string).collect::<String>();
    assert!(text.contains("switchboard-under-test"), "service.name missing");
    let spans: Vec<&serde_json::Value> = exported
        .iter()
        .flat_map(|b| b["resourceSpans"].as_array().into_iter().flatten())
        .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|s| s["spans"].as_array().into_iter().flatten())
        .filter(|s| s["traceId"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&trace_id)))
        .collect();
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    for expected in ["POST /webhook/whatsapp", "job process_inbound", "job deliver_message"] {
        assert!(names.contains(&expected), "no {expected:?} span in trace {trace_id}: {names:?}");
    }
}

/// Starts a loopback peer that accepts connections and never answers.
fn silent_peer() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn check_and_serve_never_print_a_secret_whatever_graph_or_the_database_does() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        ("WHATSAPP_ACCESS_TOKEN", "EAAGmarkerCLIaccess93f1"),
        ("WHATSAPP_APP_SECRET", "marker-cli-app-secret-0b7"),
        ("WHATSAPP_APP_TOKEN", "4242|marker-cli-app-token-6d2"),
        ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "marker-cli-verify-55a"),
        ("SWITCHBOARD_API_KEYS", "marker-cli-api-key-c81"),
    ];
    let markers = [
        "EAAGmarkerCLIaccess93f1",
        "marker-cli-app-secret-0b7",
        "marker-cli-app-token-6d2",
        "marker-cli-verify-55a",
        "marker-cli-api-key-c81",
        "marker-cli-db-pw-7e3",
    ];
    let unused = free_port();
    let run = |args: &[&str], graph: &str, database: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .envs(secrets)
            .env("SWITCHBOARD_MODE", "live")
            .env("WHATSAPP_PHONE_NUMBER_ID", "109876543210987")
            .env("WHATSAPP_BUSINESS_ACCOUNT_ID", "210987654321098")
            .env("WHATSAPP_API_BASE_URL", graph)
            .env("WHATSAPP_HTTP_TIMEOUT_SECS", "1")
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .env("DATABASE_URL", database)
            .env("SWITCHBOARD_PORT", "0")
            .env_remove("RUST_LOG")
            .env("SWITCHBOARD_LOG", "debug")
            .output()
            .unwrap();
        format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };
    let sqlite = format!("sqlite://{}/switchboard.db", dir.path().display());
    let postgres = format!("postgres://switchboard:marker-cli-db-pw-7e3@127.0.0.1:{unused}/switchboard");

    let graph_down = run(&["check"], &format!("http://127.0.0.1:{unused}"), &sqlite);
    let graph_silent = run(&["check"], &format!("http://127.0.0.1:{}", silent_peer()), &sqlite);
    let database_down = run(&["check"], &format!("http://127.0.0.1:{unused}"), &postgres);
    let serve_database_down = run(&["serve"], &format!("http://127.0.0.1:{unused}"), &postgres);

    assert!(graph_down.contains("UNHEALTHY") && graph_down.contains("graph_unreachable"), "{graph_down}");
    assert!(graph_silent.contains("graph_unreachable"), "{graph_silent}");
    assert!(database_down.contains("database        UNHEALTHY"), "{database_down}");
    assert!(!serve_database_down.is_empty());
    for marker in markers {
        for (what, output) in [
            ("check with Graph down", &graph_down),
            ("check with Graph silent", &graph_silent),
            ("check with the database down", &database_down),
            ("serve with the database down", &serve_database_down),
        ] {
            assert!(!output.contains(marker), "{what} printed {marker}:\n{output}");
            assert!(!output.contains("[redacted "), "{what}: the safety net caught a secret:\n{output}");
        }
    }
}

#[tokio::test]
async fn agents_lists_each_agent_up_with_its_bindings_and_skills_or_down() {
    let peer = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/.well-known/agent-card.json"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "name": "Weather", "description": "forecasts", "version": "2.1.0",
            "supportedInterfaces": [{"url": format!("{}/", peer.uri()), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {}, "defaultInputModes": [], "defaultOutputModes": [],
            "skills": [{"id": "forecast", "name": "Forecast", "description": "d", "tags": ["weather", "rain"]}]
        })))
        .mount(&peer)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let registry = format!("weather={};billing=http://127.0.0.1:{}|billing,refund", peer.uri(), free_port());

    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .arg("agents")
                .env("SWITCHBOARD_DATA_DIR", dir)
                .env("SWITCHBOARD_AGENTS", registry)
                .env("SWITCHBOARD_AGENT_TIMEOUT_SECS", "2")
                .env_remove("RUST_LOG")
                .env("SWITCHBOARD_LOG", "error")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "{out}");
    assert!(out.contains("routed by its card's skills"), "{out}");
    assert!(out.contains("up: card \"Weather\" version 2.1.0; bindings: JSONRPC 1.0"), "{out}");
    assert!(out.contains("skill forecast (Forecast): tags weather, rain"), "{out}");
    assert!(out.contains("(intents billing, refund)") && out.contains("  down:"), "{out}");
}

#[test]
fn the_sandbox_banner_prints_only_the_secrets_it_generated_never_a_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let mut server = serve(
        &[("SWITCHBOARD_DATA_DIR", &data_dir), ("SWITCHBOARD_API_KEYS", "marker-configured-key-5d1e")],
        dir.path(),
    );

    let _ = server.stop(Duration::from_secs(10));
    let output = server.output();

    assert!(output.contains("development app secret:"), "the generated app secret is shown: {output}");
    assert!(!output.contains("marker-configured-key-5d1e"), "the configured API key leaked: {output}");
    assert!(!output.contains("development API key:"), "{output}");
}
