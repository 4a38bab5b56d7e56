//! CPU pinning (`--service-cpus` with `--bench-cpus`): the service, and the bare handler
//! that stands in for it, on some CPUs; the bench's load generator and fake Graph on the
//! others. On a shared host the bench takes CPU from the service it measures (about a
//! quarter of a message's CPU, docs/performance.md); pinned, each phase measures the
//! service on its own cores, fed by a generator that does not compete with it.
//!
//! Through `taskset` (util-linux), as a launcher of the service and on threads already
//! running (`taskset -a -p`): no `unsafe`, no new dependency.

use std::collections::HashSet;
use std::process::Command;

use anyhow::{Context as _, bail};

/// A CPU list in `taskset`'s syntax (`0`, `0-3`, `0,2-3`), with its CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CpuList {
    text: String,
    cpus: Vec<u32>,
}

impl CpuList {
    /// Parses `0`, `2-3`, `0,2-3`; an empty list, a reversed range or a stray character
    /// is an error naming it.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let number = |s: &str| {
                s.parse::<u32>().with_context(|| format!("{text:?} is not a CPU list such as 0, 0-3 or 0,2-3"))
            };
            let (first, last) = (number(first)?, number(last)?);
            if last < first {
                bail!("{text:?}: the range {part} runs backwards");
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Self { text: text.trim().to_owned(), cpus })
    }

    pub(crate) fn count(&self) -> usize {
        self.cpus.len()
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.cpus.iter().any(|cpu| other.cpus.contains(cpu))
    }

    /// Whether `status` (a /proc status file's text) says its thread may run on exactly
    /// these CPUs (`Cpus_allowed_list`).
    fn allowed_in(&self, status: &str) -> bool {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .and_then(|list| Self::parse(list).ok())
            .is_some_and(|allowed| allowed.cpus == self.cpus)
    }
}

/// Fails unless the thread or process whose /proc status is at `path` runs on `cpus`.
fn check(cpus: &CpuList, path: &str, what: &str) -> anyhow::Result<()> {
    let status = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    if !cpus.allowed_in(&status) {
        bail!("{what} is not pinned to CPUs {}: {path} says otherwise", cpus.as_str());
    }
    Ok(())
}

/// Where the service and the bench run.
#[derive(Debug, Clone)]
pub(crate) struct Pinning {
    pub(crate) service: CpuList,
    pub(crate) bench: CpuList,
}

impl Pinning {
    /// Both lists, or neither; they may not share a CPU (the point is that the two do not
    /// compete).
    pub(crate) fn from_args(service: Option<&str>, bench: Option<&str>) -> anyhow::Result<Option<Self>> {
        let (service, bench) = match (service, bench) {
            (None, None) => return Ok(None),
            (Some(service), Some(bench)) => (CpuList::parse(service)?, CpuList::parse(bench)?),
            _ => bail!("--service-cpus and --bench-cpus go together: pinning one side alone measures nothing"),
        };
        if service.overlaps(&bench) {
            bail!("--service-cpus {} and --bench-cpus {} share a CPU", service.as_str(), bench.as_str());
        }
        Ok(Some(Self { service, bench }))
    }

    /// `taskset -c LIST`: the launcher the service is started under.
    pub(crate) fn service_launcher(&self) -> Vec<String> {
        vec![String::from("taskset"), String::from("-c"), self.service.as_str().to_owned()]
    }

    /// Moves every thread of this process to the bench's CPUs (threads started later
    /// inherit it).
    pub(crate) fn pin_bench(&self) -> anyhow::Result<()> {
        taskset(&["-a", "-p", "-c", self.bench.as_str(), &std::process::id().to_string()])?;
        check(&self.bench, "/proc/thread-self/status", "the bench")
    }

    /// Moves the threads `tids` of this process to the service's CPUs.
    pub(crate) fn pin_to_service(&self, tids: &HashSet<u32>) -> anyhow::Result<()> {
        for tid in tids {
            taskset(&["-p", "-c", self.service.as_str(), &tid.to_string()])?;
            check(&self.service, &format!("/proc/self/task/{tid}/status"), "the bare handler")?;
        }
        Ok(())
    }

    /// Fails unless the service `pid` (started under [`service_launcher`](Self::service_launcher))
    /// runs on the service's CPUs.
    pub(crate) fn check_service(&self, pid: u32) -> anyhow::Result<()> {
        check(&self.service, &format!("/proc/{pid}/status"), "the service")
    }
}

fn taskset(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("taskset")
        .args(args)
        .output()
        .context("CPU pinning needs `taskset` (util-linux; Debian: apt-get install util-linux)")?;
    if !output.status.success() {
        bail!("taskset {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// The thread ids of this process whose name starts with `prefix` (Linux's `comm`, cut
/// to 15 bytes: actix's workers are `actix-server wo`).
pub(crate) fn threads_named(prefix: &str) -> HashSet<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return HashSet::new() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let tid = task.file_name().to_str()?.parse::<u32>().ok()?;
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            name.starts_with(prefix).then_some(tid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_list_reads_single_cpus_ranges_and_both_and_counts_each_cpu_once() {
        assert_eq!(CpuList::parse("0").unwrap().count(), 1);
        assert_eq!(CpuList::parse("0-3").unwrap().count(), 4);
        assert_eq!(CpuList::parse("0,2-3,3").unwrap().count(), 3);
        assert_eq!(CpuList::parse(" 1 ").unwrap().as_str(), "1");
    }

    #[test]
    fn a_bad_cpu_list_is_an_error_that_quotes_it() {
        for bad in ["", "a", "1-", "3-1", "0;1"] {
            let error = CpuList::parse(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }

    #[test]
    fn pinning_takes_both_sides_or_neither_and_no_shared_cpu() {
        assert!(Pinning::from_args(None, None).unwrap().is_none());
        let pinned = Pinning::from_args(Some("0"), Some("1")).unwrap().unwrap();
        let one_side = Pinning::from_args(Some("0"), None).unwrap_err().to_string();
        let shared = Pinning::from_args(Some("0-1"), Some("1")).unwrap_err().to_string();

        assert_eq!(pinned.service_launcher(), ["taskset", "-c", "0"]);
        assert!(one_side.contains("go together"), "{one_side}");
        assert!(shared.contains("share a CPU"), "{shared}");
    }

    #[test]
    fn the_cpus_a_thread_may_use_are_read_from_its_proc_status() {
        let status = "Name:\tswitchboard\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nMems_allowed:\t1\n";

        assert!(CpuList::parse("0,1").unwrap().allowed_in(status));
        assert!(!CpuList::parse("0").unwrap().allowed_in(status));
        assert!(!CpuList::parse("0").unwrap().allowed_in("Name:\tno list\n"));
    }

    #[test]
    fn this_process_finds_its_own_threads_by_name() {
        let (started, running) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(String::from("pin-test-thread"))
            .spawn(move || {
                // A thread names itself as it starts: tell the test once it has.
                started.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
            })
            .unwrap();
        running.recv().unwrap();

        let found = threads_named("pin-test-thread");

        assert_eq!(found.len(), 1);
        handle.join().unwrap();
    }
}
