//! One typed configuration, read from environment variables and an optional TOML file.
//!
//! Every key has one name: the environment variable users already know
//! (`WHATSAPP_ACCESS_TOKEN`, `DATABASE_URL`, …). In the TOML file a key is written in
//! lower case, either flat (`database_url = "…"`) or under a section named by its first
//! word (`[whatsapp] access_token = "…"`). Environment wins over the file. An unknown
//! key in the file, or a value that does not parse, stops start-up with a message naming
//! the key; so does a missing secret outside sandbox mode.
//!
//! [`KEYS`] declares every key once: its name, its default, whether it is secret and its
//! help. Parsing falls back to the declared default, `--help` prints the table, and a test
//! holds `docs/configuration.md` to it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::telemetry::LogFormat;
use switchboard_shared::retry::RetryPolicy;

/// A configuration key: its name, what it means when unset, whether it holds a secret,
/// and what it does. `--help` and `docs/configuration.md` show the same default text.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub default: KeyDefault,
    /// Held as a secret and registered with the redactor (ADR 0015): the whole value, or
    /// for URL keys the password inside.
    pub secret: bool,
    pub help: &'static str,
}

/// What an unset key means. Only [`KeyDefault::Value`] is parsed; the others describe a
/// rule written once, where the key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// This text, parsed exactly as a configured value would be.
    Value(&'static str),
    /// No value: the feature is off, or the text says what happens instead.
    Absent(&'static str),
    /// In sandbox mode this value; live mode requires the key.
    Sandbox(&'static str),
    /// Generated in sandbox mode and kept in the data directory; live mode requires the key.
    Generated,
    /// Computed from other keys, as the text says.
    Derived(&'static str),
}

impl std::fmt::Display for KeyDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(text) | Self::Derived(text) => f.write_str(text),
            Self::Absent("") => f.write_str("none"),
            Self::Absent(instead) => write!(f, "none: {instead}"),
            Self::Sandbox(value) => write!(f, "sandbox: {value}"),
            Self::Generated => f.write_str("sandbox: generated"),
        }
    }
}

impl Key {
    /// The declaration of the key named `name`.
    pub fn named(name: &str) -> Option<&'static Key> {
        KEYS.iter().find(|k| k.name == name)
    }
}

