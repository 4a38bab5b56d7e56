//! One struct per use case, holding its ports; one error enum each.

mod deliver;
mod ingest;
mod process;
mod status;

pub use deliver::{DeliverError, DeliverMessage, DeliverOutcome};
pub use ingest::{
    IngestError, IngestWebhook, ParsedInbound, ParsedStatus, ParsedWebhook, WebhookContent,
};
pub use process::{ProcessInbound, ProcessInboundError, ProcessOutcome};
pub use status::{RecordStatus, RecordStatusError, StatusOutcome};

/// Which attempt of a job this is, so a use case can act on the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub is_last: bool,
}

impl Attempt {
    pub fn first() -> Self {
        Self {
            number: 1,
            is_last: false,
        }
    }
}
