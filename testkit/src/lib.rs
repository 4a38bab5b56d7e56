//! # switchboard-testkit
//!
//! Test support, outside the hexagon and never part of the product: the one harness that
//! runs the `switchboard` binary as a child process ([`ServiceProcess`]: port 0 read back
//! from its start-up line, ready on `/health/ready`, output captured, restart on the same
//! port, SIGKILL for crash tests), [`free_port`], and [`S3Server`], a real S3 API on
//! loopback for the S3 media store. The black-box tests of the root package,
//! `switchboard-bench` and the adapters' tests use it instead of copies of their own.

mod process;
mod s3;

pub use process::ServiceProcess;
pub use s3::S3Server;

/// A loopback port nothing listens on right now: for a peer that is down, or a child
/// process that must be told its port in advance. Another process may take it before it
/// is used, so a service under test asks for port 0 instead ([`ServiceProcess`]).
///
/// # Panics
///
/// When no loopback port can be bound: then no test of this kind can run.
#[must_use]
#[expect(clippy::expect_used, reason = "test support: without a loopback port no test can run")]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `url` (a PostgreSQL URL) with its database name replaced by `name`, its query kept:
/// the tests that make a database of their own on the test server.
#[must_use]
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    match query {
        Some(query) => format!("{}/{name}?{query}", &base[..host_end]),
        None => format!("{}/{name}", &base[..host_end]),
    }
}
