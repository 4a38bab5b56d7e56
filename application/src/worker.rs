//! The job runner and the worker pool.
//!
//! Workers lease due jobs, run the use case the job names inside a span carrying the
//! job's stored trace id (so work done later belongs to the same trace), and report the
//! outcome: done, retry later (the shared [`RetryPolicy`] decides when), or dead.
//!
//! Shutdown has two steps: `stop` ends claiming, and running jobs may finish; `abort`
//! (after the grace period) drops running jobs and returns their leases.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use switchboard_shared::retry::RetryDecision;
use switchboard_shared::{RetryPolicy, TraceContext};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::jobs::{JobKind, LeasedJob};
use crate::ports::{Clock, JobQueue, SandboxStatusWebhooks, StoreError};
use crate::usecases::{
    AnnounceHandoff, Attempt, DeliverMessage, DeliverOutcome, ProcessInbound, ProcessOutcome, RecordStatus,
    StatusReport,
};

/// How a job attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    Done,
    /// Not due yet (a rate limit or a hold): again at this time, no attempt counted.
    Defer(time::OffsetDateTime),
    Retry(String),
    Dead(String),
}

/// Runs one leased job to its end.
pub struct JobRunner {
    queue: Arc<dyn JobQueue>,
    process: ProcessInbound,
    deliver: DeliverMessage,
    status: RecordStatus,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Sandbox mode only: posts the status webhooks the sandbox owes (ADR 0017).
    sandbox_statuses: Option<Arc<dyn SandboxStatusWebhooks>>,
    /// Tells operators that a conversation waits for a person.
    announce: Option<AnnounceHandoff>,
    /// Runs Switchboard's own A2A tasks accepted for later.
    a2a: Option<Arc<crate::usecases::a2a_server::HandleA2a>>,
}

impl JobRunner {
    pub fn new(
        queue: Arc<dyn JobQueue>,
        process: ProcessInbound,
        deliver: DeliverMessage,
        status: RecordStatus,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { queue, process, deliver, status, retry, clock, sandbox_statuses: None, announce: None, a2a: None }
    }

    /// Runs Switchboard's own A2A tasks that their callers do not wait on.
    #[must_use]
    pub fn with_a2a_tasks(mut self, handler: Arc<crate::usecases::a2a_server::HandleA2a>) -> Self {
        self.a2a = Some(handler);
        self
    }

    /// Runs the sandbox's status webhooks with `webhooks` (sandbox mode).
    #[must_use]
    pub fn with_sandbox_statuses(mut self, webhooks: Arc<dyn SandboxStatusWebhooks>) -> Self {
        self.sandbox_statuses = Some(webhooks);
        self
    }

    /// Runs the handoff announcements with `announce`.
    #[must_use]
    pub fn with_announcements(mut self, announce: AnnounceHandoff) -> Self {
        self.announce = Some(announce);
        self
    }

    pub async fn run(&self, job: &LeasedJob) -> JobResult {
        let span = tracing::info_span!(
            "job",
            trace_id = %job.trace.trace_id,
            job_id = job.id,
            job = job.kind.name(),
            attempt = job.attempts,
            wamid = tracing::field::Empty,
            otel.name = %format!("job {}", job.kind.name()),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
        );
        if let JobKind::ProcessInbound { wamid } | JobKind::RecordStatus { wamid, .. } = &job.kind {
            span.record("wamid", tracing::field::display(wamid));
        }
        if let JobKind::SandboxStatus(status) = &job.kind {
            span.record("wamid", tracing::field::display(&status.wamid));
        }
        // The stored context names the span that enqueued this job: it becomes this
        // span's parent, and this span the parent of what the job causes.
        let trace = switchboard_shared::otel::continue_trace(&span, &job.trace);
        let Dispatched { result, next, ended } = self.dispatch(job, trace).instrument(span.clone()).await;
        if matches!(result, JobResult::Retry(_) | JobResult::Dead(_)) {
            span.record("otel.status_code", "ERROR");
        }
        let report = async {
            // The use case's last write ended the job already (ADR 0038).
            if !ended {
                self.report(job, &result).await;
            }
        }
        .instrument(span);
        // A job the one just run leased to this worker (a reply's delivery) runs now,
        // without waiting for a claim; if this worker dies, its lease expires as any. It
        // runs beside any write that records how this job ended, which is not on the
        // reply's path (a reply's own write ends the job that planned it: no such write).
        match next {
            Some(next) => {
                futures_util::future::join(report, Box::pin(self.run(&next))).await;
            }
            None => report.await,
        }
        result
    }

