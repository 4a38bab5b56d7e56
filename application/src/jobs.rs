//! Durable jobs: what a job is, as stored in the queue.

use serde::{Deserialize, Serialize};
use switchboard_domain::Wamid;
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

/// The work a job stands for. Stored as JSON; new kinds are added, never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    ProcessInbound {
        wamid: Wamid,
    },
    DeliverMessage {
        delivery_id: Uuid,
    },
    RecordStatus {
        wamid: Wamid,
        status: String,
        /// Meta's first error on a failed status, as `code: title`.
        error: Option<String>,
    },
}

impl JobKind {
    /// A short label for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ProcessInbound { .. } => "process_inbound",
            Self::DeliverMessage { .. } => "deliver_message",
            Self::RecordStatus { .. } => "record_status",
        }
    }
}

/// A job to enqueue, always in the same transaction as the data it works on.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    /// Jobs sharing a key run one at a time, in (`order_at`, enqueue) order.
    pub ordering_key: String,
    pub order_at: OffsetDateTime,
    /// Not before this instant.
    pub run_at: OffsetDateTime,
    pub trace: TraceContext,
}

/// A job a worker holds until its lease ends.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedJob {
    pub id: i64,
    pub kind: JobKind,
    pub trace: TraceContext,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Proves this worker still holds the lease when it reports back.
    pub lease_token: Uuid,
}
