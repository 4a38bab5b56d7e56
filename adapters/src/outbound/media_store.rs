//! The media store on a folder (`SWITCHBOARD_MEDIA_DIR`, by default `<data dir>/media`)
//! or on an S3-compatible bucket ([`s3`]), and the sandbox's stand-in for Meta's media
//! endpoints on top of either.
//!
//! In a folder a file is `<key>.bin` with its description beside it in `<key>.json`. Each is written
//! to a temporary name and renamed into place, the description last: a reader sees a
//! file only once both are whole, and a crash half-way leaves nothing it would read.

pub mod s3;
mod sigv4;

pub use s3::S3MediaStore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use switchboard_application::ports::{MediaFile, MediaStore, MediaStoreError, SendError, WhatsAppMedia};
use switchboard_domain::{MediaKey, SendFailure, StoredMedia};
use switchboard_shared::TraceContext;
use uuid::Uuid;

pub struct FolderMediaStore {
    dir: PathBuf,
}

impl FolderMediaStore {
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create the media folder {}: {e}", dir.display()))?;
        Ok(Self { dir })
    }

    fn path(&self, key: &MediaKey, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", key.as_str()))
    }
}

fn unavailable(what: &str, path: &Path, e: &std::io::Error) -> MediaStoreError {
    MediaStoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to a temporary file beside `path`, flushes it, and renames it into place.
async fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), MediaStoreError> {
    let temporary = path.with_extension(format!("tmp-{}", Uuid::new_v4().simple()));
    let written = async {
        use tokio::io::AsyncWriteExt as _;
        let mut file = tokio::fs::File::create(&temporary).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&temporary, path).await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(unavailable("cannot write", path, &e));
    }
    Ok(())
}

#[async_trait]
impl MediaStore for FolderMediaStore {
    #[tracing::instrument(name = "media_store.put", skip_all, fields(key = %media.key, size = media.size))]
    async fn put(&self, media: &StoredMedia, bytes: Vec<u8>) -> Result<(), MediaStoreError> {
        let bin = self.path(&media.key, "bin");
        if let Some(parent) = bin.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| unavailable("cannot create", parent, &e))?;
        }
        let description = serde_json::to_vec(media).map_err(|e| MediaStoreError::Unavailable(e.to_string()))?;
        // A replaced file is not described while its bytes change.
        let json = self.path(&media.key, "json");
        match tokio::fs::remove_file(&json).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(unavailable("cannot replace", &json, &e)),
            _ => {}
        }
        write_whole(&bin, &bytes).await?;
        write_whole(&json, &description).await
    }

    async fn head(&self, key: &MediaKey) -> Result<Option<StoredMedia>, MediaStoreError> {
        let json = self.path(key, "json");
        let description = match tokio::fs::read(&json).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("cannot read", &json, &e)),
        };
        serde_json::from_slice(&description)
            .map(Some)
            .map_err(|e| MediaStoreError::Unavailable(format!("{} does not parse: {e}", json.display())))
    }

    #[tracing::instrument(name = "media_store.get", skip_all, fields(key = %key))]
    async fn get(&self, key: &MediaKey) -> Result<Option<(StoredMedia, Vec<u8>)>, MediaStoreError> {
        let Some(media) = self.head(key).await? else {
            return Ok(None);
        };
        let bin = self.path(key, "bin");
        let bytes = tokio::fs::read(&bin).await.map_err(|e| unavailable("cannot read", &bin, &e))?;
        if hex::encode(Sha256::digest(&bytes)) != media.sha256 {
            return Err(MediaStoreError::Unavailable(format!("{} does not have its recorded SHA-256", bin.display())));
        }
        Ok(Some((media, bytes)))
    }
}

/// Sandbox mode's media endpoints: an upload is kept in the media store under
/// `sandbox/<id>`, and a download reads it back, as Meta's would. `POST /sandbox/media`
/// uploads a file a simulated user then sends by its id.
pub struct SandboxMedia {
    store: Arc<dyn MediaStore>,
}

impl SandboxMedia {
    pub fn new(store: Arc<dyn MediaStore>) -> Self {
        Self { store }
    }
}

fn sandbox_key(media_id: &str) -> Option<MediaKey> {
    MediaKey::parse(&format!("sandbox/{media_id}")).ok()
}

