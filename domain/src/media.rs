//! Media files both ways: what Meta accepts for each kind of outbound media, the policy
//! an inbound file must meet before an agent sees it, the key a file is stored under,
//! and what an agent is given for it (the file, or why it was refused).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::message::MediaKind;

/// The A2A extension for files both ways (docs/a2a-conventions.md, Files). Switchboard's
/// agent card lists it.
pub const FILES_EXTENSION: &str = "urn:switchboard:a2a:files:v1";

/// What the Cloud API accepts for each kind of media sent (Meta's "supported media types").
pub mod meta {
    use crate::message::MediaKind;

    pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png"];
    pub const AUDIO_TYPES: &[&str] = &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"];
    pub const VIDEO_TYPES: &[&str] = &["video/mp4", "video/3gpp"];
    pub const STICKER_TYPES: &[&str] = &["image/webp"];
    pub const DOCUMENT_TYPES: &[&str] = &[
        "text/plain",
        "text/csv",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ];

    pub const IMAGE_BYTES: u64 = 5 * 1024 * 1024;
    pub const AUDIO_BYTES: u64 = 16 * 1024 * 1024;
    pub const VIDEO_BYTES: u64 = 16 * 1024 * 1024;
    pub const STICKER_BYTES: u64 = 500 * 1024;
    pub const DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;

    /// The types Meta accepts for a kind.
    pub fn types(kind: MediaKind) -> &'static [&'static str] {
        match kind {
            MediaKind::Image => IMAGE_TYPES,
            MediaKind::Audio => AUDIO_TYPES,
            MediaKind::Video => VIDEO_TYPES,
            MediaKind::Sticker => STICKER_TYPES,
            MediaKind::Document => DOCUMENT_TYPES,
        }
    }

    /// The largest file Meta accepts for a kind.
    pub fn max_bytes(kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Image => IMAGE_BYTES,
            MediaKind::Audio => AUDIO_BYTES,
            MediaKind::Video => VIDEO_BYTES,
            MediaKind::Sticker => STICKER_BYTES,
            MediaKind::Document => DOCUMENT_BYTES,
        }
    }
}

