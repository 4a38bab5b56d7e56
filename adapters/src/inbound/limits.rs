//! Hostile-input limits, enforced before any handler runs: header size, body size per
//! route, a deadline for the whole body, JSON content type, UTF-8 and nesting depth.
//! Every refusal is the one error shape (`{code, message, trace_id}`), so a client sees
//! the same thing whichever limit it hit. Refusals carry `Connection: close`: actix
//! closes a connection whose sized body was left unread, and discards (never buffers)
//! the rest of a chunked one until the client ends it, so a refused request holds no
//! memory.
//!
//! The webhook keeps its own rules: its body is read with the deadline and its own size
//! limit, but its content type, UTF-8 and JSON are not checked here, because a signed
//! body that is not a valid envelope must still be stored (quarantined) and answered 200,
//! and an unsigned one answered 401 by the handler.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, TRANSFER_ENCODING};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError, web};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::a2a_server::RPC_PATH;
use super::console::is_console_path;
use super::errors::{ApiError, ErrorCode};
use super::whatsapp::WEBHOOK_PATHS;

/// Deeper JSON than this is refused on the JSON routes before any parser sees it
/// (serde_json's own recursion limit, 128, stays as the backstop).
pub const MAX_JSON_DEPTH: usize = 64;

/// The limits, as `App::app_data(HttpLimits)`; read by [`enforce_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The whole body must arrive within this, counted from when the handler chain starts.
    pub body_timeout: Duration,
    /// Sum of header names and values (plus separators).
    pub max_header_bytes: usize,
    /// Bodies on the webhook paths.
    pub webhook_max_body_bytes: usize,
    /// Bodies on every other route (management, API, A2A).
    pub api_max_body_bytes: usize,
    /// Files uploaded to send ([`FILE_PATHS`]): `SWITCHBOARD_MEDIA_MAX_BYTES`.
    pub upload_max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            webhook_max_body_bytes: 3 * 1024 * 1024,
            api_max_body_bytes: 256 * 1024,
            upload_max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// How many body bytes all requests together may hold while they are read and handled,
/// as `App::app_data(BodyBudget)`, one for the whole server (clones share it). A request
/// reserves its declared length, or its route's whole limit when it streams without
/// one, before reading a byte; when the budget is spent it gets 503 at once instead of
/// waiting, so memory stays bounded however many clients upload at the same time.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    /// One permit per KiB.
    kib: Arc<Semaphore>,
    total_kib: usize,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        let total_kib = bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS);
        Self { kib: Arc::new(Semaphore::new(total_kib)), total_kib }
    }

    /// Reserves `bytes` (rounded up to whole KiB), or refuses with 503 `server_busy`.
    fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = bytes.div_ceil(1024).clamp(1, self.total_kib);
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        self.kib.clone().try_acquire_many_owned(kib).map_err(|_| {
            ApiError::new(
                ErrorCode::ServerBusy,
                "too many request bodies are being received at once; send it again shortly",
            )
        })
    }
}

/// The middleware, for `App::wrap(from_fn(enforce_limits))`, inside the trace middleware
/// so refusals carry the request's trace id.
pub async fn enforce_limits(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let limits = req.app_data::<HttpLimits>().copied().unwrap_or_default();
    let budget = req.app_data::<BodyBudget>().cloned();
    match admit(&mut req, &limits, budget.as_ref()).await {
        Ok(reservation) => {
            let response = next.call(req).await.map(ServiceResponse::map_into_left_body);
            // The body has been consumed by the handler: its share of the budget is free again.
            drop(reservation);
            response
        }
        Err(refusal) => {
            metrics::counter!("http_requests_refused_total", "reason" => refusal.code.as_str()).increment(1);
            tracing::warn!(
                code = refusal.code.as_str(),
                status = refusal.status().as_u16(),
                "request refused before its handler"
            );
            let mut response = refusal.error_response();
            // The body may be partly unread: do not keep the connection for another request.
            response.head_mut().set_connection_type(ConnectionType::Close);
            if refusal.status() == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

fn is_webhook(path: &str) -> bool {
    WEBHOOK_PATHS.contains(&path)
}

/// Checks the head, then reads the body (bounded in size, time and the shared budget)
/// and hands it on, with the budget reservation the caller holds until the handler is done.
async fn admit(
    req: &mut ServiceRequest,
    limits: &HttpLimits,
    budget: Option<&BodyBudget>,
) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
    if header_bytes(req.headers()) > limits.max_header_bytes {
        return Err(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("the request headers exceed the limit of {} bytes", limits.max_header_bytes),
        ));
    }
    let webhook = is_webhook(req.path());
    let file = is_file_path(req.path());
    let limit = if webhook {
        limits.webhook_max_body_bytes
    } else if file {
        limits.upload_max_body_bytes
    } else {
        limits.api_max_body_bytes
    };
    let declared = declared_length(req.headers());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let has_body = declared.is_some_and(|n| n > 0) || req.headers().contains_key(TRANSFER_ENCODING);
    if !has_body {
        return Ok(None);
    }
    if !webhook && !content_type_allowed(req.headers(), req.path()) {
        return Err(ApiError::unsupported_media_type());
    }
    let reservation = budget.map(|b| b.reserve(declared.unwrap_or(limit))).transpose()?;
    let payload = req.take_payload();
    let body = match tokio::time::timeout(limits.body_timeout, read_bounded(payload, declared, limit)).await {
        Ok(body) => body?,
        Err(_) => {
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the body did not arrive within {} ms; send it again", limits.body_timeout.as_millis()),
            ));
        }
    };
    if !webhook && !file {
        check_json_text(&body)?;
    }
    req.set_payload(Payload::from(body.freeze()));
    Ok(reservation)
}

