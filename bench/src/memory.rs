//! The service's memory and CPU time, as Linux reports them in /proc.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A `kB` field (VmRSS, VmHWM) of /proc/PID/status.
pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time the process has used, user and system, over all its threads (those that
/// ended too), in milliseconds: fields 14 and 15 of /proc/PID/stat, counted in ticks of
/// 1/100 s (`USER_HZ`, which Linux fixes at 100 for user space).
pub(crate) fn proc_cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; field 3 follows its last ')'.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) * 10)
}

/// The largest VmRSS seen while it runs.
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (stop_flag, peak_seen) = (Arc::clone(&stop), Arc::clone(&peak));
        tokio::spawn(async move {
            while !stop_flag.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status_kb(pid, "VmRSS") {
                    peak_seen.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { stop, peak }
    }

    /// Stops sampling: the peak, in kB.
    pub(crate) fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_time_of_a_process_grows_as_it_works() {
        let before = proc_cpu_ms(std::process::id()).unwrap();
        let started = std::time::Instant::now();
        let mut spin = 0_u64;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = proc_cpu_ms(std::process::id()).unwrap();

        assert!(after >= before + 100, "{before} ms, then {after} ms after 200 ms of spinning");
        assert_eq!(proc_cpu_ms(u32::MAX), None, "no such process");
    }
}