/// Every key Switchboard reads.
pub const KEYS: &[Key] = &[
    Key {
        name: "SWITCHBOARD_MODE",
        default: KeyDefault::Value("auto"),
        secret: false,
        help: "sandbox or live; auto = live when any WhatsApp credential is set",
    },
    Key {
        name: "SWITCHBOARD_HOST",
        default: KeyDefault::Value("127.0.0.1"),
        secret: false,
        help: "address the HTTP server binds",
    },
    Key {
        name: "SWITCHBOARD_PORT",
        default: KeyDefault::Value("8080"),
        secret: false,
        help: "port the HTTP server binds (0 = any free port)",
    },
    Key {
        name: "SWITCHBOARD_PUBLIC_URL",
        default: KeyDefault::Derived("http://{host}:{port}"),
        secret: false,
        help: "URL clients use to reach this service (simulate posts here)",
    },
    Key {
        name: "SWITCHBOARD_DATA_DIR",
        default: KeyDefault::Value("./data"),
        secret: false,
        help: "where the SQLite file and sandbox secrets live",
    },
    Key {
        name: "DATABASE_URL",
        default: KeyDefault::Derived("sqlite://{data_dir}/switchboard.db"),
        secret: true,
        help: "database: sqlite://FILE (one process) or postgres://USER@HOST/DB (shared by several replicas)",
    },
    Key {
        name: "SWITCHBOARD_DB_MAX_CONNECTIONS",
        default: KeyDefault::Value("8"),
        secret: false,
        help: "database connection pool size, per process (PostgreSQL: replicas x this must stay under the server's max_connections)",
    },
    Key {
        name: "SWITCHBOARD_DB_BUSY_TIMEOUT_MS",
        default: KeyDefault::Value("5000"),
        secret: false,
        help: "how long a write waits for a locked database (PostgreSQL: for a pooled connection) before failing (then webhooks get 503)",
    },
    Key {
        name: "SWITCHBOARD_SQLITE_SYNCHRONOUS",
        default: KeyDefault::Value("full"),
        secret: false,
        help: "full: every commit reaches the disk before a webhook is acknowledged (survives power loss); normal: survives a process crash, not a power cut",
    },
    Key {
        name: "SWITCHBOARD_WEBHOOK_MAX_BODY_BYTES",
        default: KeyDefault::Value("3145728"),
        secret: false,
        help: "largest webhook body accepted (Meta sends at most 3 MB); larger gets 413",
    },
    Key {
        name: "SWITCHBOARD_API_MAX_BODY_BYTES",
        default: KeyDefault::Value("262144"),
        secret: false,
        help: "largest body on every route but the webhook (API, management, A2A); larger gets 413",
    },
    Key {
        name: "SWITCHBOARD_HTTP_BODY_BUDGET_BYTES",
        default: KeyDefault::Value("67108864"),
        secret: false,
        help: "request body bytes all clients together may have in flight; beyond it a new upload gets 503 at once",
    },
    Key {
        name: "SWITCHBOARD_HTTP_BODY_TIMEOUT_MS",
        default: KeyDefault::Value("10000"),
        secret: false,
        help: "the whole request body must arrive within this; a slower client gets 408",
    },
    Key {
        name: "SWITCHBOARD_HTTP_HEADER_TIMEOUT_MS",
        default: KeyDefault::Value("5000"),
        secret: false,
        help: "the request line and headers must arrive within this, else 408 and the connection is closed",
    },
    Key {
        name: "SWITCHBOARD_HTTP_MAX_HEADER_BYTES",
        default: KeyDefault::Value("16384"),
        secret: false,
        help: "largest total size of a request's headers; larger gets 431",
    },
    Key { name: "SWITCHBOARD_WORKERS", default: KeyDefault::Value("4"), secret: false, help: "concurrent job workers" },
    Key {
        name: "SWITCHBOARD_JOB_LEASE_SECS",
        default: KeyDefault::Value("60"),
        secret: false,
        help: "visibility timeout: a leased job not finished by then is leased again",
    },
    Key {
        name: "SWITCHBOARD_JOB_MAX_ATTEMPTS",
        default: KeyDefault::Value("8"),
        secret: false,
        help: "attempts before a job is dead",
    },
    Key {
        name: "SWITCHBOARD_JOB_RETRY_BASE_MS",
        default: KeyDefault::Value("500"),
        secret: false,
        help: "first retry delay (doubles each attempt, with jitter)",
    },
    Key {
        name: "SWITCHBOARD_JOB_RETRY_MAX_SECS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "longest retry delay",
    },
    Key {
        name: "SWITCHBOARD_JOB_POLL_INTERVAL_MS",
        default: KeyDefault::Value("250"),
        secret: false,
        help: "how often idle workers look for due jobs (new jobs wake them at once)",
    },
    Key {
        name: "SWITCHBOARD_INBOUND_REORDER_WINDOW_MS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "how long an inbound message waits for earlier ones delivered late, so a conversation is processed in Meta's timestamp order",
    },
    Key {
        name: "SWITCHBOARD_SHUTDOWN_GRACE_SECS",
        default: KeyDefault::Value("20"),
        secret: false,
        help: "on SIGINT/SIGTERM, how long running jobs may finish before their leases are returned",
    },
    Key {
        name: "SWITCHBOARD_LOG",
        default: KeyDefault::Value("info"),
        secret: false,
        help: "log filter, RUST_LOG syntax; when unset, RUST_LOG is read",
    },
    Key {
        name: "SWITCHBOARD_LOG_FORMAT",
        default: KeyDefault::Value("json"),
        secret: false,
        help: "json (one object per line) or pretty",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        default: KeyDefault::Absent("no export"),
        secret: true,
        help: "OTLP/HTTP collector base URL (spans go to {URL}/v1/traces); unset, no spans are exported and tracing costs nothing extra",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        default: KeyDefault::Absent(""),
        secret: true,
        help: "full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT",
    },
    Key {
        name: "OTEL_EXPORTER_OTLP_PROTOCOL",
        default: KeyDefault::Value("http/protobuf"),
        secret: false,
        help: "http/protobuf or http/json (gRPC is not built in)",
    },
    Key {
        name: "OTEL_SERVICE_NAME",
        default: KeyDefault::Value("switchboard"),
        secret: false,
        help: "service.name on exported spans",
    },
    Key {
        name: "WHATSAPP_ACCESS_TOKEN",
        default: KeyDefault::Absent("sandbox mode"),
        secret: true,
        help: "Graph API token; required in live mode",
    },
    Key {
        name: "WHATSAPP_PHONE_NUMBER_ID",
        default: KeyDefault::Sandbox(SANDBOX_PHONE_NUMBER_ID),
        secret: false,
        help: "the business number's id; required in live mode",
    },
    Key {
        name: "WHATSAPP_BUSINESS_ACCOUNT_ID",
        default: KeyDefault::Sandbox(SANDBOX_BUSINESS_ACCOUNT_ID),
        secret: false,
        help: "the WABA id (health checks, subscriptions)",
    },
    Key {
        name: "WHATSAPP_WEBHOOK_VERIFY_TOKEN",
        default: KeyDefault::Generated,
        secret: true,
        help: "token Meta echoes in the GET handshake; required in live mode",
    },
    Key {
        name: "WHATSAPP_APP_SECRET",
        default: KeyDefault::Generated,
        secret: true,
        help: "app secret that signs webhooks (X-Hub-Signature-256); required in live mode",
    },
    Key { name: "WHATSAPP_API_VERSION", default: KeyDefault::Value("v25.0"), secret: false, help: "Graph API version" },
    Key {
        name: "WHATSAPP_API_BASE_URL",
        default: KeyDefault::Value("https://graph.facebook.com"),
        secret: false,
        help: "Graph API base URL (tests point it at a fake)",
    },
    Key {
        name: "WHATSAPP_HTTP_TIMEOUT_SECS",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "timeout of one Graph API call; a send that times out may have reached Meta and is recorded as uncertain",
    },
    Key {
        name: "WHATSAPP_RATE_LIMIT_PER_SECOND",
        default: KeyDefault::Value("80"),
        secret: false,
        help: "messages per second per sending number (Meta's default throughput)",
    },
    Key {
        name: "WHATSAPP_RATE_LIMITS",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "per-number overrides, e.g. 1098765=1000,1098766=20",
    },
    Key {
        name: "SWITCHBOARD_RATE_LIMITS_ENABLED",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "false turns off both rate limiters (benchmarks against a fake)",
    },
    Key {
        name: "SWITCHBOARD_RECIPIENT_BURST",
        default: KeyDefault::Value("3"),
        secret: false,
        help: "messages to one user sent at once before pacing starts",
    },
    Key {
        name: "SWITCHBOARD_RECIPIENT_INTERVAL_MS",
        default: KeyDefault::Value("6000"),
        secret: false,
        help: "after the burst, one message to the same user per this interval (Meta's pair limit)",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "approved template sent instead of a free-form reply outside the 24-hour window",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE",
        default: KeyDefault::Value("en_US"),
        secret: false,
        help: "the template's language code",
    },
    Key {
        name: "WHATSAPP_REENGAGEMENT_TEMPLATE_NAME_PARAM",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "pass the user's name as the template's first body parameter",
    },
    Key {
        name: "SWITCHBOARD_OUTSIDE_WINDOW",
        default: KeyDefault::Derived("template when one is configured, else email"),
        secret: false,
        help: "outside the 24-hour window: template or email",
    },
    Key {
        name: "SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS",
        default: KeyDefault::Value("30"),
        secret: false,
        help: "after a send timed out, wait this long for a status webhook proving it arrived before sending again",
    },
    Key {
        name: "SWITCHBOARD_SANDBOX_STATUSES",
        default: KeyDefault::Value("true"),
        secret: false,
        help: "sandbox mode: after each send, post the status webhooks Meta would (sent, delivered, read), signed, to our own webhook",
    },
    Key {
        name: "SWITCHBOARD_SANDBOX_STATUS_DELAY_MS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "sandbox mode: time from a send to its sent status, and between each status and the next",
    },
    Key {
        name: "CHANNELS_GMAIL_PRIORITY",
        default: KeyDefault::Value("false"),
        secret: false,
        help: "email first: replies go by email instead of WhatsApp (also switchable at run time by the API)",
    },
    Key {
        name: "SMTP_HOST",
        default: KeyDefault::Absent(".eml files in {data_dir}/mail"),
        secret: false,
        help: "SMTP server for the email fallback",
    },
    Key {
        name: "SMTP_PORT",
        default: KeyDefault::Derived("587 (465 with SMTP_TLS=tls)"),
        secret: false,
        help: "SMTP port",
    },
    Key {
        name: "SMTP_TLS",
        default: KeyDefault::Value("starttls"),
        secret: false,
        help: "starttls, tls (implicit) or none (loopback test servers only)",
    },
    Key {
        name: "SMTP_USERNAME",
        default: KeyDefault::Absent(""),
        secret: false,
        help: "SMTP user; with SMTP_PASSWORD turns on authentication",
    },
    Key {
        name: "SMTP_PASSWORD",
        default: KeyDefault::Absent(""),
        secret: true,
        help: "SMTP password; required when SMTP_USERNAME is set",
    },
    Key {
        name: "SMTP_FROM",
        default: KeyDefault::Absent("required with SMTP_HOST"),
        secret: false,
        help: "sender address of fallback emails",
    },
    Key {
        name: "SMTP_SUBJECT",
        default: KeyDefault::Value("A message for you"),
        secret: false,
        help: "subject of fallback emails",
    },
    Key {
        name: "SMTP_TIMEOUT_SECS",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "timeout of one SMTP delivery",
    },
    Key {
        name: "SWITCHBOARD_CLASSIFIER_URL",
        default: KeyDefault::Absent("built-in keyword classifier"),
        secret: true,
        help: "base URL of an A2A classifier agent answering {intent, confidence} as a data part",
    },
    Key {
        name: "SWITCHBOARD_AGENTS",
        default: KeyDefault::Absent("built-in agents only"),
        secret: true,
        help: "A2A specialist agents: name=URL|intent,intent;name2=URL|intent",
    },
    Key {
        name: "SWITCHBOARD_DEFAULT_AGENT",
        default: KeyDefault::Value("fallback"),
        secret: false,
        help: "agent for unknown intents, low confidence, and agents that fail",
    },
    Key {
        name: "SWITCHBOARD_CONFIDENCE_THRESHOLD",
        default: KeyDefault::Value("0.5"),
        secret: false,
        help: "below this classification confidence the default agent answers",
    },
    Key {
        name: "SWITCHBOARD_AGENT_TIMEOUT_SECS",
        default: KeyDefault::Value("30"),
        secret: false,
        help: "timeout of one A2A call; must be shorter than SWITCHBOARD_JOB_LEASE_SECS",
    },
    Key {
        name: "SWITCHBOARD_A2A_CARD_TTL_SECS",
        default: KeyDefault::Value("300"),
        secret: false,
        help: "how long an agent card is cached before it is fetched again",
    },
    Key {
        name: "SWITCHBOARD_DOUBLE_TEXTING",
        default: KeyDefault::Value("sequential"),
        secret: false,
        help: "messages that arrive while an agent works on the conversation: sequential (each its own turn) or coalesce (handed over together, one reply)",
    },
    Key {
        name: "SWITCHBOARD_SENDER_BURST",
        default: KeyDefault::Value("10"),
        secret: false,
        help: "turns one sender may have at once (a turn hands messages to the classifier and an agent) before the sender limit holds the rest",
    },
    Key {
        name: "SWITCHBOARD_SENDER_RATE_PER_MINUTE",
        default: KeyDefault::Value("20"),
        secret: false,
        help: "after the burst, turns per minute per sender; messages over it are stored and acknowledged, then handed over together in the sender's next turn (0 = no limit)",
    },
    Key {
        name: "WHATSAPP_APP_TOKEN",
        default: KeyDefault::Absent("a cheap authenticated call checks the token"),
        secret: true,
        help: "app access token (app_id|app_secret) so health checks can ask debug_token for the token's expiry",
    },
    Key {
        name: "SWITCHBOARD_HEALTH_CACHE_SECS",
        default: KeyDefault::Value("60"),
        secret: false,
        help: "how long a /health/whatsapp answer is reused before Meta is asked again",
    },
    Key {
        name: "SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS",
        default: KeyDefault::Value("900"),
        secret: false,
        help: "live mode: how often the WhatsApp account is checked in the background, so whatsapp_token_valid and whatsapp_token_expires_in_days stay current with nobody calling /health/whatsapp; 0 turns it off",
    },
    Key {
        name: "SWITCHBOARD_API_KEYS",
        default: KeyDefault::Generated,
        secret: true,
        help: "comma-separated API keys for the REST and A2A APIs (X-API-Key or Authorization: Bearer); required in live mode",
    },
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required configuration {}: {why}", keys.join(", "))]
    Missing { keys: Vec<&'static str>, why: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("sandbox secrets file {path}: {message}")]
    SandboxSecrets { path: PathBuf, message: String },
}

/// Raw values by key name, from the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    values: BTreeMap<String, String>,
    /// Every key read, so a test can hold the reads against [`KEYS`].
    #[cfg(test)]
    read: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl ConfigSource {
    /// Reads the optional TOML file, then the process environment over it.
    pub fn from_env_and_file(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut source = Self::default();
        if let Some(path) = file {
            source.merge_toml_file(path)?;
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(key.name) {
                source.values.insert(key.name.to_owned(), value);
            }
        }
        if !source.values.contains_key("SWITCHBOARD_LOG")
            && let Ok(value) = std::env::var("RUST_LOG")
        {
            source.values.insert("SWITCHBOARD_LOG".to_owned(), value);
        }
        Ok(source)
    }

    /// A source from explicit pairs (tests, embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut source = Self::default();
        source.values.extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        source
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    fn merge_toml_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_err = |message: String| ConfigError::File { path: path.to_owned(), message };
        let text = fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.message().to_owned()))?;
        for (name, value) in table {
            match value {
                toml::Value::Table(section) => {
                    for (inner, value) in section {
                        let key = format!("{name}_{inner}").to_ascii_uppercase();
                        self.insert_known(&key, value).map_err(file_err)?;
                    }
                }
                other => {
                    let key = name.to_ascii_uppercase();
                    self.insert_known(&key, other).map_err(file_err)?;
                }
            }
        }
        Ok(())
    }

    fn insert_known(&mut self, key: &str, value: toml::Value) -> Result<(), String> {
        if Key::named(key).is_none() {
            return Err(format!("unknown key {key} (see docs/configuration.md)"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!("{key}: expected a string or number, got {}", other.type_str()));
            }
        };
        self.values.insert(key.to_owned(), text);
        Ok(())
    }

    /// The configured value, with empty strings treated as absent.
    fn get(&self, key: &str) -> Option<&str> {
        // A key read here but missing from KEYS would be ignored in the environment and
        // refused in the file: every test that loads a configuration catches it.
        debug_assert!(Key::named(key).is_some(), "configuration key {key} is missing from KEYS");
        #[cfg(test)]
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.to_owned());
        self.values.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The configured value, or else the key's [`KeyDefault::Value`].
    fn text(&self, key: &'static str) -> Result<&str, ConfigError> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        match Key::named(key).map(|k| k.default) {
            Some(KeyDefault::Value(text)) => Ok(text),
            _ => Err(ConfigError::Invalid { key, message: String::from("has no default value in KEYS (a bug)") }),
        }
    }

    /// The value (configured, or else the key's default) parsed as `T`.
    fn parse<T: std::str::FromStr>(&self, key: &'static str, what: &str) -> Result<T, ConfigError> {
        let raw = self.text(key)?;
        raw.parse().map_err(|_| ConfigError::Invalid { key, message: format!("expected {what}, got {raw:?}") })
    }

    /// As [`Self::parse`], refusing zero.
    fn positive<T: std::str::FromStr + PartialEq + From<u8>>(
        &self,
        key: &'static str,
        what: &str,
    ) -> Result<T, ConfigError> {
        let value: T = self.parse(key, what)?;
        if value == T::from(0) {
            return Err(ConfigError::Invalid { key, message: String::from("must be greater than 0") });
        }
        Ok(value)
    }

    /// The value (configured, or else the key's default) in lower case, for keys that
    /// name one of a few choices.
    fn choice(&self, key: &'static str) -> Result<String, ConfigError> {
        Ok(self.text(key)?.to_ascii_lowercase())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No WhatsApp account: replies are recorded, not sent.
    Sandbox,
    /// Real WhatsApp credentials; every secret required.
    Live,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub host: String,
    pub port: u16,
    pub public_url: Option<String>,
    pub webhook_max_body_bytes: usize,
    /// Largest body on every other route.
    pub api_max_body_bytes: usize,
    /// Deadline for a whole request body (slow clients get 408).
    pub body_timeout: Duration,
    /// Deadline for the request line and headers.
    pub header_timeout: Duration,
    /// Largest total size of the request headers (431 above it).
    pub max_header_bytes: usize,
    /// Body bytes all requests together may hold at once (503 beyond it).
    pub body_budget_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May hold a password, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub busy_timeout: Duration,
    /// SQLite only: fsync every commit (`true`, the default) or leave it to the WAL.
    pub sqlite_full_sync: bool,
}

