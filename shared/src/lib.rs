//! # switchboard-shared
//!
//! Cross-cutting pieces used by `application`, `adapters` and the binary, depending on
//! none of them and on no IO crate: [`trace`] (W3C trace context), [`otel`] (the bridge
//! from stored trace context to spans, the span redaction and trace-id rules), [`retry`]
//! (the one backoff policy) and [`secrets`] (what must never leave the process, and the
//! net that catches it at every output). Configuration, logging and span export live in
//! `switchboard-runtime`, which only the adapters and the binary use.

pub mod otel;
pub mod retry;
pub mod secrets;
pub mod trace;

pub use retry::RetryPolicy;
pub use trace::{SpanId, TraceContext, TraceId};
