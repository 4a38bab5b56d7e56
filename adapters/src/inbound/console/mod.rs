//! The operator console at `/console`: server-rendered HTML (maud), a small stylesheet
//! and script embedded in the binary, no CDN and no build step (ADR 0024).
//!
//! - `auth`: operator sessions: sign-in, sign-out, the [`SignedIn`] extractor, CSRF.
//! - `layout`: the page shell every view renders into ([`layout::page`]).
//! - `assets`: the embedded CSS and JS, served with a long cache lifetime.
//! - `admin`: the Admin view (health, deliveries, dead jobs, quarantined webhooks, email priority).
//! - `agents`: the Admin view's Agents card (each agent up or down, its skills and bindings).
//!
//! The console is not behind the API key (an API key is not an operator login, and does
//! not open the console): every page but sign-in needs a session, and every POST the
//! session's CSRF token. Errors are the one error shape for a client that asks for JSON,
//! and a readable page for a browser.

pub mod admin;
pub mod agents;
pub mod assets;
pub mod auth;
pub mod conversation;
pub mod events;
pub mod inbox;
pub mod layout;
pub mod templates;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use maud::Markup;
use switchboard_application::ports::StoreError;
use switchboard_application::usecases::{OperatorSessions, SignIn};

pub use auth::SignedIn;

use super::errors::{ApiError, ErrorCode};
use super::trace::current_trace_id;

/// Where the console lives; everything under it is the console's.
pub const CONSOLE_PATH: &str = "/console";
/// Where a browser without a session is sent.
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// Whether `path` is one of the console's (public to the API-key guard: the console
/// checks operator sessions instead).
pub fn is_console_path(path: &str) -> bool {
    path == CONSOLE_PATH || path.strip_prefix(CONSOLE_PATH).is_some_and(|rest| rest.starts_with('/'))
}

/// What the console's handlers need, as `App::app_data(web::Data<ConsoleState>)`.
pub struct ConsoleState {
    pub sign_in: Arc<SignIn>,
    pub sessions: Arc<OperatorSessions>,
    /// Mark cookies Secure whatever the scheme (else only over https).
    pub secure_cookies: bool,
    /// How long a session lasts: the session cookie's Max-Age.
    pub session_ttl: std::time::Duration,
    /// Whose `X-Forwarded-For` names the client whose failed sign-ins are counted.
    pub trusted_proxies: switchboard_runtime::TrustedProxies,
}

/// A console error: the one error shape `{code, message, trace_id}` for a client that
/// asks for JSON, a readable page for a browser; a browser without a session is
/// redirected to sign in instead.
#[derive(Debug)]
pub struct ConsoleError {
    pub code: ErrorCode,
    pub message: String,
    /// Answer JSON rather than a page.
    pub json: bool,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ConsoleError {
    pub fn new(code: ErrorCode, message: impl Into<String>, json: bool) -> Self {
        Self { code, message: message.into(), json, retry_after: None }
    }

    /// The cause is logged here, never shown.
    pub fn store(e: &StoreError, json: bool) -> Self {
        tracing::error!(error = %e, "console: store failed");
        Self::new(ErrorCode::StoreUnavailable, "the database could not be reached; try again in a moment", json)
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Whether the client asked for JSON rather than a page.
pub fn wants_json(req: &HttpRequest) -> bool {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("json") && !accept.contains("text/html")
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.code == ErrorCode::SignInRequired && !self.json {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, SIGN_IN_PATH))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let mut response = if self.json {
            ApiError::new(self.code, self.message.clone()).error_response()
        } else {
            let trace_id = current_trace_id().unwrap_or_default();
            html_response(self.code.status(), &layout::error_page(self.code, &self.message, &trace_id))
        };
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The headers every console page carries: no caching (pages hold CSRF tokens), no
/// framing, scripts and styles only from the console itself.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page with the console's headers.
pub fn html_response(status: StatusCode, markup: &Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(markup.clone().into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_are_the_console_and_what_is_under_it_only() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/sign-in"));
        assert!(is_console_path("/console/assets/console.css"));
        assert!(!is_console_path("/consoles"));
        assert!(!is_console_path("/console-admin"));
        assert!(!is_console_path("/api/v1/console"));
    }

    #[actix_web::test]
    async fn a_browser_without_a_session_is_sent_to_sign_in_and_a_json_client_gets_the_error_shape() {
        let browser = ConsoleError::new(ErrorCode::SignInRequired, "sign in first", false).error_response();
        let client = ConsoleError::new(ErrorCode::SignInRequired, "sign in first", true).error_response();

        assert_eq!(browser.status(), StatusCode::SEE_OTHER);
        assert_eq!(browser.headers().get(header::LOCATION).unwrap(), SIGN_IN_PATH);
        assert_eq!(client.status(), StatusCode::UNAUTHORIZED);
        let body = actix_web::body::to_bytes(client.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "sign_in_required");
    }

    #[actix_web::test]
    async fn a_refusal_in_a_browser_is_a_readable_page_with_its_status_and_retry_after() {
        let mut error = ConsoleError::new(ErrorCode::TooManyAttempts, "too many attempts, try again in 60 s", false);
        error.retry_after = Some(60);

        let response = error.error_response();

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "60");
        assert!(response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(page.contains("too many attempts, try again in 60 s"), "{page}");
        assert!(page.contains("<html lang=\"en\">"), "{page}");
    }
}
