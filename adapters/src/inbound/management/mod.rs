//! The management API (API key): contacts, conversations and their messages,
//! deliveries, stored webhook events and their replay, dead jobs and their requeue, and
//! a status page.
//!
//! Every list answers `{items, next_cursor}`, newest first (a conversation's messages:
//! oldest first), `limit` 1..=500 (default 50; more is cut to 500), and `cursor` from
//! the previous page. A cursor is opaque to clients: the hex of `list:time:id`, so one
//! list's cursor is refused by another.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use switchboard_application::ports::StoreHealth;
use switchboard_application::ports::{
    AttemptRecord, ContactRecord, ConversationFilter, ConversationRecord, ConversationState, DeadJob, DeliveryFilter,
    DeliveryView, EventFilter, EventSummary, ManagementReads, MessageRecord, OperationalCounters, Page, PageCursor,
    PageRequest, Route, StoreError, TimeRange,
};
use switchboard_application::ports::{Clock, People};
use switchboard_application::usecases::{ChangeConsent, DeadLetters, PeopleInTheLoop, ReplayEvents, ServeMedia};
use switchboard_domain::DeliveryState;
use switchboard_runtime::{Config, Mode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::api::ApiState;
use super::errors::{ApiError, ErrorCode};
use super::health::{Readiness, WhatsAppHealthState, readiness_report};
use super::trace::request_trace;

/// What the management handlers use: the application's ports and use cases only.
pub struct ManagementState {
    pub reads: Arc<dyn ManagementReads>,
    pub replay: Arc<ReplayEvents>,
    pub dead_letters: Arc<DeadLetters>,
    pub store_health: Arc<dyn StoreHealth>,
    /// Conversations as operators see them.
    pub people: Arc<dyn People>,
    /// The operators' actions.
    pub handoff: Arc<PeopleInTheLoop>,
    /// Operators' and API clients' changes of a contact's consent.
    pub consent: Arc<ChangeConsent>,
    pub clock: Arc<dyn Clock>,
    /// Messages' stored files, with signed links.
    pub media: Arc<ServeMedia>,
    /// The agents found by their cards, for the status page.
    pub agents: Arc<dyn switchboard_application::ports::AgentDirectory>,
    /// Agents registered here by URL alone.
    pub manage_agents: Arc<switchboard_application::usecases::ManageAgents>,
    /// The approved templates operators may send outside the 24-hour window.
    pub templates: Arc<switchboard_application::usecases::TemplateCatalogue>,
    /// The configuration as `GET /api/v1/status` shows it (no secrets).
    pub status: StatusConfig,
}

mod agents;
mod bodies;
mod contacts;
mod conversations;
mod deliveries;
mod events;
mod handoff;
mod jobs;
mod paging;
mod status;
mod templates;
#[cfg(test)]
mod tests;

pub use agents::*;
pub use bodies::*;
pub use contacts::*;
pub use conversations::*;
pub use deliveries::*;
pub use events::*;
pub use handoff::*;
pub use jobs::*;
pub use paging::*;
pub use status::*;
pub use templates::*;
