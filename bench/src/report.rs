//! What a round measured, the median of the rounds, and the printed table with each
//! target and whether it was met.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::pinning::Pinning;
use crate::{BenchArgs, REORDER_WINDOW_MS};

/// What one run measured.
#[derive(Debug, Default, Clone)]
pub(crate) struct Figures {
    pub(crate) bare_per_sec: f64,
    pub(crate) acked_per_sec: f64,
    pub(crate) closed_errors: u64,
    pub(crate) e2e_per_sec: f64,
    pub(crate) e2e_drained: bool,
    pub(crate) e2e_messages: u64,
    pub(crate) open_offered: u64,
    pub(crate) open_acked: u64,
    pub(crate) open_errors: u64,
    pub(crate) open_p50_ms: f64,
    pub(crate) open_p99_ms: f64,
    pub(crate) open_max_ms: f64,
    pub(crate) open_late_p99_ms: f64,
    pub(crate) open_from_start_p99_ms: f64,
    pub(crate) open_e2e_per_sec: f64,
    /// The service's CPU time (all threads, user and system) per message answered in the
    /// open loop, from its first request to its last reply at Graph, in microseconds: what
    /// a message costs, less sensitive to a shared host than any rate.
    pub(crate) open_cpu_us_per_message: f64,
    /// The bench's own CPU time (load generator and fake Graph, all threads) per message
    /// answered in the open loop, in microseconds: what the load costs the cores the
    /// service shares with it.
    pub(crate) open_bench_cpu_us_per_message: f64,
    /// The SQLite writer's commits and writes per message answered in the open loop (0 on
    /// PostgreSQL, which does not count them): how well writes share a commit.
    pub(crate) open_commits_per_message: f64,
    pub(crate) open_writes_per_message: f64,
    /// The pages the SQLite writer appended to its WAL per message (0 on PostgreSQL).
    pub(crate) open_wal_pages_per_message: f64,
    pub(crate) idle_rss_kb: u64,
    pub(crate) idle_after_rss_kb: u64,
    pub(crate) load_rss_kb: u64,
    pub(crate) hwm_kb: u64,
    /// Lone messages (one at a time, each from a new user): webhook sent to reply at Graph.
    pub(crate) lone_messages: u64,
    pub(crate) lone_p50_ms: f64,
    pub(crate) lone_p99_ms: f64,
    /// The sustained phase: the rate offered (the closed loop's end to end), the end to
    /// end reached, and the largest backlog in its first and last third.
    pub(crate) sustained_offered_per_sec: f64,
    pub(crate) sustained_e2e_per_sec: f64,
    pub(crate) sustained_backlog_first_third: u64,
    pub(crate) sustained_backlog_last_third: u64,
    pub(crate) sustained_errors: u64,
    /// The service's and the bench's CPU per message answered in the sustained phase
    /// (from its first request to its last reply), in microseconds: what a message costs
    /// each of them at the rate the targets are about.
    pub(crate) sustained_cpu_us_per_message: f64,
    pub(crate) sustained_bench_cpu_us_per_message: f64,
    /// The service's CPU per message in the sustained phase by the kind of thread that
    /// spent it ([`crate::memory::THREAD_KINDS`]), in microseconds: where a message's cost
    /// is, and how busy the single SQLite writer is that every acknowledgement waits for.
    pub(crate) sustained_cpu_us_by_thread: [f64; crate::memory::THREAD_KINDS.len()],
}

impl Figures {
    /// The CPU per message, in microseconds, that the acknowledged and sustained targets
    /// together leave the service on `cores` cores: end to end must reach 80 % of 25 % of
    /// the bare handler, and every message then costs the service and the bench (when
    /// they share the cores) no more than `cores` seconds divided by that rate. `None`
    /// before a bare handler was measured. The bench's cost is taken from the sustained
    /// phase when it ran (a saturated load, as at the targets' rates), else from the open
    /// loop; when it runs on cores of its own (`shared` false) it takes nothing.
    pub(crate) fn service_cpu_budget_us(&self, cores: usize, shared: bool) -> Option<f64> {
        let needed = 0.80 * 0.25 * self.bare_per_sec;
        #[expect(clippy::cast_precision_loss, reason = "a core count")]
        let cores = cores as f64;
        let bench = if !shared {
            0.0
        } else if self.sustained_bench_cpu_us_per_message > 0.0 {
            self.sustained_bench_cpu_us_per_message
        } else {
            self.open_bench_cpu_us_per_message
        };
        (needed > 0.0).then(|| cores * 1_000_000.0 / needed - bench)
    }

