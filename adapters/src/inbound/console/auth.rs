//! Operator sessions in the console: the sign-in form, sign-out, the [`SignedIn`]
//! extractor every signed-in page takes, and the CSRF check every POST makes.
//!
//! - The session cookie `switchboard_session` holds a random 256-bit id (the store keeps
//!   only its SHA-256). HttpOnly, SameSite=Strict, Path=/console, and Secure when the
//!   request came over https (a proxy's `X-Forwarded-Proto` counts) or configuration
//!   says always.
//! - Failed sign-ins are counted per name and per client address: the TCP peer, or the
//!   client a trusted proxy names (`client_address`).
//! - CSRF: each session has a random token; every state-changing form carries it in a
//!   hidden `csrf` field and [`SignedIn::check_csrf`] compares it in constant time. The
//!   sign-in form, which has no session yet, is protected the same way by a token in a
//!   short-lived cookie of its own (double submit), so nobody can sign a browser in to
//!   their own account from another site.
//! - Neither the session id, the CSRF tokens nor the password is ever logged or shown.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use switchboard_application::usecases::{SignInAttempt, SignInError};
use switchboard_domain::{OperatorName, Role};

use super::{CONSOLE_PATH, ConsoleError, ConsoleState, SIGN_IN_PATH, html_response, layout, wants_json};
use crate::inbound::auth::secret_eq;
use crate::inbound::client_address::{client_address, client_key};
use crate::inbound::errors::ErrorCode;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "switchboard_session";
/// The sign-in form's own CSRF cookie (no session exists yet).
pub const SIGN_IN_COOKIE: &str = "switchboard_sign_in";

/// The operator a request's session names: take it as a handler argument on every
/// signed-in page. Without a valid session a browser is redirected to
/// `/console/sign-in` (a JSON client gets 401 `sign_in_required`).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: OperatorName,
    pub role: Role,
    /// The session's CSRF token: put it in every form as `input type="hidden" name="csrf"`.
    pub csrf: String,
    /// The path of the request (the navigation marks it as the current page).
    pub path: String,
    /// The client asked for JSON: errors answer the error shape rather than a page.
    pub json: bool,
}

impl SignedIn {
    /// `Ok` for an admin; 403 `forbidden` for anyone else.
    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        if self.role.is_admin() {
            return Ok(());
        }
        tracing::warn!(operator = %self.name, path = %self.path, "console: admin page refused to an operator");
        Err(ConsoleError::new(ErrorCode::Forbidden, "this page is for admins only", self.json))
    }

    /// `Ok` when `form_token` (the `csrf` field the form sent) is this session's token;
    /// 403 `csrf_rejected` otherwise. Call it first in every POST handler.
    pub fn check_csrf(&self, form_token: &str) -> Result<(), ConsoleError> {
        if !form_token.is_empty() && secret_eq(form_token, &self.csrf) {
            return Ok(());
        }
        tracing::warn!(operator = %self.name, path = %self.path, "console: POST without a matching CSRF token refused");
        Err(csrf_rejected(self.json))
    }
}

fn csrf_rejected(json: bool) -> ConsoleError {
    ConsoleError::new(ErrorCode::CsrfRejected, "the form's security token is missing or out of date", json)
}

fn state(req: &HttpRequest) -> Result<&ConsoleState, ConsoleError> {
    req.app_data::<web::Data<ConsoleState>>().map(|data| data.get_ref()).ok_or_else(|| {
        tracing::error!("console: ConsoleState is not configured");
        ConsoleError::new(ErrorCode::StoreUnavailable, "the console is not available", wants_json(req))
    })
}

/// The session id in the request's cookie, if any.
fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).filter(|v| !v.is_empty())
}

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let json = wants_json(&req);
            let state = state(&req)?;
            let sign_in_required =
                || ConsoleError::new(ErrorCode::SignInRequired, "sign in to the console first", json);
            let id = session_id(&req).ok_or_else(sign_in_required)?;
            let session = state
                .sessions
                .current(&id)
                .await
                .map_err(|e| ConsoleError::store(&e, json))?
                .ok_or_else(sign_in_required)?;
            Ok(SignedIn {
                name: session.operator,
                role: session.role,
                csrf: session.csrf_token,
                path: req.path().to_owned(),
                json,
            })
        })
    }
}

/// Whether cookies set in answer to `req` must be Secure. A forwarded claim of https
/// counts from any client, not only from `SWITCHBOARD_TRUSTED_PROXIES`: it can only add
/// `Secure`, which keeps the cookie off plain http (a forger locks only themselves out).
fn secure(req: &HttpRequest, state: &ConsoleState) -> bool {
    state.secure_cookies || req.connection_info().scheme() == "https"
}

