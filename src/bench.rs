//! `switchboard bench`: how fast the real service acknowledges signed webhooks and turns
//! them into replies, on this machine, against the limit of a bare actix-web handler.
//!
//! The service runs as a child process (this same binary, `serve`) in live mode with a
//! fresh SQLite database in a temporary directory, rate limits off, and the Graph API
//! pointed at a loopback fake in this process that counts sends. A load generator in this
//! process (reqwest, keep-alive, N connections) sends correctly signed text-message
//! webhooks, each with its own wamid, from many senders. Phases:
//!
//! 1. the bare handler: an actix-web server answering 200 to the same requests (the limit);
//! 2. closed loop: N connections send as fast as the service acknowledges;
//! 3. end to end: time from the first webhook of phase 2 until every reply reached Graph;
//! 4. open loop: a fixed offered rate; latency from each request's *intended* send time,
//!    so a stalled service cannot hide its stalls (no coordinated omission);
//! 5. memory: the child's VmRSS sampled throughout, VmHWM at the end, VmRSS when idle.

use crate::process::ServiceProcess;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, bail};
use switchboard_adapters::inbound::whatsapp::signature;
use tokio::task::JoinSet;

const APP_SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "109876543210987";
const API_VERSION: &str = "v25.0";
/// Distinct senders: enough that per-conversation ordering does not serialise the run.
const SENDERS: u64 = 5_000;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
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
}

/// What one run measured.
#[derive(Debug, Default, Clone)]
struct Figures {
    bare_per_sec: f64,
    acked_per_sec: f64,
    closed_errors: u64,
    e2e_per_sec: f64,
    e2e_drained: bool,
    e2e_messages: u64,
    open_offered: u64,
    open_acked: u64,
    open_errors: u64,
    open_p50_ms: f64,
    open_p99_ms: f64,
    open_max_ms: f64,
    open_late_p99_ms: f64,
    open_from_start_p99_ms: f64,
    open_e2e_per_sec: f64,
    idle_rss_kb: u64,
    idle_after_rss_kb: u64,
    load_rss_kb: u64,
    hwm_kb: u64,
    /// Lone messages (one at a time, each from a new user): webhook sent to reply at Graph.
    lone_messages: u64,
    lone_p50_ms: f64,
    lone_p99_ms: f64,
}

/// The service's reorder window in the bench (its default): a lone message's job falls
/// due this long after its webhook, so its reply cannot leave sooner.
const REORDER_WINDOW_MS: f64 = 300.0;

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !matches!(args.synchronous.as_str(), "full" | "normal") {
        bail!("--synchronous must be full or normal, got {:?}", args.synchronous);
    }
    let duration = Duration::from_secs(args.duration.max(1));
    let connections = args.connections.max(1);

    let rounds = args.rounds.max(1);

    let graph = FakeGraph::start()?;
    let mut measured = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("bench: round {round} of {rounds}");
        }
        let dir = std::env::temp_dir().join(format!("switchboard-bench-{}-{round}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let service = {
            let (dir, uri, args) = (dir.clone(), graph.uri(), args.clone());
            tokio::task::spawn_blocking(move || Service::start(&dir, &uri, &args)).await??
        };
        let result = measure(&args, duration, connections, &graph, &service).await;
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
    print_table(&args, connections, &Figures::median(&measured));
    if rounds > 1 {
        print_spread(&measured);
    }
    Ok(())
}