    /// The backlog stays bounded: its peak in the last third of the phase is no larger
    /// than in the first third plus one second of the offered rate.
    pub(crate) fn backlog_bounded(&self) -> bool {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a rate far below 2^53")]
        let second = self.sustained_offered_per_sec.round() as u64;
        self.sustained_backlog_last_third <= self.sustained_backlog_first_third + second
    }
}

impl Figures {
    /// Each figure's median over the rounds (of an even count, the mean of the middle two).
    pub(crate) fn median(rounds: &[Self]) -> Self {
        let f = |pick: fn(&Self) -> f64| median(rounds.iter().map(pick).collect());
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a median of counts far below 2^52"
        )]
        let n = |pick: fn(&Self) -> u64| median(rounds.iter().map(|r| pick(r) as f64).collect()).round() as u64;
        Self {
            bare_per_sec: f(|r| r.bare_per_sec),
            acked_per_sec: f(|r| r.acked_per_sec),
            closed_errors: n(|r| r.closed_errors),
            e2e_per_sec: f(|r| r.e2e_per_sec),
            e2e_drained: rounds.iter().all(|r| r.e2e_drained),
            e2e_messages: n(|r| r.e2e_messages),
            open_offered: n(|r| r.open_offered),
            open_acked: n(|r| r.open_acked),
            open_errors: n(|r| r.open_errors),
            open_p50_ms: f(|r| r.open_p50_ms),
            open_p99_ms: f(|r| r.open_p99_ms),
            open_max_ms: f(|r| r.open_max_ms),
            open_late_p99_ms: f(|r| r.open_late_p99_ms),
            open_from_start_p99_ms: f(|r| r.open_from_start_p99_ms),
            open_e2e_per_sec: f(|r| r.open_e2e_per_sec),
            open_cpu_us_per_message: f(|r| r.open_cpu_us_per_message),
            open_bench_cpu_us_per_message: f(|r| r.open_bench_cpu_us_per_message),
            open_commits_per_message: f(|r| r.open_commits_per_message),
            open_writes_per_message: f(|r| r.open_writes_per_message),
            open_wal_pages_per_message: f(|r| r.open_wal_pages_per_message),
            idle_rss_kb: n(|r| r.idle_rss_kb),
            idle_after_rss_kb: n(|r| r.idle_after_rss_kb),
            load_rss_kb: n(|r| r.load_rss_kb),
            hwm_kb: n(|r| r.hwm_kb),
            lone_messages: n(|r| r.lone_messages),
            lone_p50_ms: f(|r| r.lone_p50_ms),
            lone_p99_ms: f(|r| r.lone_p99_ms),
            sustained_offered_per_sec: f(|r| r.sustained_offered_per_sec),
            sustained_e2e_per_sec: f(|r| r.sustained_e2e_per_sec),
            sustained_backlog_first_third: n(|r| r.sustained_backlog_first_third),
            sustained_backlog_last_third: n(|r| r.sustained_backlog_last_third),
            sustained_errors: n(|r| r.sustained_errors),
            sustained_cpu_us_per_message: f(|r| r.sustained_cpu_us_per_message),
            sustained_bench_cpu_us_per_message: f(|r| r.sustained_bench_cpu_us_per_message),
            sustained_cpu_us_by_thread: std::array::from_fn(|kind| {
                median(rounds.iter().map(|r| r.sustained_cpu_us_by_thread[kind]).collect())
            }),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

#[expect(clippy::cast_precision_loss, reason = "request counts are far below 2^52")]
pub(crate) fn per_sec(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The value at percentile `p` of latencies in microseconds, in milliseconds.
#[expect(clippy::cast_precision_loss, reason = "latencies in microseconds are far below 2^52")]
#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
pub(crate) fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((p / 100.0) * (sorted_us.len() - 1) as f64).round() as usize;
    sorted_us[index.min(sorted_us.len() - 1)] as f64 / 1000.0
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb_to_mb(kb))
}

#[expect(clippy::cast_precision_loss, reason = "kilobytes of a process are far below 2^52")]
fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// The cores this host gives the service and the bench together.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
}

