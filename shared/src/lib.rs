//! # switchboard-shared
//!
//! Cross-cutting pieces used by `application`, `adapters` and the binary, and depending
//! on none of them: [`config`] (one typed struct from environment and an optional TOML
//! file), [`telemetry`] (JSON-lines logs where every line carries its `trace_id`),
//! [`otel`] (OpenTelemetry export and the bridge from stored trace context to spans),
//! [`trace`] (W3C trace context), [`retry`] (the one backoff policy) and [`secrets`]
//! (what must never leave the process, and the net that catches it at every output).

pub mod config;
pub mod otel;
pub mod retry;
pub mod secrets;
pub mod telemetry;
pub mod trace;

pub use config::{Config, ConfigError, Mode, OtelConfig};
pub use retry::{RetryPolicy, SendAction, SendFailure};
pub use trace::{SpanId, TraceContext, TraceId};