/// Header names and values plus `": "` and CRLF for each, as they were on the wire.
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum()
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok())
}

/// The sandbox's stand-in for Meta's upload (sandbox mode only).
pub const SANDBOX_MEDIA_PATH: &str = "/sandbox/media";

/// Files a caller uploads to send.
pub const UPLOAD_PATH: &str = "/api/v1/media";

/// The routes whose body is a file of any type, not JSON.
pub const FILE_PATHS: [&str; 2] = [SANDBOX_MEDIA_PATH, UPLOAD_PATH];

fn is_file_path(path: &str) -> bool {
    FILE_PATHS.contains(&path)
}

/// The body of a file route, as [`enforce_limits`] admitted it (bounded by
/// `upload_max_body_bytes`, not by the JSON routes' payload limit).
///
/// Errors: the connection broke while reading.
pub async fn file_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk.map_err(ApiError::unreadable_body)?);
    }
    Ok(body)
}

/// `application/json` or any `+json` type. The A2A endpoint also takes a body without a
/// content type (JSON-RPC clients often send none), the console its HTML forms
/// (`application/x-www-form-urlencoded`), and the file routes any file; any other
/// declared type is refused.
fn content_type_allowed(headers: &HeaderMap, path: &str) -> bool {
    if is_file_path(path) {
        return true;
    }
    match headers.get(CONTENT_TYPE) {
        None => path == RPC_PATH,
        Some(value) => value
            .to_str()
            .is_ok_and(|value| is_json_media_type(value) || (is_console_path(path) && is_form_media_type(value))),
    }
}

fn is_form_media_type(value: &str) -> bool {
    value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

pub fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_bounded(mut payload: Payload, declared: Option<usize>, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(ApiError::unreadable_body)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// UTF-8 and nesting depth, for the JSON routes.
pub fn check_json_text(body: &[u8]) -> Result<(), ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::new(ErrorCode::InvalidUtf8, "the body is not valid UTF-8"));
    }
    if json_depth_exceeds(body, MAX_JSON_DEPTH) {
        return Err(ApiError::json_too_deep(MAX_JSON_DEPTH));
    }
    Ok(())
}

/// Whether `[`/`{` nest deeper than `limit` outside strings. One pass, no allocation, so
/// it is safe on any input; malformed JSON is left for the parser to refuse.
pub fn json_depth_exceeds(body: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `JsonConfig::error_handler`: actix's JSON errors in the one error shape.
pub fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> Error {
    let api = match &error {
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            ApiError::payload_too_large(*limit)
        }
        JsonPayloadError::ContentType => ApiError::unsupported_media_type(),
        JsonPayloadError::Deserialize(e) if e.to_string().contains("recursion limit") => {
            ApiError::json_too_deep(MAX_JSON_DEPTH)
        }
        other => ApiError::new(ErrorCode::BadRequest, format!("invalid JSON body: {other}")),
    };
    api.into()
}

/// `PathConfig::error_handler`: a path segment that does not parse names no resource.
pub fn path_error(error: PathError, _req: &HttpRequest) -> Error {
    ApiError::new(ErrorCode::NotFound, format!("no such resource: {error}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_budget_refuses_what_it_cannot_hold_and_frees_it_on_drop() {
        let budget = BodyBudget::new(4 * 1024);
        let first = budget.reserve(3 * 1024).unwrap();
        assert_eq!(budget.reserve(2 * 1024).unwrap_err().code, ErrorCode::ServerBusy);
        let small = budget.reserve(1).unwrap();
        drop((first, small));
        assert!(budget.reserve(10 * 1024 * 1024).is_ok(), "a reservation is capped at the whole budget");
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!json_depth_exceeds(br#"{"a":[1,{"b":"[[[[[[[["}]}"#, 3));
        assert!(json_depth_exceeds(b"[[[[", 3));
        assert!(!json_depth_exceeds(br#"["\"[[[[["]"#, 1));
        assert!(!json_depth_exceeds(b"]]]]}}}", 0));
    }

    #[test]
    fn json_media_types_are_recognised_with_parameters() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/x-www-form-urlencoded"));
        assert!(!is_json_media_type(""));
    }

    #[test]
    fn invalid_utf8_and_deep_nesting_are_refused_with_their_codes() {
        assert_eq!(check_json_text(b"{\"a\":\"\xff\"}").unwrap_err().code, ErrorCode::InvalidUtf8);
        let deep = "[".repeat(MAX_JSON_DEPTH + 1);
        assert_eq!(check_json_text(deep.as_bytes()).unwrap_err().code, ErrorCode::JsonTooDeep);
        assert_eq!(check_json_text(br#"{"ok":[1,2,3]}"#), Ok(()));
    }
}
