//! API keys and secrets compared in constant time (length leaks, content does not).

use actix_web::HttpRequest;
use secrecy::{ExposeSecret, SecretString};

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The key the request presents: `X-API-Key: KEY` or `Authorization: Bearer KEY`.
pub fn presented_key(req: &HttpRequest) -> Option<&str> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("x-api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer "))).map(str::trim)
}

/// Whether the presented key is one of `keys`.
pub fn key_is_valid(presented: &str, keys: &[SecretString]) -> bool {
    keys.iter().any(|k| constant_time_eq(k.expose_secret().as_bytes(), presented.as_bytes()))
}
