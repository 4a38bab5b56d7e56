//! OpenTelemetry: spans exported over OTLP/HTTP when an endpoint is configured, and the
//! bridge between the [`TraceContext`] Switchboard stores with its work and the spans
//! that `tracing-opentelemetry` builds.
//!
//! Work here outlives the request that caused it: a webhook is answered, then a job
//! classifies the message, another sends the reply, and a status webhook arrives
//! minutes later. Each stored row keeps a `traceparent` whose span id is the span that
//! caused the work. When the work runs, [`continue_trace`] makes that span the parent
//! of the new one and returns the context to store with whatever this span causes in
//! turn, so the parent links survive the job queue and the database.
//!
//! With export off there is no OpenTelemetry layer: [`continue_trace`] then returns a
//! child context with a fresh span id, as before, and costs one failed downcast.

use std::borrow::Cow;

use opentelemetry::trace::{SpanContext, Status, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SpanData, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::secrets::{self, Output};
use crate::trace::{SpanId, TraceContext, TraceId};

/// The target of spans that only give log lines their context and are not exported as
/// traces (`tracing::info_span!(target: LOG_ONLY, "worker", ...)`).
pub const LOG_ONLY: &str = "switchboard::log_only";

/// The safety net of ADR 0015 for spans: every string a span carries (name, attributes,
/// events, status) is passed through [`secrets::redact`] before it leaves.
#[derive(Debug)]
pub struct RedactingExporter<E>(pub E);

fn redact_value(value: &mut Value) {
    if let Value::String(text) = value
        && let Cow::Owned(clean) = secrets::redact(text.as_str(), Output::Span)
    {
        *value = Value::String(clean.into());
    }
}

fn redact_cow(text: &mut Cow<'static, str>) {
    if let Cow::Owned(clean) = secrets::redact(text, Output::Span) {
        *text = Cow::Owned(clean);
    }
}

fn redact_span(span: &mut SpanData) {
    redact_cow(&mut span.name);
    for kv in &mut span.attributes {
        redact_value(&mut kv.value);
    }
    for event in &mut span.events.events {
        redact_cow(&mut event.name);
        for kv in &mut event.attributes {
            redact_value(&mut kv.value);
        }
    }
    if let Status::Error { description } = &mut span.status {
        redact_cow(description);
    }
}

impl<E: SpanExporter> SpanExporter for RedactingExporter<E> {
    fn export(&self, mut batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &mut batch {
            redact_span(span);
        }
        self.0.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

fn remote_context(ctx: &TraceContext) -> SpanContext {
    let flags = if ctx.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    SpanContext::new(
        opentelemetry::TraceId::from_bytes(ctx.trace_id.to_u128().to_be_bytes()),
        opentelemetry::SpanId::from_bytes(ctx.parent_span_id.to_u64().to_be_bytes()),
        flags,
        true,
        TraceState::default(),
    )
}

/// The trace context of `span` as OpenTelemetry built it: its trace and its own span
/// id (the parent for whatever it causes). `None` without an OpenTelemetry layer.
pub fn context_of(span: &tracing::Span) -> Option<TraceContext> {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(TraceContext {
        trace_id: TraceId::from_u128(u128::from_be_bytes(sc.trace_id().to_bytes()))?,
        parent_span_id: SpanId::from_u64(u64::from_be_bytes(sc.span_id().to_bytes()))?,
        sampled: sc.is_sampled(),
        has_parent: true,
    })
}

/// Makes `span` (not yet entered) a child of the span `ctx` names — or, when `ctx` has
/// no parent (a new trace), the root of the trace `ctx` names — and returns the context
/// that work caused inside `span` should carry and store.
pub fn continue_trace(span: &tracing::Span, ctx: &TraceContext) -> TraceContext {
    continue_trace_with_state(span, ctx, None)
}

/// [`continue_trace`] for a caller's `traceparent` with its `tracestate`, which the span
/// and every span under it in this process keep (W3C: vendors' entries pass through).
pub fn continue_trace_with_state(span: &tracing::Span, ctx: &TraceContext, tracestate: Option<&str>) -> TraceContext {
    if !ctx.has_parent {
        return start_root(span, ctx);
    }
    let state = tracestate.and_then(|s| s.parse::<TraceState>().ok()).unwrap_or_default();
    let parent = remote_context(ctx);
    let parent = SpanContext::new(parent.trace_id(), parent.span_id(), parent.trace_flags(), true, state);
    if span.set_parent(Context::new().with_remote_span_context(parent)).is_err() {
        return ctx.child();
    }
    match context_of(span) {
        Some(own) if own.trace_id == ctx.trace_id => own,
        _ => ctx.child(),
    }
}

thread_local! {
    /// The trace id the next root span built on this thread should get ([`start_root`]).
    static REQUESTED_TRACE_ID: std::cell::Cell<Option<opentelemetry::TraceId>> = const { std::cell::Cell::new(None) };
}

/// Random ids, except that a root span started by [`start_root`] gets the trace id asked
/// for (a caller's `X-Trace-Id`, or the one already given to the request).
#[derive(Debug, Default)]
pub struct RequestedTraceIds(RandomIdGenerator);

impl IdGenerator for RequestedTraceIds {
    fn new_trace_id(&self) -> opentelemetry::TraceId {
        REQUESTED_TRACE_ID.with(std::cell::Cell::take).unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> opentelemetry::SpanId {
        self.0.new_span_id()
    }
}

/// Builds `span` now, as the root of a new trace with `ctx`'s trace id, and returns its
/// own context. Without an OpenTelemetry layer, a child context of the same trace.
fn start_root(span: &tracing::Span, ctx: &TraceContext) -> TraceContext {
    let wanted = opentelemetry::TraceId::from_bytes(ctx.trace_id.to_u128().to_be_bytes());
    REQUESTED_TRACE_ID.with(|cell| cell.set(Some(wanted)));
    let own = context_of(span);
    REQUESTED_TRACE_ID.with(|cell| cell.set(None));
    own.unwrap_or_else(|| ctx.child())
}

/// Records on `span` a link to the span `ctx` names (for work that belongs to one
/// trace and was set off by another, like a status webhook about an earlier send).
pub fn link(span: &tracing::Span, ctx: &TraceContext) {
    span.add_link(remote_context(ctx));
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::SpanKind;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    /// The exporter, a tracer, and the provider that must live while spans end (dropping
    /// it shuts the pipeline down).
    fn recording() -> (InMemorySpanExporter, SdkTracer, SdkTracerProvider) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        (exporter, provider.tracer("test"), provider)
    }

    #[test]
    fn a_continued_span_is_the_child_of_the_stored_context_and_the_parent_of_what_it_causes() {
        let (exporter, tracer, _provider) = recording();
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let stored = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let caused = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("job");
            let caused = continue_trace(&span, &stored);
            span.in_scope(|| tracing::info!("working"));
            drop(span);
            caused
        });
        // The simple processor exported the span when it closed (shutting down would
        // clear the in-memory exporter).
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let job = &spans[0];
        assert_eq!(job.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(job.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(job.span_kind, SpanKind::Internal);
        assert_eq!(caused.trace_id, stored.trace_id);
        assert_eq!(caused.parent_span_id.to_string(), job.span_context.span_id().to_string());
    }

    #[test]
    fn without_an_exporter_work_still_continues_the_same_trace() {
        let stored = TraceContext::new_root();
        let span = tracing::info_span!("job");
        let caused = continue_trace(&span, &stored);
        assert_eq!(caused.trace_id, stored.trace_id);
        assert_ne!(caused.parent_span_id, stored.parent_span_id);
        assert!(context_of(&span).is_none());
    }
}
