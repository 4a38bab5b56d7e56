//! The one HTTP error shape: `{"code", "message", "trace_id"}` with a stable snake_case
//! code per error. A 5xx never carries its internal cause; that goes to the log.
//!
//! Every code the service answers is a row of [`error_codes!`] below: its name on the
//! wire, its HTTP status and what it means. The status comes from the code, so a handler
//! picks a code and writes a message, never a status. The Errors section of
//! `docs/architecture.md` lists the same rows; a test fails when the two differ.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use switchboard_application::ports::StoreError;
use switchboard_application::usecases::{
    ChangeConsentError, IngestError, LinkError, PeopleError, SendMessageError, ServeMediaError, UploadError,
    WorkflowError,
};

use switchboard_shared::secrets::{self, Output};

use super::trace::current_trace_id;
use switchboard_application::usecases::ReplayError;

/// Declares [`ErrorCode`] from one table: `Variant => "wire_name", STATUS, "meaning";`.
macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:ident, $meaning:literal;)*) => {
        /// Every error code the HTTP API answers. Clients rely on the names: never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the table (and of the docs).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The `code` of the body: stable snake_case.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            pub const fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// One line for the docs: when a client gets this code.
            pub const fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning,)* }
            }
        }
    };
}

error_codes! {
    BadRequest => "bad_request", BAD_REQUEST,
        "the body could not be read or is not the JSON the route takes, or the query string does not parse";
    InvalidRequest => "invalid_request", BAD_REQUEST,
        "a field, path or query parameter is invalid; the message starts with its name";
    InvalidCursor => "invalid_cursor", BAD_REQUEST,
        "the cursor is not one this list gave; start again without it";
    InvalidUtf8 => "invalid_utf8", BAD_REQUEST,
        "a JSON route's body is not valid UTF-8";
    JsonTooDeep => "json_too_deep", BAD_REQUEST,
        "a JSON body nests deeper than 64 levels";
    Unauthorized => "unauthorized", UNAUTHORIZED,
        "no API key, or not a valid one, on a route that is not public";
    InvalidSignature => "invalid_signature", UNAUTHORIZED,
        "a webhook POST without a valid X-Hub-Signature-256 over its raw body; nothing was stored";
    SignInRequired => "sign_in_required", UNAUTHORIZED,
        "a console route without a valid operator session (a browser is sent to /console/sign-in instead)";
    InvalidCredentials => "invalid_credentials", UNAUTHORIZED,
        "a console sign-in whose name and password do not match an operator";
    VerificationFailed => "verification_failed", FORBIDDEN,
        "the webhook verification handshake had the wrong mode or verify token";
    Forbidden => "forbidden", FORBIDDEN,
        "the signed-in operator's role does not allow this console page or action (admin only)";
    CsrfRejected => "csrf_rejected", FORBIDDEN,
        "a console form or POST without the session's CSRF token, or with another one; nothing was changed";
    LinkInvalid => "link_invalid", FORBIDDEN,
        "a media link whose signature is not this service's (or was altered); nothing was read";
    NotFound => "not_found", NOT_FOUND,
        "no such route, or no such resource behind it";
    LinkExpired => "link_expired", GONE,
        "a media link past its expiry; ask again for the message (its links are signed afresh)";
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED,
        "the route exists but does not take this method";
    Conflict => "conflict", CONFLICT,
        "the resource is not in a state that allows this (another operator holds the conversation, say); the message says why";
    OptedOut => "opted_out", CONFLICT,
        "the contact opted out of business-initiated (or marketing) messages: a proactive send or a template is refused; the message says since when and by whom, and replies inside a conversation the user started still go";
    RequestTimeout => "request_timeout", REQUEST_TIMEOUT,
        "the body did not arrive within the body deadline";
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE,
        "the body exceeds the route's size limit";
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "a JSON route got a body not declared as JSON";
    TooManyAttempts => "too_many_attempts", TOO_MANY_REQUESTS,
        "too many failed console sign-ins for this name or address; try again after Retry-After";
    HeadersTooLarge => "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE,
        "the request headers exceed the header size limit";
    AgentUnavailable => "agent_unavailable", BAD_GATEWAY,
        "no agent could answer the workflow; try again later";
    StoreUnavailable => "store_unavailable", SERVICE_UNAVAILABLE,
        "the database could not be read or written; try again later (a webhook: Meta delivers it again)";
    ServerBusy => "server_busy", SERVICE_UNAVAILABLE,
        "too many request bodies are being read at once; send it again after Retry-After";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub trace_id: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    trace_id: &'a str,
}

impl ApiError {
    /// The one constructor: the status comes from the code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), trace_id: current_trace_id().unwrap_or_default() }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    // The messages below are said from more than one place; each goes through `new`.

    /// `invalid_request`, named: `"{parameter}: {message}"`.
    pub fn invalid(parameter: &str, message: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidRequest, format!("{parameter}: {message}"))
    }

    pub fn unreadable_body(error: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::BadRequest, format!("could not read the body: {error}"))
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, format!("the body exceeds the limit of {limit} bytes"))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, "this route takes a JSON body: send Content-Type: application/json")
    }

    pub fn json_too_deep(limit: usize) -> Self {
        Self::new(ErrorCode::JsonTooDeep, format!("the JSON body nests deeper than {limit} levels"))
    }

    pub fn verification_failed() -> Self {
        Self::new(ErrorCode::VerificationFailed, "webhook verification failed: wrong mode or verify token")
    }

    /// The cause stays in the log, where the caller put it.
    pub fn store_unavailable() -> Self {
        Self::new(ErrorCode::StoreUnavailable, "the message could not be stored; deliver it again later")
    }
}

