//! Trace ids on every inbound route: W3C `traceparent` preferred (the server span is the
//! caller's span's child), else `X-Trace-Id` (the server span is the root of a trace with
//! that id), else a new trace whose root is the server span. The context goes into the request's extensions and a task-local (so
//! error bodies can carry it), the request runs inside a span with `trace_id`, and the
//! response echoes `X-Trace-Id`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use switchboard_shared::TraceContext;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_TRACE: TraceContext;
}

pub const X_TRACE_ID: &str = "x-trace-id";

/// The trace id of the request being handled, if any.
pub fn current_trace_id() -> Option<String> {
    REQUEST_TRACE.try_with(|t| t.trace_id.to_string()).ok()
}

/// The trace context the middleware attached to this request.
pub fn request_trace(req: &HttpRequest) -> TraceContext {
    req.extensions().get::<TraceContext>().copied().unwrap_or_else(TraceContext::new_root)
}

/// The middleware, for `App::wrap(from_fn(trace_requests))`.
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let incoming = TraceContext::from_headers(header("traceparent").as_deref(), header(X_TRACE_ID).as_deref());
    let span = tracing::info_span!(
        "http",
        trace_id = %incoming.trace_id,
        method = %req.method(),
        path = %req.path(),
        otel.name = %format!("{} {}", req.method(), route_name(req.path())),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    // This request's span becomes the parent of everything it stores for later: the child
    // of the caller's span when it sent `traceparent` (keeping its `tracestate`), else the
    // root of a new trace (ADR 0008).
    let tracestate = header("tracestate");
    let trace = switchboard_shared::otel::continue_trace_with_state(&span, &incoming, tracestate.as_deref());
    req.extensions_mut().insert(trace);
    let started = Instant::now();
    let result = REQUEST_TRACE.scope(trace, next.call(req)).instrument(span.clone()).await;
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut response = result?;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), elapsed_us, "request handled");
    });
    if let Ok(value) = HeaderValue::from_str(&trace.trace_id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(X_TRACE_ID), value);
    }
    Ok(response)
}

/// A low-cardinality name for a request path: segments that look like ids (digits,
/// UUIDs, wamids) become `{id}`, so span names group by route.
fn route_name(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let id_like = segment.len() > 12 && segment.bytes().any(|b| b.is_ascii_digit())
                || (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()));
            if id_like { "{id}" } else { segment }
        })
        .collect();
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::route_name;

    #[test]
    fn ids_in_paths_do_not_become_span_names() {
        assert_eq!(route_name("/webhook"), "/webhook");
        assert_eq!(route_name("/api/v1/messages/0193f0c2-7a51-7c3e-9b1a-2f4d5e6f7a8b"), "/api/v1/messages/{id}");
        assert_eq!(route_name("/api/v1/jobs/42/requeue"), "/api/v1/jobs/{id}/requeue");
        assert_eq!(route_name("/.well-known/agent-card.json"), "/.well-known/agent-card.json");
    }
}
