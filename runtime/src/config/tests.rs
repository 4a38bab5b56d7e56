use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

fn sandbox_source(dir: &Path) -> ConfigSource {
    ConfigSource::from_pairs([("SWITCHBOARD_DATA_DIR", dir.display().to_string())])
}

#[test]
fn nothing_configured_means_sandbox_with_generated_secrets_that_persist() {
    let dir = tempfile::tempdir().unwrap();
    let first = Config::from_source(&sandbox_source(dir.path())).unwrap();
    let second = Config::from_source(&sandbox_source(dir.path())).unwrap();
    assert_eq!(first.mode, Mode::Sandbox);
    assert_eq!(first.whatsapp.app_secret.expose_secret().len(), 64);
    assert_eq!(first.whatsapp.app_secret.expose_secret(), second.whatsapp.app_secret.expose_secret());
    assert!(first.sandbox_secrets_file.is_some());
    assert_eq!(first.whatsapp.phone_number_id, SANDBOX_PHONE_NUMBER_ID);
}

#[test]
fn any_credential_switches_to_live_and_names_every_missing_secret() {
    let src = ConfigSource::from_pairs([("WHATSAPP_ACCESS_TOKEN", "EAAB..."), ("WHATSAPP_APP_SECRET", "")]);
    let err = Config::from_source(&src).unwrap_err().to_string();
    assert!(err.contains("WHATSAPP_PHONE_NUMBER_ID"), "{err}");
    assert!(err.contains("WHATSAPP_APP_SECRET"), "{err}");
    assert!(err.contains("WHATSAPP_WEBHOOK_VERIFY_TOKEN"), "{err}");
    assert!(err.contains("SWITCHBOARD_API_KEYS"), "{err}");
    assert!(!err.contains("EAAB"), "{err}");
}

#[test]
fn live_mode_with_every_secret_starts() {
    let src = ConfigSource::from_pairs([
        ("WHATSAPP_ACCESS_TOKEN", "token"),
        ("WHATSAPP_PHONE_NUMBER_ID", "123"),
        ("WHATSAPP_APP_SECRET", "s3cret"),
        ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "verify"),
        ("SWITCHBOARD_API_KEYS", "k1, k2"),
    ]);
    let config = Config::from_source(&src).unwrap();
    assert_eq!(config.api_keys.len(), 2);
    assert_eq!(config.mode, Mode::Live);
    assert!(config.sandbox_secrets_file.is_none());
    assert!(!config.summary().to_string().contains("s3cret"));
}

#[test]
fn http_limits_default_to_their_documented_values_and_refuse_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_source(&sandbox_source(dir.path())).unwrap();
    assert_eq!(config.http.api_max_body_bytes, 262_144);
    assert_eq!(config.http.body_timeout, Duration::from_secs(10));
    assert_eq!(config.http.header_timeout, Duration::from_secs(5));
    assert_eq!(config.http.max_header_bytes, 16_384);
    assert_eq!(config.http.body_budget_bytes, 64 * 1024 * 1024);
    let mut zero = sandbox_source(dir.path());
    zero.set("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS", "0");
    let err = Config::from_source(&zero).unwrap_err().to_string();
    assert!(err.contains("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS"), "{err}");
}

#[test]
fn the_sender_limit_is_on_by_default_and_a_rate_of_zero_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_source(&sandbox_source(dir.path())).unwrap();
    assert_eq!(config.agents.sender_limit, Some(SenderLimitConfig { burst: 10, per_minute: 20 }));

    let mut off = sandbox_source(dir.path());
    off.set("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "0");
    assert_eq!(Config::from_source(&off).unwrap().agents.sender_limit, None);

    let mut no_burst = sandbox_source(dir.path());
    no_burst.set("SWITCHBOARD_SENDER_BURST", "0");
    let err = Config::from_source(&no_burst).unwrap_err().to_string();
    assert!(err.starts_with("SWITCHBOARD_SENDER_BURST:"), "{err}");
}

#[test]
fn a_bad_value_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    src.set("SWITCHBOARD_PORT", "eighty");
    let err = Config::from_source(&src).unwrap_err().to_string();
    assert!(err.starts_with("SWITCHBOARD_PORT:"), "{err}");
}

#[test]
fn toml_file_sections_map_to_key_names_and_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    fs::write(&file, "[switchboard]\nport = 9090\nworkers = 2\n[whatsapp]\napi_version = \"v26.0\"\n").unwrap();
    let mut src = ConfigSource::default();
    src.merge_toml_file(&file).unwrap();
    src.set("SWITCHBOARD_DATA_DIR", dir.path().display().to_string());
    src.set("SWITCHBOARD_WORKERS", "3");
    let config = Config::from_source(&src).unwrap();
    assert_eq!(config.http.port, 9090);
    assert_eq!(config.workers.count, 3);
    assert_eq!(config.whatsapp.api_version, "v26.0");
}