    /// Records how the attempt ended: done, deferred, retried later or dead.
    async fn report(&self, job: &LeasedJob, result: &JobResult) {
        let report = match result {
            JobResult::Done => self.queue.complete(job).await,
            JobResult::Defer(run_at) => self.queue.defer(job, *run_at).await,
            JobResult::Retry(error) => match self.retry.decide(job.attempts) {
                RetryDecision::RetryAfter(delay) => {
                    tracing::warn!(%error, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "job failed; retrying");
                    let run_at = self.clock.now() + delay;
                    self.queue.retry(job, run_at, error).await
                }
                RetryDecision::GiveUp => {
                    tracing::error!(%error, "job failed on its last attempt; dead");
                    self.queue.bury(job, error).await
                }
            },
            JobResult::Dead(error) => {
                tracing::error!(%error, "job cannot succeed; dead");
                self.queue.bury(job, error).await
            }
        };
        if let Err(e) = report {
            // The lease will expire and the job run again; its use case is idempotent.
            tracing::error!(error = %e, "could not record the job's outcome");
        }
    }

    /// Runs the job's use case; answers how it ended, a job it leased to this worker, and
    /// whether its last write ended the job.
    async fn dispatch(&self, job: &LeasedJob, trace: TraceContext) -> Dispatched {
        let attempt = Attempt {
            number: job.attempts,
            is_last: job.attempts >= self.retry.max_attempts,
            lease: Some(job.lease()),
        };
        let result = match &job.kind {
            JobKind::ProcessInbound { wamid } => match self.process.execute(wamid, trace, attempt).await {
                Ok(ProcessOutcome::Replied { delivery_job, ended_job, .. }) => {
                    return Dispatched {
                        result: JobResult::Done,
                        next: delivery_job.map(|next| *next),
                        ended: ended_job,
                    };
                }
                Ok(ProcessOutcome::Throttled { until }) => JobResult::Defer(until),
                Ok(_) => JobResult::Done,
                Err(e) if e.is_retriable() => JobResult::Retry(e.to_string()),
                Err(e) => JobResult::Dead(e.to_string()),
            },
            JobKind::DeliverMessage { delivery_id } => match self.deliver.execute(*delivery_id, trace, attempt).await {
                Ok(DeliverOutcome::Sent { ended_job: true, .. }) => {
                    return Dispatched { result: JobResult::Done, next: None, ended: true };
                }
                Ok(DeliverOutcome::Deferred { until }) => JobResult::Defer(until),
                Ok(_) => JobResult::Done,
                Err(e) if e.is_retriable() => JobResult::Retry(e.to_string()),
                Err(e) => JobResult::Dead(e.to_string()),
            },
            JobKind::RecordStatus { wamid, status, error, error_code, callback } => {
                let report = StatusReport {
                    wamid: wamid.clone(),
                    status: status.clone(),
                    error: error.clone(),
                    error_code: *error_code,
                    callback: callback.clone(),
                };
                match self.status.execute(&report, trace).await {
                    Ok(_) => JobResult::Done,
                    Err(e) if e.is_retriable() => JobResult::Retry(e.to_string()),
                    Err(e) => JobResult::Dead(e.to_string()),
                }
            }
            JobKind::SandboxStatus(status) => match &self.sandbox_statuses {
                // Not answered 200: post it again later, as Meta delivers again.
                Some(webhooks) => match webhooks.post(status, &trace).await {
                    Ok(()) => JobResult::Done,
                    Err(e) => JobResult::Retry(e.to_string()),
                },
                // Left by an earlier run; this one posts none (live mode, or
                // SWITCHBOARD_SANDBOX_STATUSES=false).
                None => {
                    tracing::warn!(status = %status.status, "the sandbox's status webhooks are off; this one is not posted");
                    JobResult::Done
                }
            },
            JobKind::AnnounceHandoff { conversation_id, channel } => match &self.announce {
                Some(announce) => match announce.execute(*conversation_id, *channel, trace).await {
                    Ok(_) => JobResult::Done,
                    Err(e) if e.is_retriable() => JobResult::Retry(e.to_string()),
                    Err(e) => JobResult::Dead(e.to_string()),
                },
                None => {
                    tracing::warn!(channel = channel.as_str(), "handoff announcements are off; this one is not sent");
                    JobResult::Done
                }
            },
            JobKind::RunA2aTask { task_id } => match &self.a2a {
                Some(handler) => match handler.run_queued(task_id, trace, attempt).await {
                    Ok(()) => JobResult::Done,
                    Err(e) => JobResult::Retry(e.to_string()),
                },
                // Only a process without the A2A server runs no tasks: leave it to one that has.
                None => JobResult::Retry(String::from("this process does not run A2A tasks")),
            },
            JobKind::PushTaskUpdate { task_id, config_id, event } => match &self.a2a {
                Some(handler) => match handler.push_update(task_id, config_id, event, &trace).await {
                    Ok(()) => JobResult::Done,
                    Err(e @ crate::ports::PushError::Refused(_)) => JobResult::Dead(e.to_string()),
                    Err(e) => JobResult::Retry(e.to_string()),
                },
                None => JobResult::Retry(String::from("this process does not run A2A tasks")),
            },
        };
        Dispatched { result, next: None, ended: false }
    }
}

