//! Replaying stored webhook events: Meta has no replay API, so after a bug that
//! quarantined bodies (or lost their processing) is fixed, the stored raw bodies are
//! parsed again and ingested. Messages are deduplicated on their wamid, so a replay
//! processes each message exactly once however often it runs.

use serde::Serialize;
use switchboard_application::ports::StoreError;
use switchboard_application::usecases::{IngestError, IngestWebhook, WebhookContent};
use switchboard_shared::TraceContext;

use super::envelope;
use crate::outbound::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    pub event_id: String,
    pub new_messages: usize,
    pub duplicate_messages: usize,
    pub new_statuses: usize,
    /// Still not a WhatsApp envelope: nothing ingested, the reason why.
    pub still_quarantined: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Replays one stored event; `None` when no event has this id.
pub async fn replay_event(
    store: &dyn Store,
    ingest: &IngestWebhook,
    id: &str,
    trace: TraceContext,
) -> Result<Option<ReplayOutcome>, ReplayError> {
    let Some(body) = store.event_body(id).await? else { return Ok(None) };
    let content = envelope::parse(&body);
    if let WebhookContent::Quarantine { reason } = &content {
        tracing::warn!(event_id = id, %reason, "replayed event is still not a WhatsApp envelope");
        return Ok(Some(ReplayOutcome {
            event_id: id.to_owned(),
            new_messages: 0,
            duplicate_messages: 0,
            new_statuses: 0,
            still_quarantined: Some(reason.clone()),
        }));
    }
    let receipt = ingest.execute(trace, body, content).await?;
    store.mark_replayed(id).await?;
    tracing::info!(
        event_id = id,
        new_messages = receipt.new_messages,
        duplicates = receipt.duplicate_messages,
        "event replayed"
    );
    Ok(Some(ReplayOutcome {
        event_id: id.to_owned(),
        new_messages: receipt.new_messages,
        duplicate_messages: receipt.duplicate_messages,
        new_statuses: receipt.new_statuses,
        still_quarantined: None,
    }))
}
