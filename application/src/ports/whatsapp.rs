//! The WhatsApp Cloud API: sends, read receipts, media and the sandbox's status webhooks.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct SendReceipt {
    pub provider_id: Wamid,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A limit of the Cloud API is broken; checked before sending.
    #[error("not sent: {0}")]
    Invalid(#[from] ContentError),
    /// Meta answered with an error; [`SendFailure`] says what it means.
    #[error("WhatsApp error {code} ({}): {message}", failure.label())]
    Graph { code: i64, failure: SendFailure, message: String },
    /// The request did not reach Meta (connection refused or reset before sending).
    #[error("network error: {0}")]
    Network(String),
    /// No answer in time after the request was sent: Meta may have accepted it.
    #[error("timed out: {0} (Meta may have accepted it)")]
    Timeout(String),
}

impl SendError {
    /// What the shared policy says to do about it.
    pub fn action(&self) -> SendAction {
        match self {
            Self::Invalid(_) => SendAction::NeverRetry,
            Self::Graph { failure, .. } => failure.action(),
            Self::Network(_) | Self::Timeout(_) => SendAction::RetryWithBackoff,
        }
    }

    pub fn is_retriable(&self) -> bool {
        matches!(self.action(), SendAction::RetryWithBackoff | SendAction::PaceRecipient | SendAction::StopAndAlert)
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Graph { failure, .. } => failure.label(),
            Self::Network(_) => "network",
            Self::Timeout(_) => "timeout",
        }
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WhatsAppGateway: Send + Sync {
    /// Sends one message. `Ok` means Meta accepted it (not that it was delivered).
    /// `callback_data` comes back in its status webhooks (`biz_opaque_callback_data`).
    ///
    /// Errors: see [`SendError`]; [`SendError::action`] says what to do.
    async fn send(
        &self,
        message: &OutboundMessage,
        callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError>;

    /// Marks an inbound message read and shows the typing indicator. Best effort: the
    /// caller logs a failure and goes on.
    ///
    /// Errors: see [`SendError`].
    async fn mark_read(&self, business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError>;
}

/// Sandbox mode's stand-in for Meta's side of status webhooks (ADR 0017).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SandboxStatusWebhooks: Send + Sync {
    /// Posts the status webhook Meta would send for `status`, signed with the app
    /// secret, to this service's own webhook. `Ok` once it was answered 200, that is
    /// once the status is stored.
    ///
    /// Errors: [`SendError::Network`] when the webhook could not be reached or did not
    /// answer 200; the caller tries again later, as Meta delivers again.
    async fn post(&self, status: &SandboxStatus, trace: &TraceContext) -> Result<(), SendError>;
}

/// A media file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WhatsAppMedia: Send + Sync {
    /// Downloads an inbound media file by its id (the short-lived URL is resolved and
    /// fetched with the token).
    ///
    /// Errors: see [`SendError`].
    async fn download(&self, media_id: &str, trace: &TraceContext) -> Result<MediaFile, SendError>;

    /// Uploads a file for sending; answers its media id.
    ///
    /// Errors: see [`SendError`].
    async fn upload(
        &self,
        from_number_id: &str,
        file: MediaFile,
        filename: &str,
        trace: &TraceContext,
    ) -> Result<String, SendError>;
}
