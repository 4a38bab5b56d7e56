//! `GET /metrics`: Prometheus text format. Counters and histograms are recorded where
//! things happen (through the `metrics` facade); the queue and delivery gauges are read
//! from the database at scrape time, so every replica reports the shared truth.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use switchboard_application::ports::{Gauges, People};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls reuse it).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            // A person's first reply takes minutes to hours, not milliseconds.
            let human = [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(String::from("switchboard_handoff_first_reply_seconds")), &human)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix(String::from("_seconds")), &buckets));
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

pub struct MetricsState {
    pub handle: Option<PrometheusHandle>,
    pub gauges: std::sync::Arc<dyn Gauges>,
    /// Conversations waiting for a person.
    pub people: std::sync::Arc<dyn People>,
}

#[utoipa::path(get, path = "/metrics", tag = "Health",
    summary = "Prometheus metrics",
    description = "Counters and histograms of this replica; queue and delivery gauges read from the database at scrape time, so every replica reports the shared truth.",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn render(state: web::Data<MetricsState>) -> HttpResponse {
    match state.gauges.gauges(time::OffsetDateTime::now_utc()).await {
        Ok(snapshot) => {
            metrics::gauge!("switchboard_job_queue_depth").set(snapshot.queued as f64);
            metrics::gauge!("switchboard_job_oldest_age_seconds").set(snapshot.oldest_age_seconds);
            metrics::gauge!("switchboard_jobs_dead").set(snapshot.dead as f64);
            for state in ["pending", "sent", "delivered", "read", "failed"] {
                let n = snapshot.deliveries.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
                metrics::gauge!("switchboard_deliveries", "state" => state).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: database gauges unavailable"),
    }
    match state.people.waiting().await {
        Ok(waiting) => {
            let now = time::OffsetDateTime::now_utc();
            let oldest = waiting.oldest_since.map_or(0.0, |since| (now - since).as_seconds_f64().max(0.0));
            metrics::gauge!("switchboard_handoff_waiting").set(waiting.count as f64);
            metrics::gauge!("switchboard_handoff_oldest_wait_seconds").set(oldest);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: handoff gauges unavailable"),
    }
    let body = state.handle.as_ref().map(PrometheusHandle::render).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body)
}

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric the service exports: its name, kind, `# HELP` text, and the label sets
/// it is created with at zero before anything happens (a series that does not exist yet
/// cannot be told from one that broke, and `rate(x{status="error"}[5m])` of a missing
/// series is empty, not 0).
pub struct MetricSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Label sets created at zero (counters only); empty means one unlabelled series.
    pub zero: &'static [&'static [(&'static str, &'static str)]],
}

const fn metric(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    zero: &'static [&'static [(&'static str, &'static str)]],
) -> MetricSpec {
    MetricSpec { name, kind, help, zero }
}