#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    pub access_token: Option<SecretString>,
    pub phone_number_id: String,
    pub business_account_id: Option<String>,
    pub verify_token: SecretString,
    pub app_secret: SecretString,
    pub api_version: String,
    pub api_base_url: String,
    pub http_timeout: Duration,
    /// `app_id|app_secret`, for `debug_token` in health checks.
    pub app_token: Option<SecretString>,
    pub health_cache: Duration,
    /// How often the account is checked in the background; `None`: never.
    pub health_check_interval: Option<Duration>,
}

pub use switchboard_application::usecases::{OutsideWindow, TemplateConfig};

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub rate_limits_enabled: bool,
    pub per_number_rate: u32,
    pub per_number_overrides: BTreeMap<String, u32>,
    pub recipient_burst: u32,
    pub recipient_interval: Duration,
    pub reengagement_template: Option<TemplateConfig>,
    pub outside_window: OutsideWindow,
    pub uncertain_grace: Duration,
    /// Sandbox mode: the time between a send and each of its status webhooks; `None`
    /// when the sandbox posts none.
    pub sandbox_status_delay: Option<Duration>,
    /// `channels.gmail.priority`: email first.
    pub email_priority: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, SecretString)>,
    pub from: String,
    pub subject: String,
    pub timeout: Duration,
}