#[test]
fn unknown_keys_in_the_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    fs::write(&file, "[whatsapp]\naccess_tokn = \"x\"\n").unwrap();
    let err = ConfigSource::default().merge_toml_file(&file).unwrap_err().to_string();
    assert!(err.contains("WHATSAPP_ACCESS_TOKN"), "{err}");
}

#[test]
fn smtp_needs_a_sender_and_both_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    src.set("SMTP_HOST", "mail.example.com");
    assert!(Config::from_source(&src).unwrap_err().to_string().contains("SMTP_FROM"));
    src.set("SMTP_FROM", "bot@example.com");
    src.set("SMTP_USERNAME", "bot");
    assert!(Config::from_source(&src).unwrap_err().to_string().contains("SMTP_PASSWORD"));
    src.set("SMTP_PASSWORD", "pw");
    let smtp = Config::from_source(&src).unwrap().smtp.unwrap();
    assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::StartTls));
}

#[test]
fn per_number_rate_overrides_parse_and_bad_ones_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    src.set("WHATSAPP_RATE_LIMITS", "111=1000, 222=20");
    let config = Config::from_source(&src).unwrap();
    assert_eq!(config.delivery.per_number_overrides.get("222"), Some(&20));
    src.set("WHATSAPP_RATE_LIMITS", "111:1000");
    assert!(Config::from_source(&src).unwrap_err().to_string().starts_with("WHATSAPP_RATE_LIMITS"));
}

#[test]
fn outside_the_window_falls_back_to_email_unless_a_template_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    assert_eq!(Config::from_source(&src).unwrap().delivery.outside_window, OutsideWindow::Email);
    src.set("WHATSAPP_REENGAGEMENT_TEMPLATE", "hello_again");
    let config = Config::from_source(&src).unwrap();
    assert_eq!(config.delivery.outside_window, OutsideWindow::Template);
    assert_eq!(config.delivery.reengagement_template.unwrap().language, "en_US");
}

#[test]
fn the_agent_registry_parses_names_urls_and_intents() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    src.set("SWITCHBOARD_AGENTS", "billing=http://127.0.0.1:9001/|Billing, refund ; weather=https://w.example|weather");
    let agents = Config::from_source(&src).unwrap().agents.agents;
    assert_eq!(
        agents[0],
        AgentConfig {
            name: "billing".into(),
            url: "http://127.0.0.1:9001".into(),
            intents: vec!["billing".into(), "refund".into()]
        }
    );
    assert_eq!(agents[1].name, "weather");
    src.set("SWITCHBOARD_AGENTS", "billing=ftp://x|a");
    assert!(Config::from_source(&src).unwrap_err().to_string().starts_with("SWITCHBOARD_AGENTS"));
    src.set("SWITCHBOARD_AGENTS", "");
    src.set("SWITCHBOARD_AGENT_TIMEOUT_SECS", "90");
    assert!(Config::from_source(&src).unwrap_err().to_string().contains("shorter than the job lease"));
}

#[test]
fn sandbox_generates_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_source(&sandbox_source(dir.path())).unwrap();
    assert!(config.api_keys[0].expose_secret().starts_with("sb_dev_"));
}

#[test]
fn postgres_urls_are_accepted_and_other_databases_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let with_url = |url: &str| {
        let mut src = sandbox_source(dir.path());
        src.set("DATABASE_URL", url);
        Config::from_source(&src)
    };

    let postgres = with_url("postgres://switchboard@db:5432/switchboard").unwrap();
    let postgresql = with_url("postgresql://switchboard@db/switchboard");
    let mysql = with_url("mysql://db/switchboard").unwrap_err().to_string();

    assert_eq!(postgres.database.url.expose_secret(), "postgres://switchboard@db:5432/switchboard");
    assert!(postgresql.is_ok());
    assert!(mysql.contains("DATABASE_URL"), "{mysql}");
}

/// The `| `KEY` | default | help |` rows of the key table in docs/configuration.md.
fn documented_defaults() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let docs = fs::read_to_string(path).unwrap();
    docs.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            // `\|` is a bar inside a cell.
            let cells: Vec<String> =
                line.replace("\\|", "\u{0}").split('|').map(|c| c.replace('\u{0}', "|").trim().to_owned()).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].replace('`', ""))
        })
        .collect()
}

#[test]
fn the_configuration_docs_list_every_key_with_its_default_and_nothing_else() {
    let documented = documented_defaults();
    for key in KEYS {
        assert_eq!(
            documented.get(key.name).map(String::as_str),
            Some(key.default.to_string().as_str()),
            "{}: docs/configuration.md disagrees with KEYS",
            key.name
        );
    }
    for name in documented.keys() {
        assert!(Key::named(name).is_some(), "docs/configuration.md lists {name}, which KEYS does not declare");
    }
}

