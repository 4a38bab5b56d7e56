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
    stat_cpu_ms(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User and system time, in milliseconds, of a /proc `stat` file's text (a process's or
/// one thread's).
fn stat_cpu_ms(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; field 3 follows its last ')'.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) * 10)
}

/// The kinds of the service's threads, by the names it gives them, in the order the
/// bench prints them.
pub(crate) const THREAD_KINDS: [&str; 5] =
    ["the SQLite writer", "the HTTP server", "the workers", "the checkpoint thread", "other threads"];

/// Which of [`THREAD_KINDS`] a thread named `comm` is: the SQLite writer and checkpoint
/// threads are named by the store, actix names its request threads `actix-*`, tokio
/// (the job workers, their agent and Graph calls, the readers in place) `tokio-*`.
pub(crate) fn thread_kind(comm: &str) -> usize {
    match comm.trim_end() {
        "sqlite-writer" => 0,
        name if name.starts_with("actix") => 1,
        name if name.starts_with("tokio") => 2,
        name if name.starts_with("sqlite-checkpoi") => 3,
        _ => 4,
    }
}

/// The CPU time, in milliseconds, the live threads of process `pid` have used, summed by
/// [`THREAD_KINDS`]; `None` when /proc cannot be read. A thread that ended is not counted.
pub(crate) fn threads_cpu_ms(pid: u32) -> Option<[u64; THREAD_KINDS.len()]> {
    let mut by_kind = [0; THREAD_KINDS.len()];
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
        else {
            continue;
        };
        if let Some(ms) = stat_cpu_ms(&stat) {
            by_kind[thread_kind(&comm)] += ms;
        }
    }
    Some(by_kind)
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

    #[test]
    fn the_services_threads_are_sorted_by_the_names_they_are_given() {
        let kinds: Vec<&str> = [
            "sqlite-writer\n",
            "actix-server wo",
            "actix-rt|system",
            "tokio-rt-worker",
            "sqlite-checkpoi",
            "switchboard",
        ]
        .into_iter()
        .map(|comm| THREAD_KINDS[thread_kind(comm)])
        .collect();

        assert_eq!(
            kinds,
            [
                "the SQLite writer",
                "the HTTP server",
                "the HTTP server",
                "the workers",
                "the checkpoint thread",
                "other threads"
            ]
        );
    }

    #[test]
    fn a_spinning_thread_adds_its_time_to_its_kind() {
        let pid = std::process::id();
        let before = threads_cpu_ms(pid).unwrap();
        let (spun, read) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let (spun_tx, spun_rx) = spun;
        let (read_tx, read_rx) = read;
        let spinner = std::thread::Builder::new()
            .name(String::from("sqlite-writer"))
            .spawn(move || {
                // Spins until it has used 300 ms of CPU by its own count, however busy the host.
                let own = || stat_cpu_ms(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
                let start = own();
                let mut spin = 0_u64;
                while own() < start + 300 {
                    for _ in 0..100_000 {
                        spin = std::hint::black_box(spin.wrapping_add(1));
                    }
                }
                spun_tx.send(()).unwrap();
                // Still alive when read: an ended thread leaves /proc/PID/task.
                read_rx.recv().unwrap();
            })
            .unwrap();
        spun_rx.recv().unwrap();
        let during = threads_cpu_ms(pid).unwrap();
        read_tx.send(()).unwrap();
        spinner.join().unwrap();

        assert!(during[0] >= before[0] + 300, "the writer's kind: {before:?}, then {during:?}");
        assert_eq!(threads_cpu_ms(u32::MAX), None, "no such process");
    }
}
