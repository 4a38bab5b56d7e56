//! What the service knows of its WhatsApp account's health (token, Graph, phone number,
//! webhook subscription): the report `/health/whatsapp`, the status page and
//! `switchboard check` show, and the port that produces it.

use async_trait::async_trait;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// Why the account is not healthy: a stable `code` that anyone may see, and a `detail`
/// (scrubbed of secrets, but still the operator's business) that needs the API key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReason {
    pub code: ReasonCode,
    pub detail: String,
}

/// The stable reason codes of `/health/whatsapp` (docs/operations.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// No answer from Graph (refused, timed out, reset).
    GraphUnreachable,
    /// The access token has expired.
    TokenExpired,
    /// The access token is invalid or revoked (Graph error 190, `debug_token` says so).
    TokenInvalid,
    /// The access token expires within 7 days.
    TokenExpiring,
    /// `debug_token` failed for another reason (the app token may be wrong).
    TokenCheckFailed,
    /// The phone number's quality rating is YELLOW or RED.
    QualityRatingLow,
    /// The phone number is banned, deleted or disconnected.
    PhoneNumberUnavailable,
    /// The phone number is in another state than CONNECTED (flagged, pending, ...).
    PhoneNumberNotConnected,
    /// Graph refused the phone number lookup for another reason.
    PhoneNumberLookupFailed,
    /// No app is subscribed to the account's webhooks: messages will not arrive.
    WebhookNotSubscribed,
    /// The webhook subscription could not be checked.
    SubscriptionCheckFailed,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphUnreachable => "graph_unreachable",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpiring => "token_expiring",
            Self::TokenCheckFailed => "token_check_failed",
            Self::QualityRatingLow => "quality_rating_low",
            Self::PhoneNumberUnavailable => "phone_number_unavailable",
            Self::PhoneNumberNotConnected => "phone_number_not_connected",
            Self::PhoneNumberLookupFailed => "phone_number_lookup_failed",
            Self::WebhookNotSubscribed => "webhook_not_subscribed",
            Self::SubscriptionCheckFailed => "subscription_check_failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatsAppHealthReport {
    pub status: HealthStatus,
    pub reasons: Vec<HealthReason>,
    pub graph_reachable: bool,
    pub token_valid: Option<bool>,
    pub token_expires_in_days: Option<f64>,
    pub phone_number_status: Option<String>,
    pub quality_rating: Option<String>,
    pub webhook_subscribed: Option<bool>,
    pub checked_at: String,
}

impl WhatsAppHealthReport {
    /// What anyone may see: the status and the reason codes.
    pub fn public_view(&self) -> serde_json::Value {
        let codes: Vec<&str> = self.reasons.iter().map(|r| r.code.as_str()).collect();
        serde_json::json!({"status": self.status, "reasons": codes, "checked_at": self.checked_at})
    }
}

/// The WhatsApp account's health, as the Graph adapter finds it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountHealth: Send + Sync {
    /// The report, from a short cache when fresh (so health checks do not hammer Meta).
    async fn check(&self) -> WhatsAppHealthReport;
}
