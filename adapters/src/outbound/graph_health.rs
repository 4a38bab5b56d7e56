//! What `/health/whatsapp` and `switchboard check` see of the WhatsApp account: is the
//! token valid and for how long (Graph `debug_token` when an app token is configured,
//! else a cheap authenticated call), is Graph reachable, the phone number's status and
//! quality rating, and whether an app is subscribed to the account's webhooks. Cached,
//! so health checks do not hammer Meta.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_tracing::TracingMiddleware;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatsAppHealthReport {
    pub status: HealthStatus,
    pub reasons: Vec<String>,
    pub graph_reachable: bool,
    pub token_valid: Option<bool>,
    pub token_expires_in_days: Option<f64>,
    pub phone_number_status: Option<String>,
    pub quality_rating: Option<String>,
    pub webhook_subscribed: Option<bool>,
    pub checked_at: String,
}

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

impl WhatsAppHealth {
    pub fn new(settings: HealthSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(settings.timeout).build()?;
        Ok(Self {
            http: ClientBuilder::new(client).with(TracingMiddleware::default()).build(),
            settings,
            cache: Mutex::new(None),
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)], bearer: bool) -> Call {
        let mut url = format!("{}/{}/{path}", self.settings.base_url, self.settings.api_version);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{k}={}", urlencode(v)));
        }
        let mut request = self.http.get(url);
        if bearer {
            request = request.bearer_auth(self.settings.access_token.expose_secret());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Call::Unreachable(e.to_string()),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Call::Ok(body);
        }
        let code = body.pointer("/error/code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16()));
        let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("error").to_owned();
        Call::Error(code, message)
    }

    /// The report, from cache when fresh.
    pub async fn check(&self) -> WhatsAppHealthReport {
        if let Some((at, report)) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
            && at.elapsed() < self.settings.cache_for
        {
            return report.clone();
        }
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
        let worst = |report: &mut WhatsAppHealthReport, status: HealthStatus, reason: String| {
            report.status = report.status.max(status);
            report.reasons.push(reason);
        };

        if let Some(app_token) = &self.settings.app_token {
            let token = self.settings.access_token.expose_secret().to_owned();
            match self
                .get("debug_token", &[("input_token", &token), ("access_token", app_token.expose_secret())], false)
                .await
            {
                Call::Ok(body) => {
                    let valid = body.pointer("/data/is_valid").and_then(Value::as_bool).unwrap_or(false);
                    report.token_valid = Some(valid);
                    if !valid {
                        worst(
                            &mut report,
                            HealthStatus::Unhealthy,
                            String::from("access token is invalid or expired (debug_token)"),
                        );
                    }
                    let expires = body.pointer("/data/expires_at").and_then(Value::as_i64).unwrap_or(0);
                    if expires > 0 {
                        #[expect(clippy::cast_precision_loss, reason = "days to expiry need no more than f64")]
                        let days = (expires - OffsetDateTime::now_utc().unix_timestamp()) as f64 / 86_400.0;
                        report.token_expires_in_days = Some(days);
                        if valid && days < 7.0 {
                            worst(
                                &mut report,
                                HealthStatus::Degraded,
                                format!("access token expires in {days:.1} days"),
                            );
                        }
                    }
                }
                Call::Error(code, message) => {
                    worst(&mut report, HealthStatus::Degraded, format!("debug_token failed ({code}): {message}"))
                }
                Call::Unreachable(e) => {
                    report.graph_reachable = false;
                    worst(&mut report, HealthStatus::Unhealthy, format!("Graph API unreachable: {e}"));
                }
            }
        }

        let fields = [("fields", "display_phone_number,verified_name,quality_rating,status,name_status")];
        match self.get(&self.settings.phone_number_id, &fields, true).await {
            Call::Ok(body) => {
                report.token_valid.get_or_insert(true);
                report.quality_rating = body.get("quality_rating").and_then(Value::as_str).map(str::to_owned);
                report.phone_number_status = body.get("status").and_then(Value::as_str).map(str::to_owned);
                match report.quality_rating.clone().as_deref() {
                    Some("YELLOW") => worst(
                        &mut report,
                        HealthStatus::Degraded,
                        String::from("phone number quality rating is YELLOW"),
                    ),
                    Some("RED") => worst(
                        &mut report,
                        HealthStatus::Degraded,
                        String::from("phone number quality rating is RED: sending is limited"),
                    ),
                    _ => {}
                }
                match report.phone_number_status.clone().as_deref() {
                    None | Some("CONNECTED") => {}
                    Some(s @ ("BANNED" | "DELETED" | "DISCONNECTED")) => {
                        worst(&mut report, HealthStatus::Unhealthy, format!("phone number status is {s}"));
                    }
                    Some(s) => worst(&mut report, HealthStatus::Degraded, format!("phone number status is {s}")),
                }
            }
            Call::Error(code @ (0 | 190 | 401), message) => {
                report.token_valid = Some(false);
                worst(&mut report, HealthStatus::Unhealthy, format!("access token rejected ({code}): {message}"));
            }
            Call::Error(code, message) => {
                worst(&mut report, HealthStatus::Unhealthy, format!("phone number lookup failed ({code}): {message}"))
            }
            Call::Unreachable(e) => {
                report.graph_reachable = false;
                worst(&mut report, HealthStatus::Unhealthy, format!("Graph API unreachable: {e}"));
            }
        }

        if let Some(waba) = self.settings.business_account_id.clone()
            && report.graph_reachable
            && report.token_valid != Some(false)
        {
            match self.get(&format!("{waba}/subscribed_apps"), &[], true).await {
                Call::Ok(body) => {
                    let subscribed = body.get("data").and_then(Value::as_array).is_some_and(|d| !d.is_empty());
                    report.webhook_subscribed = Some(subscribed);
                    if !subscribed {
                        worst(
                            &mut report,
                            HealthStatus::Degraded,
                            String::from("no app is subscribed to the account's webhooks: messages will not arrive"),
                        );
                    }
                }
                Call::Error(code, message) => {
                    worst(&mut report, HealthStatus::Degraded, format!("subscribed_apps failed ({code}): {message}"))
                }
                Call::Unreachable(e) => {
                    worst(&mut report, HealthStatus::Degraded, format!("subscribed_apps unreachable: {e}"))
                }
            }
        }
        report
    }
}
