//! Logs as JSON lines, one object per event, with the fields of every enclosing span
//! lifted to the top level. So a line logged deep inside a job still carries the
//! `trace_id` recorded on the job's span, and `jq 'select(.trace_id=="…")'` shows one
//! message's whole journey.
//!
//! As in zero-to-production, building the subscriber ([`build_subscriber`]) is separate
//! from installing it ([`init`]), so tests can capture logs into a buffer.

use std::fmt;
use std::io;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::OtelConfig;
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

/// The fields recorded on a span, kept in its extensions for the formatter.
#[derive(Default, Clone)]
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// Keeps each span's fields so that events can be stamped with them.
struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = SpanFields::default();
            attrs.record(&mut JsonVisitor(&mut fields.0));
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(&mut fields.0));
            }
        }
    }
}

/// One JSON object per event: timestamp, level, target, the event's fields, the
/// enclosing spans' fields (inner spans win), and `span` naming the path.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        line.insert("timestamp".into(), Value::from(now));
        line.insert("level".into(), Value::from(event.metadata().level().as_str()));
        line.insert("target".into(), Value::from(event.metadata().target()));
        if let Some(scope) = ctx.event_scope() {
            let mut path = Vec::new();
            for span in scope.from_root() {
                path.push(span.name());
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
            line.insert("span".into(), Value::from(path.join(":")));
        }
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        line.extend(fields);
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
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
        LogFormat::Json => Box::new(
            Registry::default()
                .with(env_filter)
                .with(otel)
                .with(SpanFieldsLayer)
                .with(tracing_subscriber::fmt::layer().event_format(JsonLines).with_writer(writer)),
        ),
        LogFormat::Pretty => Box::new(
            Registry::default()
                .with(env_filter)
                .with(otel)
                .with(tracing_subscriber::fmt::layer().with_target(false).with_writer(writer)),
        ),
    }
}

/// Installs the subscriber globally, logging to stdout, and starts span export when
/// `otel` names an endpoint. Returns the export pipeline, to be shut down before the
/// process exits. A second call (as in tests) installs nothing and exports nothing.
pub fn init(filter: &str, format: LogFormat, otel: &OtelConfig) -> Result<Option<OtelExport>, OtelError> {
    let export = OtelExport::start(otel)?;
    let subscriber = build_subscriber(filter, format, io::stdout, export.as_ref().map(OtelExport::tracer));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        if let Some(export) = export {
            export.shutdown();
        }
        return Ok(None);
    }
    Ok(export)
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
}
