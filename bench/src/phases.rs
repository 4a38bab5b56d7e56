//! The rounds, and the phases of one round: lone messages, the bare handler, the closed
//! loop and its end-to-end drain, the open loop, memory.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::BenchArgs;
use crate::fake_graph::{BareHandler, FakeGraph};
use crate::load::Load;
use crate::memory::RssSampler;
use crate::pinning::{Pinning, threads_named};
use crate::report::{self, Figures, per_sec, percentile};
use crate::service::Service;

/// The SQLite writer's counters on `/metrics`: writes, commits, WAL pages.
const SQLITE_WRITER: [&str; 3] = [
    "switchboard_sqlite_writes_total",
    "switchboard_sqlite_commit_seconds_count",
    "switchboard_sqlite_wal_pages_total",
];

/// Measures the binary `args` name (or the one beside this executable) `args.rounds`
/// times, each with a fresh service and database, and answers the table of the medians
/// (and of several rounds, each round's targeted figures). Progress goes to stderr.
///
/// # Errors
///
/// A bad option, no binary to measure, a service that does not start, or a loopback
/// server of the bench's own that cannot.
pub async fn run(args: BenchArgs) -> anyhow::Result<String> {
    if !matches!(args.synchronous.as_str(), "full" | "normal") {
        bail!("--synchronous must be full or normal, got {:?}", args.synchronous);
    }
    let binary = args.service_binary()?;
    let duration = Duration::from_secs(args.duration.max(1));
    let connections = args.connections.max(1);

    let rounds = args.rounds.max(1);
    let pinning = Pinning::from_args(args.service_cpus.as_deref(), args.bench_cpus.as_deref())?;
    if let Some(pinning) = &pinning {
        // Before the fake Graph starts: its threads, and every later one, inherit it.
        pinning.pin_bench()?;
        eprintln!(
            "bench: the service on CPUs {}, the load generator and fake Graph on CPUs {}",
            pinning.service.as_str(),
            pinning.bench.as_str()
        );
    }

    let graph = FakeGraph::start()?;
    let mut measured = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("bench: round {round} of {rounds}");
        }
        let dir = std::env::temp_dir().join(format!("switchboard-bench-{}-{round}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let service = {
            let (binary, dir, uri, args) = (binary.clone(), dir.clone(), graph.uri(), args.clone());
            let launcher = pinning.as_ref().map(Pinning::service_launcher).unwrap_or_default();
            tokio::task::spawn_blocking(move || Service::start(&binary, &dir, &uri, &args, launcher)).await??
        };
        if let Some(pinning) = &pinning {
            pinning.check_service(service.pid())?;
        }
        let result = measure(&args, duration, connections, &graph, &service, pinning.as_ref()).await;
        drop(service);
        let _ = std::fs::remove_dir_all(&dir);
        let figures = result?;
        if rounds > 1 {
            eprintln!(
                "bench: round {round}: {:.0} acknowledged/s, p99 {:.2} ms, {:.0} messages/s end to end",
                figures.acked_per_sec, figures.open_p99_ms, figures.e2e_per_sec
            );
        }
        measured.push(figures);
    }
    let mut printed = report::table(&args, &binary, connections, pinning.as_ref(), &Figures::median(&measured))?;
    if rounds > 1 {
        printed.push_str(&report::spread(&measured)?);
    }
    Ok(printed)
}