/// One specialist agent of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub name: String,
    pub url: String,
    pub intents: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AgentsConfig {
    pub classifier_url: Option<String>,
    pub agents: Vec<AgentConfig>,
    pub default_agent: String,
    pub threshold: f32,
    pub timeout: Duration,
    pub card_ttl: Duration,
    /// Hand messages that waited to the agent together.
    pub coalesce: bool,
    /// Turns per sender (`None`: no limit).
    pub sender_limit: Option<SenderLimitConfig>,
}

/// The inbound limit per sender: `burst` turns at once, then `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderLimitConfig {
    pub burst: u32,
    pub per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub count: usize,
    pub lease: Duration,
    pub retry: RetryPolicy,
    pub poll_interval: Duration,
    pub reorder_window: Duration,
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

/// How the wire format of exported spans is chosen (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    HttpJson,
}

/// OpenTelemetry span export. Off unless an endpoint is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelConfig {
    /// The full traces URL (`…/v1/traces`), or `None` when export is off.
    pub traces_endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    pub service_name: String,
}

impl OtelConfig {
    /// Every OpenTelemetry key at its default: no export.
    pub fn off() -> Result<Self, ConfigError> {
        Self::from_source(&ConfigSource::default())
    }

    fn from_source(src: &ConfigSource) -> Result<Self, ConfigError> {
        let non_empty = |key: &str| src.get(key).map(str::trim).filter(|v| !v.is_empty());
        let url = |key: &'static str, value: &str| -> Result<String, ConfigError> {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(value.to_owned())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    message: format!("expected an http:// or https:// URL, got {value:?}"),
                })
            }
        };
        // As the OpenTelemetry spec says: the signal-specific URL is used as given; the
        // generic one is a base to which `/v1/traces` is appended.
        let traces_endpoint = if let Some(full) = non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full)?)
        } else if let Some(base) = non_empty("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let base = url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
            Some(format!("{}/v1/traces", base.trim_end_matches('/')))
        } else {
            None
        };
        let protocol = match src.choice("OTEL_EXPORTER_OTLP_PROTOCOL")?.as_str() {
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            "http/json" => OtlpProtocol::HttpJson,
            other => {
                return Err(ConfigError::Invalid {
                    key: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    message: format!("expected http/protobuf or http/json (gRPC is not built in), got {other:?}"),
                });
            }
        };
        let service_name = src.text("OTEL_SERVICE_NAME")?.to_owned();
        Ok(Self { traces_endpoint, protocol, service_name })
    }
}

