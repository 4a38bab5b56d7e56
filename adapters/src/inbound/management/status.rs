//! `GET /api/v1/status`: configuration (no secrets), counters and health.

use super::*;

/// An agent of the registry: where it is, without any credential in its address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub name: String,
    /// Scheme, host, port and path only (no user info, no query).
    pub url: String,
    pub intents: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RateLimitSummary {
    pub enabled: bool,
    pub per_number_per_second: u32,
    /// Per sending number id.
    pub per_number_overrides: std::collections::BTreeMap<String, u32>,
    pub recipient_burst: u32,
    pub recipient_interval_ms: u64,
    /// The inbound sender limit: turns at once per sender (`None`: no limit).
    pub sender_burst: Option<u32>,
    /// Then turns per minute per sender (`None`: no limit).
    pub sender_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FallbackSummary {
    /// Outside the 24-hour window: `template` or `email`.
    pub outside_window: String,
    /// The re-engagement template's name, when configured.
    pub reengagement_template: Option<String>,
    /// Whether SMTP is configured (else email goes to files under the data directory).
    pub smtp_configured: bool,
    /// `channels.gmail.priority` as configured at start (the run-time value is `email_priority`).
    pub email_priority_default: bool,
}

/// OpenTelemetry span export.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtelSummary {
    /// Spans are exported over OTLP/HTTP (an endpoint is configured).
    pub enabled: bool,
    /// `http/protobuf` or `http/json`.
    pub protocol: String,
    pub service_name: String,
}

/// The configuration as operators may see it: no secret, no database URL, no token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusConfig {
    pub version: String,
    /// `sandbox` or `live`.
    pub mode: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    pub whatsapp_phone_number_id: String,
    pub whatsapp_api_version: String,
    pub whatsapp_access_token_set: bool,
    pub workers: usize,
    /// `builtin` (keywords) or `a2a`.
    pub classifier: String,
    pub default_agent: String,
    pub agents: Vec<AgentSummary>,
    pub rate_limits: RateLimitSummary,
    pub fallback: FallbackSummary,
    pub otel: OtelSummary,
    pub api_keys_configured: usize,
}

