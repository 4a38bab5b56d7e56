//! Authentication before anything else (ADR 0016): one middleware, outside the body
//! limits and every handler, lets a request through only if its route is on the short
//! public list below or it presents a valid API key. Everything else — every route
//! added later, and paths that match no route — answers 401 in the one error shape
//! before a byte of its body is read, its path parsed or the store touched.
//!
//! Keys are compared as SHA-256 digests with `subtle`, so neither their content nor
//! their length shows in the time an answer takes.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::console::is_console_path;
use super::errors::{ApiError, ErrorCode};
use super::whatsapp::WEBHOOK_PATHS;

/// Routes anyone may call: Meta's webhook (it proves itself by signature), health and
/// metrics (what they show is public by design; `/health/whatsapp` shows its details
/// only with a key), Switchboard's A2A agent card, and the API's own description.
pub const PUBLIC_PATHS: &[&str] = &[
    "/health/live",
    "/health/ready",
    "/health/whatsapp",
    "/metrics",
    "/.well-known/agent-card.json",
    "/api/openapi.json",
    "/api/docs",
];

/// Whether `path` may be called without a key. The files `/api/docs` loads are public
/// as the page is, each by its exact path. The console is: it admits operators by their
/// session, and an API key does not open it.
pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path)
        || WEBHOOK_PATHS.contains(&path)
        // A signed link is its own credential (the handler checks it).
        || path.starts_with("/media/")
        || super::openapi::is_asset(path)
        || is_console_path(path)
}

/// The accepted API keys, as `App::app_data(web::Data<ApiKeys>)`.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl ApiKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        Self { digests: keys.iter().map(|k| digest(k.expose_secret().as_bytes())).collect() }
    }

    /// Whether `presented` is one of the keys. Every key is compared, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented.as_bytes());
        self.digests.iter().fold(subtle::Choice::from(0), |found, key| found | key.ct_eq(&presented)).into()
    }

    /// Whether the request's headers carry a valid key.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        presented_key(headers).is_some_and(|key| self.accepts(key))
    }
}

/// Whether two secrets are equal, in time that depends on neither.
pub fn secret_eq(presented: &str, expected: &str) -> bool {
    digest(presented.as_bytes()).ct_eq(&digest(expected.as_bytes())).into()
}

/// The key the request presents: `X-API-Key: KEY` or `Authorization: Bearer KEY`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer "))).map(str::trim)
}

fn unauthorized(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

/// The guard, for `App::wrap(from_fn(require_api_key))` between the trace middleware
/// (so a refusal carries the trace id) and the body limits (so nothing is read first).
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    if is_public(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let admitted = match presented_key(req.headers()) {
        None => Err(unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")),
        Some(key) => match req.app_data::<web::Data<ApiKeys>>() {
            Some(keys) if keys.accepts(key) => Ok(()),
            _ => Err(unauthorized("the API key is not valid")),
        },
    };
    match admitted {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        Err(refusal) => {
            metrics::counter!("http_requests_refused_total", "reason" => refusal.code.as_str()).increment(1);
            let mut response = refusal.error_response();
            response.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
            // A body the client may still be sending is not read: close the connection.
            response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_accepted_only_when_it_matches_one_exactly() {
        let keys = ApiKeys::new(&[SecretString::from("first-key-123"), SecretString::from("second-key-456")]);
        assert!(keys.accepts("first-key-123"));
        assert!(keys.accepts("second-key-456"));
        assert!(!keys.accepts("first-key-12"));
        assert!(!keys.accepts("first-key-1234"));
        assert!(!keys.accepts(""));
    }

    #[test]
    fn no_configured_key_admits_nobody() {
        assert!(!ApiKeys::new(&[]).accepts(""));
    }

    #[test]
    fn the_public_list_is_short_and_names_the_webhook() {
        assert!(is_public("/webhook/whatsapp"));
        assert!(is_public("/health/whatsapp"));
        assert!(!is_public("/api/v1/status"));
        assert!(!is_public("/a2a"));
        assert!(!is_public("/sandbox/outbox"));
        assert!(!is_public("/health/whatsapp/"));
        assert!(is_public("/console/sign-in"), "the console checks sessions, not keys");
        assert!(!is_public("/consoles"));
    }
}
