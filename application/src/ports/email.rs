//! The email fallback.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub to: EmailAddress,
    pub text: String,
    pub delivery_id: Uuid,
    /// Files the WhatsApp message carried.
    pub attachments: Vec<EmailAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    pub filename: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The server could not be reached or answered 4xx: try again later.
    #[error("email not sent yet: {0}")]
    Transient(String),
    /// The server refused it for good (5xx, bad address).
    #[error("email refused: {0}")]
    Rejected(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EmailGateway: Send + Sync {
    /// Sends one email; answers its message id.
    ///
    /// Errors: see [`EmailError`].
    async fn send(&self, email: &OutboundEmail, trace: &TraceContext) -> Result<String, EmailError>;
}