/// Sandbox secrets made on first start and kept in the data directory, so that
/// `switchboard simulate` (another process) signs with the same secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxSecrets {
    app_secret: String,
    verify_token: String,
    #[serde(default)]
    api_key: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub http: HttpConfig,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub whatsapp: WhatsAppConfig,
    pub workers: WorkerConfig,
    pub delivery: DeliveryConfig,
    pub agents: AgentsConfig,
    /// `None`: fallback emails are written as .eml files under `{data_dir}/mail`.
    pub smtp: Option<SmtpConfig>,
    /// Keys accepted by the REST API.
    pub api_keys: Vec<SecretString>,
    pub log: LogConfig,
    pub otel: OtelConfig,
    /// Set when the sandbox app secret and verify token came from the data directory
    /// rather than configuration; start-up prints them once.
    pub sandbox_secrets_file: Option<PathBuf>,
}

pub const SANDBOX_PHONE_NUMBER_ID: &str = "100000000000001";
pub const SANDBOX_BUSINESS_ACCOUNT_ID: &str = "200000000000001";
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

        Ok(Self {
            mode,
            delivery,
            agents,
            smtp,
            api_keys,
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
                health_check_interval: match src.parse("SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS", "seconds")? {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
            },
            workers,
            log,
            otel: OtelConfig::from_source(src)?,
            sandbox_secrets_file,
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

fn flag(src: &ConfigSource, key: &'static str) -> Result<bool, ConfigError> {
    match src.choice(key)?.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(ConfigError::Invalid { key, message: format!("expected true or false, got {other:?}") }),
    }
}

fn delivery_config(src: &ConfigSource) -> Result<DeliveryConfig, ConfigError> {
    let per_number_rate: u32 = src.parse("WHATSAPP_RATE_LIMIT_PER_SECOND", "messages per second")?;
    let mut per_number_overrides = BTreeMap::new();
    if let Some(list) = src.get("WHATSAPP_RATE_LIMITS") {
        for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = pair
                .split_once('=')
                .and_then(|(id, rate)| Some((id.trim().to_owned(), rate.trim().parse::<u32>().ok()?)));
            match parsed {
                Some((id, rate)) if !id.is_empty() && rate > 0 => {
                    per_number_overrides.insert(id, rate);
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "WHATSAPP_RATE_LIMITS",
                        message: format!("expected PHONE_NUMBER_ID=RATE pairs, got {pair:?}"),
                    });
                }
            }
        }
    }
    if per_number_rate == 0 {
        return Err(ConfigError::Invalid {
            key: "WHATSAPP_RATE_LIMIT_PER_SECOND",
            message: "must be greater than 0".into(),
        });
    }
    let reengagement_template = match src.get("WHATSAPP_REENGAGEMENT_TEMPLATE") {
        Some(name) => Some(TemplateConfig {
            name: name.to_owned(),
            language: src.text("WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE")?.to_owned(),
            name_param: flag(src, "WHATSAPP_REENGAGEMENT_TEMPLATE_NAME_PARAM")?,
        }),
        None => None,
    };
    let outside_window = match src.get("SWITCHBOARD_OUTSIDE_WINDOW").map(str::to_ascii_lowercase).as_deref() {
        None => {
            if reengagement_template.is_some() {
                OutsideWindow::Template
            } else {
                OutsideWindow::Email
            }
        }
        Some("template") if reengagement_template.is_some() => OutsideWindow::Template,
        Some("template") => {
            return Err(ConfigError::Missing {
                keys: vec!["WHATSAPP_REENGAGEMENT_TEMPLATE"],
                why: String::from("SWITCHBOARD_OUTSIDE_WINDOW=template needs a template to send"),
            });
        }
        Some("email") => OutsideWindow::Email,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "SWITCHBOARD_OUTSIDE_WINDOW",
                message: format!("expected template or email, got {other:?}"),
            });
        }
    };
    Ok(DeliveryConfig {
        rate_limits_enabled: flag(src, "SWITCHBOARD_RATE_LIMITS_ENABLED")?,
        per_number_rate,
        per_number_overrides,
        recipient_burst: src.parse::<u32>("SWITCHBOARD_RECIPIENT_BURST", "a whole number")?.max(1),
        recipient_interval: Duration::from_millis(
            src.parse::<u64>("SWITCHBOARD_RECIPIENT_INTERVAL_MS", "milliseconds")?.max(1),
        ),
        reengagement_template,
        outside_window,
        uncertain_grace: Duration::from_secs(src.parse("SWITCHBOARD_UNCERTAIN_SEND_GRACE_SECS", "seconds")?),
        sandbox_status_delay: flag(src, "SWITCHBOARD_SANDBOX_STATUSES")?
            .then(|| src.parse("SWITCHBOARD_SANDBOX_STATUS_DELAY_MS", "milliseconds"))
            .transpose()?
            .map(Duration::from_millis),
        email_priority: flag(src, "CHANNELS_GMAIL_PRIORITY")?,
    })
}