/// How the service and the bench share the host, for the table's first line; and the
/// service's cores with whether the bench shares them.
fn placement(pinning: Option<&Pinning>) -> (String, usize, bool) {
    match pinning {
        Some(p) => (
            format!(
                "the service on CPUs {} ({} {}), the bench on CPUs {}",
                p.service.as_str(),
                p.service.count(),
                if p.service.count() == 1 { "core" } else { "cores" },
                p.bench.as_str()
            ),
            p.service.count(),
            false,
        ),
        None => (format!("{} cores shared by the service and the bench", cores()), cores(), true),
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The table of figures (the medians, of several rounds), each with its target and
/// verdict, under a line saying what was measured and how (and where: `pinning`).
pub(crate) fn table(
    args: &BenchArgs,
    binary: &Path,
    connections: usize,
    pinning: Option<&Pinning>,
    f: &Figures,
) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let build = if crate::args::is_debug_build(binary) { "DEBUG build (not representative)" } else { "release build" };
    writeln!(out)?;
    let rounds = args.rounds.max(1);
    let of_rounds = if rounds > 1 { format!(", median of {rounds} rounds") } else { String::new() };
    let database = if args.database_url.is_some() {
        String::from("PostgreSQL (--database-url)")
    } else {
        format!("SQLite WAL synchronous={}", args.synchronous)
    };
    let (placed, service_cores, shared) = placement(pinning);
    writeln!(
        out,
        "switchboard-bench: {build}, {database}, rate limits off, {connections} connections, {}s phases, {placed}{of_rounds}",
        args.duration.max(1),
    )?;
    writeln!(out, "binary: {}", binary.display())?;
    if let Some(note) = &args.release_note {
        writeln!(out, "note: {note}")?;
    }
    writeln!(out)?;
    writeln!(out, "{:<56} {:>16}  {:<12} verdict", "figure", "value", "target")?;
    writeln!(out, "{}", "-".repeat(96))?;
    let mut row = |name: &str, value: String, target: &str, verdict: &str| {
        writeln!(out, "{name:<56} {value:>16}  {target:<12} {verdict}")
    };
    row("bare actix-web handler, same requests (the limit)", format!("{:.0}/s", f.bare_per_sec), "", "")?;
    row("webhooks acknowledged durably (closed loop)", format!("{:.0}/s", f.acked_per_sec), "", "")?;
    let share = if f.bare_per_sec > 0.0 { 100.0 * f.acked_per_sec / f.bare_per_sec } else { 0.0 };
    row("  as a share of the bare handler", format!("{share:.1} %"), ">= 25 %", verdict(share >= 25.0))?;
    if f.closed_errors > 0 {
        row("  requests not answered 200", f.closed_errors.to_string(), "", "")?;
    }
    let open = format!("ack latency at {}/s offered (open loop)", args.rate);
    row(&format!("{open}, p50"), format!("{:.2} ms", f.open_p50_ms), "", "")?;
    row(&format!("{open}, p99"), format!("{:.2} ms", f.open_p99_ms), "< 10 ms", verdict(f.open_p99_ms < 10.0))?;
    row(&format!("{open}, max"), format!("{:.2} ms", f.open_max_ms), "", "")?;
    row("  of which the generator started late, p99", format!("{:.2} ms", f.open_late_p99_ms), "", "")?;
    row("  from when each request was started, p99", format!("{:.2} ms", f.open_from_start_p99_ms), "", "")?;
    row(
        "  acknowledged / offered (errors)",
        format!("{}/{} ({})", f.open_acked, f.open_offered, f.open_errors),
        "",
        "",
    )?;
    row("end to end, webhook to Graph send (closed loop)", format!("{:.0}/s", f.e2e_per_sec), "", "")?;
    if !f.e2e_drained {
        row("  (not every reply arrived within the drain timeout)", String::new(), "", "")?;
    }
    row(&format!("  of {} messages", f.e2e_messages), String::new(), "", "")?;
    row("end to end during the open loop", format!("{:.0}/s", f.open_e2e_per_sec), "", "")?;
    row(
        "  service CPU per message, webhook to reply (all threads)",
        format!("{:.0} us", f.open_cpu_us_per_message),
        "",
        "",
    )?;
    row(
        "  the bench's own CPU per message (load and fake Graph)",
        format!("{:.0} us", f.open_bench_cpu_us_per_message),
        "",
        "",
    )?;
    if f.open_writes_per_message > 0.0 {
        row(
            "  SQLite writes / commits / WAL pages per message",
            format!(
                "{:.2} / {:.2} / {:.1}",
                f.open_writes_per_message, f.open_commits_per_message, f.open_wal_pages_per_message
            ),
            "",
            "",
        )?;
    }
    if args.sustained > 0 {
        let phase = format!("sustained {}s at the end-to-end rate", args.sustained);
        row(&format!("{phase}: offered"), format!("{:.0}/s", f.sustained_offered_per_sec), "", "")?;
        row(&format!("{phase}: end to end"), format!("{:.0}/s", f.sustained_e2e_per_sec), "", "")?;
        let share = if f.acked_per_sec > 0.0 { 100.0 * f.sustained_e2e_per_sec / f.acked_per_sec } else { 0.0 };
        row("  as a share of the acknowledged rate", format!("{share:.1} %"), ">= 80 %", verdict(share >= 80.0))?;
        row(
            "  backlog peak, first third / last third",
            format!("{} / {}", f.sustained_backlog_first_third, f.sustained_backlog_last_third),
            "bounded",
            verdict(f.backlog_bounded()),
        )?;
        if f.sustained_errors > 0 {
            row("  requests not answered 200", f.sustained_errors.to_string(), "", "")?;
        }
        row("  service CPU per message", format!("{:.0} us", f.sustained_cpu_us_per_message), "", "")?;
        for (kind, us) in crate::memory::THREAD_KINDS.iter().zip(f.sustained_cpu_us_by_thread) {
            row(&format!("    of which {kind}"), format!("{us:.0} us"), "", "")?;
        }
        row("  the bench's own CPU per message", format!("{:.0} us", f.sustained_bench_cpu_us_per_message), "", "")?;
    }
    if let Some(budget) = f.service_cpu_budget_us(service_cores, shared) {
        // Negative when the bench alone costs more than the cores give at that rate.
        row("service CPU per message that both rate targets allow", format!("{budget:.0} us"), "", "")?;
    }
    row(
        "peak RSS under load (VmRSS sampled)",
        mb(f.load_rss_kb),
        "< 100 MB",
        verdict(kb_to_mb(f.load_rss_kb) < 100.0),
    )?;
    row("peak RSS of the run (VmHWM)", mb(f.hwm_kb), "< 100 MB", verdict(kb_to_mb(f.hwm_kb) < 100.0))?;
    row("idle RSS after start", mb(f.idle_rss_kb), "< 30 MB", verdict(kb_to_mb(f.idle_rss_kb) < 30.0))?;
    row("idle RSS after the load", mb(f.idle_after_rss_kb), "", "")?;
    let lone = format!("lone message, webhook to reply at Graph ({} messages)", f.lone_messages);
    row(&format!("{lone}, p50"), format!("{:.1} ms", f.lone_p50_ms), "", "")?;
    row(
        &format!("{lone}, p99"),
        format!("{:.1} ms", f.lone_p99_ms),
        "< window+15",
        verdict(f.lone_p99_ms < REORDER_WINDOW_MS + 15.0),
    )?;
    row(
        "  (the reorder window: a lone message's job falls due after it)",
        format!("{REORDER_WINDOW_MS:.0} ms"),
        "",
        "",
    )?;
    Ok(out)
}

/// The targeted figures of every round, so that a verdict on the median can be weighed.
pub(crate) fn spread(rounds: &[Figures]) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let list = |pick: fn(&Figures) -> String| rounds.iter().map(pick).collect::<Vec<_>>().join(", ");
    writeln!(out)?;
    writeln!(out, "each of {} rounds (the table above shows their medians):", rounds.len())?;
    writeln!(out, "  acknowledged/s (closed loop)  {}", list(|r| format!("{:.0}", r.acked_per_sec)))?;
    writeln!(out, "  p99 at the offered rate, ms   {}", list(|r| format!("{:.2}", r.open_p99_ms)))?;
    writeln!(out, "  generator late p99, ms        {}", list(|r| format!("{:.2}", r.open_late_p99_ms)))?;
    writeln!(out, "  end to end messages/s         {}", list(|r| format!("{:.0}", r.e2e_per_sec)))?;
    writeln!(out, "  CPU per message (open), us    {}", list(|r| format!("{:.0}", r.open_cpu_us_per_message)))?;
    writeln!(out, "  bench's own CPU per msg, us   {}", list(|r| format!("{:.0}", r.open_bench_cpu_us_per_message)))?;
    writeln!(
        out,
        "  SQLite writes/commits/pages   {}",
        list(|r| {
            format!(
                "{:.2}/{:.2}/{:.1}",
                r.open_writes_per_message, r.open_commits_per_message, r.open_wal_pages_per_message
            )
        })
    )?;
    writeln!(out, "  peak RSS (VmHWM), MB          {}", list(|r| format!("{:.1}", kb_to_mb(r.hwm_kb))))?;
    writeln!(out, "  lone message p99, ms          {}", list(|r| format!("{:.1}", r.lone_p99_ms)))?;
    writeln!(
        out,
        "  ack share of bare handler, %  {}",
        list(|r| format!("{:.1}", share(r.acked_per_sec, r.bare_per_sec)))
    )?;
    writeln!(
        out,
        "  sustained e2e/ack, %          {}",
        list(|r| format!("{:.1}", share(r.sustained_e2e_per_sec, r.acked_per_sec)))
    )?;
    writeln!(out, "  sustained backlog last third  {}", list(|r| r.sustained_backlog_last_third.to_string()))?;
    writeln!(
        out,
        "  sustained CPU per msg, us     {} (bench: {})",
        list(|r| format!("{:.0}", r.sustained_cpu_us_per_message)),
        list(|r| format!("{:.0}", r.sustained_bench_cpu_us_per_message))
    )?;
    writeln!(out, "  of which the SQLite writer    {}", list(|r| format!("{:.0}", r.sustained_cpu_us_by_thread[0])))?;
    Ok(out)
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { 100.0 * part / whole } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_rounds_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert!((median(vec![5.0, 1.0, 3.0]) - 3.0).abs() < f64::EPSILON);
        assert!((median(vec![4.0, 1.0, 3.0, 10.0]) - 3.5).abs() < f64::EPSILON);
        assert!(median(Vec::new()).abs() < f64::EPSILON);
    }

    #[test]
    fn every_figure_of_the_rounds_is_judged_on_its_own_median() {
        let round = |acked: f64, p99: f64, hwm_kb: u64, drained: bool| Figures {
            acked_per_sec: acked,
            open_p99_ms: p99,
            hwm_kb,
            e2e_drained: drained,
            ..Figures::default()
        };

        let median = Figures::median(&[
            round(4000.0, 30.0, 1000, true),
            round(6000.0, 5.0, 3000, true),
            round(5000.0, 7.0, 2000, false),
        ]);

        assert!((median.acked_per_sec - 5000.0).abs() < f64::EPSILON);
        assert!((median.open_p99_ms - 7.0).abs() < f64::EPSILON);
        assert_eq!(median.hwm_kb, 2000);
        assert!(!median.e2e_drained, "one round that did not drain is reported");
    }

    #[test]
    fn the_targets_leave_the_service_what_the_cores_give_at_a_fifth_of_the_bare_rate_less_the_bench() {
        let figures = Figures { bare_per_sec: 50_000.0, open_bench_cpu_us_per_message: 120.0, ..Figures::default() };
        let saturated = Figures { sustained_bench_cpu_us_per_message: 60.0, ..figures.clone() };

        // 80 % of 25 % of 50,000/s is 10,000 messages/s: 200 us of each of 2 cores.
        let budget = figures.service_cpu_budget_us(2, true).unwrap();
        let budget_at_saturation = saturated.service_cpu_budget_us(2, true).unwrap();
        // Pinned: one core of its own, 100 us a message, the bench's cost elsewhere.
        let budget_pinned = saturated.service_cpu_budget_us(1, false).unwrap();

        assert!((budget - 80.0).abs() < 1e-9, "{budget}");
        assert!((budget_at_saturation - 140.0).abs() < 1e-9, "the sustained phase's cost is preferred");
        assert!((budget_pinned - 100.0).abs() < 1e-9, "{budget_pinned}");
        assert_eq!(Figures::default().service_cpu_budget_us(2, true), None, "no bare handler measured");
    }

    #[test]
    fn percentiles_pick_from_the_sorted_latencies() {
        let sorted: Vec<u64> = (1..=100).map(|n| n * 1000).collect();

        assert!((percentile(&sorted, 50.0) - 51.0).abs() < 1e-9 || (percentile(&sorted, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&sorted, 100.0) - 100.0).abs() < 1e-9);
        assert!((percentile(&[], 99.0)).abs() < 1e-9);
    }
}
