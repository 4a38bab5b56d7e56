//! The WhatsApp webhook: Meta's GET verification handshake, and signed POST deliveries
//! that are stored durably before they are acknowledged.

pub mod envelope;
pub mod signature;

use std::sync::Arc;

use actix_web::http::header::{CONTENT_LENGTH, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use switchboard_application::usecases::{IngestWebhook, WebhookContent};

use super::auth::secret_eq;
use super::errors::{ApiError, ErrorCode};
use super::trace::request_trace;

/// The path Meta is configured with, and the alias older deployments use.
pub const WEBHOOK_PATHS: [&str; 2] = ["/webhook/whatsapp", "/api/v1/whatsapp/webhook"];

/// What the webhook handlers need.
pub struct WebhookState {
    pub ingest: Arc<IngestWebhook>,
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub max_body_bytes: usize,
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET`: answers `hub.challenge` verbatim as text/plain when the mode is `subscribe`
/// and the token matches; 403 otherwise.
#[utoipa::path(get, path = "/webhook/whatsapp", tag = "WhatsApp webhook",
    summary = "Answer Meta's webhook verification handshake",
    description = "Meta calls this once when the webhook is configured. Public: the verify token proves the caller.",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "the configured verify token"),
        ("hub.challenge" = String, Query, description = "answered back verbatim")
    ),
    responses((status = 200, description = "`hub.challenge`, verbatim", body = String, content_type = "text/plain"), (status = 403, description = "`verification_failed`: wrong mode or verify token")))]
pub async fn verify(req: HttpRequest, state: web::Data<WebhookState>) -> Result<HttpResponse, ApiError> {
    let query =
        web::Query::<VerifyQuery>::from_query(req.query_string()).map_err(|_| ApiError::verification_failed())?;
    let token_ok = query.verify_token.as_deref().is_some_and(|t| secret_eq(t, state.verify_token.expose_secret()));
    match (query.mode.as_deref(), token_ok, query.challenge.as_deref()) {
        (Some("subscribe"), true, Some(challenge)) => {
            tracing::info!("webhook verification handshake answered");
            Ok(HttpResponse::Ok().content_type(ContentType::plaintext()).body(challenge.to_owned()))
        }
        _ => {
            metrics::counter!("whatsapp_webhook_verifications_failed_total").increment(1);
            tracing::warn!(mode = query.mode.as_deref().unwrap_or(""), "webhook verification refused");
            Err(ApiError::verification_failed())
        }
    }
}

/// Reads the body, refusing more than `limit` bytes as soon as it is known.
async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(4096).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(ApiError::unreadable_body)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `POST`: size limit, signature over the raw bytes, tolerant parse, durable store;
/// 200 only once the data is committed, 503 when it could not be.
#[utoipa::path(post, path = "/webhook/whatsapp", tag = "WhatsApp webhook",
    summary = "Receive a signed webhook delivery from Meta",
    description = "Checks the size, then the `X-Hub-Signature-256` HMAC over the raw body, parses tolerantly and stores the delivery durably: 200 only once it is committed (a body that is not a WhatsApp envelope is stored as quarantined), so Meta delivers again whatever got no 200. Public: the signature proves the caller.",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the app secret")),
    request_body(content = crate::inbound::openapi::schemas::WhatsAppWebhook, description = "Meta's webhook payload, exactly as signed"),
    responses((status = 200, description = "stored: what it held", body = crate::inbound::openapi::schemas::WebhookReceipt), (status = 400, description = "`bad_request`: the body could not be read"), (status = 401, description = "`invalid_signature`: no valid signature over the raw body; nothing was stored"), (status = 503, description = "`store_unavailable`: it could not be stored; Meta delivers it again")))]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let result = receive_inner(req, payload, state).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    metrics::histogram!("whatsapp_webhook_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_inner(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, ApiError> {
    let trace = request_trace(&req);
    let body = match read_body(&req, payload, state.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => {
            metrics::counter!("whatsapp_webhooks_rejected_total", "reason" => e.code.as_str()).increment(1);
            tracing::warn!(code = e.code.as_str(), "webhook body refused");
            return Err(e);
        }
    };

    let header = req.headers().get("x-hub-signature-256").map(|v| v.as_bytes());
    if let Err(e) = signature::verify(state.app_secret.expose_secret().as_bytes(), header, &body) {
        metrics::counter!("whatsapp_webhook_signature_failures_total", "reason" => e.reason()).increment(1);
        tracing::warn!(reason = e.reason(), bytes = body.len(), "webhook refused: bad signature; nothing stored");
        return Err(ApiError::new(ErrorCode::InvalidSignature, e.to_string()));
    }

    let content = envelope::parse(&body);
    let quarantined = matches!(content, WebhookContent::Quarantine { .. });
    let receipt = state.ingest.execute(trace, body.to_vec(), content).await?;
    metrics::counter!("whatsapp_messages_received_total").increment(receipt.new_messages as u64);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": if quarantined { "quarantined" } else { "accepted" },
        "messages": receipt.new_messages,
        "duplicate_messages": receipt.duplicate_messages,
        "statuses": receipt.new_statuses,
        "duplicate_statuses": receipt.duplicate_statuses,
    })))
}