fn http_url(key: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::Invalid { key, message: format!("expected an http(s) URL, got {value:?}") })
    }
}

fn agents_config(src: &ConfigSource, lease: Duration) -> Result<AgentsConfig, ConfigError> {
    let classifier_url =
        src.get("SWITCHBOARD_CLASSIFIER_URL").map(|u| http_url("SWITCHBOARD_CLASSIFIER_URL", u)).transpose()?;
    let mut agents = Vec::new();
    for entry in src.get("SWITCHBOARD_AGENTS").unwrap_or("").split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || ConfigError::Invalid {
            key: "SWITCHBOARD_AGENTS",
            message: format!("expected name=URL|intent,intent, got {entry:?}"),
        };
        let (name, rest) = entry.split_once('=').ok_or_else(bad)?;
        let (url, intents) = rest.split_once('|').unwrap_or((rest, ""));
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        if agents.iter().any(|a: &AgentConfig| a.name == name) {
            return Err(ConfigError::Invalid {
                key: "SWITCHBOARD_AGENTS",
                message: format!("agent {name:?} is listed twice"),
            });
        }
        agents.push(AgentConfig {
            name: name.to_owned(),
            url: http_url("SWITCHBOARD_AGENTS", url.trim())?,
            intents: intents.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_ascii_lowercase).collect(),
        });
    }
    let threshold: f32 = src.parse("SWITCHBOARD_CONFIDENCE_THRESHOLD", "a number between 0 and 1")?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_CONFIDENCE_THRESHOLD",
            message: format!("{threshold} is not between 0 and 1"),
        });
    }
    let timeout = Duration::from_secs(src.parse::<u64>("SWITCHBOARD_AGENT_TIMEOUT_SECS", "seconds")?.max(1));
    if timeout >= lease {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_AGENT_TIMEOUT_SECS",
            message: format!(
                "{} s must be shorter than the job lease ({} s), or a slow agent's job is leased twice",
                timeout.as_secs(),
                lease.as_secs()
            ),
        });
    }
    let sender_burst: u32 = src.parse("SWITCHBOARD_SENDER_BURST", "a whole number")?;
    if sender_burst == 0 {
        return Err(ConfigError::Invalid {
            key: "SWITCHBOARD_SENDER_BURST",
            message: String::from("must be greater than 0 (SWITCHBOARD_SENDER_RATE_PER_MINUTE=0 turns the limit off)"),
        });
    }
    let sender_per_minute: u32 = src.parse("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "a whole number")?;
    let sender_limit =
        (sender_per_minute > 0).then_some(SenderLimitConfig { burst: sender_burst, per_minute: sender_per_minute });
    Ok(AgentsConfig {
        sender_limit,
        classifier_url,
        agents,
        default_agent: src.text("SWITCHBOARD_DEFAULT_AGENT")?.to_owned(),
        threshold,
        timeout,
        card_ttl: Duration::from_secs(src.parse("SWITCHBOARD_A2A_CARD_TTL_SECS", "seconds")?),
        coalesce: match src.choice("SWITCHBOARD_DOUBLE_TEXTING")?.as_str() {
            "sequential" => false,
            "coalesce" => true,
            other => {
                return Err(ConfigError::Invalid {
                    key: "SWITCHBOARD_DOUBLE_TEXTING",
                    message: format!("expected sequential or coalesce, got {other:?}"),
                });
            }
        },
    })
}