impl Figures {
    /// Each figure's median over the rounds (of an even count, the mean of the middle two).
    fn median(rounds: &[Self]) -> Self {
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
            idle_rss_kb: n(|r| r.idle_rss_kb),
            idle_after_rss_kb: n(|r| r.idle_after_rss_kb),
            load_rss_kb: n(|r| r.load_rss_kb),
            hwm_kb: n(|r| r.hwm_kb),
            lone_messages: n(|r| r.lone_messages),
            lone_p50_ms: f(|r| r.lone_p50_ms),
            lone_p99_ms: f(|r| r.lone_p99_ms),
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

/// The targeted figures of every round, so that a verdict on the median can be weighed.
fn print_spread(rounds: &[Figures]) {
    let list = |pick: fn(&Figures) -> String| rounds.iter().map(pick).collect::<Vec<_>>().join(", ");
    println!();
    println!("each of {} rounds (the table above shows their medians):", rounds.len());
    println!("  acknowledged/s (closed loop)  {}", list(|r| format!("{:.0}", r.acked_per_sec)));
    println!("  p99 at the offered rate, ms   {}", list(|r| format!("{:.2}", r.open_p99_ms)));
    println!("  generator late p99, ms        {}", list(|r| format!("{:.2}", r.open_late_p99_ms)));
    println!("  end to end messages/s         {}", list(|r| format!("{:.0}", r.e2e_per_sec)));
    println!("  peak RSS (VmHWM), MB          {}", list(|r| format!("{:.1}", kb_to_mb(r.hwm_kb))));
    println!("  lone message p99, ms          {}", list(|r| format!("{:.1}", r.lone_p99_ms)));
}

async fn measure(
    args: &BenchArgs,
    duration: Duration,
    connections: usize,
    graph: &FakeGraph,
    service: &Service,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let load = Load { client, run: uuid::Uuid::now_v7().simple().to_string(), next: Arc::new(AtomicU64::new(0)) };
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
    let bare = BareHandler::start()?;
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
    figures.load_rss_kb = sampler.stop();
    figures.hwm_kb = service.status_kb("VmHWM").unwrap_or(0);

    tokio::time::sleep(Duration::from_secs(2)).await;
    figures.idle_after_rss_kb = service.status_kb("VmRSS").unwrap_or(0);
    Ok(figures)
}

#[expect(clippy::cast_precision_loss, reason = "request counts are far below 2^52")]
fn per_sec(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The value at percentile `p` of latencies in microseconds, in milliseconds.
#[expect(clippy::cast_precision_loss, reason = "latencies in microseconds are far below 2^52")]
#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an index within the slice")]
fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((p / 100.0) * (sorted_us.len() - 1) as f64).round() as usize;
    sorted_us[index.min(sorted_us.len() - 1)] as f64 / 1000.0
}

/// The load generator.
struct Load {
    client: reqwest::Client,
    run: String,
    next: Arc<AtomicU64>,
}

struct OpenLoop {
    offered: u64,
    acked: u64,
    errors: u64,
    /// Sorted, in microseconds from the intended send time.
    latencies_us: Vec<u64>,
    /// Sorted, in microseconds: how late the generator started each request.
    late_us: Vec<u64>,
    /// Sorted, in microseconds from when each request was actually started.
    from_start_us: Vec<u64>,
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl Load {
    /// Posts one webhook from a user never seen before and waits for its reply at Graph:
    /// microseconds from sending the webhook to the reply's arrival (`None` if it did not
    /// arrive within 10 s).
    async fn lone_message(&self, url: &str, graph: &FakeGraph, n: u64) -> anyhow::Result<Option<u64>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = webhook_body(447_800_000_000 + n, &format!("LONE.{}.{n}", self.run), now);
        let signature = signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
        let before = graph.sends();
        let sent_at = graph.now_ns();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while graph.sends() <= before {
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let arrived = graph.state.last_ns.load(Ordering::Relaxed);
        Ok(Some(arrived.saturating_sub(sent_at) / 1_000))
    }

    /// A signed text-message webhook with a wamid never used before.
    fn request(&self) -> (Vec<u8>, String) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = webhook_body(447_700_900_000 + (n % SENDERS), &format!("BENCH.{}.{n}", self.run), now).into_bytes();
        let signature = signature::sign(APP_SECRET.as_bytes(), &body);
        (body, signature)
    }

    async fn send(&self, url: &str) -> bool {
        let (body, signature) = self.request();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => {
                let ok = r.status() == reqwest::StatusCode::OK;
                // Read the body so the connection goes back to the pool.
                let _ = r.bytes().await;
                ok
            }
            Err(_) => false,
        }
    }

    /// `connections` senders, each sending its next request when the last is answered.
    async fn closed_loop(&self, url: &str, connections: usize, duration: Duration) -> (u64, u64) {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + duration;
        let mut senders = JoinSet::new();
        for _ in 0..connections {
            let load = self.clone_handle();
            let url = url.to_owned();
            let ok = Arc::clone(&ok);
            let failed = Arc::clone(&failed);
            senders.spawn(async move {
                while Instant::now() < until {
                    if load.send(&url).await {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        while senders.join_next().await.is_some() {}
        (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    }

    /// Requests at a fixed rate whatever the answers do; each request's latency runs from
    /// when it was due, not from when it happened to be sent.
    ///
    /// The rate is paced by an OS thread: tokio's timer wakes on whole milliseconds, up to
    /// 1 ms late, and that lateness would be charged to the service; `std::thread::sleep`
    /// wakes within tens of microseconds. How late each request started after it was due
    /// is kept too, so the generator's own delay can be told from the service's.
    async fn open_loop(&self, url: &str, rate: u64, duration: Duration) -> OpenLoop {
        let rate = rate.max(1);
        let total = rate.saturating_mul(duration.as_secs().max(1));
        let period = Duration::from_nanos(1_000_000_000 / rate);
        let (ticks, mut due_times) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let start = Instant::now() + Duration::from_millis(20);
        let pacer = std::thread::spawn(move || {
            for i in 0..total {
                let due = start + period * u32::try_from(i).unwrap_or(u32::MAX);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if ticks.send(due).is_err() {
                    break;
                }
            }
        });
        let mut requests = JoinSet::new();
        while let Some(due) = due_times.recv().await {
            let load = self.clone_handle();
            let url = url.to_owned();
            requests.spawn(async move {
                let late = due.elapsed();
                let ok = load.send(&url).await;
                (ok, micros(due.elapsed()), micros(late))
            });
        }
        let _ = pacer.join();
        let mut result = OpenLoop {
            offered: total,
            acked: 0,
            errors: 0,
            latencies_us: Vec::new(),
            late_us: Vec::new(),
            from_start_us: Vec::new(),
        };
        while let Some(done) = requests.join_next().await {
            match done {
                Ok((true, latency, late)) => {
                    result.acked += 1;
                    result.latencies_us.push(latency);
                    result.late_us.push(late);
                    result.from_start_us.push(latency.saturating_sub(late));
                }
                _ => result.errors += 1,
            }
        }
        result.latencies_us.sort_unstable();
        result.late_us.sort_unstable();
        result.from_start_us.sort_unstable();
        result
    }

    fn clone_handle(&self) -> Self {
        Self { client: self.client.clone(), run: self.run.clone(), next: Arc::clone(&self.next) }
    }
}

/// The shape of `text_message` in the WhatsApp fixtures: one text from `from`, with the
/// wamid `wamid.<wamid>`.
fn webhook_body(from: u64, wamid: &str, now: i64) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"210987654321098","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550100200","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Bench User"}},"wa_id":"{from}"}}],"messages":[{{"from":"{from}","id":"wamid.{wamid}","timestamp":"{now}","type":"text","text":{{"body":"hello"}}}}]}}}}]}}]}}"#
    )
}