/// Every metric, once: docs/operations.md lists the same names, and a test checks that
/// each series on `/metrics` is one of these and has its `# HELP`.
pub const METRICS: &[MetricSpec] = &[
    metric(
        "whatsapp_messages_received_total",
        Kind::Counter,
        "Messages received in signed webhooks and stored (duplicates not counted)",
        &[],
    ),
    metric(
        "whatsapp_messages_sent_total",
        Kind::Counter,
        "Outbound messages by outcome: success (Graph accepted it), rerouted (WhatsApp could not deliver; sent by email instead), failed (the delivery failed)",
        &[&[("status", "success")], &[("status", "rerouted")], &[("status", "failed")]],
    ),
    metric(
        "whatsapp_api_calls_total",
        Kind::Counter,
        "Graph API calls (sends, media, health checks): status success or error; outcome says how an error failed (timeout, network, graph_error)",
        &[
            &[("status", "success"), ("outcome", "ok")],
            &[("status", "error"), ("outcome", "timeout")],
            &[("status", "error"), ("outcome", "network")],
            &[("status", "error"), ("outcome", "graph_error")],
        ],
    ),
    metric(
        "whatsapp_api_errors_total",
        Kind::Counter,
        "Graph API errors by Meta's error code (known codes; other for the rest)",
        &[],
    ),
    metric(
        "whatsapp_webhook_duration_seconds",
        Kind::Histogram,
        "Time from a webhook's arrival to its answer, by outcome",
        &[],
    ),
    metric(
        "whatsapp_webhook_signature_failures_total",
        Kind::Counter,
        "Webhooks refused for their X-Hub-Signature-256, by reason (nothing stored)",
        &[&[("reason", "missing")], &[("reason", "malformed")], &[("reason", "mismatch")]],
    ),
    metric(
        "whatsapp_webhook_verifications_failed_total",
        Kind::Counter,
        "Verification handshakes refused (wrong mode or verify token)",
        &[],
    ),
    metric(
        "whatsapp_webhooks_rejected_total",
        Kind::Counter,
        "Webhook bodies refused before their signature was checked, by reason",
        &[],
    ),
    metric(
        "whatsapp_token_valid",
        Kind::Gauge,
        "1 while the access token is valid, 0 once Graph or debug_token says it is not",
        &[],
    ),
    metric(
        "whatsapp_token_expires_in_days",
        Kind::Gauge,
        "Days until the access token expires (from debug_token; needs WHATSAPP_APP_TOKEN)",
        &[],
    ),
    metric("switchboard_build_info", Kind::Gauge, "Always 1; the labels say which build runs", &[]),
    metric("switchboard_job_queue_depth", Kind::Gauge, "Jobs queued or running", &[]),
    metric("switchboard_job_oldest_age_seconds", Kind::Gauge, "Age of the oldest queued job", &[]),
    metric("switchboard_jobs_dead", Kind::Gauge, "Jobs that ran out of attempts and wait for an operator", &[]),
    metric("switchboard_deliveries", Kind::Gauge, "Deliveries by state", &[]),
    metric(
        "switchboard_fallbacks_total",
        Kind::Counter,
        "Messages sent by email instead of WhatsApp, by reason",
        &[&[("reason", "email_priority")], &[("reason", "outside_window")]],
    ),
    metric(
        "switchboard_emails_sent_total",
        Kind::Counter,
        "Emails accepted by the SMTP server (or written as .eml files)",
        &[],
    ),
    metric(
        "switchboard_classifications_total",
        Kind::Counter,
        "Messages classified, by intent (unknown intents as other)",
        &[],
    ),
    metric("switchboard_agent_call_duration_seconds", Kind::Histogram, "Agent calls by agent and outcome", &[]),
    metric(
        "switchboard_agent_transfers_total",
        Kind::Counter,
        "Conversations an agent handed to another agent (the transfer convention)",
        &[],
    ),
    metric(
        "switchboard_agent_up",
        Kind::Gauge,
        "Agents registered by URL alone: 1 when their card was fetched at the last refresh, 0 when not (their skills are not routed to)",
        &[],
    ),
    metric(
        "switchboard_rate_limit_waits_total",
        Kind::Counter,
        "Sends that waited for Meta's pacing, by limiter (number or recipient)",
        &[&[("limiter", "number")], &[("limiter", "recipient")]],
    ),
    metric(
        "switchboard_inbound_throttled_total",
        Kind::Counter,
        "Inbound messages the sender limit held back: stored and acknowledged, handed to the agents later, together, in the sender's next turn",
        &[&[]],
    ),
    metric(
        "switchboard_handoffs_total",
        Kind::Counter,
        "Conversations that went to people, by reason: user_asked, agent_asked, repeated_fallback",
        &[&[("reason", "user_asked")], &[("reason", "agent_asked")], &[("reason", "repeated_fallback")]],
    ),
    metric(
        "switchboard_consent_changes_total",
        Kind::Counter,
        "Consent changes, by change (opted_out, opted_out_marketing, opted_in) and source (user_keyword, operator, api, meta_131050)",
        &[
            &[("change", "opted_out"), ("source", "user_keyword")],
            &[("change", "opted_in"), ("source", "user_keyword")],
            &[("change", "opted_out"), ("source", "operator")],
            &[("change", "opted_in"), ("source", "operator")],
            &[("change", "opted_out"), ("source", "api")],
            &[("change", "opted_in"), ("source", "api")],
            &[("change", "opted_out_marketing"), ("source", "meta_131050")],
        ],
    ),
    metric(
        "switchboard_media_stored_total",
        Kind::Counter,
        "Files kept in the media store, by direction: inbound (a user's, for the agent), outbound (an agent's, until sent) or upload (a caller's, to send)",
        &[&[("direction", "inbound")], &[("direction", "outbound")], &[("direction", "upload")]],
    ),
    metric(
        "switchboard_media_refused_total",
        Kind::Counter,
        "Files not kept, by reason: too_large, type_not_allowed, hash_mismatch, unavailable (users' files), meta_limit (agents' files)",
        &[
            &[("reason", "too_large")],
            &[("reason", "type_not_allowed")],
            &[("reason", "hash_mismatch")],
            &[("reason", "unavailable")],
            &[("reason", "meta_limit")],
        ],
    ),
    metric(
        "switchboard_consent_refusals_total",
        Kind::Counter,
        "Sends refused because the contact opted out, by scope: business_initiated, marketing",
        &[&[("scope", "business_initiated")], &[("scope", "marketing")]],
    ),
    metric(
        "switchboard_handoff_actions_total",
        Kind::Counter,
        "Operators' actions on conversations, by action: take_over, hand_back, close",
        &[&[("action", "take_over")], &[("action", "hand_back")], &[("action", "close")]],
    ),
    metric(
        "switchboard_handoff_waiting",
        Kind::Gauge,
        "Conversations waiting for a person now: the user, an agent or the fallback policy asked for one and no operator has answered since (taking it over alone does not end the wait)",
        &[],
    ),
    metric(
        "switchboard_handoff_oldest_wait_seconds",
        Kind::Gauge,
        "How long the conversation that has waited longest for a person has waited (0 when none waits)",
        &[],
    ),
    metric(
        "switchboard_handoff_first_reply_seconds",
        Kind::Histogram,
        "Seconds from a handoff to people to the first operator reply accepted for delivery (an operator's own take-over of a conversation nobody waited on is not counted)",
        &[],
    ),
    metric(
        "http_requests_refused_total",
        Kind::Counter,
        "Requests refused before their handler, by reason (unauthorized, payload_too_large, ...)",
        &[&[("reason", "unauthorized")]],
    ),
    metric(
        "switchboard_secrets_redacted_total",
        Kind::Counter,
        "Configured secrets replaced by [redacted KEY], by output: source (expected scrubbing of what peers send back), log, span, http (the safety net: a bug)",
        &[&[("output", "source")], &[("output", "log")], &[("output", "span")], &[("output", "http")]],
    ),
    metric(
        "switchboard_console_sign_ins_total",
        Kind::Counter,
        "Console sign-ins by outcome: signed_in, refused (wrong name or password), throttled (too many failures for the name or address)",
        &[&[("outcome", "signed_in")], &[("outcome", "refused")], &[("outcome", "throttled")]],
    ),
    metric(
        "switchboard_sqlite_commit_seconds",
        Kind::Histogram,
        "SQLite group commits, BEGIN to COMMIT with its fsync",
        &[],
    ),
    metric("switchboard_sqlite_writes_total", Kind::Counter, "Writes committed by the SQLite writer", &[]),
    metric(
        "switchboard_sqlite_wal_pages_total",
        Kind::Counter,
        "Pages the SQLite writer's commits appended to the WAL (each written whole and synced)",
        &[],
    ),
    metric("switchboard_sqlite_checkpoint_seconds", Kind::Histogram, "SQLite WAL checkpoints, by where they ran", &[]),
];

/// `# HELP` text for every metric, the counters' known series at zero, and the build.
fn describe() {
    for spec in METRICS {
        match spec.kind {
            Kind::Counter => {
                metrics::describe_counter!(spec.name, spec.help);
                for labels in spec.zero {
                    let labels: Vec<metrics::Label> = labels.iter().map(|(k, v)| metrics::Label::new(*k, *v)).collect();
                    metrics::counter!(spec.name, labels).increment(0);
                }
            }
            Kind::Gauge => metrics::describe_gauge!(spec.name, spec.help),
            Kind::Histogram => metrics::describe_histogram!(spec.name, spec.help),
        }
    }
    metrics::gauge!(
        "switchboard_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "revision" => option_env!("SWITCHBOARD_REVISION").unwrap_or("unknown")
    )
    .set(1.0);
}
