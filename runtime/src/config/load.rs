//! [`Config::load`]: the mode, the secrets it requires, and every section put together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::sandbox::load_or_create_sandbox_secrets;
use super::sections::{
    agents_config, consent_config, console_config, delivery_config, handoff_config, media_config, smtp_config,
};
use super::{
    Config, ConfigError, ConfigSource, DatabaseConfig, GeneratedSecrets, HttpConfig, LogConfig, Mode, OtelConfig,
    SANDBOX_BUSINESS_ACCOUNT_ID, SANDBOX_PHONE_NUMBER_ID, TrustedProxies, WhatsAppConfig, WorkerConfig,
};
use crate::telemetry::LogFormat;
use switchboard_shared::retry::RetryPolicy;

const CREDENTIAL_KEYS: [&str; 4] =
    ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET", "WHATSAPP_WEBHOOK_VERIFY_TOKEN"];

impl Config {
    /// Environment and optional file, as the binary loads it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::from_env_and_file(file)?)
    }

    pub fn from_source(src: &ConfigSource) -> Result<Self, ConfigError> {
        let mode = match src.choice("SWITCHBOARD_MODE")?.as_str() {
            "auto" => {
                if CREDENTIAL_KEYS.iter().any(|k| src.get(k).is_some()) {
                    Mode::Live
                } else {
                    Mode::Sandbox
                }
            }
            "sandbox" => Mode::Sandbox,
            "live" => Mode::Live,
            other => {
                return Err(ConfigError::Invalid {
                    key: "SWITCHBOARD_MODE",
                    message: format!("expected sandbox, live or auto, got {other:?}"),
                });
            }
        };

        let host = src.text("SWITCHBOARD_HOST")?.to_owned();
        let port: u16 = src.parse("SWITCHBOARD_PORT", "a port number 0-65535")?;
        let data_dir = PathBuf::from(src.text("SWITCHBOARD_DATA_DIR")?);
        let database_url = match src.get("DATABASE_URL") {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}/switchboard.db", data_dir.display()),
        };
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|scheme| database_url.starts_with(scheme)) {
            return Err(ConfigError::Invalid {
                key: "DATABASE_URL",
                message: String::from("expected a sqlite:, postgres:// or postgresql:// URL"),
            });
        }

        let workers = WorkerConfig {
            count: src.positive("SWITCHBOARD_WORKERS", "a whole number")?,
            lease: Duration::from_secs(src.positive("SWITCHBOARD_JOB_LEASE_SECS", "seconds")?),
            retry: RetryPolicy {
                base: Duration::from_millis(src.positive("SWITCHBOARD_JOB_RETRY_BASE_MS", "milliseconds")?),
                max_delay: Duration::from_secs(src.positive("SWITCHBOARD_JOB_RETRY_MAX_SECS", "seconds")?),
                max_attempts: src.positive("SWITCHBOARD_JOB_MAX_ATTEMPTS", "a whole number")?,
            },
            poll_interval: Duration::from_millis(src.positive("SWITCHBOARD_JOB_POLL_INTERVAL_MS", "milliseconds")?),
            reorder_window: Duration::from_millis(src.parse("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", "milliseconds")?),
            shutdown_grace: Duration::from_secs(src.parse("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "seconds")?),
        };

        let log = LogConfig {
            filter: src.text("SWITCHBOARD_LOG")?.to_owned(),
            format: match src.choice("SWITCHBOARD_LOG_FORMAT")?.as_str() {
                "json" => LogFormat::Json,
                "pretty" | "text" => LogFormat::Pretty,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "SWITCHBOARD_LOG_FORMAT",
                        message: format!("expected json or pretty, got {other:?}"),
                    });
                }
            },
        };

        let secret = |key: &str| src.get(key).map(|s| SecretString::from(s.to_owned()));
        let configured_api_keys: Vec<SecretString> = src
            .get("SWITCHBOARD_API_KEYS")
            .map(|keys| {
                keys.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| SecretString::from(k.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let mut api_keys = configured_api_keys;
        let mut sandbox_secrets_file = None;
        let mut sandbox_generated = GeneratedSecrets::default();
        let (app_secret, verify_token, phone_number_id, business_account_id) = match mode {
            Mode::Live => {
                let mut missing: Vec<&'static str> =
                    CREDENTIAL_KEYS.iter().copied().filter(|k| src.get(k).is_none()).collect();
                if api_keys.is_empty() {
                    missing.push("SWITCHBOARD_API_KEYS");
                }
                if !missing.is_empty() {
                    return Err(ConfigError::Missing {
                        keys: missing,
                        why: String::from(
                            "live mode needs every WhatsApp secret (unset all WHATSAPP_* credentials, or set SWITCHBOARD_MODE=sandbox, to run the sandbox)",
                        ),
                    });
                }
                (
                    secret("WHATSAPP_APP_SECRET"),
                    secret("WHATSAPP_WEBHOOK_VERIFY_TOKEN"),
                    src.get("WHATSAPP_PHONE_NUMBER_ID").unwrap_or_default().to_owned(),
                    src.get("WHATSAPP_BUSINESS_ACCOUNT_ID").map(str::to_owned),
                )
            }
            Mode::Sandbox => {
                let (mut app, mut verify) = (secret("WHATSAPP_APP_SECRET"), secret("WHATSAPP_WEBHOOK_VERIFY_TOKEN"));
                if app.is_none() || verify.is_none() || api_keys.is_empty() {
                    sandbox_generated = GeneratedSecrets {
                        app_secret: app.is_none(),
                        verify_token: verify.is_none(),
                        api_key: api_keys.is_empty(),
                    };
                    let (path, generated) = load_or_create_sandbox_secrets(&data_dir)?;
                    app = app.or(Some(SecretString::from(generated.app_secret)));
                    verify = verify.or(Some(SecretString::from(generated.verify_token)));
                    if api_keys.is_empty() {
                        api_keys.push(SecretString::from(generated.api_key));
                    }
                    sandbox_secrets_file = Some(path);
                }
                (
                    app,
                    verify,
                    src.get("WHATSAPP_PHONE_NUMBER_ID").unwrap_or(SANDBOX_PHONE_NUMBER_ID).to_owned(),
                    Some(src.get("WHATSAPP_BUSINESS_ACCOUNT_ID").unwrap_or(SANDBOX_BUSINESS_ACCOUNT_ID).to_owned()),
                )
            }
        };
        // Both arms guarantee the secrets; this keeps the webhook closed if that changes.
        let (Some(app_secret), Some(verify_token)) = (app_secret, verify_token) else {
            return Err(ConfigError::Missing {
                keys: vec!["WHATSAPP_APP_SECRET", "WHATSAPP_WEBHOOK_VERIFY_TOKEN"],
                why: String::from("the webhook is never open without them"),
            });
        };

        let delivery = delivery_config(src)?;
        let agents = agents_config(src, workers.lease)?;
        let smtp = smtp_config(src)?;
        let handoff = handoff_config(src)?;
        let consent = consent_config(src)?;
        let console = console_config(src)?;
        let media = media_config(src, &data_dir, &app_secret)?;

        Ok(Self {
            mode,
            handoff,
            media,
            consent,
            delivery,
            agents,
            smtp,
            api_keys,
            console,
            http: HttpConfig {
                host,
                port,
                public_url: src.get("SWITCHBOARD_PUBLIC_URL").map(|s| s.trim_end_matches('/').to_owned()),
                webhook_max_body_bytes: src.positive("SWITCHBOARD_WEBHOOK_MAX_BODY_BYTES", "a size in bytes")?,
                api_max_body_bytes: src.positive("SWITCHBOARD_API_MAX_BODY_BYTES", "a size in bytes")?,
                body_timeout: Duration::from_millis(src.positive("SWITCHBOARD_HTTP_BODY_TIMEOUT_MS", "milliseconds")?),
                header_timeout: Duration::from_millis(
                    src.positive("SWITCHBOARD_HTTP_HEADER_TIMEOUT_MS", "milliseconds")?,
                ),
                max_header_bytes: src.positive("SWITCHBOARD_HTTP_MAX_HEADER_BYTES", "a size in bytes")?,
                body_budget_bytes: src.positive("SWITCHBOARD_HTTP_BODY_BUDGET_BYTES", "a size in bytes")?,
                trusted_proxies: match src.get("SWITCHBOARD_TRUSTED_PROXIES") {
                    None => TrustedProxies::default(),
                    Some(list) => TrustedProxies::parse(list)
                        .map_err(|message| ConfigError::Invalid { key: "SWITCHBOARD_TRUSTED_PROXIES", message })?,
                },
            },
            database: DatabaseConfig {
                url: SecretString::from(database_url),
                max_connections: src.positive("SWITCHBOARD_DB_MAX_CONNECTIONS", "a whole number")?,
                busy_timeout: Duration::from_millis(src.parse("SWITCHBOARD_DB_BUSY_TIMEOUT_MS", "milliseconds")?),
                sqlite_full_sync: match src.choice("SWITCHBOARD_SQLITE_SYNCHRONOUS")?.as_str() {
                    "full" => true,
                    "normal" => false,
                    other => {
                        return Err(ConfigError::Invalid {
                            key: "SWITCHBOARD_SQLITE_SYNCHRONOUS",
                            message: format!("expected full or normal, got {other:?}"),
                        });
                    }
                },
                sqlite_commit_wait: Duration::from_micros(
                    src.parse("SWITCHBOARD_SQLITE_COMMIT_WAIT_US", "microseconds")?,
                ),
            },
            data_dir,
            whatsapp: WhatsAppConfig {
                access_token: secret("WHATSAPP_ACCESS_TOKEN"),
                phone_number_id,
                business_account_id,
                verify_token,
                app_secret,
                api_version: src.text("WHATSAPP_API_VERSION")?.to_owned(),
                api_base_url: src.text("WHATSAPP_API_BASE_URL")?.trim_end_matches('/').to_owned(),
                http_timeout: Duration::from_secs(src.parse("WHATSAPP_HTTP_TIMEOUT_SECS", "seconds")?),
                app_token: secret("WHATSAPP_APP_TOKEN"),
                health_cache: Duration::from_secs(src.parse("SWITCHBOARD_HEALTH_CACHE_SECS", "seconds")?),
                templates_cache: Duration::from_secs(src.parse("SWITCHBOARD_TEMPLATES_CACHE_SECS", "seconds")?),
                health_check_interval: match src.parse("SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS", "seconds")? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            },
            workers,
            log,
            otel: OtelConfig::from_source(src)?,
            sandbox_secrets_file,
            sandbox_generated,
        })
    }

    /// The URL clients use to reach the service.
    pub fn public_url(&self) -> String {
        self.http.public_url.clone().unwrap_or_else(|| {
            let host = if self.http.host == "0.0.0.0" { "127.0.0.1" } else { &self.http.host };
            format!("http://{host}:{}", self.http.port)
        })
    }

    /// What is configured, without any secret: for the start-up log line and status.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode,
            "listen": format!("{}:{}", self.http.host, self.http.port),
            "database": redact_url(self.database.url.expose_secret()),
            "whatsapp_phone_number_id": self.whatsapp.phone_number_id,
            "whatsapp_api": format!("{}/{}", self.whatsapp.api_base_url, self.whatsapp.api_version),
            "access_token_set": self.whatsapp.access_token.is_some(),
            "workers": self.workers.count,
            "reorder_window_ms": self.workers.reorder_window.as_millis(),
        })
    }
}

/// Hides a password in a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
