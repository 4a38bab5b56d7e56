//! The one HTTP error shape: `{"code", "message", "trace_id"}` with a stable snake_case
//! code per error. A 5xx never carries its internal cause; that goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use switchboard_shared::secrets::{self, Output};

use super::trace::current_trace_id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
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
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), trace_id: current_trace_id().unwrap_or_default() }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "this route takes a JSON body: send Content-Type: application/json",
        )
    }

    pub fn request_timeout(after_ms: u128) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {after_ms} ms; send it again"),
        )
    }

    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers exceed the limit of {limit} bytes"),
        )
    }

    pub fn server_busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_busy",
            "too many request bodies are being received at once; send it again shortly",
        )
    }

    pub fn invalid_utf8() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_utf8", "the body is not valid UTF-8")
    }

    pub fn json_too_deep(limit: usize) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "json_too_deep", format!("the JSON body nests deeper than {limit} levels"))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
    }

    pub fn verification_failed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "webhook verification failed: wrong mode or verify token",
        )
    }

    pub fn store_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the message could not be stored; deliver it again later",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let trace_id =
            if self.trace_id.is_empty() { current_trace_id().unwrap_or_default() } else { self.trace_id.clone() };
        // The safety net of ADR 0015: a message that carries a secret loses it here.
        let message = secrets::redact(&self.message, Output::Http);
        HttpResponse::build(self.status).json(Body { code: self.code, message: &message, trace_id: &trace_id })
    }
}

/// Default service: unknown paths.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

/// Known path, wrong method.
pub async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept that method"))
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
}
