//! The sandbox plays Meta (ADR 0004, ADR 0017). With no WhatsApp account configured,
//! replies are recorded in the database (and logged without their body) instead of sent,
//! each with a made-up wamid as Meta would give; then the status webhooks Meta would
//! send about it (sent, delivered, read, a moment apart) are posted, signed with the app
//! secret, to the service's own webhook, so they take the path real ones take.
//!
//! Both halves are durable: the recorded message and the jobs that post its statuses
//! are written in one transaction, and a status is done only once the webhook answered
//! 200. A delivery's message is recorded once: a worker killed after the record and
//! before the delivery was marked sent gets the same wamid back when the delivery runs
//! again, and its status webhooks (which name the delivery in
//! `biz_opaque_callback_data`) settle the delivery as they settle an uncertain live send.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest_middleware::ClientWithMiddleware;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use switchboard_application::jobs::{JobKind, NewJob, SandboxStatus};
use switchboard_application::ports::{
    ApprovedTemplate, SandboxStatusWebhooks, SendError, SendReceipt, TemplateSource, Templates, TemplatesError,
    WhatsAppGateway, placeholders,
};
use switchboard_domain::{OutboundMessage, Wamid};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::inbound::whatsapp::signature;
use crate::outbound::store::SandboxRecorder;

/// The statuses Meta reports about a message that reaches a phone and is read, in order.
pub const STATUSES: [&str; 3] = ["sent", "delivered", "read"];

pub struct SandboxWhatsApp {
    store: Arc<dyn SandboxRecorder>,
    /// Time between a send and its `sent` status, and between each status and the
    /// next; `None`: no status webhooks.
    status_delay: Option<Duration>,
}

impl SandboxWhatsApp {
    /// A sandbox that records sends and posts no status webhooks.
    pub fn new(store: Arc<dyn SandboxRecorder>) -> Self {
        Self { store, status_delay: None }
    }

    /// Posts sent, delivered and read for every send, `delay` apart.
    #[must_use]
    pub fn with_status_webhooks(mut self, delay: Duration) -> Self {
        self.status_delay = Some(delay);
        self
    }

    /// The jobs that will post this message's status webhooks, in the send's trace.
    fn status_jobs(
        &self,
        provider_id: &Wamid,
        message: &OutboundMessage,
        callback: Option<&str>,
        trace: &TraceContext,
    ) -> Vec<NewJob> {
        let Some(delay) = self.status_delay else { return Vec::new() };
        let now = OffsetDateTime::now_utc();
        let mut at = now;
        STATUSES
            .iter()
            .map(|status| {
                at += delay;
                let status = SandboxStatus {
                    wamid: provider_id.clone(),
                    status: (*status).to_owned(),
                    from_number_id: message.from_number_id.clone(),
                    recipient_phone: message.to.phone().map(|p| p.digits().to_owned()),
                    recipient_user_id: message.to.scoped_id().map(|id| id.as_str().to_owned()),
                    callback: callback.map(str::to_owned),
                };
                NewJob {
                    ordering_key: status.ordering_key(),
                    kind: JobKind::SandboxStatus(Box::new(status)),
                    order_at: at,
                    run_at: at,
                    trace: *trace,
                }
            })
            .collect()
    }
}

#[async_trait]
impl WhatsAppGateway for SandboxWhatsApp {
    #[tracing::instrument(name = "sandbox.send", skip_all, fields(trace_id = %trace.trace_id, to = %message.to.key().masked()))]
    async fn send(
        &self,
        message: &OutboundMessage,
        callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError> {
        let provider_id = Wamid::parse(&format!("wamid.SANDBOX.{}", Uuid::now_v7().simple()))
            .map_err(|e| SendError::Network(e.to_string()))?;
        let delivery_id = callback_data.as_deref().and_then(|c| Uuid::parse_str(c).ok());
        let statuses = self.status_jobs(&provider_id, message, callback_data.as_deref(), trace);
        let recorded = self
            .store
            .record_sandbox_send(delivery_id, provider_id.as_str(), message, statuses, trace)
            .await
            .map_err(|e| SendError::Network(format!("sandbox outbox: {e}")))?;
        if recorded == provider_id.as_str() {
            tracing::info!(
                kind = message.content.kind_name(),
                chars = message.content.char_len(),
                reply_to = message.reply_to.as_ref().map(Wamid::as_str).unwrap_or(""),
                %provider_id,
                "sandbox: recorded the message instead of sending it"
            );
            return Ok(SendReceipt { provider_id });
        }
        // The delivery ran again after its worker died between the record and the mark
        // of being sent: the message is not recorded twice.
        tracing::warn!(provider_id = %recorded, "sandbox: this delivery's message was recorded before; answering its wamid");
        let provider_id = Wamid::parse(&recorded).map_err(|e| SendError::Network(e.to_string()))?;
        Ok(SendReceipt { provider_id })
    }

    #[tracing::instrument(name = "sandbox.mark_read", skip_all, fields(trace_id = %trace.trace_id))]
    async fn mark_read(&self, _business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError> {
        tracing::debug!(%wamid, "sandbox: would mark read with typing indicator");
        Ok(())
    }
}

/// Where and how the sandbox posts its status webhooks.
#[derive(Debug, Clone)]
pub struct StatusWebhookSettings {
    /// The service's own webhook on loopback, e.g. `http://127.0.0.1:8080/webhook/whatsapp`.
    pub webhook_url: String,
    pub app_secret: SecretString,
    /// `entry[].id`.
    pub business_account_id: String,
    pub timeout: Duration,
}

/// Posts the status webhooks the sandbox owes, as Meta would: Meta's JSON, signed with
/// the app secret over the exact bytes sent, to the webhook route.
pub struct LoopbackStatusWebhooks {
    http: ClientWithMiddleware,
    settings: StatusWebhookSettings,
}

impl LoopbackStatusWebhooks {
    pub fn new(settings: StatusWebhookSettings) -> anyhow::Result<Self> {
        Ok(Self { http: super::http::client(settings.timeout)?, settings })
    }
}

/// The status webhook Meta sends about a message: one entry, one change, one status.
pub fn status_webhook(business_account_id: &str, status: &SandboxStatus, at: OffsetDateTime) -> Value {
    let mut item = json!({
        "id": status.wamid.as_str(),
        "status": status.status,
        "timestamp": at.unix_timestamp().to_string(),
        "recipient_id": status.recipient_phone.clone().unwrap_or_default(),
    });
    if let Some(user_id) = &status.recipient_user_id {
        item["recipient_user_id"] = json!(user_id);
    }
    if let Some(callback) = &status.callback {
        item["biz_opaque_callback_data"] = json!(callback);
    }
    // A reply inside the customer-service window is free; Meta says so on sent and delivered.
    if status.status != "read" {
        item["pricing"] =
            json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"});
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": business_account_id,
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": status.from_number_id},
                    "statuses": [item],
                },
            }],
        }],
    })
}

