//! # switchboard-runtime
//!
//! What a running process needs and the use cases do not: [`config`] (one typed struct
//! from environment and an optional TOML file, every key declared once), [`telemetry`]
//! (JSON-lines logs through the secrets redactor), [`otel_export`] (OTLP span export)
//! and [`register_secrets`] (every configured secret handed to the redactor). Used by
//! the adapters and the binary only, so `application` stays free of IO crates.

pub mod config;
pub mod log_writer;
pub mod otel_export;
pub mod telemetry;

pub use config::{Config, ConfigError, GeneratedSecrets, Mode, OtelConfig, TrustedProxies};
pub use otel_export::{OtelError, OtelExport};

use secrecy::ExposeSecret;
use switchboard_shared::secrets::{base64, register, register_encoded, register_url_credentials};

/// Registers every secret the configuration holds with the redactor (ADR 0015): WhatsApp
/// credentials, API keys, the SMTP password, and passwords inside the database,
/// classifier, agent and OTLP URLs.
pub fn register_secrets(config: &Config) {
    let w = &config.whatsapp;
    if let Some(token) = &w.access_token {
        register("WHATSAPP_ACCESS_TOKEN", token.expose_secret());
    }
    register("WHATSAPP_APP_SECRET", w.app_secret.expose_secret());
    register("WHATSAPP_WEBHOOK_VERIFY_TOKEN", w.verify_token.expose_secret());
    if let Some(app_token) = &w.app_token {
        let app_token = app_token.expose_secret();
        register("WHATSAPP_APP_TOKEN", app_token);
        // `app_id|app_secret`: the part after the bar is a secret on its own.
        if let Some((_, secret)) = app_token.split_once('|') {
            register("WHATSAPP_APP_TOKEN", secret);
        }
    }
    for key in &config.api_keys {
        register("SWITCHBOARD_API_KEYS", key.expose_secret());
    }
    if let Some(smtp) = &config.smtp
        && let Some((user, password)) = &smtp.credentials
    {
        let password = password.expose_secret();
        register("SMTP_PASSWORD", password);
        // SMTP AUTH PLAIN sends base64("\0user\0password"); a server may quote it back.
        register_encoded("SMTP_PASSWORD", password, &base64(format!("\0{user}\0{password}").as_bytes()));
    }
    register_url_credentials("DATABASE_URL", config.database.url.expose_secret());
    register("SWITCHBOARD_MEDIA_LINK_KEY", config.media.link_key.expose_secret());
    if let config::MediaStoreConfig::S3(s3) = &config.media.store {
        register("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY", s3.secret_access_key.expose_secret());
    }
    if let Some((url, secret)) = &config.handoff.webhook {
        let url = url.expose_secret();
        register("SWITCHBOARD_HANDOFF_WEBHOOK_URL", url);
        // Without its scheme and host (as a span's path would show it) the token is as secret.
        if let Some(path) = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..])) {
            register("SWITCHBOARD_HANDOFF_WEBHOOK_URL", path);
        }
        register("SWITCHBOARD_HANDOFF_WEBHOOK_SECRET", secret.expose_secret());
    }
    if let Some(url) = &config.agents.classifier_url {
        register_url_credentials("SWITCHBOARD_CLASSIFIER_URL", url);
    }
    for agent in &config.agents.agents {
        register_url_credentials("SWITCHBOARD_AGENTS", &agent.url);
    }
    if let Some(endpoint) = &config.otel.traces_endpoint {
        register_url_credentials("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_marked_secret_is_registered_when_configured() {
        use crate::config::{ConfigSource, KEYS, Key};
        use switchboard_shared::secrets::contains_secret;
        // (key, a value, the part of it that must never be shown)
        let cases = [
            ("WHATSAPP_ACCESS_TOKEN", "access-token-UNIT-k01", "access-token-UNIT-k01"),
            ("WHATSAPP_APP_SECRET", "app-secret-UNIT-k02", "app-secret-UNIT-k02"),
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "verify-token-UNIT-k03", "verify-token-UNIT-k03"),
            ("WHATSAPP_APP_TOKEN", "1234567|app-token-UNIT-k04", "app-token-UNIT-k04"),
            ("DATABASE_URL", "postgres://app:db-pw-UNIT-k05@db:5432/switchboard", "db-pw-UNIT-k05"),
            ("SMTP_PASSWORD", "smtp-pw-UNIT-k06", "smtp-pw-UNIT-k06"),
            ("SWITCHBOARD_HANDOFF_WEBHOOK_SECRET", "hook-secret-UNIT-k12", "hook-secret-UNIT-k12"),
            ("SWITCHBOARD_MEDIA_LINK_KEY", "media-link-key-UNIT-k14", "media-link-key-UNIT-k14"),
            ("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY", "s3-secret-UNIT-k15", "s3-secret-UNIT-k15"),
            (
                "SWITCHBOARD_HANDOFF_WEBHOOK_URL",
                "https://hooks.example/services/T0/B0/hook-token-UNIT-k13",
                "/services/T0/B0/hook-token-UNIT-k13",
            ),
            ("SWITCHBOARD_API_KEYS", "api-key-UNIT-k07a, api-key-UNIT-k07b", "api-key-UNIT-k07b"),
            ("SWITCHBOARD_CLASSIFIER_URL", "http://u:classifier-pw-UNIT-k08@c.example", "classifier-pw-UNIT-k08"),
            ("SWITCHBOARD_AGENTS", "billing=http://u:agent-pw-UNIT-k09@a.example|billing", "agent-pw-UNIT-k09"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:otlp-pw-UNIT-k10@collector:4318", "otlp-pw-UNIT-k10"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://u:otlp-pw-UNIT-k11@collector:4318/v1/traces",
                "otlp-pw-UNIT-k11",
            ),
        ];
        for key in KEYS.iter().filter(|k| k.secret) {
            assert!(cases.iter().any(|(name, ..)| *name == key.name), "{}: add a case", key.name);
        }
        for (key, value, hidden) in cases {
            assert!(Key::named(key).is_some_and(|k| k.secret), "{key} is not marked secret in KEYS");
            let dir = tempfile::tempdir().unwrap();
            let mut src = ConfigSource::from_pairs([
                ("SWITCHBOARD_MODE", "sandbox".to_owned()),
                ("SWITCHBOARD_DATA_DIR", dir.path().display().to_string()),
                (key, value.to_owned()),
            ]);
            if key == "SWITCHBOARD_HANDOFF_WEBHOOK_SECRET" {
                src.set("SWITCHBOARD_HANDOFF_WEBHOOK_URL", "https://hooks.example/services/T0/B0/other-UNIT");
            }
            if key == "SWITCHBOARD_HANDOFF_WEBHOOK_URL" {
                src.set("SWITCHBOARD_HANDOFF_WEBHOOK_SECRET", "hook-secret-UNIT-k14");
            }
            if key == "SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY" {
                for (companion, v) in [
                    ("SWITCHBOARD_MEDIA_STORE", "s3"),
                    ("SWITCHBOARD_MEDIA_S3_BUCKET", "files"),
                    ("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID", "AKIDUNIT"),
                ] {
                    src.set(companion, v);
                }
            }
            if key == "SMTP_PASSWORD" {
                for (companion, v) in
                    [("SMTP_HOST", "mail.example.com"), ("SMTP_FROM", "b@example.com"), ("SMTP_USERNAME", "bot")]
                {
                    src.set(companion, v);
                }
            }
            let config = Config::from_source(&src).unwrap();
            assert!(!contains_secret(hidden), "{key}: registered before its configuration");

            register_secrets(&config);

            assert!(contains_secret(hidden), "{key}: {hidden} is not registered");
        }
    }
}