/// A store failure answers 503 `store_unavailable`; its cause is logged, never sent.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        Self::store_unavailable()
    }
}

impl From<ServeMediaError> for ApiError {
    fn from(e: ServeMediaError) -> Self {
        match e {
            ServeMediaError::Link(LinkError::BadSignature) => Self::new(ErrorCode::LinkInvalid, e.to_string()),
            ServeMediaError::Link(LinkError::Expired) => Self::new(ErrorCode::LinkExpired, e.to_string()),
            ServeMediaError::NotFound => Self::new(ErrorCode::NotFound, "no such file"),
            ServeMediaError::Store(e) => {
                tracing::error!(error = %e, "media store failed");
                Self::new(ErrorCode::StoreUnavailable, "the file could not be read; try again later")
            }
        }
    }
}

impl From<SendMessageError> for ApiError {
    fn from(e: SendMessageError) -> Self {
        match e {
            SendMessageError::Invalid(e) => Self::invalid("content", e),
            SendMessageError::Order(e) => Self::invalid(e.field, e.message),
            SendMessageError::Media(e) => {
                tracing::error!(error = %e, "media store failed");
                Self::new(ErrorCode::StoreUnavailable, "the uploaded file could not be looked up; try again later")
            }
            SendMessageError::NoEmail(_) => Self::invalid("email", "required when channel is email"),
            SendMessageError::OptedOut(refusal) => Self::new(ErrorCode::OptedOut, refusal.to_string()),
            SendMessageError::Store(e) => e.into(),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Refused { field, message } => Self::invalid(field, message),
            UploadError::Store(e) => {
                tracing::error!(error = %e, "media store failed");
                Self::new(ErrorCode::StoreUnavailable, "the file could not be stored; try again later")
            }
        }
    }
}

impl From<ChangeConsentError> for ApiError {
    fn from(e: ChangeConsentError) -> Self {
        match e {
            ChangeConsentError::NotFound(id) => Self::new(ErrorCode::NotFound, format!("no contact {id}")),
            ChangeConsentError::Store(e) => e.into(),
        }
    }
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::NotFound(id) => Self::new(ErrorCode::NotFound, format!("no conversation {id}")),
            PeopleError::Conflict(why) => Self::new(ErrorCode::Conflict, why),
            PeopleError::OptedOut(refusal) => Self::new(ErrorCode::OptedOut, refusal.to_string()),
            PeopleError::Invalid(e) => Self::invalid("text", e),
            PeopleError::Template(e) => Self::new(ErrorCode::InvalidRequest, e.to_string()),
            PeopleError::Store(e) => e.into(),
        }
    }
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        tracing::error!(error = %e, "workflow failed");
        Self::new(ErrorCode::AgentUnavailable, "no agent could answer; try again later")
    }
}

/// `IngestWebhook` has logged the cause already.
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::StoreUnavailable(_) => Self::store_unavailable(),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Store(e) => e.into(),
            ReplayError::Ingest(e) => e.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let trace_id =
            if self.trace_id.is_empty() { current_trace_id().unwrap_or_default() } else { self.trace_id.clone() };
        // The safety net of ADR 0015: a message that carries a secret loses it here.
        let message = secrets::redact(&self.message, Output::Http);
        HttpResponse::build(self.code.status()).json(Body {
            code: self.code.as_str(),
            message: &message,
            trace_id: &trace_id,
        })
    }
}

/// Default service: unknown paths.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "no such route"))
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::MethodNotAllowed, "this route does not accept that method"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn errors_render_as_code_message_and_trace_id() {
        let error = ApiError { trace_id: "abc".into(), ..ApiError::store_unavailable() };
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(body["code"], "store_unavailable");
        assert_eq!(body["trace_id"], "abc");
        assert!(body["message"].as_str().unwrap().contains("deliver it again"));
    }

    #[test]
    fn every_code_is_unique_snake_case_and_an_error_status() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name} is not snake_case"
            );
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{name}");
            assert!(!code.meaning().is_empty(), "{name} has no meaning");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "a code is listed twice");
    }

    #[test]
    fn a_store_failure_answers_503_without_its_cause() {
        let error = ApiError::from(StoreError::Unavailable(anyhow::anyhow!("disk I/O error at /var/lib/db")));

        assert_eq!(error.code, ErrorCode::StoreUnavailable);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.message.contains("disk"), "{}", error.message);
    }

    /// The rows of the Errors section of `docs/architecture.md`, as the table renders them.
    fn documented_rows() -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let section = text.split("\n## Errors\n").nth(1).expect("docs/architecture.md has an Errors section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section.lines().filter(|l| l.starts_with("| `")).map(str::to_owned).collect()
    }

    #[test]
    fn the_docs_list_every_error_code_with_its_status_and_meaning() {
        let expected: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("| `{}` | {} | {} |", c.as_str(), c.status().as_u16(), c.meaning()))
            .collect();

        let documented = documented_rows();

        assert_eq!(
            documented,
            expected,
            "the Errors section of docs/architecture.md must list ErrorCode::ALL; its rows:\n{}",
            expected.join("\n")
        );
    }
}
