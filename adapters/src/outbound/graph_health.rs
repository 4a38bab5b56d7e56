//! What `/health/whatsapp` and `switchboard check` see of the WhatsApp account: is the
//! token valid and for how long (Graph `debug_token` when an app token is configured,
//! else a cheap authenticated call), is Graph reachable, the phone number's status and
//! quality rating, and whether an app is subscribed to the account's webhooks. Cached,
//! so health checks do not hammer Meta.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest_middleware::ClientWithMiddleware;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use switchboard_shared::secrets;
use time::OffsetDateTime;

use super::http;
pub use switchboard_application::ports::{AccountHealth, HealthReason, HealthStatus, ReasonCode, WhatsAppHealthReport};

#[derive(Debug, Clone)]
pub struct HealthSettings {
    pub base_url: String,
    pub api_version: String,
    pub access_token: SecretString,
    /// `app_id|app_secret`: enables `debug_token` (expiry date).
    pub app_token: Option<SecretString>,
    pub phone_number_id: String,
    pub business_account_id: Option<String>,
    pub cache_for: Duration,
    pub timeout: Duration,
}

/// Percent-encodes a query value (tokens hold `|` and may hold `+` or `/`).
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Checks the account every `every` until `stop`, so the token gauges (and the alerts on
/// them) stay current at night, when nobody calls `/health/whatsapp`.
pub fn check_in_background(
    health: std::sync::Arc<WhatsAppHealth>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {
                    let report = health.refresh().await;
                    if report.status != HealthStatus::Healthy {
                        let codes: Vec<&str> = report.reasons.iter().map(|r| r.code.as_str()).collect();
                        tracing::warn!(status = ?report.status, reasons = ?codes, "background WhatsApp check");
                    }
                }
            }
        }
    });
}

pub struct WhatsAppHealth {
    http: ClientWithMiddleware,
    settings: HealthSettings,
    cache: Mutex<Option<(Instant, WhatsAppHealthReport)>>,
}

enum Call {
    Ok(Value),
    /// Graph answered with an error code.
    Error(i64, String),
    Unreachable(String),
}

#[async_trait::async_trait]
impl AccountHealth for WhatsAppHealth {
    /// The report, from cache when fresh.
    async fn check(&self) -> WhatsAppHealthReport {
        if let Some((at, report)) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
            && at.elapsed() < self.settings.cache_for
        {
            return report.clone();
        }
        self.refresh().await
    }
}

impl WhatsAppHealth {
    pub fn new(settings: HealthSettings) -> anyhow::Result<Self> {
        Ok(Self { http: http::client(settings.timeout)?, settings, cache: Mutex::new(None) })
    }