/// A media type without its parameters, lower-cased (`audio/ogg; codecs=opus` is `audio/ogg`).
pub fn essence(mime_type: &str) -> String {
    mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The kind a file of this media type is sent as: an image, audio, video or sticker when
/// Meta takes the type as one, else a document.
pub fn kind_for(mime_type: &str) -> MediaKind {
    let essence = essence(mime_type);
    [MediaKind::Image, MediaKind::Sticker, MediaKind::Audio, MediaKind::Video]
        .into_iter()
        .find(|kind| meta::types(*kind).contains(&essence.as_str()))
        .unwrap_or(MediaKind::Document)
}

/// A file Meta would refuse, naming the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("{kind} files may not be {mime_type}; Meta accepts {accepted}")]
    TypeNotAccepted { kind: &'static str, mime_type: String, accepted: String },
    #[error("{kind} files may be at most {limit} bytes; this one has {actual}")]
    TooLarge { kind: &'static str, actual: u64, limit: u64 },
    #[error("the file is empty")]
    Empty,
}

/// Checks a file to be sent as `kind` against Meta's type and size limits.
pub fn check_outbound(kind: MediaKind, mime_type: &str, size: u64) -> Result<(), MediaError> {
    let essence = essence(mime_type);
    if size == 0 {
        return Err(MediaError::Empty);
    }
    // A document may be of any type; the listed ones are those WhatsApp previews.
    if kind != MediaKind::Document && !meta::types(kind).contains(&essence.as_str()) {
        return Err(MediaError::TypeNotAccepted {
            kind: kind.as_str(),
            mime_type: essence,
            accepted: meta::types(kind).join(", "),
        });
    }
    let limit = meta::max_bytes(kind);
    if size > limit {
        return Err(MediaError::TooLarge { kind: kind.as_str(), actual: size, limit });
    }
    Ok(())
}

/// Why an inbound file was not given to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// Larger than the configured limit.
    TooLarge,
    /// Its type is not among the configured ones.
    TypeNotAllowed,
    /// Its bytes do not have the hash Meta announced.
    HashMismatch,
    /// It could not be downloaded, after every attempt.
    Unavailable,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::TypeNotAllowed => "type_not_allowed",
            Self::HashMismatch => "hash_mismatch",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The configured limits on files users send (`SWITCHBOARD_MEDIA_MAX_BYTES`,
/// `SWITCHBOARD_MEDIA_ALLOWED_TYPES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMediaPolicy {
    pub max_bytes: u64,
    /// Media types or families (`image/*`); `*/*` takes every type.
    pub allowed_types: Vec<String>,
}

impl Default for InboundMediaPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            allowed_types: ["image/*", "audio/*", "video/*", "application/pdf", "text/plain"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

impl InboundMediaPolicy {
    /// Whether a file of this type and size may be kept; the reason when it may not.
    pub fn check(&self, mime_type: &str, size: u64) -> Result<(), (RefusalCode, String)> {
        let essence = essence(mime_type);
        let family = essence.split('/').next().unwrap_or_default();
        let allowed = self.allowed_types.iter().any(|pattern| {
            let pattern = pattern.trim().to_ascii_lowercase();
            pattern == "*/*" || pattern == essence || pattern.strip_suffix("/*").is_some_and(|prefix| prefix == family)
        });
        if !allowed {
            return Err((
                RefusalCode::TypeNotAllowed,
                format!("files of type {essence} are not accepted (accepted: {})", self.allowed_types.join(", ")),
            ));
        }
        if size > self.max_bytes {
            return Err((
                RefusalCode::TooLarge,
                format!("the file has {size} bytes; the limit is {} bytes", self.max_bytes),
            ));
        }
        Ok(())
    }
}

/// Whether `announced` (Meta's `sha256`: hex from the media endpoint, base64 in webhooks)
/// is the SHA-256 `digest`.
pub fn hash_matches(announced: &str, digest: &[u8]) -> bool {
    let announced = announced.trim();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if announced.eq_ignore_ascii_case(&hex) {
        return true;
    }
    let base64 = base64(digest);
    announced.trim_end_matches('=') == base64.trim_end_matches('=')
        || announced.replace('-', "+").replace('_', "/").trim_end_matches('=') == base64.trim_end_matches('=')
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64, standard or URL-safe, padded or not; `None` when it is not base64.
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in input.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if byte == b'=' {
            break;
        }
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// Where a file is kept in the media store: `in/<hash of the wamid>` for a user's file,
/// `out/<delivery id>/<n>` for an agent's, `up/<id>` for a caller's upload. Only lower-case letters, digits, `-` and `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a media key: {0:?}")]
pub struct MediaKeyError(String);

impl MediaKey {
    pub fn parse(input: &str) -> Result<Self, MediaKeyError> {
        let ok = !input.is_empty()
            && input.len() <= 200
            && !input.starts_with('/')
            && !input.ends_with('/')
            && !input.contains("//")
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/');
        if ok { Ok(Self(input.to_owned())) } else { Err(MediaKeyError(input.chars().take(40).collect())) }
    }

    /// The key of an inbound message's file: a hash of its wamid (given as hex), so a
    /// retry finds what an earlier attempt stored.
    pub fn inbound(wamid_hash_hex: &str) -> Result<Self, MediaKeyError> {
        Self::parse(&format!("in/{}", wamid_hash_hex.to_ascii_lowercase()))
    }

    /// The key of the `n`th file of an outbound reply.
    pub fn outbound(delivery_id: uuid::Uuid, n: usize) -> Self {
        Self(format!("out/{}/{n}", delivery_id.as_hyphenated()))
    }

    /// The key of a file a caller uploaded to send (`POST /api/v1/media`).
    pub fn upload(id: uuid::Uuid) -> Self {
        Self(format!("{UPLOAD_PREFIX}{}", id.as_hyphenated()))
    }

    /// Whether the file is one a caller uploaded to send, and so one a send may name.
    pub fn is_upload(&self) -> bool {
        self.0.starts_with(UPLOAD_PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const UPLOAD_PREFIX: &str = "up/";

/// A file name as a caller gives it, checked before it reaches WhatsApp or an email:
/// at most 240 characters, no control characters and no path.
///
/// Errors: the rule the name breaks.
pub fn check_filename(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(String::from("is empty"));
    }
    if name.chars().count() > 240 {
        return Err(String::from("is longer than 240 characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(String::from("may not hold control characters, / or \\"));
    }
    Ok(())
}

impl fmt::Display for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MediaKey {
    type Error = MediaKeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MediaKey> for String {
    fn from(value: MediaKey) -> Self {
        value.0
    }
}

/// A file in the media store, as described beside its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMedia {
    pub key: MediaKey,
    pub mime_type: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub filename: Option<String>,
}

/// What an agent is given for a user's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Attachment {
    /// Stored: the agent opens it at `url` (signed, expiring), or reads `inline` (base64)
    /// when it is small.
    File { kind: MediaKind, media: StoredMedia, url: Option<String>, inline: Option<String> },
    /// Not stored: why, in words for the agent.
    Refused { kind: MediaKind, code: RefusalCode, reason: String },
}

/// A file an agent sends: its bytes, or a link to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFile {
    pub mime_type: String,
    pub filename: Option<String>,
    pub source: AgentFileSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentFileSource {
    Bytes(Vec<u8>),
    /// An https URL Meta can fetch itself.
    Link(String),
}

#[cfg(test)]
mod tests;
