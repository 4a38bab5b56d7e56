//! Logs as JSON lines, one object per event, with the fields of every enclosing span
//! lifted to the top level. So a line logged deep inside a job still carries the
//! `trace_id` recorded on the job's span, and `jq 'select(.trace_id=="…")'` shows one
//! message's whole journey.
//!
//! As in zero-to-production, building the subscriber ([`build_subscriber`]) is separate
//! from installing it ([`init`]), so tests can capture logs into a buffer.

use std::fmt;
use std::io;

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use std::sync::OnceLock;
use std::time::Duration;

use crate::config::OtelConfig;
use crate::log_writer::BatchedWriter;
use crate::otel_export::{OtelError, OtelExport};
use opentelemetry_sdk::trace::SdkTracer;
use switchboard_shared::otel::LOG_ONLY;
use switchboard_shared::secrets::RedactingWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// The fields recorded on a span, kept in its extensions for the log lines inside it:
/// names as the callsite declares them (no copy), values as JSON.
#[derive(Default, Clone)]
struct SpanFields(Vec<(&'static str, Value)>);

impl SpanFields {
    /// Sets `name`, replacing a value recorded before (`Span::record`).
    fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), Value::from(format!("{value:?}")));
    }
}

/// Writes one JSON object per event: timestamp, level, target, the event's fields, the
/// enclosing spans' fields (inner spans win, the event's own fields over all), and `span`
/// naming the path; keys in order. It keeps each span's fields for that, and nothing
/// else: a span costs no formatting until a line inside it is written.
struct JsonLines<W> {
    make_writer: W,
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = SpanFields::default();
            attrs.record(&mut fields);
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<SpanFields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let spans: Vec<_> = ctx.event_scope(event).map(|scope| scope.from_root().collect()).unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(tracing_subscriber::registry::SpanRef::extensions).collect();
        let mut own = SpanFields::default();
        event.record(&mut own);
        let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        let path = spans.iter().map(tracing_subscriber::registry::SpanRef::name).collect::<Vec<_>>().join(":");
        let (now, level, target, path) =
            (Value::from(now), Value::from(meta.level().as_str()), Value::from(meta.target()), Value::from(path));
        // Later entries win: the spans from the root inwards, then the event's own fields.
        let mut line: BTreeMap<&str, &Value> = BTreeMap::new();
        line.insert("timestamp", &now);
        line.insert("level", &level);
        line.insert("target", &target);
        for fields in extensions.iter().filter_map(|ext| ext.get::<SpanFields>()) {
            line.extend(fields.0.iter().map(|(name, value)| (*name, value)));
        }
        if !spans.is_empty() {
            line.insert("span", &path);
        }
        line.extend(own.0.iter().map(|(name, value)| (*name, value)));
        let Ok(mut text) = serde_json::to_vec(&line) else { return };
        text.push(b'\n');
        // One write per line, so lines from several threads never interleave.
        let _ = self.make_writer.make_writer_for(meta).write_all(&text);
    }
}

/// Wraps every writer it makes in a [`RedactingWriter`].
struct RedactingMakeWriter<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter(self.0.make_writer_for(meta))
    }
}

/// Builds (does not install) the subscriber. `filter` uses `RUST_LOG` syntax. With a
/// `tracer`, spans are also exported through OpenTelemetry (see [`crate::otel_export`]).
pub fn build_subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
    tracer: Option<SdkTracer>,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let env_filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // The safety net of ADR 0015: no line leaves with a registered secret in it.
    let writer = RedactingMakeWriter(writer);
    // Spans of the log-only target (a worker's lifetime, say) give log lines their context
    // but are no trace of their own: they would be exported as hour-long roots.
    let otel = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() != LOG_ONLY))
    });
    match format {
        LogFormat::Json => {
            Box::new(Registry::default().with(env_filter).with(otel).with(JsonLines { make_writer: writer }))
        }
        LogFormat::Pretty => Box::new(
            Registry::default()
                .with(env_filter)
                .with(otel)
                .with(tracing_subscriber::fmt::layer().with_target(false).with_writer(writer)),
        ),
    }
}

/// The process's log lines on their way to stdout, once [`init`] has installed them.
static STDOUT_LINES: OnceLock<BatchedWriter> = OnceLock::new();

/// Installs the subscriber globally, logging to stdout through one writer thread
/// ([`crate::log_writer`]), and starts span export when `otel` names an endpoint. Returns
/// the export pipeline, to be shut down before the process exits; call [`flush`] before
/// it exits too. A second call (as in tests) installs nothing and exports nothing.
pub fn init(filter: &str, format: LogFormat, otel: &OtelConfig) -> Result<Option<OtelExport>, OtelError> {
    let export = OtelExport::start(otel)?;
    let tracer = export.as_ref().map(OtelExport::tracer);
    let subscriber = match BatchedWriter::start(io::stdout()) {
        Ok(lines) => {
            let subscriber = build_subscriber(filter, format, lines.clone(), tracer);
            let _ = STDOUT_LINES.set(lines);
            subscriber
        }
        // No thread for it: each line is written by the thread that logs it, as before.
        Err(e) => {
            eprintln!("switchboard: cannot start the log writer thread ({e}); writing log lines directly");
            build_subscriber(filter, format, io::stdout, tracer)
        }
    };
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        if let Some(export) = export {
            export.shutdown();
        }
        return Ok(None);
    }
    Ok(export)
}

/// Waits (a few seconds at most) until every log line logged so far is on stdout. For
/// the binary's last words and panics; does nothing before [`init`].
pub fn flush() {
    if let Some(lines) = STDOUT_LINES.get() {
        lines.flush(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn every_line_inside_a_span_carries_the_spans_trace_id() {
        let buffer = Buffer::default();
        let subscriber = build_subscriber("info", LogFormat::Json, buffer.clone(), None);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("job", trace_id = "abc123", job_id = 7);
            let _o = outer.enter();
            let inner = tracing::info_span!("deliver", channel = "whatsapp");
            let _i = inner.enter();
            tracing::info!(chars = 12, "sent");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["trace_id"], "abc123");
        assert_eq!(line["job_id"], 7);
        assert_eq!(line["channel"], "whatsapp");
        assert_eq!(line["message"], "sent");
        assert_eq!(line["span"], "job:deliver");
    }

    #[test]
    fn a_field_recorded_later_is_on_the_lines_after_it_and_an_events_own_field_wins() {
        let buffer = Buffer::default();
        let subscriber = build_subscriber("info", LogFormat::Json, buffer.clone(), None);
        tracing::subscriber::with_default(subscriber, || {
            let job = tracing::info_span!("job", wamid = tracing::field::Empty, attempt = 1);
            let _j = job.enter();
            tracing::info!("before");
            job.record("wamid", "wamid.A");
            tracing::info!(attempt = 2, "after");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "before");
        assert!(lines[0].get("wamid").is_none(), "{text}");
        assert_eq!(lines[0]["attempt"], 1);
        assert_eq!(lines[1]["wamid"], "wamid.A");
        assert_eq!(lines[1]["attempt"], 2);
        assert!(text.lines().all(|l| l.starts_with("{\"attempt\"")), "keys in order: {text}");
    }

    #[test]
    fn a_line_outside_any_span_has_no_span_path() {
        let buffer = Buffer::default();
        let subscriber = build_subscriber("info", LogFormat::Json, buffer.clone(), None);
        tracing::subscriber::with_default(subscriber, || tracing::warn!(code = 7, "alone"));
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["code"], 7);
        assert!(line.get("span").is_none(), "{text}");
    }
}