#[async_trait]
impl SandboxStatusWebhooks for LoopbackStatusWebhooks {
    #[tracing::instrument(name = "sandbox.status_webhook", skip_all, fields(trace_id = %trace.trace_id, wamid = %status.wamid, status = %status.status))]
    async fn post(&self, status: &SandboxStatus, trace: &TraceContext) -> Result<(), SendError> {
        let body =
            serde_json::to_vec(&status_webhook(&self.settings.business_account_id, status, OffsetDateTime::now_utc()))
                .map_err(|e| SendError::Network(e.to_string()))?;
        let signed = signature::sign(self.settings.app_secret.expose_secret().as_bytes(), &body);
        // Meta sends no trace context; the sandbox does, so a demo's ticks belong to the
        // trace of the message they report on (the status job runs in that trace).
        let response = self
            .http
            .post(&self.settings.webhook_url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signed)
            .header("traceparent", trace.to_traceparent())
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Network(format!("status webhook not delivered: {}", super::http::describe(&e))))?;
        if !response.status().is_success() {
            return Err(SendError::Network(format!("status webhook answered {}", response.status())));
        }
        tracing::info!("sandbox: status webhook delivered");
        Ok(())
    }
}

/// Sandbox mode's approved templates: a few of the kinds a real account holds, so the
/// console's template picker (and its parameter check) can be tried without one.
pub struct SandboxTemplates;

/// `(name, language, category, body)` of each sandbox template.
pub const SANDBOX_TEMPLATES: [(&str, &str, &str, &str); 3] = [
    (
        "hello_world",
        "en_US",
        "UTILITY",
        "Welcome and congratulations!! This message shows that your sandbox can send templates.",
    ),
    ("order_update", "en_US", "UTILITY", "Hi {{1}}, your order {{2}} has shipped. Reply here with any question."),
    ("appointment_reminder", "en_US", "UTILITY", "Hello {{1}}, a reminder of your appointment on {{2}} at {{3}}."),
];

#[async_trait]
impl Templates for SandboxTemplates {
    async fn approved(&self) -> Result<Vec<ApprovedTemplate>, TemplatesError> {
        Ok(SANDBOX_TEMPLATES
            .iter()
            .map(|(name, language, category, body)| ApprovedTemplate {
                name: (*name).to_owned(),
                language: (*language).to_owned(),
                category: (*category).to_owned(),
                body: Some((*body).to_owned()),
                parameters: placeholders(body),
                source: TemplateSource::Sandbox,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn status(name: &str) -> SandboxStatus {
        SandboxStatus {
            wamid: Wamid::parse("wamid.SANDBOX.1").unwrap(),
            status: name.to_owned(),
            from_number_id: String::from("100000000000001"),
            recipient_phone: Some(String::from("447700900123")),
            recipient_user_id: None,
            callback: Some(String::from("0190a0a0-0000-7000-8000-000000000001")),
        }
    }

    #[test]
    fn a_status_webhook_names_the_message_the_user_and_the_delivery_as_meta_does() {
        let body = status_webhook("200000000000001", &status("delivered"), datetime!(2026-12-06 10:00 UTC));

        let change = &body["entry"][0]["changes"][0];
        let item = &change["value"]["statuses"][0];
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(change["field"], "messages");
        assert_eq!(change["value"]["metadata"]["phone_number_id"], "100000000000001");
        assert_eq!(item["id"], "wamid.SANDBOX.1");
        assert_eq!(item["status"], "delivered");
        assert_eq!(item["timestamp"], "1796551200");
        assert_eq!(item["recipient_id"], "447700900123");
        assert_eq!(item["biz_opaque_callback_data"], "0190a0a0-0000-7000-8000-000000000001");
        assert_eq!(item["pricing"]["category"], "service");
    }

    #[test]
    fn a_read_status_carries_no_pricing() {
        let body = status_webhook("200000000000001", &status("read"), datetime!(2026-12-06 10:00 UTC));

        assert!(body["entry"][0]["changes"][0]["value"]["statuses"][0].get("pricing").is_none());
    }
}