fn smtp_config(src: &ConfigSource) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(host) = src.get("SMTP_HOST") else {
        return Ok(None);
    };
    let tls = match src.choice("SMTP_TLS")?.as_str() {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Implicit,
        "none" => SmtpTls::None,
        other => {
            return Err(ConfigError::Invalid {
                key: "SMTP_TLS",
                message: format!("expected starttls, tls or none, got {other:?}"),
            });
        }
    };
    // KeyDefault::Derived: the port follows the TLS mode.
    let default_port = if tls == SmtpTls::Implicit { 465 } else { 587 };
    let Some(from) = src.get("SMTP_FROM") else {
        return Err(ConfigError::Missing { keys: vec!["SMTP_FROM"], why: String::from("SMTP_HOST is set") });
    };
    let credentials = match (src.get("SMTP_USERNAME"), src.get("SMTP_PASSWORD")) {
        (Some(user), Some(password)) => Some((user.to_owned(), SecretString::from(password.to_owned()))),
        (Some(_), None) => {
            return Err(ConfigError::Missing {
                keys: vec!["SMTP_PASSWORD"],
                why: String::from("SMTP_USERNAME is set"),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Missing {
                keys: vec!["SMTP_USERNAME"],
                why: String::from("SMTP_PASSWORD is set"),
            });
        }
        (None, None) => None,
    };
    Ok(Some(SmtpConfig {
        host: host.to_owned(),
        port: match src.get("SMTP_PORT") {
            None => default_port,
            Some(_) => src.parse("SMTP_PORT", "a port number")?,
        },
        tls,
        credentials,
        from: from.to_owned(),
        subject: src.text("SMTP_SUBJECT")?.to_owned(),
        timeout: Duration::from_secs(src.parse::<u64>("SMTP_TIMEOUT_SECS", "seconds")?.max(1)),
    }))
}

