//! The driven ports. One small trait per concern, `Send + Sync`, injected as
//! `Arc<dyn Port>`. Each method says what it returns on each failure.
//!
//! The store ports are coarse on purpose: each write that must be atomic (an ingest, a
//! planned reply with its delivery job) is one method, so the adapter can make it one
//! transaction without the use case knowing what a transaction is.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    AgentName, AgentReply, ChannelError, Classification, ContentError, DeliveryState, EmailAddress, InboundMessage,
    Intent, OutboundMessage, StatusUpdate, Wamid, WorkflowRequest,
};
use switchboard_domain::{SendAction, SendFailure};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{LeasedJob, NewJob, SandboxStatus};

mod account;
mod operations;
pub use account::*;
pub use operations::*;

/// Failures of any store port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or written (locked, down, disk full). Nothing
    /// of the failed call was stored; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Stored data could not be read back into the model (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

mod agents;
mod clock;
mod consent;
mod deliveries;
mod email;
mod inbox;
mod jobs;
mod management;
mod media;
mod messages;
mod operators;
mod people;
mod tasks;
mod templates;
mod whatsapp;

pub use agents::*;
pub use clock::*;
pub use consent::*;
pub use deliveries::*;
pub use email::*;
pub use inbox::*;
pub use jobs::*;
pub use management::*;
pub use media::*;
pub use messages::*;
pub use operators::*;
pub use people::*;
pub use tasks::*;
pub use templates::*;
pub use whatsapp::*;

#[cfg(test)]
mod tests;