/// One round against a service just started.
async fn measure(
    args: &BenchArgs,
    duration: Duration,
    connections: usize,
    graph: &FakeGraph,
    service: &Service,
    pinning: Option<&Pinning>,
) -> anyhow::Result<Figures> {
    let load = Load::new(connections)?;
    let mut figures = Figures::default();

    tokio::time::sleep(Duration::from_millis(500)).await;
    figures.idle_rss_kb = service.status_kb("VmRSS").unwrap_or(0);

    // What one user feels on a quiet service: each message alone, from a user never seen.
    let lone = (duration.as_secs() * 10).clamp(10, 100);
    eprintln!("bench: service, {lone} lone messages one at a time");
    let mut lone_us = Vec::with_capacity(usize::try_from(lone).unwrap_or(0));
    for n in 0..lone {
        if let Some(us) = load.lone_message(&service.webhook_url(), graph, n).await? {
            lone_us.push(us);
        }
    }
    lone_us.sort_unstable();
    figures.lone_messages = lone_us.len() as u64;
    figures.lone_p50_ms = percentile(&lone_us, 50.0);
    figures.lone_p99_ms = percentile(&lone_us, 99.0);

    eprintln!("bench: bare actix-web handler, {connections} connections, {}s", duration.as_secs());
    let bare = bare_handler(pinning).await?;
    let (ok, _) = load.closed_loop(&bare.url(), connections, duration).await;
    figures.bare_per_sec = per_sec(ok, duration);
    drop(bare);

    let sampler = RssSampler::start(service.pid());
    eprintln!("bench: service, closed loop, {connections} connections, {}s", duration.as_secs());
    let sent_before = graph.sends();
    let started = Instant::now();
    let (ok, errors) = load.closed_loop(&service.webhook_url(), connections, duration).await;
    figures.acked_per_sec = per_sec(ok, duration);
    figures.closed_errors = errors;
    figures.e2e_messages = ok;
    eprintln!("bench: waiting for {ok} replies to reach Graph");
    let drain = Duration::from_secs(args.drain_timeout);
    let (arrived, last) = graph.wait_for(sent_before + ok, drain).await;
    let replies = arrived.saturating_sub(sent_before);
    figures.e2e_drained = replies >= ok;
    figures.e2e_per_sec = per_sec(replies, last.unwrap_or_else(Instant::now).duration_since(started));

    eprintln!("bench: service, open loop, {}/s offered, {}s", args.rate, duration.as_secs());
    let sent_before = graph.sends();
    let writer_before = service.metrics(SQLITE_WRITER).await;
    let cpu_before = crate::memory::proc_cpu_ms(service.pid());
    let own_cpu_before = crate::memory::proc_cpu_ms(std::process::id());
    let started = Instant::now();
    let open = load.open_loop(&service.webhook_url(), args.rate, duration).await;
    figures.open_offered = open.offered;
    figures.open_acked = open.acked;
    figures.open_errors = open.errors;
    figures.open_p50_ms = percentile(&open.latencies_us, 50.0);
    figures.open_p99_ms = percentile(&open.latencies_us, 99.0);
    figures.open_max_ms = percentile(&open.latencies_us, 100.0);
    figures.open_late_p99_ms = percentile(&open.late_us, 99.0);
    figures.open_from_start_p99_ms = percentile(&open.from_start_us, 99.0);
    let (arrived, last) = graph.wait_for(sent_before + open.acked, drain).await;
    figures.open_e2e_per_sec =
        per_sec(arrived.saturating_sub(sent_before), last.unwrap_or_else(Instant::now).duration_since(started));
    let replies = arrived.saturating_sub(sent_before);
    figures.open_cpu_us_per_message = cpu_us_per_message(cpu_before, service.pid(), replies);
    figures.open_bench_cpu_us_per_message = cpu_us_per_message(own_cpu_before, std::process::id(), replies);
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let answered = replies.max(1) as f64;
    let writer_after = service.metrics(SQLITE_WRITER).await;
    let [writes, commits, pages] = [0, 1, 2]
        .map(|i| writer_before[i].zip(writer_after[i]).map_or(0.0, |(before, after)| (after - before) / answered));
    figures.open_writes_per_message = writes;
    figures.open_commits_per_message = commits;
    figures.open_wal_pages_per_message = pages;
    if args.sustained > 0 {
        sustained(args, figures.e2e_per_sec, &load, graph, service, &mut figures).await;
    }
    figures.load_rss_kb = sampler.stop();
    figures.hwm_kb = service.status_kb("VmHWM").unwrap_or(0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    figures.idle_after_rss_kb = service.status_kb("VmRSS").unwrap_or(0);
    Ok(figures)
}

/// The bare handler, with the service's CPUs and as many workers as it has when pinned
/// (its workers are the actix threads this process did not have before it started).
async fn bare_handler(pinning: Option<&Pinning>) -> anyhow::Result<BareHandler> {
    let Some(pinning) = pinning else { return BareHandler::start(None) };
    let before = threads_named(ACTIX_WORKER);
    let bare = BareHandler::start(Some(pinning.service.count()))?;
    // actix starts its workers as the server starts; give the threads a moment to exist.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut workers = HashSet::new();
    while workers.len() < pinning.service.count() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        workers = threads_named(ACTIX_WORKER).difference(&before).copied().collect();
    }
    if workers.len() < pinning.service.count() {
        bail!("the bare handler's {} workers did not start", pinning.service.count());
    }
    pinning.pin_to_service(&workers)?;
    Ok(bare)
}