fn load_or_create_sandbox_secrets(data_dir: &Path) -> Result<(PathBuf, SandboxSecrets), ConfigError> {
    let path = data_dir.join("sandbox-secrets.json");
    let err = |message: String| ConfigError::SandboxSecrets { path: path.clone(), message };
    let mut rng = rand::rng();
    if let Ok(text) = fs::read_to_string(&path) {
        let mut secrets: SandboxSecrets = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if !secrets.api_key.is_empty() {
            return Ok((path, secrets));
        }
        // A file from before API keys existed: complete it.
        secrets.api_key = format!("sb_dev_{}", hex::encode(rng.random::<[u8; 16]>()));
        let text = serde_json::to_string_pretty(&secrets).map_err(|e| err(e.to_string()))?;
        write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        return Ok((path, secrets));
    }
    fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let secrets = SandboxSecrets {
        app_secret: hex::encode(rng.random::<[u8; 32]>()),
        verify_token: hex::encode(rng.random::<[u8; 16]>()),
        api_key: format!("sb_dev_{}", hex::encode(rng.random::<[u8; 16]>())),
    };
    let text = serde_json::to_string_pretty(&secrets).map_err(|e| err(e.to_string()))?;
    write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok((path, secrets))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
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
        src.set(
            "SWITCHBOARD_AGENTS",
            "billing=http://127.0.0.1:9001/|Billing, refund ; weather=https://w.example|weather",
        );
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
                let cells: Vec<String> = line
                    .replace("\\|", "\u{0}")
                    .split('|')
                    .map(|c| c.replace('\u{0}', "|").trim().to_owned())
                    .collect();
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
}
