//! Adapters that implement the application's driven ports.

pub mod a2a;
pub mod announce;
pub mod builtin;
pub mod email;
pub mod graph;
pub mod graph_health;
pub mod graph_templates;
pub mod http;
pub mod media_store;
pub mod pacing;
pub mod passwords;
pub mod push;
pub mod sandbox;
pub mod sender_limit;
pub mod store;
