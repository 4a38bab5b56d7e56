//! The operator console in a real browser: the real binary on port 0 with a temp SQLite
//! database, operators created through the real CLI (`switchboard operators add`, the
//! password on stdin), then the Selenium tests of `tests/browser/` in headless Chromium.
//! Their output is printed; screenshots go to `target/screenshots/` (the PostgreSQL run's
//! to `target/screenshots/postgres/`), replaced on every run. The README's picture is
//! `target/screenshots/console-conversation-1280.png` copied to
//! `docs/screenshots/console-conversation.png`.
//!
//! Chromium and its driver come from Debian's packages (`.ci/run` installs them). Without
//! them this test fails in CI (`CI` set) and says it skipped anywhere else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard_testkit::{ServiceProcess, with_database};

const CHROMIUM: &str = "/usr/bin/chromium";
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const APP_SECRET: &str = "browser-test-app-secret";
const API_KEY: &str = "browser-test-api-key";
const PHONE_NUMBER_ID: &str = "100000000000001";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The accounts the Python tests sign in with: (env prefix, name, role, password).
const ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("OPERATOR", "olga.operator", "operator", "olga-browser-test-password"),
    ("ADMIN", "ada.admin", "admin", "ada-browser-test-password"),
    ("THROTTLED", "tim.throttled", "operator", "tim-browser-test-password"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the browser tests cannot run here, if they cannot.
fn missing_tools(python: &Path) -> Option<String> {
    let missing: Vec<String> = [Path::new(CHROMIUM), Path::new(CHROMEDRIVER), python]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// `switchboard operators add NAME --role ROLE`, the password on stdin.
fn add_operator(env: &[(String, String)], name: &str, role: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["operators", "add", name, "--role", role])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "operators add {name} failed: {printed}");
    assert!(printed.contains(&format!("operator {name} added ({role})")), "{printed}");
    assert!(!printed.contains(password), "the CLI printed the password: {printed}");
}

#[test]
fn the_console_passes_its_browser_tests_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/console.db", dir.path().display());
    run_browser_tests(&url, "sqlite");
}

/// The same tests with the service on PostgreSQL (`SWITCHBOARD_TEST_DATABASE_URL`, which
/// `scripts/test` starts), on a database of their own.
#[test]
fn the_console_passes_its_browser_tests_on_postgresql() {
    let Ok(admin) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "SWITCHBOARD_TEST_DATABASE_URL is not set: CI must run the console on PostgreSQL (scripts/test starts a server)"
        );
        eprintln!("skipped the console on PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("sb_console_{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
    });
    run_browser_tests(&with_database(&admin, &name), "postgres");
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

/// Starts the binary on `database_url`, adds the operators through the CLI and runs the
/// Selenium tests; screenshots are named with `store` after the SQLite run's.
fn run_browser_tests(database_url: &str, store: &str) {
    let python =
        std::env::var("A2A_PEER_PYTHON").map(PathBuf::from).unwrap_or_else(|_| root().join(".venv-a2a/bin/python"));
    if let Some(missing) = missing_tools(&python) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {missing}: CI installs chromium and chromium-driver (.ci/run), and scripts/test the venv"
        );
        eprintln!(
            "skipped: install chromium chromium-driver (apt-get install -y chromium chromium-driver) and run scripts/test; missing {missing}"
        );
        return;
    }

    // Arrange: the service on a fresh database, and three operators added through the CLI.
    // One suite at a time: two Chromiums at once on a small CI machine only make both slow.
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![
        ("SWITCHBOARD_DATA_DIR".into(), dir.path().display().to_string()),
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("SWITCHBOARD_LOG".into(), "warn".into()),
        // The handoff test plays the user: it signs webhooks and reads the sandbox outbox.
        ("SWITCHBOARD_MODE".into(), "sandbox".into()),
        ("WHATSAPP_APP_SECRET".into(), APP_SECRET.into()),
        ("WHATSAPP_PHONE_NUMBER_ID".into(), PHONE_NUMBER_ID.into()),
        ("SWITCHBOARD_API_KEYS".into(), API_KEY.into()),
    ];
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_switchboard"),
        env.clone(),
        dir.path().join("service.log"),
        Duration::from_secs(30),
    )
    .unwrap();
    for (_, name, role, password) in ACCOUNTS {
        add_operator(&env, name, role, password);
    }
    let screenshots = match store {
        "sqlite" => root().join("target/screenshots"),
        other => root().join("target/screenshots").join(other),
    };
    std::fs::create_dir_all(&screenshots).unwrap();
    // Only this run's screenshots count: an old one must not stand in for a missing one.
    for old in png_files(&screenshots) {
        std::fs::remove_file(screenshots.join(format!("{old}.png"))).unwrap();
    }

    // Act
    let mut pytest = Command::new(&python);
    pytest
        // Files run in name order; test_zz_throttling.py last, as it locks this client out.
        .args(["-m", "pytest", "-v", "-p", "no:cacheprovider", "tests/browser"])
        .current_dir(root())
        .env("SWITCHBOARD_URL", service.base_url())
        .env("SCREENSHOTS_DIR", &screenshots)
        // Selenium must use Debian's driver, never download one.
        .env("SE_OFFLINE", "true")
        .env("APP_SECRET", APP_SECRET)
        .env("API_KEY", API_KEY)
        .env("PHONE_NUMBER_ID", PHONE_NUMBER_ID);
    for (prefix, name, _, password) in ACCOUNTS {
        pytest.env(format!("{prefix}_NAME"), name).env(format!("{prefix}_PASSWORD"), password);
    }
    let output = pytest.output().unwrap();

    // Assert
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{printed}");
    assert!(output.status.success(), "the browser tests failed:\n{printed}\nservice log:\n{}", service.output());
    for (_, _, _, password) in ACCOUNTS {
        assert!(!service.output().contains(password), "a password reached the service's log");
    }
    let expected: std::collections::BTreeSet<String> = [
        "console-sign-in-1280",
        "console-sign-in-390",
        "console-sign-in-throttled-1280",
        "console-inbox-1280",
        "console-inbox-390",
        "console-inbox-waiting-1280",
        "console-inbox-waiting-390",
        "console-conversation-1280",
        "console-conversation-390",
        "console-admin-1280",
        "console-admin-390",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(png_files(&screenshots), expected, "the screenshots saved in {}", screenshots.display());
}

/// The names (without `.png`) of the PNG files directly in `dir`.
fn png_files(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".png").map(str::to_owned))
        .collect()
}
