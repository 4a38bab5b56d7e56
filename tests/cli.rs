//! The newcomer's round trip, with the real binary: `switchboard serve` on a free port,
//! then `switchboard simulate "hello"` prints the built-in agent's reply, and every log
//! line of that message's journey carries the same trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn simulate_prints_the_reply_and_the_journey_shares_one_trace_id() {
    // Arrange: the service, on embedded defaults, in its own data directory.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let env = [
        ("SWITCHBOARD_DATA_DIR", dir.path().to_str().unwrap()),
        ("SWITCHBOARD_PORT", port.as_str()),
        ("SWITCHBOARD_LOG", "info"),
    ];
    let mut serve = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    serve.arg("serve").envs(env).env_remove("RUST_LOG").stdout(Stdio::piped()).stderr(Stdio::null());
    let mut server = serve.spawn().unwrap();
    let stdout = server.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Act
    let simulate = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["simulate", "hello", "--from", "+44 7700 900123"])
        .envs(env)
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let exit = stop_gracefully(&mut server);
    let logs: Vec<serde_json::Value> = lines_rx.try_iter().filter_map(|l| serde_json::from_str(&l).ok()).collect();

    // Assert: SIGTERM stopped it cleanly.
    assert!(exit.is_some_and(|s| s.success()), "serve did not stop cleanly on SIGTERM: {exit:?}");

    // Assert: the reply is printed.
    let printed = String::from_utf8(simulate.stdout).unwrap();
    assert!(simulate.status.success(), "simulate failed: {printed} {}", String::from_utf8_lossy(&simulate.stderr));
    assert!(printed.contains("← Hello"), "{printed}");
    let trace_id = printed.split("trace_id ").nth(1).unwrap()[..32].to_owned();

    // Assert: every line of the journey (request, ingest, classification, agent, send)
    // carries that trace id, and none shows the whole phone number or the message body.
    let journey: Vec<&serde_json::Value> = logs.iter().filter(|l| l["trace_id"] == trace_id.as_str()).collect();
    let messages: Vec<&str> = journey.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in [
        "webhook stored",
        "classified",
        "reply planned",
        "sandbox: recorded the message instead of sending it",
        "accepted by WhatsApp",
    ] {
        assert!(messages.contains(&expected), "no {expected:?} line with trace_id {trace_id}: {messages:?}");
    }
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
fn stop_gracefully(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
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
