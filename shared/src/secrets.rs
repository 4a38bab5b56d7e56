//! Nothing secret leaves the process (ADR 0015).
//!
//! Every configured secret is registered here at start-up (`switchboard_runtime::register_secrets`). Text
//! that came from outside — a transport error, Graph's or an agent's error message,
//! lettre's or sqlx's failure — is passed through [`scrub`] by the adapter that received
//! it, before it becomes an error, a stored row or an answer. That is the rule.
//!
//! The outputs are the safety net: every log line ([`RedactingWriter`]), every exported
//! span ([`crate::otel`]) and every HTTP error body pass through [`redact`], which
//! replaces any registered secret with `[redacted KEY]` and counts it per output
//! (`switchboard_secrets_redacted_total{output}`). The net should never catch anything:
//! a catch means a source forgot to scrub, and the test suite fails on it
//! ([`caught_by_net`]).
//!
//! Each secret is matched in the forms it travels in: as written, percent-encoded (in a
//! query string), and for `user:password` pairs as HTTP Basic credentials.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

/// Secrets shorter than this are not matched: they would redact ordinary words. Keys
/// that short are refused outside sandbox mode anyway (see the configuration docs).
pub const MIN_LEN: usize = 6;

/// Where a redaction happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// An adapter scrubbing text it received from outside: expected, the rule at work.
    Source,
    /// A log line: the safety net.
    Log,
    /// An exported span or span event: the safety net.
    Span,
    /// An HTTP answer: the safety net.
    Http,
}

impl Output {
    const ALL: [Output; 4] = [Output::Source, Output::Log, Output::Span, Output::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            Output::Source => "source",
            Output::Log => "log",
            Output::Span => "span",
            Output::Http => "http",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

struct Entry {
    value: String,
    /// The value and the encodings it travels in, longest first.
    forms: Vec<String>,
    replacement: String,
    hits: [AtomicU64; 4],
}

/// The registered secrets, and one automaton that finds any of their forms in a single
/// pass over a text: every log line, span and HTTP error passes the net, and almost none
/// holds a secret, so the common answer ("nothing here") costs one scan, not one per form.
struct Registry {
    entries: Vec<Entry>,
    /// Built from every form of every entry; `None` when there are none, or when it
    /// could not be built (then every text takes the per-form path).
    any: Option<AhoCorasick>,
}

impl Registry {
    /// Whether `text` may hold a registered secret (certainly not when this is false).
    fn may_hold_one(&self, text: &str) -> bool {
        match &self.any {
            Some(any) => any.is_match(text),
            None => !self.entries.is_empty(),
        }
    }

    /// Rebuilds the automaton after the entries or their forms changed.
    fn rebuild(&mut self) {
        let forms = self.entries.iter().flat_map(|e| e.forms.iter());
        self.any = AhoCorasick::new(forms).ok();
    }
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry { entries: Vec::new(), any: None });

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Standard base64 with padding (how HTTP Basic and SMTP AUTH carry credentials).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Registers one secret under the configuration key it came from. Values shorter than
/// [`MIN_LEN`] are ignored; registering a value twice is harmless.
pub fn register(key: &'static str, value: &str) {
    let value = value.trim();
    if value.len() < MIN_LEN {
        return;
    }
    let mut forms = vec![value.to_owned()];
    let encoded = percent_encoded(value);
    if encoded != value {
        forms.push(encoded.clone());
        // Lower-case hex escapes, as some clients write them.
        forms.push(encoded.replace("%7C", "%7c").replace("%2F", "%2f").replace("%2B", "%2b"));
        forms.push(value.replace(' ', "+"));
    }
    // Base64: `user:password` as HTTP Basic credentials, a password in SMTP AUTH LOGIN.
    forms.push(base64(value.as_bytes()));
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if registry.entries.iter().any(|e| e.value == value) {
        return;
    }
    registry.entries.push(Entry {
        value: value.to_owned(),
        forms,
        replacement: format!("[redacted {key}]"),
        hits: Default::default(),
    });
    registry.rebuild();
}

/// Adds `form` as one more way `value` (registered under `key`) may appear.
pub fn register_encoded(key: &'static str, value: &str, form: &str) {
    register(key, value);
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = registry.entries.iter_mut().find(|e| e.value == value.trim())
        && !entry.forms.iter().any(|f| f == form)
    {
        entry.forms.push(form.to_owned());
        entry.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        registry.rebuild();
    }
}

/// The password (and `user:password`) of a URL such as `postgres://user:pw@host/db`.
pub fn register_url_credentials(key: &'static str, url: &str) {
    let Some((_scheme, rest)) = url.split_once("://") else { return };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _host)) = authority.rsplit_once('@') else { return };
    if let Some((user, password)) = userinfo.split_once(':') {
        register(key, password);
        if let Some(decoded) = percent_decoded(password) {
            register(key, &decoded);
        }
        register(key, &format!("{user}:{password}"));
    }
}

