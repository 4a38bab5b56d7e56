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
//!
//! The module is laid out as: `keys` (the [`KEYS`] table), `source` (raw values from the
//! environment and the TOML file), `load` ([`Config::load`] and the mode and secrets
//! rules), `sections` (reading and checking each section: delivery, agents, SMTP,
//! OpenTelemetry) and `sandbox` (the secrets generated in sandbox mode).

mod keys;
mod load;
mod proxies;
mod sandbox;
mod sections;
mod source;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::telemetry::LogFormat;
use switchboard_shared::retry::RetryPolicy;

pub use keys::{KEYS, Key, KeyDefault};
pub use load::redact_url;
pub use proxies::TrustedProxies;
pub use source::ConfigSource;

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
    /// The proxies whose `X-Forwarded-For` names the client (none: the peer is).
    pub trusted_proxies: TrustedProxies,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May hold a password, hence secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub busy_timeout: Duration,
    /// SQLite only: fsync every commit (`true`, the default) or leave it to the WAL.
    pub sqlite_full_sync: bool,
    /// SQLite only: how long after a commit began the next one with few writes may
    /// begin (ADR 0037).
    pub sqlite_commit_wait: Duration,
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
    /// How long the list of approved templates is reused.
    pub templates_cache: Duration,
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
    /// Push notification URLs may name internal addresses.
    pub push_allow_internal: bool,
}

/// People in the loop: when they are called, and how they are told.
#[derive(Debug, Clone)]
pub struct HandoffConfig {
    pub keywords: switchboard_domain::HandoffKeywords,
    pub after_fallbacks: u32,
    pub acknowledgement: String,
    pub notify_email: Option<switchboard_domain::EmailAddress>,
    /// The operators' webhook and the key that signs it.
    pub webhook: Option<(SecretString, SecretString)>,
}

/// Files both ways: where they are kept, which users' files are, and their links.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub store: MediaStoreConfig,
    pub policy: switchboard_domain::InboundMediaPolicy,
    pub inline_max_bytes: u64,
    pub link_ttl: Duration,
    /// The key that signs links: configured, or derived from the app secret.
    pub link_key: SecretString,
}

/// Where the media store keeps files (`SWITCHBOARD_MEDIA_STORE`).
#[derive(Debug, Clone)]
pub enum MediaStoreConfig {
    /// In a folder of this machine, or one every replica mounts.
    Folder { dir: PathBuf },
    /// In an S3-compatible bucket.
    S3(S3MediaConfig),
}

/// An S3-compatible bucket (`SWITCHBOARD_MEDIA_S3_*`), addressed path-style.
#[derive(Debug, Clone)]
pub struct S3MediaConfig {
    /// `http(s)://host[:port]`, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
    /// Written before every key as it is (`switchboard/` keeps files under `switchboard/in/…`).
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
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

/// The operator console: sessions and sign-in throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub session_ttl: Duration,
    /// Always mark the console's cookies Secure (else only over https).
    pub secure_cookies: bool,
    /// Failed sign-ins for one name or address within `sign_in_window` before it is
    /// refused for a window.
    pub sign_in_attempts: u32,
    pub sign_in_window: Duration,
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
    pub handoff: HandoffConfig,
    pub media: MediaConfig,
    /// The stop and start words and what the user is told.
    pub consent: switchboard_application::usecases::ConsentRules,
    /// Keys accepted by the REST API.
    pub api_keys: Vec<SecretString>,
    pub console: ConsoleConfig,
    pub log: LogConfig,
    pub otel: OtelConfig,
    /// Set when a sandbox secret came from the data directory rather than configuration;
    /// start-up prints those (and only those) once.
    pub sandbox_secrets_file: Option<PathBuf>,
    /// Which secrets were generated for the sandbox: a configured one is never printed.
    pub sandbox_generated: GeneratedSecrets,
}

/// The sandbox secrets taken from the data directory because configuration had none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeneratedSecrets {
    pub app_secret: bool,
    pub verify_token: bool,
    pub api_key: bool,
}

pub const SANDBOX_PHONE_NUMBER_ID: &str = "100000000000001";
pub const SANDBOX_BUSINESS_ACCOUNT_ID: &str = "200000000000001";
