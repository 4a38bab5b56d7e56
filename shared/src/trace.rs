//! W3C trace context (`traceparent`) and the `X-Trace-Id` header older callers send.
//!
//! The trace id is what follows a message through every hop: it is stored with events,
//! messages, jobs and deliveries and restored when work runs later.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// 16 bytes, written as 32 lowercase hex digits; never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceId(u128);

/// 8 bytes, written as 16 lowercase hex digits; never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceParseError {
    #[error("trace id must be 32 hex digits (or a UUID), not all zero")]
    TraceId,
    #[error("traceparent must look like 00-<32 hex>-<16 hex>-<2 hex>")]
    Traceparent,
}

impl TraceId {
    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            let v: u128 = rng.random();
            if v != 0 {
                return Self(v);
            }
        }
    }

    /// The id as a number (big-endian, as on the wire).
    pub fn to_u128(self) -> u128 {
        self.0
    }

    /// From a number; `None` for zero, which W3C reserves for "invalid".
    pub fn from_u128(value: u128) -> Option<Self> {
        (value != 0).then_some(Self(value))
    }

    /// 32 hex digits, or a UUID with dashes (a common `X-Trace-Id` form).
    pub fn parse(input: &str) -> Result<Self, TraceParseError> {
        let cleaned: String = input.trim().chars().filter(|c| *c != '-').collect();
        if cleaned.len() != 32 || !cleaned.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TraceParseError::TraceId);
        }
        match u128::from_str_radix(&cleaned, 16) {
            Ok(0) | Err(_) => Err(TraceParseError::TraceId),
            Ok(v) => Ok(Self(v)),
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl TryFrom<String> for TraceId {
    type Error = TraceParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TraceId> for String {
    fn from(value: TraceId) -> Self {
        value.to_string()
    }
}

impl SpanId {
    /// The id as a number (big-endian, as on the wire).
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// From a number; `None` for zero, which W3C reserves for "invalid".
    pub fn from_u64(value: u64) -> Option<Self> {
        (value != 0).then_some(Self(value))
    }

    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            let v: u64 = rng.random();
            if v != 0 {
                return Self(v);
            }
        }
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Where a piece of work sits in a distributed trace: the trace it belongs to and the
/// span that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub parent_span_id: SpanId,
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace, for work that arrived without one.
    pub fn new_root() -> Self {
        Self { trace_id: TraceId::random(), parent_span_id: SpanId::random(), sampled: true }
    }

    /// Parses a W3C `traceparent` header (version 00; later versions are read by their
    /// first four fields, as the spec asks).
    pub fn from_traceparent(header: &str) -> Result<Self, TraceParseError> {
        let mut parts = header.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TraceParseError::Traceparent);
        };
        let version_ok = version.len() == 2
            && version.bytes().all(|b| b.is_ascii_hexdigit())
            && version != "ff"
            && (version != "00" || parts.next().is_none());
        if !version_ok || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return Err(TraceParseError::Traceparent);
        }
        let trace_id = TraceId::parse(trace).map_err(|_| TraceParseError::Traceparent)?;
        let span = u64::from_str_radix(span, 16).map_err(|_| TraceParseError::Traceparent)?;
        if span == 0 {
            return Err(TraceParseError::Traceparent);
        }
        let flags = u8::from_str_radix(flags, 16).map_err(|_| TraceParseError::Traceparent)?;
        Ok(Self { trace_id, parent_span_id: SpanId(span), sampled: flags & 1 == 1 })
    }

    /// Reads the inbound headers' values: `traceparent` wins, then `X-Trace-Id`, else a
    /// new root. Invalid values are ignored rather than refused: a bad header must never
    /// cost a message.
    pub fn from_headers(traceparent: Option<&str>, x_trace_id: Option<&str>) -> Self {
        if let Some(ctx) = traceparent.and_then(|h| Self::from_traceparent(h).ok()) {
            return ctx;
        }
        if let Some(trace_id) = x_trace_id.and_then(|h| TraceId::parse(h).ok()) {
            return Self { trace_id, parent_span_id: SpanId::random(), sampled: true };
        }
        Self::new_root()
    }

    /// The `traceparent` value for an outbound call or for storage.
    pub fn to_traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.parent_span_id, u8::from(self.sampled))
    }

    /// The same trace, with a new span as parent of what comes next.
    pub fn child(&self) -> Self {
        Self { parent_span_id: SpanId::random(), ..*self }
    }
}

impl FromStr for TraceContext {
    type Err = TraceParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_traceparent(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::from_traceparent(header).unwrap();
        assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(ctx.sampled);
        assert_eq!(ctx.to_traceparent(), header);
    }

    #[test]
    fn invalid_traceparents_are_refused() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceContext::from_traceparent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn x_trace_id_is_used_when_there_is_no_traceparent() {
        let ctx = TraceContext::from_headers(None, Some("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(ctx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        let uuid = TraceContext::from_headers(None, Some("0af76519-16cd-43dd-8448-eb211c80319c"));
        assert_eq!(uuid.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn garbage_headers_start_a_new_trace() {
        let a = TraceContext::from_headers(Some("nonsense"), Some("also nonsense"));
        let b = TraceContext::from_headers(Some("nonsense"), Some("also nonsense"));
        assert_ne!(a.trace_id, b.trace_id);
    }
}