fn no_such_media(media_id: &str) -> SendError {
    SendError::Graph {
        code: 100,
        failure: SendFailure::BadParameter,
        message: format!("no sandbox media {}", media_id.chars().take(40).collect::<String>()),
    }
}

#[async_trait]
impl WhatsAppMedia for SandboxMedia {
    #[tracing::instrument(name = "sandbox.download_media", skip_all, fields(trace_id = %trace.trace_id))]
    async fn download(&self, media_id: &str, trace: &TraceContext) -> Result<MediaFile, SendError> {
        let key = sandbox_key(media_id).ok_or_else(|| no_such_media(media_id))?;
        let (media, bytes) = self
            .store
            .get(&key)
            .await
            .map_err(|e| SendError::Network(e.to_string()))?
            .ok_or_else(|| no_such_media(media_id))?;
        Ok(MediaFile { mime_type: media.mime_type, bytes })
    }

    #[tracing::instrument(name = "sandbox.upload_media", skip_all, fields(trace_id = %trace.trace_id, bytes = file.bytes.len()))]
    async fn upload(
        &self,
        _from_number_id: &str,
        file: MediaFile,
        filename: &str,
        trace: &TraceContext,
    ) -> Result<String, SendError> {
        let id = Uuid::now_v7().simple().to_string();
        let key = sandbox_key(&id).ok_or_else(|| no_such_media(&id))?;
        let media = StoredMedia {
            key,
            mime_type: file.mime_type,
            size: u64::try_from(file.bytes.len()).unwrap_or(u64::MAX),
            sha256: hex::encode(Sha256::digest(&file.bytes)),
            filename: (!filename.is_empty()).then(|| filename.to_owned()),
        };
        self.store.put(&media, file.bytes).await.map_err(|e| SendError::Network(e.to_string()))?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(key: &str, bytes: &[u8]) -> StoredMedia {
        StoredMedia {
            key: MediaKey::parse(key).unwrap(),
            mime_type: "image/png".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            filename: Some("cat.png".into()),
        }
    }

    #[tokio::test]
    async fn a_stored_file_reads_back_whole_with_its_description() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderMediaStore::new(dir.path().to_owned()).unwrap();
        let media = described("in/abc", b"png bytes");

        store.put(&media, b"png bytes".to_vec()).await.unwrap();

        assert_eq!(store.head(&media.key).await.unwrap(), Some(media.clone()));
        assert_eq!(store.get(&media.key).await.unwrap(), Some((media, b"png bytes".to_vec())));
        assert_eq!(store.get(&MediaKey::parse("in/other").unwrap()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn bytes_without_their_description_are_not_a_file_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderMediaStore::new(dir.path().to_owned()).unwrap();
        let media = described("in/half", b"x");
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        // A crash between the two renames.
        std::fs::write(dir.path().join("in/half.bin"), b"x").unwrap();

        assert_eq!(store.head(&media.key).await.unwrap(), None);
        store.put(&media, b"x".to_vec()).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("in"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    #[tokio::test]
    async fn bytes_changed_on_disk_are_refused_rather_than_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderMediaStore::new(dir.path().to_owned()).unwrap();
        let media = described("in/x", b"original");
        store.put(&media, b"original".to_vec()).await.unwrap();

        std::fs::write(dir.path().join("in/x.bin"), b"tampered").unwrap();

        assert!(store.get(&media.key).await.is_err());
    }

    #[tokio::test]
    async fn the_sandbox_downloads_what_was_uploaded_to_it_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let media = SandboxMedia::new(Arc::new(FolderMediaStore::new(dir.path().to_owned()).unwrap()));
        let trace = TraceContext::new_root();
        let file = MediaFile { mime_type: "audio/ogg".into(), bytes: b"OggS".to_vec() };

        let id = media.upload("1", file.clone(), "note.ogg", &trace).await.unwrap();

        assert_eq!(media.download(&id, &trace).await.unwrap(), file);
        assert!(matches!(media.download("unknown", &trace).await, Err(SendError::Graph { code: 100, .. })));
        assert!(matches!(media.download("../../etc/passwd", &trace).await, Err(SendError::Graph { code: 100, .. })));
    }
}