/// The service under test: this binary's `serve`, as a child process, through the one
/// harness the tests use too ([`crate::process::ServiceProcess`]).
struct Service(ServiceProcess);

impl Service {
    /// Starts it and waits until it is ready (blocking: run it off the async workers).
    fn start(dir: &std::path::Path, graph_uri: &str, args: &BenchArgs) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let mut env: Vec<(String, String)> = [
            ("SWITCHBOARD_MODE", "live".to_owned()),
            ("SWITCHBOARD_DATA_DIR", dir.display().to_string()),
            ("SWITCHBOARD_LOG", "warn".to_owned()),
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
        if let Some(workers) = args.workers {
            env.push(("SWITCHBOARD_WORKERS".to_owned(), workers.to_string()));
        }
        Ok(Self(ServiceProcess::start(exe, env, dir.join("service.log"), Duration::from_secs(30))?))
    }

    fn pid(&self) -> u32 {
        self.0.pid().unwrap_or(0)
    }

    fn webhook_url(&self) -> String {
        format!("{}/webhook/whatsapp", self.0.base_url())
    }

    /// A `kB` field of the child's /proc status (VmRSS, VmHWM).
    fn status_kb(&self, field: &str) -> Option<u64> {
        proc_status_kb(self.pid(), field)
    }
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The largest VmRSS seen while it runs.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
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

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// A Graph API stand-in on loopback that accepts every send and counts it.
struct FakeGraph {
    port: u16,
    state: Arc<GraphCount>,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct GraphCount {
    /// Replies sent (messages), not counting the read receipts on the same endpoint.
    sends: AtomicU64,
    /// Read receipts (`"status": "read"`), which the service sends for every inbound message.
    read_receipts: AtomicU64,
    /// When the last send arrived, as nanoseconds after `epoch`.
    last_ns: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

async fn graph_send(state: web::Data<GraphCount>, body: web::Bytes) -> HttpResponse {
    // The read receipt shares the messages endpoint; it is no reply and must not count
    // as one (counting it once made the end-to-end figures twice too high).
    let receipt = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|b| b.get("status").and_then(serde_json::Value::as_str) == Some("read"));
    if receipt {
        state.read_receipts.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::Ok().content_type("application/json").body(r#"{"success":true}"#);
    }
    let n = state.sends.fetch_add(1, Ordering::Relaxed) + 1;
    let epoch = *state.epoch.get_or_init(Instant::now);
    state.last_ns.fetch_max(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"messaging_product":"whatsapp","messages":[{{"id":"wamid.BENCHSENT.{n}"}}]}}"#))
}

impl FakeGraph {
    fn start() -> anyhow::Result<Self> {
        let state = Arc::new(GraphCount::default());
        let _ = state.epoch.set(Instant::now());
        let data = web::Data::from(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/{version}/{number}/messages", web::post().to(graph_send))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, state, handle })
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn sends(&self) -> u64 {
        self.state.sends.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the fake's epoch, the clock `last_ns` is read on.
    fn now_ns(&self) -> u64 {
        self.state.epoch.get().map_or(0, |epoch| u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Waits until `count` sends arrived (or `within` passed); answers how many arrived
    /// and when the last one did.
    async fn wait_for(&self, count: u64, within: Duration) -> (u64, Option<Instant>) {
        let deadline = Instant::now() + within;
        while self.sends() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let last = self
            .state
            .epoch
            .get()
            .map(|epoch| *epoch + Duration::from_nanos(self.state.last_ns.load(Ordering::Relaxed)));
        (self.sends(), last)
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// The limit: an actix-web handler that reads the body and answers 200.
struct BareHandler {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

async fn bare_ok(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().finish()
}

impl BareHandler {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        // As many workers as the service gets (actix's default: one per core).
        let server = HttpServer::new(|| App::new().route("/webhook/whatsapp", web::post().to(bare_ok)))
            .disable_signals()
            .listen(listener)?
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, handle })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhook/whatsapp", self.port)
    }
}

impl Drop for BareHandler {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb_to_mb(kb))
}

#[expect(clippy::cast_precision_loss, reason = "kilobytes of a process are far below 2^52")]
fn kb_to_mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn print_table(args: &BenchArgs, connections: usize, f: &Figures) {
    let build = if cfg!(debug_assertions) { "DEBUG build (not representative)" } else { "release build" };
    println!();
    let rounds = args.rounds.max(1);
    let of_rounds = if rounds > 1 { format!(", median of {rounds} rounds") } else { String::new() };
    println!(
        "switchboard bench: {build}, SQLite WAL synchronous={}, rate limits off, {connections} connections, {}s phases, {} cores{of_rounds}",
        args.synchronous,
        args.duration.max(1),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
    );
    if let Some(note) = &args.release_note {
        println!("note: {note}");
    }
    println!();
    println!("{:<56} {:>16}  {:<12} verdict", "figure", "value", "target");
    println!("{}", "-".repeat(96));
    let row = |name: &str, value: String, target: &str, verdict: &str| {
        println!("{name:<56} {value:>16}  {target:<12} {verdict}");
    };
    row("bare actix-web handler, same requests (the limit)", format!("{:.0}/s", f.bare_per_sec), "", "");
    row(
        "webhooks acknowledged durably (closed loop)",
        format!("{:.0}/s", f.acked_per_sec),
        ">= 5000/s",
        verdict(f.acked_per_sec >= 5000.0),
    );
    let share = if f.bare_per_sec > 0.0 { 100.0 * f.acked_per_sec / f.bare_per_sec } else { 0.0 };
    row("  as a share of the bare handler", format!("{share:.1} %"), "", "");
    if f.closed_errors > 0 {
        row("  requests not answered 200", f.closed_errors.to_string(), "", "");
    }
    let open = format!("ack latency at {}/s offered (open loop)", args.rate);
    row(&format!("{open}, p50"), format!("{:.2} ms", f.open_p50_ms), "", "");
    row(&format!("{open}, p99"), format!("{:.2} ms", f.open_p99_ms), "< 10 ms", verdict(f.open_p99_ms < 10.0));
    row(&format!("{open}, max"), format!("{:.2} ms", f.open_max_ms), "", "");
    row("  of which the generator started late, p99", format!("{:.2} ms", f.open_late_p99_ms), "", "");
    row("  from when each request was started, p99", format!("{:.2} ms", f.open_from_start_p99_ms), "", "");
    row(
        "  acknowledged / offered (errors)",
        format!("{}/{} ({})", f.open_acked, f.open_offered, f.open_errors),
        "",
        "",
    );
    row(
        "end to end, webhook to Graph send (closed loop)",
        format!("{:.0}/s", f.e2e_per_sec),
        ">= 2000/s",
        verdict(f.e2e_per_sec >= 2000.0),
    );
    if !f.e2e_drained {
        row("  (not every reply arrived within the drain timeout)", String::new(), "", "");
    }
    row(&format!("  of {} messages", f.e2e_messages), String::new(), "", "");
    row("end to end during the open loop", format!("{:.0}/s", f.open_e2e_per_sec), "", "");
    row("peak RSS under load (VmRSS sampled)", mb(f.load_rss_kb), "< 100 MB", verdict(kb_to_mb(f.load_rss_kb) < 100.0));
    row("peak RSS of the run (VmHWM)", mb(f.hwm_kb), "< 100 MB", verdict(kb_to_mb(f.hwm_kb) < 100.0));
    row("idle RSS after start", mb(f.idle_rss_kb), "< 30 MB", verdict(kb_to_mb(f.idle_rss_kb) < 30.0));
    row("idle RSS after the load", mb(f.idle_after_rss_kb), "", "");
    let lone = format!("lone message, webhook to reply at Graph ({} messages)", f.lone_messages);
    row(&format!("{lone}, p50"), format!("{:.1} ms", f.lone_p50_ms), "", "");
    row(
        &format!("{lone}, p99"),
        format!("{:.1} ms", f.lone_p99_ms),
        "< window+15",
        verdict(f.lone_p99_ms < REORDER_WINDOW_MS + 15.0),
    );
    row(
        "  (the reorder window: a lone message's job falls due after it)",
        format!("{REORDER_WINDOW_MS:.0} ms"),
        "",
        "",
    );
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
    fn the_bench_body_parses_as_a_text_message_webhook_with_its_own_wamid() {
        let body = webhook_body(447_700_900_007, "BENCH.run.7", 1_795_600_000);

        let value: serde_json::Value = serde_json::from_str(&body).unwrap();

        let message = &value["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["id"], "wamid.BENCH.run.7");
        assert_eq!(message["text"]["body"], "hello");
        assert_eq!(message["from"], "447700900007");
    }

    #[test]
    fn percentiles_pick_from_the_sorted_latencies() {
        let sorted: Vec<u64> = (1..=100).map(|n| n * 1000).collect();

        assert!((percentile(&sorted, 50.0) - 51.0).abs() < 1e-9 || (percentile(&sorted, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&sorted, 100.0) - 100.0).abs() < 1e-9);
        assert!((percentile(&[], 99.0)).abs() < 1e-9);
    }
}
