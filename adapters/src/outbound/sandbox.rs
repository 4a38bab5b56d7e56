//! The sandbox WhatsApp gateway: with no WhatsApp account configured, replies are
//! recorded in the database (and logged without their body) instead of sent, and each
//! gets a made-up wamid as Meta would give.

use async_trait::async_trait;
use switchboard_application::ports::{SendError, SendReceipt, WhatsAppGateway};
use switchboard_domain::{OutboundMessage, Wamid};
use switchboard_shared::TraceContext;
use uuid::Uuid;

use std::sync::Arc;

use crate::outbound::store::Store;

pub struct SandboxWhatsApp {
    store: Arc<dyn Store>,
}

impl SandboxWhatsApp {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl WhatsAppGateway for SandboxWhatsApp {
    #[tracing::instrument(name = "sandbox.send", skip_all, fields(trace_id = %trace.trace_id, to = %message.to.key().masked()))]
    async fn send(
        &self,
        message: &OutboundMessage,
        _callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError> {
        let provider_id = format!("wamid.SANDBOX.{}", Uuid::now_v7().simple());
        self.store
            .record_sandbox_send(&provider_id, message, trace)
            .await
            .map_err(|e| SendError::Network(format!("sandbox outbox: {e}")))?;
        tracing::info!(
            kind = message.content.kind_name(),
            chars = message.content.char_len(),
            reply_to = message.reply_to.as_ref().map(Wamid::as_str).unwrap_or(""),
            %provider_id,
            "sandbox: recorded the message instead of sending it"
        );
        let provider_id = Wamid::parse(&provider_id).map_err(|e| SendError::Network(e.to_string()))?;
        Ok(SendReceipt { provider_id })
    }

    #[tracing::instrument(name = "sandbox.mark_read", skip_all, fields(trace_id = %trace.trace_id))]
    async fn mark_read(&self, _business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError> {
        tracing::debug!(%wamid, "sandbox: would mark read with typing indicator");
        Ok(())
    }
}