/// What running a job's use case came to.
struct Dispatched {
    result: JobResult,
    /// A job the use case leased to this worker (a reply's delivery), to run at once.
    next: Option<LeasedJob>,
    /// The use case's last write ended the job (ADR 0038): nothing is left to record.
    ended: bool,
}

/// Jobs one worker runs at once. Each job waits on the database or on the network for
/// most of its time, so a few workers each running several keep the store's group
/// commits full.
pub const JOBS_PER_CLAIM: usize = 16;

/// While jobs wait (the last claim filled every free slot), a worker claims again once
/// this many slots are free, or a poll interval after its last claim: claims from a
/// backlog stay batched (each is a write when memory cannot give the jobs), and a slow
/// job delays the next claim by a poll interval at most.
const REFILL_AT: usize = JOBS_PER_CLAIM / 2;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub count: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// How many workers are running now (readiness reads it).
    pub alive: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a worker as alive for as long as it exists, however its loop ends.
struct Alive(Arc<std::sync::atomic::AtomicUsize>);

impl Alive {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Handles to stop the pool.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Stop claiming; let running jobs finish.
    pub stop: CancellationToken,
    /// Drop running jobs and return their leases.
    pub abort: CancellationToken,
}

/// Starts `settings.count` workers. The returned set ends when every worker has stopped.
pub fn spawn_workers(
    runner: Arc<JobRunner>,
    queue: Arc<dyn JobQueue>,
    settings: WorkerSettings,
    shutdown: Shutdown,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for n in 0..settings.count {
        let runner = Arc::clone(&runner);
        let queue = Arc::clone(&queue);
        let settings = settings.clone();
        let shutdown = shutdown.clone();
        set.spawn(
            async move { worker_loop(runner, queue, settings, shutdown).await }
                // Log lines only: each job is a span of the trace it belongs to.
                .instrument(tracing::info_span!(target: switchboard_shared::otel::LOG_ONLY, "worker", worker = n)),
        );
    }
    set
}

/// Runs one job to its end and answers its id.
async fn run_to_end(runner: Arc<JobRunner>, job: LeasedJob) -> i64 {
    runner.run(&job).await;
    job.id
}

