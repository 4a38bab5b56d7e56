//! The service under test: the `switchboard` binary's `serve` as a child process, through
//! the one harness the tests use too ([`switchboard_testkit::ServiceProcess`]).

use std::path::Path;
use std::time::Duration;

use switchboard_testkit::ServiceProcess;

use crate::{API_VERSION, APP_SECRET, BenchArgs, PHONE_NUMBER_ID, REORDER_WINDOW_MS};

pub(crate) struct Service(ServiceProcess);

impl Service {
    /// Starts `binary` on a fresh database in `dir` and waits until it is ready
    /// (blocking: run it off the async workers).
    /// Started under `launcher` (`taskset -c LIST` when pinned), when not empty.
    pub(crate) fn start(
        binary: &Path,
        dir: &Path,
        graph_uri: &str,
        args: &BenchArgs,
        launcher: Vec<String>,
    ) -> anyhow::Result<Self> {
        let mut env: Vec<(String, String)> = [
            ("SWITCHBOARD_MODE", "live".to_owned()),
            ("SWITCHBOARD_DATA_DIR", dir.display().to_string()),
            // The service's default: every message logs its lines, as in production. (This
            // said `warn` until Dec 2026, but the harness adds `switchboard=info` for the
            // start-up line, which every crate of the service matches: info all along.)
            ("SWITCHBOARD_LOG", "info".to_owned()),
            ("SWITCHBOARD_SQLITE_SYNCHRONOUS", args.synchronous.clone()),
            ("SWITCHBOARD_RATE_LIMITS_ENABLED", "false".to_owned()),
            // Each bench sender writes far faster than any person: the limit would hold them.
            ("SWITCHBOARD_SENDER_RATE_PER_MINUTE", "0".to_owned()),
            ("WHATSAPP_ACCESS_TOKEN", "bench-token".to_owned()),
            ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID.to_owned()),
            ("WHATSAPP_APP_SECRET", APP_SECRET.to_owned()),
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "bench-verify-token".to_owned()),
            ("WHATSAPP_API_BASE_URL", graph_uri.to_owned()),
            ("WHATSAPP_API_VERSION", API_VERSION.to_owned()),
            ("SWITCHBOARD_API_KEYS", "bench-api-key".to_owned()),
            // Stated, as the lone-message verdict is judged against it.
            ("SWITCHBOARD_INBOUND_REORDER_WINDOW_MS", format!("{REORDER_WINDOW_MS:.0}")),
            // Its health checks would be Graph calls the bench did not make.
            ("SWITCHBOARD_HEALTH_CHECK_INTERVAL_SECS", "0".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec();
        if let Some(url) = &args.database_url {
            env.push(("DATABASE_URL".to_owned(), url.clone()));
        }
        if let Some(workers) = args.workers {
            env.push(("SWITCHBOARD_WORKERS".to_owned(), workers.to_string()));
        }
        Ok(Self(ServiceProcess::start_under(launcher, binary, env, dir.join("service.log"), Duration::from_secs(30))?))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.0.pid().unwrap_or(0)
    }

    pub(crate) fn webhook_url(&self) -> String {
        format!("{}/webhook/whatsapp", self.0.base_url())
    }

    /// The values of counters or histograms' `_count` (no labels) on the service's
    /// `/metrics`, read from one scrape; `None` for one the service does not export (the
    /// SQLite writer's figures on PostgreSQL), and for all when it does not answer.
    pub(crate) async fn metrics<const N: usize>(&self, names: [&str; N]) -> [Option<f64>; N] {
        let url = format!("{}/metrics", self.0.base_url());
        let text = match reqwest::get(url).await {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        names.map(|name| parse_metric(&text, name))
    }

    /// A `kB` field of the child's /proc status (VmRSS, VmHWM).
    pub(crate) fn status_kb(&self, field: &str) -> Option<u64> {
        crate::memory::proc_status_kb(self.pid(), field)
    }
}

/// The value of the sample named exactly `name` (no labels) in Prometheus' text format.
fn parse_metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::parse_metric;

    #[test]
    fn a_metric_is_read_by_its_exact_name_and_not_by_a_longer_one_it_prefixes() {
        let text = "# HELP switchboard_sqlite_writes_total Writes\n\
                    switchboard_sqlite_writes_total_x 9\n\
                    switchboard_sqlite_writes_total 1234\n\
                    switchboard_sqlite_commit_seconds_count 56\n";

        assert_eq!(parse_metric(text, "switchboard_sqlite_writes_total"), Some(1234.0));
        assert_eq!(parse_metric(text, "switchboard_sqlite_commit_seconds_count"), Some(56.0));
        assert_eq!(parse_metric(text, "switchboard_absent"), None);
    }
}