    /// One Graph call, authorised by `bearer` in the `Authorization` header (never in
    /// the query). Whatever fails, the text that comes back is scrubbed (ADR 0015).
    async fn get(&self, path: &str, query: &[(&str, &str)], bearer: &SecretString) -> Call {
        let mut url = format!("{}/{}/{path}", self.settings.base_url, self.settings.api_version);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{k}={}", urlencode(v)));
        }
        let request = self.http.get(url).bearer_auth(bearer.expose_secret());
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                super::graph::count_call(if e.is_timeout() { "timeout" } else { "network" });
                return Call::Unreachable(http::describe(&e));
            }
        };
        let status = response.status();
        let body: Value = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(e) => {
                super::graph::count_call("timeout");
                return Call::Unreachable(http::describe_reqwest(&e));
            }
        };
        if status.is_success() {
            super::graph::count_call("ok");
            return Call::Ok(body);
        }
        super::graph::count_call("graph_error");
        let code = body.pointer("/error/code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16()));
        let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("error");
        Call::Error(code, secrets::scrub(message))
    }

    /// Asks Meta now, updates the cache and the token gauges, and returns the report.
    #[tracing::instrument(name = "whatsapp.health_check", skip_all)]
    pub async fn refresh(&self) -> WhatsAppHealthReport {
        let report = self.check_now().await;
        if let Some(days) = report.token_expires_in_days {
            metrics::gauge!("whatsapp_token_expires_in_days").set(days);
        }
        metrics::gauge!("whatsapp_token_valid").set(if report.token_valid == Some(false) { 0.0 } else { 1.0 });
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), report.clone()));
        report
    }

    async fn check_now(&self) -> WhatsAppHealthReport {
        let mut report = WhatsAppHealthReport {
            status: HealthStatus::Healthy,
            reasons: Vec::new(),
            graph_reachable: true,
            token_valid: None,
            token_expires_in_days: None,
            phone_number_status: None,
            quality_rating: None,
            webhook_subscribed: None,
            checked_at: OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        let worst = |report: &mut WhatsAppHealthReport, status: HealthStatus, code: ReasonCode, detail: String| {
            report.status = report.status.max(status);
            report.reasons.push(HealthReason { code, detail });
        };

        if let Some(app_token) = &self.settings.app_token {
            // The token being inspected must be in the query (Graph takes it nowhere else);
            // the app token authorises the call from the header.
            let token = self.settings.access_token.expose_secret().to_owned();
            match self.get("debug_token", &[("input_token", &token)], app_token).await {
                Call::Ok(body) => {
                    let valid = body.pointer("/data/is_valid").and_then(Value::as_bool).unwrap_or(false);
                    report.token_valid = Some(valid);
                    let expires = body.pointer("/data/expires_at").and_then(Value::as_i64).unwrap_or(0);
                    if !valid {
                        let expired = expires > 0 && expires <= OffsetDateTime::now_utc().unix_timestamp();
                        let (code, detail) = if expired {
                            (ReasonCode::TokenExpired, "the access token has expired (debug_token)")
                        } else {
                            (ReasonCode::TokenInvalid, "the access token is invalid or revoked (debug_token)")
                        };
                        worst(&mut report, HealthStatus::Unhealthy, code, String::from(detail));
                    }
                    if expires > 0 {
                        #[expect(clippy::cast_precision_loss, reason = "days to expiry need no more than f64")]
                        let days = (expires - OffsetDateTime::now_utc().unix_timestamp()) as f64 / 86_400.0;
                        report.token_expires_in_days = Some(days);
                        if valid && days < 7.0 {
                            worst(
                                &mut report,
                                HealthStatus::Degraded,
                                ReasonCode::TokenExpiring,
                                format!("access token expires in {days:.1} days"),
                            );
                        }
                    }
                }
                Call::Error(code, message) => worst(
                    &mut report,
                    HealthStatus::Degraded,
                    ReasonCode::TokenCheckFailed,
                    format!("debug_token failed ({code}): {message}"),
                ),
                Call::Unreachable(e) => {
                    report.graph_reachable = false;
                    worst(
                        &mut report,
                        HealthStatus::Unhealthy,
                        ReasonCode::GraphUnreachable,
                        format!("Graph API unreachable: {e}"),
                    );
                }
            }
        }

        let fields = [("fields", "display_phone_number,verified_name,quality_rating,status,name_status")];
        match self.get(&self.settings.phone_number_id, &fields, &self.settings.access_token).await {
            Call::Ok(body) => {
                report.token_valid.get_or_insert(true);
                report.quality_rating = body.get("quality_rating").and_then(Value::as_str).map(str::to_owned);
                report.phone_number_status = body.get("status").and_then(Value::as_str).map(str::to_owned);
                match report.quality_rating.clone().as_deref() {
                    Some("YELLOW") => worst(
                        &mut report,
                        HealthStatus::Degraded,
                        ReasonCode::QualityRatingLow,
                        String::from("phone number quality rating is YELLOW"),
                    ),
                    Some("RED") => worst(
                        &mut report,
                        HealthStatus::Degraded,
                        ReasonCode::QualityRatingLow,
                        String::from("phone number quality rating is RED: sending is limited"),
                    ),
                    _ => {}
                }
                match report.phone_number_status.clone().as_deref() {
                    None | Some("CONNECTED") => {}
                    Some(s @ ("BANNED" | "DELETED" | "DISCONNECTED")) => worst(
                        &mut report,
                        HealthStatus::Unhealthy,
                        ReasonCode::PhoneNumberUnavailable,
                        format!("phone number status is {s}"),
                    ),
                    Some(s) => worst(
                        &mut report,
                        HealthStatus::Degraded,
                        ReasonCode::PhoneNumberNotConnected,
                        format!("phone number status is {s}"),
                    ),
                }
            }
            Call::Error(code @ (0 | 190 | 401), message) => {
                report.token_valid = Some(false);
                // debug_token may already have said why.
                if !report.reasons.iter().any(|r| matches!(r.code, ReasonCode::TokenExpired | ReasonCode::TokenInvalid))
                {
                    let code_name =
                        if message.contains("expired") { ReasonCode::TokenExpired } else { ReasonCode::TokenInvalid };
                    worst(
                        &mut report,
                        HealthStatus::Unhealthy,
                        code_name,
                        format!("access token rejected ({code}): {message}"),
                    );
                }
            }
            Call::Error(code, message) => worst(
                &mut report,
                HealthStatus::Unhealthy,
                ReasonCode::PhoneNumberLookupFailed,
                format!("phone number lookup failed ({code}): {message}"),
            ),
            Call::Unreachable(e) => {
                report.graph_reachable = false;
                if !report.reasons.iter().any(|r| r.code == ReasonCode::GraphUnreachable) {
                    worst(
                        &mut report,
                        HealthStatus::Unhealthy,
                        ReasonCode::GraphUnreachable,
                        format!("Graph API unreachable: {e}"),
                    );
                }
            }
        }

        if let Some(waba) = self.settings.business_account_id.clone()
            && report.graph_reachable
            && report.token_valid != Some(false)
        {
            match self.get(&format!("{waba}/subscribed_apps"), &[], &self.settings.access_token).await {
                Call::Ok(body) => {
                    let subscribed = body.get("data").and_then(Value::as_array).is_some_and(|d| !d.is_empty());
                    report.webhook_subscribed = Some(subscribed);
                    if !subscribed {
                        worst(
                            &mut report,
                            HealthStatus::Degraded,
                            ReasonCode::WebhookNotSubscribed,
                            String::from("no app is subscribed to the account's webhooks: messages will not arrive"),
                        );
                    }
                }
                Call::Error(code, message) => worst(
                    &mut report,
                    HealthStatus::Degraded,
                    ReasonCode::SubscriptionCheckFailed,
                    format!("subscribed_apps failed ({code}): {message}"),
                ),
                Call::Unreachable(e) => worst(
                    &mut report,
                    HealthStatus::Degraded,
                    ReasonCode::SubscriptionCheckFailed,
                    format!("subscribed_apps unreachable: {e}"),
                ),
            }
        }
        report
    }
}
