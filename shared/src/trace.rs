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
    /// Whether `parent_span_id` names a real span (a caller's, or one stored with the
    /// work). `false` for a new trace: the next span is its root, and exporters must not
    /// be told of a parent that never existed ("missing root" in Jaeger and Tempo).
    pub has_parent: bool,
}

/// Lower-case hex of exactly `len` digits (W3C trace context allows no other case).
fn lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TraceContext {
    /// A new trace, for work that arrived without one: the next span is its root.
    pub fn new_root() -> Self {
        Self::root_of(TraceId::random())
    }

    /// A new trace with a chosen id (a caller's `X-Trace-Id`): the next span is its root.
    pub fn root_of(trace_id: TraceId) -> Self {
        Self { trace_id, parent_span_id: SpanId::random(), sampled: true, has_parent: false }
    }

    /// Parses a W3C `traceparent` header exactly as the Trace Context spec says: lower-case
    /// hex; version `ff` invalid; version 00 is exactly `00-<32>-<16>-<2>`; a later version
    /// is read by its first four fields and may only go on after a `-`; all-zero trace and
    /// parent ids are invalid.
    pub fn from_traceparent(header: &str) -> Result<Self, TraceParseError> {
        let header = header.trim_matches([' ', '\t']);
        let bad = TraceParseError::Traceparent;
        let version = header.get(0..2).ok_or(bad.clone())?;
        if !lower_hex(version, 2) || version == "ff" {
            return Err(bad);
        }
        let fields = header.get(0..55).ok_or(bad.clone())?;
        let rest = &header[55..];
        if (version == "00" && !rest.is_empty()) || (!rest.is_empty() && !rest.starts_with('-')) {
            return Err(bad);
        }
        let bytes = fields.as_bytes();
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(bad);
        }
        let (trace, span, flags) = (&fields[3..35], &fields[36..52], &fields[53..55]);
        if !lower_hex(trace, 32) || !lower_hex(span, 16) || !lower_hex(flags, 2) {
            return Err(bad);
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().and_then(TraceId::from_u128).ok_or(bad.clone())?;
        let span = u64::from_str_radix(span, 16).ok().and_then(SpanId::from_u64).ok_or(bad.clone())?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| bad)?;
        Ok(Self { trace_id, parent_span_id: span, sampled: flags & 1 == 1, has_parent: true })
    }

    /// Reads the inbound headers' values: `traceparent` wins (the caller's span is the
    /// parent), then `X-Trace-Id` (a new root in that trace), else a new trace. Invalid
    /// values are ignored rather than refused: a bad header must never cost a message.
    pub fn from_headers(traceparent: Option<&str>, x_trace_id: Option<&str>) -> Self {
        if let Some(ctx) = traceparent.and_then(|h| Self::from_traceparent(h).ok()) {
            return ctx;
        }
        if let Some(trace_id) = x_trace_id.and_then(|h| TraceId::parse(h).ok()) {
            return Self::root_of(trace_id);
        }
        Self::new_root()
    }

    /// The `traceparent` value for an outbound call or for storage.
    pub fn to_traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.parent_span_id, u8::from(self.sampled))
    }

    /// The same trace, with a new span as parent of what comes next.
    pub fn child(&self) -> Self {
        Self { parent_span_id: SpanId::random(), has_parent: true, ..*self }
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
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f35-77b3-4da6-a3ce-929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(TraceContext::from_traceparent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let ctx =
            TraceContext::from_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future")
                .unwrap();
        assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(ctx.has_parent);
    }

    #[test]
    fn without_traceparent_the_next_span_is_a_root() {
        assert!(!TraceContext::from_headers(None, None).has_parent);
        assert!(!TraceContext::from_headers(Some("garbage"), Some("0af7651916cd43dd8448eb211c80319c")).has_parent);
        assert!(
            TraceContext::from_headers(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), None)
                .has_parent
        );
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