/// One worker: keeps up to [`JOBS_PER_CLAIM`] jobs running, and claims more as they end
/// (batched while jobs wait, see [`REFILL_AT`]), when work is committed here, or when the
/// next job falls due. A slow job (an agent that takes seconds) holds only its own slot,
/// not the worker's next claim; jobs that end together (their writes shared a group
/// commit) free their slots for one claim.
///
/// Every await of the loop is one `select!` that also drives the running jobs: a job
/// suspended inside a store transaction holds a connection and row locks, and a claim (or
/// any other wait) that stopped polling it could wait for it forever (ADR 0036).
async fn worker_loop(runner: Arc<JobRunner>, queue: Arc<dyn JobQueue>, settings: WorkerSettings, shutdown: Shutdown) {
    type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
    type Claim<'a> = Pending<'a, Result<Vec<LeasedJob>, StoreError>>;
    let _alive = Alive::new(&settings.alive);
    let mut running = FuturesUnordered::new();
    // The jobs running now, for their leases to be returned on abort.
    let mut leased: HashMap<i64, LeasedJob> = HashMap::with_capacity(JOBS_PER_CLAIM);
    // Whether to claim as soon as enough slots are free; else wait for news of work.
    let mut claim_now = true;
    // The last claim failed: try again after the poll interval.
    let mut failed = false;
    // The last claim filled every free slot: jobs are waiting (see REFILL_AT).
    let mut backlog = false;
    let mut last_claim = tokio::time::Instant::now();
    let mut seen = 0;
    // The claim under way, and how many jobs it asked for.
    let mut claiming: Option<(Claim<'_>, usize)> = None;
    // The wait for news of work, kept across the loop's turns while jobs end (each new
    // wait reads the store for the next due time).
    let mut waiting: Option<Pending<'_, ()>> = None;
    loop {
        let stopping = shutdown.stop.is_cancelled();
        if stopping && running.is_empty() && claiming.is_none() {
            break;
        }
        let free = JOBS_PER_CLAIM - running.len();
        let batched = !backlog || free >= REFILL_AT || running.is_empty();
        let wanted = claim_now && !stopping && free > 0 && claiming.is_none();
        if wanted && (batched || last_claim.elapsed() >= settings.poll_interval) {
            // Read before the claim: work committed after it wakes the wait below at once.
            seen = queue.work_count();
            last_claim = tokio::time::Instant::now();
            waiting = None;
            claim_now = false;
            claiming = Some((queue.claim(free, settings.lease), free));
            continue;
        }
        let wait_for_work = !claim_now && !failed && !stopping && claiming.is_none();
        if wait_for_work && waiting.is_none() {
            waiting = Some(queue.wait_for_work(seen, settings.poll_interval));
        }
        tokio::select! {
            biased;
            () = shutdown.abort.cancelled() => {
                // Dropping the jobs first ends their transactions, whose locks the
                // releases may need. A finished job's lease is gone already, so
                // returning it again does nothing.
                drop(claiming);
                drop(running);
                for job in leased.values() {
                    tracing::warn!(job_id = job.id, trace_id = %job.trace.trace_id, "shutdown grace ended; returning the job's lease");
                    if let Err(e) = queue.release(job).await {
                        tracing::error!(job_id = job.id, error = %e, "could not return the lease; it expires on its own");
                    }
                }
                break;
            }
            claimed = async { if let Some((claim, _)) = claiming.as_mut() { claim.await } else { std::future::pending().await } }, if claiming.is_some() => {
                let asked = claiming.take().map_or(0, |(_, asked)| asked);
                match claimed {
                    Ok(jobs) => {
                        // Every slot asked for filled: more may be due as soon as slots free up.
                        backlog = jobs.len() == asked;
                        claim_now |= backlog;
                        failed = false;
                        for job in jobs {
                            leased.insert(job.id, job.clone());
                            running.push(run_to_end(Arc::clone(&runner), job));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not claim jobs");
                        (claim_now, failed) = (false, true);
                    }
                }
            }
            Some(id) = running.next(), if !running.is_empty() => {
                leased.remove(&id);
                while let Some(Some(id)) = running.next().now_or_never() {
                    leased.remove(&id);
                }
                // A job's end may make the next job of its ordering key due.
                claim_now = true;
            }
            () = async { if let Some(wait) = waiting.as_mut() { wait.await } }, if wait_for_work => {
                waiting = None;
                claim_now = true;
            }
            () = tokio::time::sleep(settings.poll_interval), if failed && !stopping && claiming.is_none() => {
                (claim_now, failed) = (true, false);
            }
            // A few slots free while jobs wait: claim for them a poll interval after the last claim.
            () = tokio::time::sleep_until(last_claim + settings.poll_interval), if wanted && !batched => {}
            () = shutdown.stop.cancelled(), if !stopping => {}
        }
    }
}

#[cfg(test)]
mod tests;
