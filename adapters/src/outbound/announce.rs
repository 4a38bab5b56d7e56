//! Tells operators that a conversation waits for a person: an email through the mailer,
//! and a signed POST for Slack-style integrations. Each is one job of the durable queue.
//!
//! The webhook's body is the [`HandoffNotice`] as JSON (no message text, a masked
//! number). It is signed like Meta signs its webhooks: `X-Switchboard-Signature:
//! sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with `X-Switchboard-Timestamp`
//! (unix seconds), so a receiver can refuse replays. The URL is never logged nor put in
//! a span or an error (a chat service's webhook URL carries its token in the path).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use switchboard_application::jobs::AnnounceChannel;
use switchboard_application::ports::{
    AnnounceError, EmailError, EmailGateway, HandoffNotice, OperatorAlerts, OutboundEmail,
};
use switchboard_domain::EmailAddress;
use switchboard_shared::TraceContext;
use uuid::Uuid;

use super::http::describe_reqwest;

/// Where announcements go; a channel left out refuses its jobs.
pub struct Announcer {
    email: Option<(Arc<dyn EmailGateway>, EmailAddress)>,
    webhook: Option<Webhook>,
}

struct Webhook {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
}

impl Announcer {
    pub fn new() -> Self {
        Self { email: None, webhook: None }
    }

    /// Announces by email to `to` through `mailer`.
    #[must_use]
    pub fn with_email(mut self, mailer: Arc<dyn EmailGateway>, to: EmailAddress) -> Self {
        self.email = Some((mailer, to));
        self
    }

    /// Announces by a POST to `url`, signed with `secret`.
    ///
    /// Errors: the HTTP client cannot be built.
    pub fn with_webhook(mut self, url: String, secret: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        let client =
            reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(5))).build()?;
        self.webhook = Some(Webhook { client, url, secret });
        Ok(self)
    }

    /// The channels configured, for the jobs a handoff enqueues.
    pub fn channels(&self) -> Vec<AnnounceChannel> {
        let mut channels = Vec::new();
        if self.email.is_some() {
            channels.push(AnnounceChannel::Email);
        }
        if self.webhook.is_some() {
            channels.push(AnnounceChannel::Webhook);
        }
        channels
    }
}

impl Default for Announcer {
    fn default() -> Self {
        Self::new()
    }
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes a key of any length.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One line for a chat room.
fn chat_text(notice: &HandoffNotice) -> String {
    let who = notice.profile_name.as_deref().map_or_else(|| notice.user.clone(), |n| format!("{n} ({})", notice.user));
    match &notice.console_url {
        Some(url) => format!("A conversation waits for a person: {who}, {}. {url}", notice.description),
        None => format!("A conversation waits for a person: {who}, {}.", notice.description),
    }
}

fn email_text(notice: &HandoffNotice) -> String {
    let who = notice.profile_name.as_deref().map_or_else(|| notice.user.clone(), |n| format!("{n} ({})", notice.user));
    let mut text = format!(
        "A conversation waits for a person.\n\nWho: {who}\nWhy: {}\nWaiting since: {}\nConversation: {}\n",
        notice.description, notice.waiting_since, notice.conversation_id
    );
    if let Some(url) = &notice.console_url {
        text.push_str(&format!("Open it: {url}\n"));
    }
    text.push_str(&format!("Trace: {}\n", notice.trace_id));
    text
}

#[async_trait]
impl OperatorAlerts for Announcer {
    async fn announce(
        &self,
        channel: AnnounceChannel,
        notice: &HandoffNotice,
        trace: &TraceContext,
    ) -> Result<(), AnnounceError> {
        match channel {
            AnnounceChannel::Email => {
                let Some((mailer, to)) = &self.email else {
                    return Err(AnnounceError::Rejected(String::from("SWITCHBOARD_HANDOFF_NOTIFY_EMAIL is not set")));
                };
                let email = OutboundEmail {
                    to: to.clone(),
                    text: email_text(notice),
                    delivery_id: Uuid::now_v7(),
                    attachments: Vec::new(),
                };
                mailer.send(&email, trace).await.map(|_| ()).map_err(|e| match e {
                    EmailError::Transient(why) => AnnounceError::Transient(why),
                    EmailError::Rejected(why) => AnnounceError::Rejected(why),
                })
            }
            AnnounceChannel::Webhook => {
                let Some(webhook) = &self.webhook else {
                    return Err(AnnounceError::Rejected(String::from("SWITCHBOARD_HANDOFF_WEBHOOK_URL is not set")));
                };
                post(webhook, notice, trace).await
            }
        }
    }
}

#[tracing::instrument(name = "announce.webhook", skip_all, fields(otel.kind = "client", http.response.status_code))]
async fn post(webhook: &Webhook, notice: &HandoffNotice, trace: &TraceContext) -> Result<(), AnnounceError> {
    // `text` makes the body a Slack incoming-webhook message as it is; the other fields
    // are there for any receiver that reads JSON.
    let mut body = serde_json::to_value(notice).map_err(|e| AnnounceError::Rejected(e.to_string()))?;
    body["text"] = serde_json::Value::from(chat_text(notice));
    let body = serde_json::to_vec(&body).map_err(|e| AnnounceError::Rejected(e.to_string()))?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = signature(webhook.secret.expose_secret().as_bytes(), timestamp, &body);
    let response = webhook
        .client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("x-switchboard-signature", signed)
        .header("x-switchboard-timestamp", timestamp.to_string())
        .header("traceparent", trace.to_traceparent())
        .body(body)
        .send()
        .await
        .map_err(|e| AnnounceError::Transient(describe_reqwest(&e)))?;
    let status = response.status();
    tracing::Span::current().record("http.response.status_code", status.as_u16());
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(AnnounceError::Transient(format!("the operators' webhook answered {status}")))
    } else {
        Err(AnnounceError::Rejected(format!("the operators' webhook answered {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let a = signature(b"key", 1_700_000_000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature(b"key", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"key", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn an_announcer_offers_only_the_channels_it_has() {
        assert!(Announcer::new().channels().is_empty());
        let webhook = Announcer::new()
            .with_webhook("http://127.0.0.1:9/hook".into(), SecretString::from("k"), Duration::from_secs(1))
            .unwrap();
        assert_eq!(webhook.channels(), vec![AnnounceChannel::Webhook]);
    }
}