/// An address without user info or query, which may hold credentials.
impl StatusConfig {
    pub fn from_config(config: &Config) -> Self {
        use secrecy::ExposeSecret;
        let database = if config.database.url.expose_secret().starts_with("postgres") { "postgres" } else { "sqlite" };
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            mode: String::from(match config.mode {
                Mode::Sandbox => "sandbox",
                Mode::Live => "live",
            }),
            database: database.to_owned(),
            whatsapp_phone_number_id: config.whatsapp.phone_number_id.clone(),
            whatsapp_api_version: config.whatsapp.api_version.clone(),
            whatsapp_access_token_set: config.whatsapp.access_token.is_some(),
            workers: config.workers.count,
            classifier: String::from(if config.agents.classifier_url.is_some() { "a2a" } else { "builtin" }),
            default_agent: config.agents.default_agent.clone(),
            agents: config
                .agents
                .agents
                .iter()
                .map(|a| AgentSummary {
                    name: a.name.clone(),
                    url: switchboard_shared::secrets::public_address(&a.url),
                    intents: a.intents.clone(),
                })
                .collect(),
            rate_limits: RateLimitSummary {
                enabled: config.delivery.rate_limits_enabled,
                per_number_per_second: config.delivery.per_number_rate,
                per_number_overrides: config.delivery.per_number_overrides.clone(),
                recipient_burst: config.delivery.recipient_burst,
                recipient_interval_ms: u64::try_from(config.delivery.recipient_interval.as_millis())
                    .unwrap_or(u64::MAX),
                sender_burst: config.agents.sender_limit.map(|l| l.burst),
                sender_per_minute: config.agents.sender_limit.map(|l| l.per_minute),
            },
            fallback: FallbackSummary {
                outside_window: String::from(match config.delivery.outside_window {
                    switchboard_runtime::config::OutsideWindow::Template => "template",
                    switchboard_runtime::config::OutsideWindow::Email => "email",
                }),
                reengagement_template: config.delivery.reengagement_template.as_ref().map(|t| t.name.clone()),
                smtp_configured: config.smtp.is_some(),
                email_priority_default: config.delivery.email_priority,
            },
            otel: OtelSummary {
                enabled: config.otel.traces_endpoint.is_some(),
                protocol: String::from(match config.otel.protocol {
                    switchboard_runtime::config::OtlpProtocol::HttpProtobuf => "http/protobuf",
                    switchboard_runtime::config::OtlpProtocol::HttpJson => "http/json",
                }),
                service_name: config.otel.service_name.clone(),
            },
            api_keys_configured: config.api_keys.len(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountersBody {
    pub messages_received: i64,
    pub messages_processed: i64,
    /// Every state, zero included.
    pub deliveries: std::collections::BTreeMap<String, i64>,
    pub queue_depth: i64,
    pub oldest_job_age_seconds: f64,
    pub dead_jobs: i64,
    pub quarantined_events: i64,
}

impl From<OperationalCounters> for CountersBody {
    fn from(c: OperationalCounters) -> Self {
        let mut deliveries: std::collections::BTreeMap<String, i64> =
            ["pending", "sent", "delivered", "read", "failed"].into_iter().map(|s| (s.to_owned(), 0)).collect();
        deliveries.extend(c.deliveries);
        Self {
            messages_received: c.messages_received,
            messages_processed: c.messages_processed,
            deliveries,
            queue_depth: c.queue_depth,
            oldest_job_age_seconds: c.oldest_job_age_seconds,
            dead_jobs: c.dead_jobs,
            quarantined_events: c.quarantined_events,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthBody {
    pub ready: bool,
    /// Why not ready, when not.
    pub reasons: Vec<String>,
    /// `/health/ready`'s checks.
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
    /// `/health/whatsapp`'s report, from its cache (Meta is asked at most once per cache period).
    #[schema(value_type = Object)]
    pub whatsapp: serde_json::Value,
    /// The agents registered by URL alone: `{name, url, up, skills, bindings}` as their
    /// cards were last fetched (a down agent's skills are not routed to).
    #[schema(value_type = Vec<Object>)]
    pub agents: Vec<switchboard_application::ports::AgentHealth>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    pub config: StatusConfig,
    /// `channels.gmail.priority` now (switchable at run time); `null` when unreadable.
    pub email_priority: Option<bool>,
    /// `null` when the database cannot be read (then `health.ready` is false too).
    pub counters: Option<CountersBody>,
    pub health: HealthBody,
}

/// `GET /api/v1/status`: configuration (no secrets), counters and health.
///
/// The OTLP endpoint itself is left out: collectors often take a key in its query.
#[utoipa::path(get, path = "/api/v1/status", tag = "Operations", security(("api_key" = [])),
    summary = "Show configuration, counters and health",
    description = "The configuration without secrets (the OTLP endpoint is left out: collectors often take a key in its query), message, delivery and queue counters, readiness, the WhatsApp account's health, and each agent registered by URL alone (up or down, its skills and bindings). Counters are `null` when the database cannot be read.",
    responses((status = 200, description = "configuration summary without secrets, counters, readiness and WhatsApp health", body = StatusBody), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.status")]
pub async fn status(
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    readiness: web::Data<Readiness>,
    whatsapp: web::Data<WhatsAppHealthState>,
) -> Result<HttpResponse, ApiError> {
    let counters = match state.reads.counters().await {
        Ok(c) => Some(CountersBody::from(c)),
        Err(e) => {
            log_unreadable(&e);
            None
        }
    };
    let email_priority = match api.settings.email_priority().await {
        Ok(on) => Some(on),
        Err(e) => {
            log_unreadable(&e);
            None
        }
    };
    let ready = readiness_report(state.store_health.as_ref(), &readiness).await;
    let whatsapp = match &whatsapp.0 {
        None => serde_json::json!({"status": "healthy", "mode": "sandbox"}),
        Some(health) => serde_json::to_value(health.check().await).unwrap_or_default(),
    };
    Ok(HttpResponse::Ok().json(StatusBody {
        config: state.status.clone(),
        email_priority,
        counters,
        health: HealthBody {
            ready: ready.reasons.is_empty(),
            reasons: ready.reasons,
            checks: ready.checks,
            whatsapp,
            agents: state.agents.agents(),
        },
    }))
}

pub(super) fn log_unreadable(e: &StoreError) {
    tracing::warn!(error = %e, "status: the database could not be read");
}