#[test]
fn the_configuration_docs_name_every_secret_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let docs = fs::read_to_string(path).unwrap();
    let paragraph = docs.split("\n\n").find(|p| p.starts_with("Secrets (")).unwrap();
    let listed = |name: &str| paragraph.contains(&format!("`{name}`"));
    for key in KEYS {
        assert_eq!(listed(key.name), key.secret, "{}: the Secrets paragraph and KEYS disagree", key.name);
    }
}

#[test]
fn every_key_read_is_declared_and_every_declared_key_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_source(dir.path());
    let mut everything = sandbox_source(dir.path());
    for (key, value) in [
        ("SMTP_HOST", "mail.example.com"),
        ("SMTP_FROM", "bot@example.com"),
        ("WHATSAPP_REENGAGEMENT_TEMPLATE", "hello_again"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"),
        ("SWITCHBOARD_SANDBOX_STATUSES", "true"),
        ("SWITCHBOARD_MEDIA_STORE", "s3"),
        ("SWITCHBOARD_MEDIA_S3_ENDPOINT", "http://127.0.0.1:9000"),
        ("SWITCHBOARD_MEDIA_S3_BUCKET", "files"),
        ("SWITCHBOARD_MEDIA_S3_PREFIX", "switchboard/"),
        ("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY", "s3-secret-example"),
    ] {
        everything.set(key, value);
    }
    let mut otel_base = sandbox_source(dir.path());
    otel_base.set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");

    for src in [&sandbox, &everything, &otel_base] {
        Config::from_source(src).unwrap();
    }

    let read: std::collections::BTreeSet<String> =
        [&sandbox, &everything, &otel_base].iter().flat_map(|src| src.read.lock().unwrap().clone()).collect();
    for name in &read {
        assert!(Key::named(name).is_some(), "{name} is read but not declared in KEYS");
    }
    for key in KEYS {
        assert!(read.contains(key.name), "{} is declared in KEYS but never read", key.name);
    }
}

#[test]
fn a_key_left_unset_behaves_as_its_default_value_written_out() {
    // Catches a key whose documented default the code ignores for a rule of its own.
    let dir = tempfile::tempdir().unwrap();
    let mut written_out = sandbox_source(dir.path());
    for key in KEYS {
        if let KeyDefault::Value(text) = key.default
            && !written_out.values.contains_key(key.name)
        {
            written_out.set(key.name, text);
        }
    }
    let unset = Config::from_source(&sandbox_source(dir.path())).unwrap();
    let written = Config::from_source(&written_out).unwrap();
    assert_eq!(format!("{written:?}"), format!("{unset:?}"));
    assert_eq!((unset.http.port, unset.workers.count, unset.otel.service_name.as_str()), (8080, 4, "switchboard"));
}

#[test]
fn database_passwords_are_redacted() {
    assert_eq!(redact_url("postgres://u:pw@db:5432/x"), "postgres://***@db:5432/x");
    assert_eq!(redact_url("sqlite://./data/s.db"), "sqlite://./data/s.db");
}

#[test]
fn the_s3_media_store_names_each_missing_key_and_defaults_its_endpoint_from_the_region() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sandbox_source(dir.path());
    src.set("SWITCHBOARD_MEDIA_STORE", "S3");
    src.set("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY", "s3-secret-never-shown");

    let missing = Config::from_source(&src).unwrap_err().to_string();
    src.set("SWITCHBOARD_MEDIA_S3_BUCKET", "files");
    src.set("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID", "AKIDEXAMPLE");
    src.set("SWITCHBOARD_MEDIA_S3_REGION", "eu-west-3");
    let configured = Config::from_source(&src).unwrap();
    src.set("SWITCHBOARD_MEDIA_STORE", "tape");
    let unknown = Config::from_source(&src).unwrap_err().to_string();

    assert!(missing.contains("SWITCHBOARD_MEDIA_S3_BUCKET"), "{missing}");
    assert!(missing.contains("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID"), "{missing}");
    assert!(!missing.contains("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY"), "{missing}");
    let MediaStoreConfig::S3(s3) = &configured.media.store else { panic!("{:?}", configured.media.store) };
    assert_eq!(s3.endpoint, "https://s3.eu-west-3.amazonaws.com");
    assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("files", ""));
    assert!(!format!("{configured:?}").contains("s3-secret-never-shown"));
    assert!(unknown.starts_with("SWITCHBOARD_MEDIA_STORE: expected folder or s3"), "{unknown}");
}
