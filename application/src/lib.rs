//! # switchboard-application
//!
//! The use cases, and the ports (traits) they drive. Knows nothing of actix, reqwest,
//! sqlx or lettre: adapters implement [`ports`], the binary injects them as
//! `Arc<dyn Port>`.
//!
//! - [`usecases::IngestWebhook`]: store an authentic webhook and enqueue its work, in one
//!   transaction.
//! - [`usecases::ProcessInbound`]: classify a message, ask an agent, plan the reply.
//! - [`usecases::DeliverMessage`]: send a planned reply through the WhatsApp gateway.
//! - [`usecases::RecordStatus`]: move a delivery forward on a status webhook.
//! - [`worker`]: the job runner and worker pool that drive the last three.

pub mod jobs;
pub mod ports;
pub mod usecases;
pub mod worker;

pub use jobs::{JobKind, LeasedJob, NewJob};
