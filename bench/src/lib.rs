//! # switchboard-bench
//!
//! How fast the real service acknowledges signed webhooks and turns them into replies, on
//! this machine, against the limit of a bare actix-web handler. Not part of the product:
//! it runs the `switchboard` binary as a child process through the test harness
//! (`switchboard-testkit`) and talks to it over loopback HTTP only.
//!
//! The service runs in live mode with a fresh SQLite database in a temporary directory,
//! rate limits off, and the Graph API pointed at a loopback fake in this process that
//! counts sends. A load generator in this process (reqwest, keep-alive, N connections)
//! sends correctly signed text-message webhooks, each with its own wamid, from many
//! senders. Phases:
//!
//! 1. lone messages: one at a time, each from a new user, webhook to reply at Graph;
//! 2. the bare handler: an actix-web server answering 200 to the same requests (the limit);
//! 3. closed loop: N connections send as fast as the service acknowledges;
//! 4. end to end: time from the first webhook of phase 3 until every reply reached Graph;
//! 5. open loop: a fixed offered rate; latency from each request's *intended* send time,
//!    so a stalled service cannot hide its stalls (no coordinated omission);
//! 6. memory: the child's VmRSS sampled throughout, VmHWM at the end, VmRSS when idle.
//!
//! ```text
//! args.rs        the options, and where the switchboard binary is found
//! phases.rs      the rounds and the phases of one round
//! service.rs     the service under test: its environment, its /proc figures
//! load.rs        the load generator: signed webhooks, closed and open loop
//! fake_graph.rs  the Graph stand-in that counts replies, and the bare handler
//! memory.rs      the RSS sampler
//! pinning.rs     --service-cpus / --bench-cpus: the two on CPUs of their own
//! report.rs      the figures, their medians and the printed table
//! ```

mod args;
mod fake_graph;
mod load;
mod memory;
mod phases;
mod pinning;
mod report;
mod service;

pub use args::BenchArgs;
pub use phases::run;

/// The app secret the service is configured with and the load generator signs with.
const APP_SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "109876543210987";
const API_VERSION: &str = "v25.0";
/// Distinct senders: enough that per-conversation ordering does not serialise the run.
const SENDERS: u64 = 5_000;
/// The service's reorder window in the bench (its default): a lone message's job falls
/// due this long after its webhook, so its reply cannot leave sooner.
const REORDER_WINDOW_MS: f64 = 300.0;
