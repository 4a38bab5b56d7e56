//! The media store: users' files kept for agents and operators, agents' files kept until
//! they are sent.

use super::*;
use switchboard_domain::{MediaKey, StoredMedia};

#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    /// The store could not be read or written (disk full, bucket down). Nothing of a
    /// failed `put` is visible; the caller may retry.
    #[error("media store unavailable: {0}")]
    Unavailable(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores the bytes under `media.key` with their description, all or nothing: a
    /// reader sees the whole file and its description, or neither. Storing the same key
    /// again replaces it.
    ///
    /// Errors: [`MediaStoreError::Unavailable`]; nothing is stored then.
    async fn put(&self, media: &StoredMedia, bytes: Vec<u8>) -> Result<(), MediaStoreError>;

    /// The description of the file under `key`, or `None` when there is none.
    ///
    /// Errors: [`MediaStoreError::Unavailable`].
    async fn head(&self, key: &MediaKey) -> Result<Option<StoredMedia>, MediaStoreError>;

    /// The file under `key` with its description, or `None` when there is none.
    ///
    /// Errors: [`MediaStoreError::Unavailable`].
    async fn get(&self, key: &MediaKey) -> Result<Option<(StoredMedia, Vec<u8>)>, MediaStoreError>;
}