/// How Linux names actix's worker threads (`comm`, cut to 15 bytes).
const ACTIX_WORKER: &str = "actix-server wo";

/// The sustained phase: the service is offered, open loop, the end-to-end rate it reached
/// in the closed loop, for `--sustained` seconds. Every second the backlog (messages
/// offered and not yet answered at Graph) is sampled; the end-to-end rate is the replies
/// over the time from the first request to the last reply.
async fn sustained(
    args: &BenchArgs,
    e2e: f64,
    load: &Load,
    graph: &FakeGraph,
    service: &Service,
    figures: &mut Figures,
) {
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a rate far below 2^53")]
    let rate = (e2e.round() as u64).max(1);
    let duration = Duration::from_secs(args.sustained);
    eprintln!("bench: service, sustained, {rate}/s offered (its end-to-end rate), {}s", duration.as_secs());
    let sent_before = graph.sends();
    let cpu_before = crate::memory::proc_cpu_ms(service.pid());
    let own_cpu_before = crate::memory::proc_cpu_ms(std::process::id());
    let threads_before = crate::memory::threads_cpu_ms(service.pid());
    let started = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let watch = async {
        let mut backlog = Vec::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "counts far below 2^53")]
            let offered = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(rate * duration.as_secs());
            backlog.push(offered.saturating_sub(graph.sends().saturating_sub(sent_before)));
        }
        backlog
    };
    let offer = async {
        let open = load.open_loop(&service.webhook_url(), rate, duration).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        open
    };
    let (open, backlog) = tokio::join!(offer, watch);
    let drain = Duration::from_secs(args.drain_timeout);
    let (arrived, last) = graph.wait_for(sent_before + open.acked, drain).await;
    let answered = arrived.saturating_sub(sent_before);
    figures.sustained_cpu_us_per_message = cpu_us_per_message(cpu_before, service.pid(), answered);
    figures.sustained_bench_cpu_us_per_message = cpu_us_per_message(own_cpu_before, std::process::id(), answered);
    if let Some((before, after)) = threads_before.zip(crate::memory::threads_cpu_ms(service.pid())) {
        figures.sustained_cpu_us_by_thread =
            std::array::from_fn(|kind| us_per_message(after[kind].saturating_sub(before[kind]), answered));
    }
    figures.sustained_offered_per_sec = rate as f64;
    figures.sustained_e2e_per_sec =
        per_sec(arrived.saturating_sub(sent_before), last.unwrap_or_else(Instant::now).duration_since(started));
    let third = backlog.len() / 3;
    figures.sustained_backlog_first_third = backlog.iter().take(third.max(1)).copied().max().unwrap_or(0);
    figures.sustained_backlog_last_third = backlog.iter().rev().take(third.max(1)).copied().max().unwrap_or(0);
    figures.sustained_errors = open.errors;
}

/// The CPU time process `pid` spent since it had spent `before` milliseconds, per message
/// of `answered`, in microseconds; 0 when its time could not be read.
fn cpu_us_per_message(before: Option<u64>, pid: u32, answered: u64) -> f64 {
    let spent = before.zip(crate::memory::proc_cpu_ms(pid)).map(|(before, after)| after.saturating_sub(before));
    spent.map_or(0.0, |ms| us_per_message(ms, answered))
}

/// `ms` milliseconds of CPU spread over `answered` messages, in microseconds a message.
fn us_per_message(ms: u64, answered: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "milliseconds and counts far below 2^52")]
    let us = (ms * 1000) as f64 / answered.max(1) as f64;
    us
}
