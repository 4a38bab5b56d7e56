//! Trace ids on every inbound route: W3C `traceparent` preferred, else `X-Trace-Id`,
//! else a new one. The context goes into the request's extensions and a task-local (so
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
    let trace = TraceContext::from_headers(header("traceparent").as_deref(), header(X_TRACE_ID).as_deref()).child();
    req.extensions_mut().insert(trace);
    let span = tracing::info_span!(
        "http",
        trace_id = %trace.trace_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = REQUEST_TRACE.scope(trace, next.call(req)).instrument(span.clone()).await;
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut response = result?;
    span.in_scope(|| {
        tracing::info!(status = response.status().as_u16(), elapsed_us, "request handled");
    });
    if let Ok(value) = HeaderValue::from_str(&trace.trace_id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(X_TRACE_ID), value);
    }
    Ok(response)
}
