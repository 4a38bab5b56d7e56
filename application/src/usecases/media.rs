//! Media both ways: a user's file fetched from WhatsApp, checked and stored for the agent
//! (`MediaIntake`); signed, expiring links to stored files (`MediaLinks`, `ServeMedia`);
//! an agent's files checked against Meta's limits and stored until they are sent
//! (`ReplyMedia`); and stored files uploaded to WhatsApp as a message leaves
//! (`UploadMedia`).

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use switchboard_domain::media::{self, RefusalCode};
use switchboard_domain::{
    AgentFile, AgentFileSource, Attachment, InboundContent, InboundMediaPolicy, InboundMessage, MediaKey, MediaSource,
    OutboundContent, OutboundMessage, ReplyFile, StoredMedia,
};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ports::{MediaFile, MediaStore, MediaStoreError, MessageRecord, SendError, WhatsAppMedia};
use crate::usecases::Attempt;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Signs and checks links to stored files: `<base>/media/<key>?expires=<unix>&signature=<hex>`,
/// the signature an HMAC-SHA256 of the key and the expiry.
#[derive(Clone)]
pub struct MediaLinks {
    base_url: String,
    key: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for MediaLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLinks").field("base_url", &self.base_url).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl MediaLinks {
    /// Links under `base_url` (this service's public address), signed with `key`, valid
    /// for `ttl`.
    pub fn new(base_url: &str, key: &[u8], ttl: Duration) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), key: key.to_vec(), ttl }
    }

    /// HMAC takes keys of every length, so this is `None` never in practice; a link
    /// without a signature would never check.
    fn signature(&self, key: &MediaKey, expires: i64) -> Option<String> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(key.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// A link to the file under `key` that works until `now + ttl`.
    pub fn sign(&self, key: &MediaKey, now: OffsetDateTime) -> String {
        format!("{}{}", self.base_url, self.sign_path(key, now))
    }

    /// The same link without this service's address (`/media/...`), for pages served
    /// from the same origin.
    pub fn sign_path(&self, key: &MediaKey, now: OffsetDateTime) -> String {
        let expires = (now + self.ttl).unix_timestamp();
        format!("/media/{}?expires={expires}&signature={}", key, self.signature(key, expires).unwrap_or_default())
    }

    /// Whether a link's expiry and signature are this service's and still good.
    pub fn check(&self, key: &MediaKey, expires: i64, signature: &str, now: OffsetDateTime) -> Result<(), LinkError> {
        let expected = self.signature(key, expires).ok_or(LinkError::BadSignature)?;
        // Compared in constant time.
        let matches = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !matches {
            return Err(LinkError::BadSignature);
        }
        if now.unix_timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeMediaError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("no such file")]
    NotFound,
    #[error(transparent)]
    Store(#[from] MediaStoreError),
}

/// Opens a stored file for whoever holds a good link to it.
pub struct ServeMedia {
    store: Arc<dyn MediaStore>,
    links: MediaLinks,
}

impl ServeMedia {
    pub fn new(store: Arc<dyn MediaStore>, links: MediaLinks) -> Self {
        Self { store, links }
    }

    #[tracing::instrument(name = "serve_media", skip_all, fields(key = %key))]
    pub async fn open(
        &self,
        key: &MediaKey,
        expires: i64,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<(StoredMedia, Vec<u8>), ServeMediaError> {
        self.links.check(key, expires, signature, now)?;
        self.store.get(key).await?.ok_or(ServeMediaError::NotFound)
    }

    /// A fresh link to a stored file (for the management API and the console).
    pub fn link(&self, key: &MediaKey, now: OffsetDateTime) -> String {
        self.links.sign(key, now)
    }

    /// The stored file a message carries, with a fresh signed link: a user's file that was
    /// kept, or a file sent (or to be sent) from the store. `None` when the message has
    /// none, or it was refused, or the store cannot say (logged: the page still shows).
    pub async fn file_of(&self, record: &MessageRecord, now: OffsetDateTime) -> Option<MessageFile> {
        let key = stored_key(record)?;
        let media = match self.store.head(&key).await {
            Ok(media) => media?,
            Err(e) => {
                tracing::warn!(error = %e, key = %key, "the media store could not describe a message's file");
                return None;
            }
        };
        Some(MessageFile {
            url: self.links.sign(&key, now),
            path: self.links.sign_path(&key, now),
            kind: media::kind_for(&media.mime_type),
            key: media.key,
            mime_type: media.mime_type,
            size: media.size,
            sha256: media.sha256,
            filename: media.filename,
        })
    }
}

/// A message's stored file, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageFile {
    pub key: MediaKey,
    pub kind: switchboard_domain::MediaKind,
    pub mime_type: String,
    pub size: u64,
    pub sha256: String,
    pub filename: Option<String>,
    /// A signed link that opens it, valid for `SWITCHBOARD_MEDIA_LINK_TTL_SECS`.
    pub url: String,
    /// The same link from this service's origin (`/media/...`), for the console.
    #[serde(skip)]
    pub path: String,
}

/// Where a message's file is kept, if it has one in the store.
fn stored_key(record: &MessageRecord) -> Option<MediaKey> {
    if record.direction == "inbound" {
        let message = serde_json::from_value::<InboundMessage>(record.content.clone()).ok()?;
        if !matches!(message.content, InboundContent::Media { .. }) {
            return None;
        }
        return MediaKey::inbound(&hex::encode(Sha256::digest(message.wamid.as_str().as_bytes()))).ok();
    }
    let message = serde_json::from_value::<OutboundMessage>(record.content.clone()).ok()?;
    match message.content {
        OutboundContent::Media { source: MediaSource::Stored { key, .. }, .. } => Some(key),
        OutboundContent::Buttons { media_header: Some(header), .. } => match header.source {
            MediaSource::Stored { key, .. } => Some(key),
            _ => None,
        },
        _ => None,
    }
}

/// A media download that failed and may succeed on the job's next attempt.
#[derive(Debug, thiserror::Error)]
#[error("the user's file could not be fetched yet: {0}")]
pub struct MediaNotYet(pub String);

/// Fetches a user's file, checks it, stores it and says how the agent opens it.
pub struct MediaIntake {
    whatsapp: Arc<dyn WhatsAppMedia>,
    store: Arc<dyn MediaStore>,
    policy: InboundMediaPolicy,
    links: MediaLinks,
    inline_max: u64,
}

impl MediaIntake {
    /// Files up to `inline_max` bytes travel inside the agent's message too.
    pub fn new(
        whatsapp: Arc<dyn WhatsAppMedia>,
        store: Arc<dyn MediaStore>,
        policy: InboundMediaPolicy,
        links: MediaLinks,
        inline_max: u64,
    ) -> Self {
        Self { whatsapp, store, policy, links, inline_max }
    }

    /// The message's file for the agent: stored (once, whatever the attempt) or refused.
    ///
    /// Errors: [`MediaNotYet`] when WhatsApp or the store failed in a way a later attempt
    /// may not; on the job's last attempt the file is refused as unavailable instead, so
    /// the conversation goes on.
    #[tracing::instrument(name = "media_intake", skip_all, fields(trace_id = %trace.trace_id, wamid = %message.wamid))]
    pub async fn attach(
        &self,
        message: &InboundMessage,
        attempt: Attempt,
        now: OffsetDateTime,
        trace: &TraceContext,
    ) -> Result<Vec<Attachment>, MediaNotYet> {
        let InboundContent::Media { media: kind, media_id, mime_type, sha256, filename, .. } = &message.content else {
            return Ok(Vec::new());
        };
        let key = MediaKey::inbound(&hex::encode(Sha256::digest(message.wamid.as_str().as_bytes())))
            .map_err(|e| MediaNotYet(e.to_string()))?;
        let refused = |code: RefusalCode, reason: String| {
            metrics::counter!("switchboard_media_refused_total", "reason" => code.as_str()).increment(1);
            tracing::warn!(code = code.as_str(), %reason, "the user's file is not given to the agent");
            Ok(vec![Attachment::Refused { kind: *kind, code, reason }])
        };
        let unavailable = |reason: String| {
            if attempt.is_last {
                refused(RefusalCode::Unavailable, format!("the file could not be fetched from WhatsApp: {reason}"))
            } else {
                Err(MediaNotYet(reason))
            }
        };
        let stored = match self.store.head(&key).await {
            Ok(stored) => stored,
            Err(e) => return unavailable(e.to_string()),
        };
        let stored = match stored {
            Some(stored) => stored,
            None => {
                // The announced type is checked first: a refused type is not even fetched.
                if let Some(announced) = mime_type
                    && let Err((code, reason)) = self.policy.check(announced, 0)
                {
                    return refused(code, reason);
                }
                let file = match self.whatsapp.download(media_id, trace).await {
                    Ok(file) => file,
                    Err(e) if is_retriable(&e) => return unavailable(e.to_string()),
                    Err(e) => return refused(RefusalCode::Unavailable, format!("WhatsApp refused the download: {e}")),
                };
                let mime = mime_type.clone().unwrap_or_else(|| file.mime_type.clone());
                let size = u64::try_from(file.bytes.len()).unwrap_or(u64::MAX);
                if let Err((code, reason)) = self.policy.check(&mime, size) {
                    return refused(code, reason);
                }
                let digest = Sha256::digest(&file.bytes);
                if let Some(announced) = sha256
                    && !media::hash_matches(announced, &digest)
                {
                    return refused(
                        RefusalCode::HashMismatch,
                        String::from("the file's bytes do not have the SHA-256 WhatsApp announced"),
                    );
                }
                let stored = StoredMedia {
                    key: key.clone(),
                    mime_type: mime,
                    size,
                    sha256: hex::encode(digest),
                    filename: filename.clone(),
                };
                if let Err(e) = self.store.put(&stored, file.bytes).await {
                    return unavailable(e.to_string());
                }
                metrics::counter!("switchboard_media_stored_total", "direction" => "inbound").increment(1);
                tracing::info!(size, kind = kind.as_str(), "the user's file is stored");
                stored
            }
        };
        let inline = if stored.size <= self.inline_max {
            match self.store.get(&key).await {
                Ok(Some((_, bytes))) => Some(media::base64(&bytes)),
                _ => None,
            }
        } else {
            None
        };
        Ok(vec![Attachment::File { kind: *kind, url: Some(self.links.sign(&key, now)), inline, media: stored }])
    }
}

fn is_retriable(error: &SendError) -> bool {
    matches!(error.action(), switchboard_domain::SendAction::RetryWithBackoff)
}

/// An agent's files, checked against Meta's limits and stored until they are sent.
pub struct ReplyMedia {
    store: Arc<dyn MediaStore>,
}

/// What became of an agent's files.
#[derive(Debug, Default)]
pub struct StoredReplyFiles {
    pub files: Vec<ReplyFile>,
    /// Files left out, with the reason (Meta's limit they break).
    pub refused: Vec<String>,
}

impl ReplyMedia {
    pub fn new(store: Arc<dyn MediaStore>) -> Self {
        Self { store }
    }

    /// Stores each file with bytes under the reply's delivery id (a link goes as it is);
    /// a file Meta would refuse is left out with its reason.
    ///
    /// Errors: the store failed (the turn is retried).
    #[tracing::instrument(name = "reply_media", skip_all, fields(files = files.len()))]
    pub async fn store(&self, delivery_id: Uuid, files: &[AgentFile]) -> Result<StoredReplyFiles, MediaStoreError> {
        let mut out = StoredReplyFiles::default();
        for (n, file) in files.iter().enumerate() {
            let kind = media::kind_for(&file.mime_type);
            match &file.source {
                AgentFileSource::Link(link) => {
                    out.files.push(ReplyFile {
                        kind,
                        source: MediaSource::Link(link.clone()),
                        filename: file.filename.clone(),
                    });
                }
                AgentFileSource::Bytes(bytes) => {
                    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                    if let Err(e) = media::check_outbound(kind, &file.mime_type, size) {
                        metrics::counter!("switchboard_media_refused_total", "reason" => "meta_limit").increment(1);
                        tracing::warn!(error = %e, "an agent's file breaks Meta's limits; it is left out");
                        out.refused.push(e.to_string());
                        continue;
                    }
                    let key = MediaKey::outbound(delivery_id, n);
                    let stored = StoredMedia {
                        key: key.clone(),
                        mime_type: media::essence(&file.mime_type),
                        size,
                        sha256: hex::encode(Sha256::digest(bytes)),
                        filename: file.filename.clone(),
                    };
                    self.store.put(&stored, bytes.clone()).await?;
                    metrics::counter!("switchboard_media_stored_total", "direction" => "outbound").increment(1);
                    out.files.push(ReplyFile::stored(key, file));
                }
            }
        }
        Ok(out)
    }
}

/// Stored files uploaded to WhatsApp as their message leaves.
pub struct UploadMedia {
    store: Arc<dyn MediaStore>,
    whatsapp: Arc<dyn WhatsAppMedia>,
}

impl UploadMedia {
    pub fn new(store: Arc<dyn MediaStore>, whatsapp: Arc<dyn WhatsAppMedia>) -> Self {
        Self { store, whatsapp }
    }

    /// The message with each stored file replaced by its WhatsApp media id.
    ///
    /// Errors: the upload's [`SendError`]; a file missing from the store is a bad
    /// parameter (it will not appear by trying again).
    pub async fn resolve(&self, message: &OutboundMessage, trace: &TraceContext) -> Result<OutboundMessage, SendError> {
        let mut message = message.clone();
        let source = match &mut message.content {
            OutboundContent::Media { source, .. } => Some(source),
            OutboundContent::Buttons { media_header: Some(header), .. } => Some(&mut header.source),
            _ => None,
        };
        if let Some(source) = source
            && let MediaSource::Stored { key, .. } = source
        {
            let file = self.file(key).await?;
            let filename = file.1.clone();
            let id = self.whatsapp.upload(&message.from_number_id, file.0, &filename, trace).await?;
            *source = MediaSource::Id(id);
        }
        Ok(message)
    }

    async fn file(&self, key: &MediaKey) -> Result<(MediaFile, String), SendError> {
        let (stored, bytes) =
            self.store.get(key).await.map_err(|e| SendError::Network(e.to_string()))?.ok_or_else(|| missing(key))?;
        let filename = stored.filename.clone().unwrap_or_else(|| key.as_str().replace('/', "-"));
        Ok((MediaFile { mime_type: stored.mime_type, bytes }, filename))
    }

    /// The stored files of a message, for an email to attach.
    pub async fn attachments(&self, content: &OutboundContent) -> Result<Vec<(StoredMedia, Vec<u8>)>, MediaStoreError> {
        let source = match content {
            OutboundContent::Media { source, .. } => Some(source),
            OutboundContent::Buttons { media_header: Some(header), .. } => Some(&header.source),
            _ => None,
        };
        match source {
            Some(MediaSource::Stored { key, .. }) => Ok(self.store.get(key).await?.into_iter().collect()),
            _ => Ok(Vec::new()),
        }
    }
}

/// A file a caller uploads to send later (`POST /api/v1/media`, the A2A `deliver`
/// skill's file parts): checked against Meta's limits for its kind and kept under
/// `up/<id>`, which a send then names.
pub struct AcceptUpload {
    store: Arc<dyn MediaStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file breaks a limit of Meta's, or its name is not one to send.
    #[error("{field}: {message}")]
    Refused { field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] MediaStoreError),
}