fn cookie(name: &'static str, value: String, max_age: CookieDuration, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(CONSOLE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .finish()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The sign-in form with a fresh token, in its cookie and its hidden field.
fn sign_in_form(
    req: &HttpRequest,
    state: &ConsoleState,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
) -> HttpResponse {
    let token = random_token();
    let mut response = html_response(status, &layout::sign_in_page(&token, name, error));
    let _ = response.add_cookie(&cookie(SIGN_IN_COOKIE, token, CookieDuration::hours(1), secure(req, state)));
    response
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let state = state(&req)?;
    Ok(sign_in_form(&req, state, StatusCode::OK, "", None))
}

/// The sign-in form's fields. Missing ones read as empty, so a form stripped of its
/// token is refused as such (403), not as a malformed body.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sign-in`: checks the form's token, then the name and password; on
/// success sets the session cookie and goes to the inbox.
pub async fn sign_in(req: HttpRequest, form: web::Form<SignInForm>) -> Result<HttpResponse, ConsoleError> {
    let json = wants_json(&req);
    let state = state(&req)?;
    let form = form.into_inner();
    let expected = req.cookie(SIGN_IN_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if form.csrf.is_empty() || expected.is_empty() || !secret_eq(&form.csrf, &expected) {
        tracing::warn!("console: sign-in without a matching CSRF token refused");
        return Err(csrf_rejected(json));
    }
    // The peer, or behind a trusted proxy the client it names: never a header a client
    // could rotate to escape the count.
    let client = client_address(&req, &state.trusted_proxies).map(client_key);
    let attempt = SignInAttempt { name: &form.name, password: &form.password, client: client.as_deref() };
    match state.sign_in.sign_in(&attempt).await {
        Ok(session) => {
            let ttl = CookieDuration::seconds(i64::try_from(state.session_ttl.as_secs()).unwrap_or(i64::MAX));
            let secure = secure(&req, state);
            let mut response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, CONSOLE_PATH))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            let _ = response.add_cookie(&cookie(
                SESSION_COOKIE,
                session.session_id.expose_secret().to_owned(),
                ttl,
                secure,
            ));
            let _ = response.add_cookie(&cookie(SIGN_IN_COOKIE, String::new(), CookieDuration::ZERO, secure));
            Ok(response)
        }
        Err(SignInError::Refused) => {
            let message = "That name and password do not match an operator.";
            if json {
                return Err(ConsoleError::new(ErrorCode::InvalidCredentials, message, true));
            }
            Ok(sign_in_form(&req, state, StatusCode::UNAUTHORIZED, form.name.trim(), Some(message)))
        }
        Err(SignInError::Throttled { retry_after }) => {
            let seconds = retry_after.as_secs().max(1);
            let message = format!("Too many attempts, try again in {seconds} s.");
            if json {
                let mut error = ConsoleError::new(ErrorCode::TooManyAttempts, message, true);
                error.retry_after = Some(seconds);
                return Err(error);
            }
            let mut response =
                sign_in_form(&req, state, StatusCode::TOO_MANY_REQUESTS, form.name.trim(), Some(&message));
            if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(SignInError::Store(e)) => Err(ConsoleError::store(&e, json)),
    }
}

/// A form that only carries its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /console/sign-out`: ends the session in the store (its cookie opens nothing
/// afterwards, even if a copy was kept) and clears the cookie.
pub async fn sign_out(
    req: HttpRequest,
    who: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    who.check_csrf(&form.csrf)?;
    let state = state(&req)?;
    if let Some(id) = session_id(&req) {
        state.sessions.end(&id).await.map_err(|e| ConsoleError::store(&e, who.json))?;
    }
    tracing::info!(operator = %who.name, "signed out");
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, SIGN_IN_PATH))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    let _ = response.add_cookie(&cookie(SESSION_COOKIE, String::new(), CookieDuration::ZERO, secure(&req, state)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role) -> SignedIn {
        SignedIn {
            name: OperatorName::parse("ana").unwrap(),
            role,
            csrf: String::from("the-token"),
            path: String::from("/console/admin"),
            json: false,
        }
    }

    #[test]
    fn only_the_sessions_own_token_passes_the_csrf_check() {
        assert!(who(Role::Operator).check_csrf("the-token").is_ok());
        assert_eq!(who(Role::Operator).check_csrf("").unwrap_err().code, ErrorCode::CsrfRejected);
        assert_eq!(who(Role::Operator).check_csrf("the-token2").unwrap_err().code, ErrorCode::CsrfRejected);
    }

    #[test]
    fn only_an_admin_passes_require_admin() {
        assert!(who(Role::Admin).require_admin().is_ok());
        assert_eq!(who(Role::Operator).require_admin().unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_scoped_to_the_console() {
        let cookie = cookie(SESSION_COOKIE, String::from("id"), CookieDuration::hours(12), true).to_string();

        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/console"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    }
}
