//! The operator console in a real browser: the real binary on port 0 with a temp SQLite
//! database, operators created through the real CLI (`switchboard operators add`, the
//! password on stdin), then the Selenium tests of `tests/browser/` in headless Chromium.
//! Their output is printed; screenshots go to `target/screenshots/`.
//!
//! Chromium and its driver come from Debian's packages (`.ci/run` installs them). Without
//! them this test fails in CI (`CI` set) and says it skipped anywhere else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard_testkit::ServiceProcess;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The service's API key, for the tests that check a console action through the API.
const API_KEY: &str = "browser-test-api-key";

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

    // Arrange: the service on a fresh SQLite database, and three operators added through the CLI.
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![
        ("SWITCHBOARD_DATA_DIR".into(), dir.path().display().to_string()),
        ("DATABASE_URL".into(), format!("sqlite://{}/console.db", dir.path().display())),
        ("SWITCHBOARD_LOG".into(), "warn".into()),
        // The admin tests read the email-priority switch through the API.
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
    let screenshots = root().join("target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    // Act
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-v", "-p", "no:cacheprovider", "tests/browser"])
        .current_dir(root())
        .env("SWITCHBOARD_URL", service.base_url())
        .env("SCREENSHOTS_DIR", &screenshots)
        .env("API_KEY", API_KEY)
        // Selenium must use Debian's driver, never download one.
        .env("SE_OFFLINE", "true");
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
    for shot in
        ["console-sign-in-1280", "console-sign-in-390", "console-inbox-1280", "console-inbox-390", "console-admin-1280"]
    {
        assert!(screenshots.join(format!("{shot}.png")).exists(), "{shot}.png was not saved");
    }
}
