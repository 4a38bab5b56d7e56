//! # switchboard-adapters
//!
//! The edges of the hexagon. Inbound adapters turn HTTP into use-case calls; outbound
//! adapters implement the application's ports.
//!
//! - [`inbound`]: actix-web: the WhatsApp webhook, health, the sandbox outbox, the
//!   trace-id middleware and the one HTTP error shape `{code, message, trace_id}`.
//! - [`outbound::store`]: SQLite behind the store ports.
//! - [`outbound::sandbox`]: the sandbox WhatsApp gateway (records, never sends).
//! - [`outbound::builtin`]: the built-in keyword classifier and agents.
//! - [`fuzzing`]: the fuzz target bodies (webhook envelope, signature), shared by the
//!   cargo-fuzz project in `fuzz/` and a stable test over its corpus.

pub mod fuzzing;
pub mod inbound;
pub mod outbound;
