//! The options, and where the `switchboard` binary under test is found.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Measure throughput, latency and memory of the real service on this machine (a child
/// `switchboard serve` on a temporary SQLite database, a loopback fake Graph) against a
/// bare actix-web handler answering the same signed webhooks.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "switchboard-bench", version)]
pub struct BenchArgs {
    /// The `switchboard` binary to measure [default: the one beside this executable,
    /// e.g. target/release/switchboard after `cargo build --release --workspace`].
    #[arg(long, env = "SWITCHBOARD_BIN", value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Length of each load phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent keep-alive connections of the closed-loop phases.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Offered rate of the open-loop latency phase, webhooks per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// SQLite synchronous setting of the service: `full` (durable on power loss, the
    /// default) or `normal` (durable on a process crash only).
    #[arg(long, default_value = "full")]
    pub synchronous: String,
    /// Job workers of the service (SWITCHBOARD_WORKERS); its default when unset.
    #[arg(long)]
    pub workers: Option<usize>,
    /// How long to wait for the replies of a phase to reach Graph, in seconds.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout: u64,
    /// A label printed with the results (e.g. the commit or the change measured).
    #[arg(long)]
    pub release_note: Option<String>,
    /// Measure this many times, each with a fresh service and database, and judge the
    /// median of each figure; the spread is printed too. On a host whose speed varies
    /// from minute to minute one round proves little.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Length of the sustained phase, in seconds: the service is offered its own end-to-end
    /// rate (measured in the closed loop) for this long, and the backlog of messages not
    /// yet answered is watched; 0 skips it.
    #[arg(long, default_value_t = 60)]
    pub sustained: u64,
    /// Run the service on this database instead of a new SQLite file: a PostgreSQL URL
    /// (`scripts/pg-test-server` makes a throwaway server). Every round then uses it as it
    /// is, with what earlier rounds stored.
    #[arg(long, env = "SWITCHBOARD_BENCH_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Pin the service, and the bare handler that stands in for it, to these CPUs
    /// (taskset's syntax: 0, 0-3, 0,2-3); with --bench-cpus, which pins the load
    /// generator and the fake Graph to others. Unpinned (the default) they share every
    /// core, and the bench's own CPU is taken from the service's.
    #[arg(long, value_name = "LIST", requires = "bench_cpus")]
    pub service_cpus: Option<String>,
    /// The CPUs of the load generator and the fake Graph, with --service-cpus.
    #[arg(long, value_name = "LIST", requires = "service_cpus")]
    pub bench_cpus: Option<String>,
}

impl BenchArgs {
    /// The binary to measure: `--binary` (or `SWITCHBOARD_BIN`), else `switchboard`
    /// beside this executable, where cargo puts it when the workspace is built; an error
    /// saying what to build when it is not there.
    pub(crate) fn service_binary(&self) -> anyhow::Result<PathBuf> {
        let path = match &self.binary {
            Some(path) => path.clone(),
            None => beside(&std::env::current_exe().context("cannot find this executable's path")?),
        };
        if !path.is_file() {
            bail!(
                "no switchboard binary at {}: build it with `cargo build --release --workspace` \
                 (the bench looks beside its own executable), or name one with --binary PATH \
                 or SWITCHBOARD_BIN",
                path.display()
            );
        }
        Ok(path)
    }
}

/// `switchboard` in the directory of `exe`.
fn beside(exe: &Path) -> PathBuf {
    exe.with_file_name(format!("switchboard{}", std::env::consts::EXE_SUFFIX))
}

/// Whether the binary is a debug build, judged by where cargo put it: its figures would
/// not be representative (nor would a debug build of the load generator's).
pub(crate) fn is_debug_build(binary: &Path) -> bool {
    cfg!(debug_assertions) || binary.parent().and_then(Path::file_name).is_some_and(|dir| dir == "debug")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_looked_for_beside_the_bench() {
        let found = beside(Path::new("/repo/target/release/switchboard-bench"));

        assert_eq!(
            found,
            Path::new("/repo/target/release").join(format!("switchboard{}", std::env::consts::EXE_SUFFIX))
        );
    }

    #[test]
    fn a_missing_binary_is_an_error_naming_what_to_build() {
        let args = <BenchArgs as clap::Parser>::parse_from(["switchboard-bench", "--binary", "/no/such/switchboard"]);

        let error = args.service_binary().unwrap_err().to_string();

        assert!(error.contains("/no/such/switchboard"), "{error}");
        assert!(error.contains("cargo build --release --workspace"), "{error}");
    }

    #[test]
    fn a_binary_in_a_debug_directory_is_reported_as_a_debug_build() {
        assert!(is_debug_build(Path::new("/repo/target/debug/switchboard")));
    }
}
