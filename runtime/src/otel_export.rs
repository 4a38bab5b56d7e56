//! Span export over OTLP/HTTP (when an endpoint is configured), behind the redaction
//! and trace-id rules of `switchboard_shared::otel`. The only place that pulls in an HTTP
//! client for telemetry, hence here and not in `shared` (which `application` uses).

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use switchboard_shared::otel::{RedactingExporter, RequestedTraceIds};

use crate::config::{OtelConfig, OtlpProtocol};

#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
}

/// A running span export pipeline. Call [`OtelExport::shutdown`] before exiting so the
/// last batch is sent.
#[derive(Debug, Clone)]
pub struct OtelExport {
    provider: SdkTracerProvider,
}

impl OtelExport {
    /// Starts the OTLP/HTTP exporter (batching on its own thread), or returns `None`
    /// when no endpoint is configured.
    pub fn start(config: &OtelConfig) -> Result<Option<Self>, OtelError> {
        let Some(endpoint) = config.traces_endpoint.as_deref() else {
            return Ok(None);
        };
        let protocol = match config.protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
            OtlpProtocol::HttpJson => Protocol::HttpJson,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| OtelError::Exporter { endpoint: endpoint.to_owned(), message: e.to_string() })?;
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(RequestedTraceIds::default())
            .with_batch_exporter(RedactingExporter(exporter))
            .with_resource(resource)
            .build();
        Ok(Some(Self { provider }))
    }

    /// Wraps a provider built elsewhere.
    pub fn from_provider(provider: SdkTracerProvider) -> Self {
        Self { provider }
    }

    /// Exports each span as it ends through `exporter` (tests pass an in-memory one),
    /// behind the same redaction as [`OtelExport::start`].
    pub fn with_simple_exporter<E: SpanExporter + 'static>(exporter: E) -> Self {
        Self {
            provider: SdkTracerProvider::builder()
                .with_id_generator(RequestedTraceIds::default())
                .with_simple_exporter(RedactingExporter(exporter))
                .build(),
        }
    }

    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("switchboard")
    }

    /// Sends what is still batched and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "span exporter did not shut down cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_endpoint_means_no_export() {
        assert!(OtelExport::start(&OtelConfig::off().unwrap()).unwrap().is_none());
    }
}
