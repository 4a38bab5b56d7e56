//! # switchboard
//!
//! The composition root: builds the adapters from [`switchboard_runtime::Config`],
//! injects them into the use cases, and starts the HTTP server and the job workers.
//! Wiring only; behaviour lives in the crates it wires.
//!
//! ```text
//! domain/        pure model and rules
//! application/   use cases + ports
//! adapters/      actix-web inbound; SQL store, Graph, A2A, SMTP, sandbox outbound
//! shared/        trace context, retry timing, the secret redactor
//! runtime/       configuration, logging, OTLP export
//! src/           this crate: CLI (main.rs), startup, simulate
//! testkit/       test support: the binary as a child process, free ports
//! bench/         switchboard-bench: load generator and fake Graph against the binary
//! ```

pub mod simulate;
pub mod startup;

pub use startup::{Application, ShutdownHandle};
