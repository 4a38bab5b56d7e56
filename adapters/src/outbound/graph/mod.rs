//! The WhatsApp Cloud API (Graph) gateway: a small typed client on reqwest with tracing
//! middleware. Every outbound call carries `traceparent` and `X-Trace-Id`. Failures are
//! classified once, by Meta's error `code`, through the shared policy
//! ([`switchboard_domain::SendFailure`]); a timeout after the request left is reported
//! as such, because Meta may have accepted the message.
//!
//! `wire` holds what crosses the wire: the `/messages` request body and Meta's error
//! envelope.

#[cfg(test)]
mod tests;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use switchboard_application::ports::{MediaFile, SendError, SendReceipt, WhatsAppGateway, WhatsAppMedia};
use switchboard_domain::SendFailure;
use switchboard_domain::{OutboundMessage, Wamid};
use switchboard_shared::TraceContext;

use super::http;
use wire::graph_error;
pub use wire::message_body;

#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// `https://graph.facebook.com` (a fake in tests).
    pub base_url: String,
    /// `v25.0`.
    pub api_version: String,
    pub access_token: SecretString,
    pub timeout: Duration,
}

pub struct GraphWhatsApp {
    http: ClientWithMiddleware,
    settings: GraphSettings,
}

/// Largest media file downloaded (WhatsApp's own limit is 100 MB for documents).
const MAX_MEDIA_BYTES: usize = 100 * 1024 * 1024;

impl GraphWhatsApp {
    pub fn new(settings: GraphSettings) -> anyhow::Result<Self> {
        Ok(Self { http: http::client(settings.timeout)?, settings })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.settings.base_url, self.settings.api_version, path)
    }

    fn authorised(&self, request: RequestBuilder, trace: &TraceContext) -> RequestBuilder {
        request
            .bearer_auth(self.settings.access_token.expose_secret())
            .header("traceparent", trace.to_traceparent())
            .header("x-trace-id", trace.trace_id.to_string())
    }

    /// Sends the request and reads a JSON answer, classifying every failure.
    async fn call(&self, request: RequestBuilder) -> Result<Value, SendError> {
        let result = self.call_uncounted(request).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SendError::Timeout(_)) => "timeout",
            Err(SendError::Network(_)) => "network",
            Err(_) => "graph_error",
        };
        count_call(outcome);
        if let Err(SendError::Graph { code, failure, .. }) = &result {
            // Known codes only: a label set that Meta cannot grow.
            let code = if *failure == SendFailure::Unknown { String::from("other") } else { code.to_string() };
            metrics::counter!("whatsapp_api_errors_total", "code" => code).increment(1);
        }
        result
    }

    async fn call_uncounted(&self, request: RequestBuilder) -> Result<Value, SendError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendError::Timeout(format!("reading the answer: {}", http::describe_reqwest(&e))))?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return body.ok_or_else(|| SendError::Timeout(String::from("Graph answered 2xx without JSON")));
        }
        Err(graph_error(status.as_u16(), body.as_ref()))
    }
}

/// One Graph call in `whatsapp_api_calls_total`: `status` success or error (every failure,
/// timeouts and network errors included, as the runbook's queries expect) and the finer
/// `outcome` (ok, timeout, network, graph_error).
pub fn count_call(outcome: &'static str) {
    let status = if outcome == "ok" { "success" } else { "error" };
    metrics::counter!("whatsapp_api_calls_total", "status" => status, "outcome" => outcome).increment(1);
}

fn transport_error(e: reqwest_middleware::Error) -> SendError {
    match &e {
        reqwest_middleware::Error::Reqwest(inner) if inner.is_connect() => SendError::Network(http::describe(&e)),
        reqwest_middleware::Error::Reqwest(inner) if inner.is_builder() => SendError::Network(http::describe(&e)),
        // Timed out or cut after the request may have left: Meta may have it.
        _ => SendError::Timeout(http::describe(&e)),
    }
}

#[async_trait]
impl WhatsAppGateway for GraphWhatsApp {
    #[tracing::instrument(name = "graph.send", skip_all, fields(trace_id = %trace.trace_id, to = %message.to.key().masked(), kind = message.content.kind_name(), wamid))]
    async fn send(
        &self,
        message: &OutboundMessage,
        callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError> {
        message.content.validate()?;
        let body = message_body(message, callback_data.as_deref());
        let request = self
            .authorised(self.http.post(self.url(&format!("{}/messages", message.from_number_id))), trace)
            .json(&body);
        let answer =
            self.call(request).await.inspect_err(|e| tracing::warn!(error = %e, "Graph refused the message"))?;
        let id = answer.pointer("/messages/0/id").and_then(Value::as_str).unwrap_or_default();
        let provider_id = Wamid::parse(id)
            .map_err(|_| SendError::Timeout(String::from("Graph accepted the message but sent no message id")))?;
        tracing::Span::current().record("wamid", provider_id.as_str());
        Ok(SendReceipt { provider_id })
    }

    #[tracing::instrument(name = "graph.mark_read", skip_all, fields(trace_id = %trace.trace_id, wamid = %wamid))]
    async fn mark_read(&self, business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid.as_str(),
            "typing_indicator": { "type": "text" },
        });
        let request =
            self.authorised(self.http.post(self.url(&format!("{business_number_id}/messages"))), trace).json(&body);
        self.call(request).await.map(|_| ())
    }
}

#[async_trait]
impl WhatsAppMedia for GraphWhatsApp {
    #[tracing::instrument(name = "graph.download_media", skip_all, fields(trace_id = %trace.trace_id, media_id))]
    async fn download(&self, media_id: &str, trace: &TraceContext) -> Result<MediaFile, SendError> {
        let meta = self.call(self.authorised(self.http.get(self.url(media_id)), trace)).await?;
        let url = meta.get("url").and_then(Value::as_str).ok_or_else(|| SendError::Graph {
            code: 100,
            failure: SendFailure::BadParameter,
            message: String::from("media has no url"),
        })?;
        let mime_type = meta.get("mime_type").and_then(Value::as_str).unwrap_or("application/octet-stream").to_owned();
        // The URL lives five minutes and needs the same token.
        let response = self.authorised(self.http.get(url), trace).send().await.map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(graph_error(status.as_u16(), None));
        }
        if response.content_length().is_some_and(|n| n > MAX_MEDIA_BYTES as u64) {
            return Err(SendError::Graph {
                code: 100,
                failure: SendFailure::BadParameter,
                message: String::from("media larger than 100 MB"),
            });
        }
        let bytes = response.bytes().await.map_err(|e| SendError::Timeout(http::describe_reqwest(&e)))?;
        Ok(MediaFile { mime_type, bytes: bytes.to_vec() })
    }

    #[tracing::instrument(name = "graph.upload_media", skip_all, fields(trace_id = %trace.trace_id, bytes = file.bytes.len()))]
    async fn upload(
        &self,
        from_number_id: &str,
        file: MediaFile,
        filename: &str,
        trace: &TraceContext,
    ) -> Result<String, SendError> {
        let part = reqwest::multipart::Part::bytes(file.bytes)
            .file_name(filename.to_owned())
            .mime_str(&file.mime_type)
            .map_err(|e| SendError::Graph { code: 100, failure: SendFailure::BadParameter, message: e.to_string() })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", file.mime_type.clone())
            .part("file", part);
        let request =
            self.authorised(self.http.post(self.url(&format!("{from_number_id}/media"))), trace).multipart(form);
        let answer = self.call(request).await?;
        answer.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| SendError::Graph {
            code: 100,
            failure: SendFailure::BadParameter,
            message: String::from("upload answered without an id"),
        })
    }
}