fn percent_decoded(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A URL as it may be shown: without user info (credentials), query or fragment.
pub fn public_address(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match (without_query.find("://"), without_query.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &without_query[..scheme], &without_query[at + 1..])
        }
        _ => without_query.to_owned(),
    }
}

/// `text` with every registered secret replaced by `[redacted KEY]`; counted under
/// `output`. Borrowed, at the cost of one scan per secret, when there is nothing to hide.
pub fn redact(text: &str, output: Output) -> Cow<'_, str> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let mut result = Cow::Borrowed(text);
    if !registry.may_hold_one(text) {
        return result;
    }
    for entry in registry.entries.iter() {
        for form in &entry.forms {
            if result.contains(form.as_str()) {
                entry.hits[output.index()].fetch_add(1, Ordering::Relaxed);
                metrics::counter!("switchboard_secrets_redacted_total", "output" => output.as_str()).increment(1);
                result = Cow::Owned(result.replace(form.as_str(), &entry.replacement));
            }
        }
    }
    result
}

/// Scrubs text an adapter received from outside (an error message, a transport error,
/// an echoed request) before it goes anywhere.
pub fn scrub(text: impl AsRef<str>) -> String {
    redact(text.as_ref(), Output::Source).into_owned()
}

/// Whether `text` holds a registered secret.
pub fn contains_secret(text: &str) -> bool {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry.may_hold_one(text) && registry.entries.iter().any(|e| e.forms.iter().any(|f| text.contains(f.as_str())))
}

/// How often the safety net (logs, spans, HTTP answers) caught `value`, a registered
/// secret: zero unless some source forgot to scrub it. For tests.
pub fn caught_by_net(value: &str) -> u64 {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    registry
        .entries
        .iter()
        .filter(|e| e.value == value)
        .map(|e| {
            Output::ALL
                .iter()
                .filter(|o| **o != Output::Source)
                .map(|o| e.hits[o.index()].load(Ordering::Relaxed))
                .sum::<u64>()
        })
        .sum()
}

/// A writer that redacts each write (the log formatter writes one whole line at a time).
#[derive(Debug)]
pub struct RedactingWriter<W>(pub W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => match redact(text, Output::Log) {
                Cow::Borrowed(_) => self.0.write_all(buf)?,
                Cow::Owned(clean) => self.0.write_all(clean.as_bytes())?,
            },
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_secret_is_redacted_in_every_form_it_travels_in() {
        register("WHATSAPP_APP_TOKEN", "1234567|app-secret-UNIT-a1/b+c");
        let text = "url?access_token=1234567%7Capp-secret-UNIT-a1%2Fb%2Bc and 1234567|app-secret-UNIT-a1/b+c";
        let clean = redact(text, Output::Source);
        assert!(!clean.contains("app-secret-UNIT"), "{clean}");
        assert!(clean.contains("[redacted WHATSAPP_APP_TOKEN]"), "{clean}");
    }

    #[test]
    fn url_passwords_are_registered_with_their_basic_credentials() {
        register_url_credentials("DATABASE_URL", "postgres://app:pw-UNIT-xyz@db:5432/switchboard");
        assert!(contains_secret("password pw-UNIT-xyz"));
        assert!(contains_secret(&format!("Basic {}", base64(b"app:pw-UNIT-xyz"))));
        assert!(!contains_secret("postgres://app:[redacted]@db"));
    }

    #[test]
    fn short_values_are_not_matched() {
        register("SWITCHBOARD_API_KEYS", "abc");
        assert!(!contains_secret("abc def"));
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn the_net_counts_what_it_catches_and_the_source_does_not_count_as_net() {
        register("SMTP_PASSWORD", "smtp-UNIT-counted");
        let _ = scrub("said smtp-UNIT-counted");
        assert_eq!(caught_by_net("smtp-UNIT-counted"), 0);
        let mut out = Vec::new();
        RedactingWriter(&mut out).write_all(b"{\"msg\":\"smtp-UNIT-counted\"}\n").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"msg\":\"[redacted SMTP_PASSWORD]\"}\n");
        assert_eq!(caught_by_net("smtp-UNIT-counted"), 1);
    }

    #[test]
    fn a_form_added_after_registration_is_caught_and_clean_text_is_passed_through_unchanged() {
        register("A2A_PUSH_TOKEN", "push-UNIT-original");
        register_encoded("A2A_PUSH_TOKEN", "push-UNIT-original", "cHVzaC1VTklULWVuY29kZWQ");
        let clean = redact("token cHVzaC1VTklULWVuY29kZWQ sent", Output::Source);
        let untouched = redact("nothing secret in push-UNIT-origin-al", Output::Source);
        assert_eq!(clean, "token [redacted A2A_PUSH_TOKEN] sent");
        assert!(matches!(untouched, Cow::Borrowed(_)), "{untouched}");
    }
}