impl AcceptUpload {
    pub fn new(store: Arc<dyn MediaStore>) -> Self {
        Self { store }
    }

    /// Keeps the file and answers its description (its key is what a send names).
    ///
    /// Errors: [`UploadError::Refused`] naming the limit; the store's failure.
    #[tracing::instrument(name = "accept_upload", skip_all, fields(size = bytes.len()))]
    pub async fn execute(
        &self,
        mime_type: &str,
        filename: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<StoredMedia, UploadError> {
        let mime_type = media::essence(mime_type);
        if mime_type.split_once('/').is_none_or(|(t, s)| t.is_empty() || s.is_empty()) {
            return Err(UploadError::Refused {
                field: "content-type",
                message: format!("{mime_type:?} is not a media type (type/subtype)"),
            });
        }
        if let Some(name) = &filename {
            media::check_filename(name).map_err(|message| UploadError::Refused { field: "filename", message })?;
        }
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let kind = media::kind_for(&mime_type);
        if let Err(e) = media::check_outbound(kind, &mime_type, size) {
            metrics::counter!("switchboard_media_refused_total", "reason" => "meta_limit").increment(1);
            return Err(UploadError::Refused { field: "body", message: e.to_string() });
        }
        let stored = StoredMedia {
            key: MediaKey::upload(Uuid::now_v7()),
            mime_type,
            size,
            sha256: hex::encode(Sha256::digest(&bytes)),
            filename,
        };
        self.store.put(&stored, bytes).await?;
        metrics::counter!("switchboard_media_stored_total", "direction" => "upload").increment(1);
        tracing::info!(key = %stored.key, kind = kind.as_str(), "a caller's file kept to send");
        Ok(stored)
    }
}

fn missing(key: &MediaKey) -> SendError {
    SendError::Graph {
        code: 100,
        failure: switchboard_domain::SendFailure::BadParameter,
        message: format!("the file {key} is not in the media store"),
    }
}

#[cfg(test)]
mod tests;
