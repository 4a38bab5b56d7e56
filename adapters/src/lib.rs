//! # switchboard-adapters
//!
//! The edges of the hexagon. Inbound adapters turn HTTP into use-case calls; outbound
//! adapters implement the application's ports.
//!
//! - [`inbound`]: actix-web: the WhatsApp webhook, the REST, management and A2A APIs,
//!   health, the sandbox outbox, the operator console (`inbound::console`), the
//!   trace-id middleware and the one HTTP error shape `{code, message, trace_id}`.
//! - [`outbound::store`]: SQLite or PostgreSQL behind the store ports.
//! - [`outbound::passwords`]: argon2id behind the password-hashing port.
//! - [`outbound::sandbox`]: the sandbox WhatsApp gateway (records, never sends).
//! - [`outbound::builtin`]: the built-in keyword classifier and agents.
//! - [`fuzzing`]: the fuzz target bodies (webhook envelope, signature), shared by the
//!   cargo-fuzz project in `fuzz/` and a stable test over its corpus.

pub mod fuzzing;
pub mod inbound;
pub mod outbound;
