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

use futures_util::future::join_all;
use switchboard_shared::retry::RetryDecision;
use switchboard_shared::{RetryPolicy, TraceContext};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::jobs::{JobKind, LeasedJob};
use crate::ports::{Clock, JobQueue, SandboxStatusWebhooks};
use crate::usecases::{
    Attempt, DeliverMessage, DeliverOutcome, ProcessInbound, ProcessOutcome, RecordStatus, StatusReport,
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
        Self { queue, process, deliver, status, retry, clock, sandbox_statuses: None }
    }

    /// Runs the sandbox's status webhooks with `webhooks` (sandbox mode).
    #[must_use]
    pub fn with_sandbox_statuses(mut self, webhooks: Arc<dyn SandboxStatusWebhooks>) -> Self {
        self.sandbox_statuses = Some(webhooks);
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
        let (result, next) = async {
            let (result, next) = self.dispatch(job, trace).await;
            if matches!(result, JobResult::Retry(_) | JobResult::Dead(_)) {
                tracing::Span::current().record("otel.status_code", "ERROR");
            }
            let report = match &result {
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
            (result, next)
        }
        .instrument(span)
        .await;
        // A job the one just run leased to this worker (a reply's delivery) runs now,
        // without waiting for a claim; if this worker dies, its lease expires as any.
        if let Some(next) = next {
            Box::pin(self.run(&next)).await;
        }
        result
    }

    /// Runs the job's use case; answers how it ended and a job it leased to this worker.
    async fn dispatch(&self, job: &LeasedJob, trace: TraceContext) -> (JobResult, Option<LeasedJob>) {
        let attempt = Attempt { number: job.attempts, is_last: job.attempts >= self.retry.max_attempts };
        let result = match &job.kind {
            JobKind::ProcessInbound { wamid } => match self.process.execute(wamid, trace, attempt).await {
                Ok(ProcessOutcome::Replied { delivery_job: Some(next), .. }) => return (JobResult::Done, Some(*next)),
                Ok(ProcessOutcome::Throttled { until }) => JobResult::Defer(until),
                Ok(_) => JobResult::Done,
                Err(e) if e.is_retriable() => JobResult::Retry(e.to_string()),
                Err(e) => JobResult::Dead(e.to_string()),
            },
            JobKind::DeliverMessage { delivery_id } => match self.deliver.execute(*delivery_id, trace, attempt).await {
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
        };
        (result, None)
    }
}

/// Jobs one worker leases and runs at once. Each job waits on the database for most of its
/// time, so a few workers each running several keep the store's group commits full.
pub const JOBS_PER_CLAIM: usize = 16;

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

async fn worker_loop(runner: Arc<JobRunner>, queue: Arc<dyn JobQueue>, settings: WorkerSettings, shutdown: Shutdown) {
    let _alive = Alive::new(&settings.alive);
    while !shutdown.stop.is_cancelled() {
        // Read before the claim: work committed after it wakes the wait below at once.
        let seen = queue.work_count();
        let jobs = match queue.claim(JOBS_PER_CLAIM, settings.lease).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "could not claim jobs");
                tokio::select! {
                    () = shutdown.stop.cancelled() => break,
                    () = tokio::time::sleep(settings.poll_interval) => continue,
                }
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                () = shutdown.stop.cancelled() => break,
                () = queue.wait_for_work(seen, settings.poll_interval) => continue,
            }
        }
        // The jobs of one claim belong to different ordering keys (the claim never leases two
        // of one key), so they may run at once; their writes then share group commits.
        tokio::select! {
            _ = join_all(jobs.iter().map(|job| runner.run(job))) => {}
            () = shutdown.abort.cancelled() => {
                // A finished job's lease is gone already, so returning it again does nothing.
                for job in &jobs {
                    tracing::warn!(job_id = job.id, trace_id = %job.trace.trace_id, "shutdown grace ended; returning the job's lease");
                    if let Err(e) = queue.release(job).await {
                        tracing::error!(job_id = job.id, error = %e, "could not return the lease; it expires on its own");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockAgentGateway, MockChannelSettings, MockClassifier, MockClock, MockDeliveries, MockEmailGateway,
        MockJobQueue, MockMessages, MockSandboxStatusWebhooks, MockSendPacing, MockWhatsAppGateway,
    };
    use crate::usecases::DeliveryPolicy;
    use crate::usecases::OutsideWindow;
    use switchboard_domain::{AgentName, RoutingPolicy, Wamid};
    use switchboard_shared::TraceContext;
    use time::macros::datetime;
    use uuid::Uuid;

    /// The runner's ports; each test sets the expectations its job meets.
    struct Ports {
        queue: MockJobQueue,
        messages: MockMessages,
        deliveries: MockDeliveries,
        classifier: MockClassifier,
        agents: MockAgentGateway,
    }

    impl Ports {
        fn new(queue: MockJobQueue) -> Self {
            Self {
                queue,
                messages: MockMessages::new(),
                deliveries: MockDeliveries::new(),
                classifier: MockClassifier::new(),
                agents: MockAgentGateway::new(),
            }
        }

        fn build(self, max_attempts: u32) -> JobRunner {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
            let clock: Arc<dyn Clock> = Arc::new(clock);
            let mut whatsapp = MockWhatsAppGateway::new();
            whatsapp.expect_mark_read().returning(|_, _, _| Ok(()));
            let whatsapp = Arc::new(whatsapp);
            let deliveries = Arc::new(self.deliveries);
            JobRunner::new(
                Arc::new(self.queue),
                ProcessInbound::new(
                    Arc::new(self.messages),
                    Arc::new(self.classifier),
                    Arc::new(self.agents),
                    whatsapp.clone(),
                    clock.clone(),
                    RoutingPolicy::new(AgentName::new("fallback"), 0.5),
                ),
                DeliverMessage::new(
                    deliveries.clone(),
                    whatsapp,
                    Arc::new(MockEmailGateway::new()),
                    Arc::new(MockSendPacing::new()),
                    Arc::new(MockChannelSettings::new()),
                    clock.clone(),
                    DeliveryPolicy {
                        reengagement_template: None,
                        outside_window: OutsideWindow::Email,
                        uncertain_grace: Duration::from_secs(30),
                        hold: RetryPolicy::default(),
                    },
                ),
                RecordStatus::new(deliveries, clock.clone(), false),
                RetryPolicy { base: Duration::from_secs(1), max_delay: Duration::from_secs(10), max_attempts },
                clock,
            )
        }
    }

    fn runner(queue: MockJobQueue, messages: MockMessages, max_attempts: u32) -> JobRunner {
        Ports { messages, ..Ports::new(queue) }.build(max_attempts)
    }

    fn job(attempts: u32) -> LeasedJob {
        LeasedJob {
            id: 1,
            kind: JobKind::ProcessInbound { wamid: Wamid::parse("wamid.A").unwrap() },
            trace: TraceContext::new_root(),
            attempts,
            lease_token: Uuid::nil(),
        }
    }

    fn store_down() -> crate::ports::StoreError {
        crate::ports::StoreError::Unavailable(anyhow::anyhow!("disk I/O error"))
    }

    #[tokio::test]
    async fn a_retriable_failure_is_scheduled_again_with_backoff() {
        let mut queue = MockJobQueue::new();
        queue
            .expect_retry()
            .withf(|_, run_at, error| {
                *run_at >= datetime!(2026-11-22 10:00:00.5 UTC)
                    && *run_at <= datetime!(2026-11-22 10:00:01 UTC)
                    && error.contains("disk I/O")
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut messages = MockMessages::new();
        messages.expect_inbound().returning(|_| Err(store_down()));

        let result = runner(queue, messages, 5).run(&job(1)).await;

        assert!(matches!(result, JobResult::Retry(_)));
    }

    #[tokio::test]
    async fn a_message_held_by_the_sender_limit_is_deferred_without_spending_an_attempt() {
        let mut queue = MockJobQueue::new();
        queue
            .expect_defer()
            .withf(|job, run_at| job.id == 1 && *run_at == datetime!(2026-11-22 10:00:03 UTC))
            .times(1)
            .returning(|_, _| Ok(()));
        queue.expect_retry().never();
        let mut messages = MockMessages::new();
        messages.expect_inbound().returning(|_| {
            Ok(Some(crate::ports::InboundRecord {
                message: switchboard_domain::InboundMessage {
                    wamid: Wamid::parse("wamid.A").unwrap(),
                    from: switchboard_domain::WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
                    profile_name: None,
                    business_number_id: "1".into(),
                    sent_at: datetime!(2026-11-22 09:59 UTC),
                    content: switchboard_domain::InboundContent::Text { body: "hi".into() },
                    context: None,
                    errors: vec![],
                },
                conversation_id: Uuid::nil(),
                processed: false,
                throttled: false,
                open_task: None,
            }))
        });
        messages.expect_mark_throttled().returning(|_, _| Ok(1));
        let mut limit = crate::ports::MockSenderLimit::new();
        limit.expect_admit().returning(|_| Some(Duration::from_secs(3)));
        let mut runner = runner(queue, messages, 5);
        runner.process = runner.process.with_sender_limit(Arc::new(limit));

        let result = runner.run(&job(1)).await;

        assert_eq!(result, JobResult::Defer(datetime!(2026-11-22 10:00:03 UTC)));
    }

    #[tokio::test]
    async fn a_job_that_fails_its_last_attempt_is_dead_with_its_error() {
        let mut queue = MockJobQueue::new();
        queue.expect_bury().withf(|_, error| error.contains("disk I/O")).times(1).returning(|_, _| Ok(()));
        let mut messages = MockMessages::new();
        messages.expect_inbound().returning(|_| Err(store_down()));

        runner(queue, messages, 3).run(&job(3)).await;
    }

    fn sandbox_status_job() -> LeasedJob {
        LeasedJob {
            kind: JobKind::SandboxStatus(Box::new(crate::jobs::SandboxStatus {
                wamid: Wamid::parse("wamid.SANDBOX.1").unwrap(),
                status: String::from("delivered"),
                from_number_id: String::from("100"),
                recipient_phone: Some(String::from("447700900123")),
                recipient_user_id: None,
                callback: Some(Uuid::nil().to_string()),
            })),
            ..job(1)
        }
    }

    #[tokio::test]
    async fn a_sandbox_status_is_posted_and_its_job_done() {
        let mut queue = MockJobQueue::new();
        queue.expect_complete().times(1).returning(|_| Ok(()));
        let mut webhooks = MockSandboxStatusWebhooks::new();
        webhooks.expect_post().withf(|s, _| s.status == "delivered").times(1).returning(|_, _| Ok(()));

        let result = runner(queue, MockMessages::new(), 5)
            .with_sandbox_statuses(Arc::new(webhooks))
            .run(&sandbox_status_job())
            .await;

        assert_eq!(result, JobResult::Done);
    }

    #[tokio::test]
    async fn a_sandbox_status_the_webhook_did_not_take_is_posted_again_later() {
        let mut queue = MockJobQueue::new();
        queue.expect_retry().times(1).returning(|_, _, _| Ok(()));
        let mut webhooks = MockSandboxStatusWebhooks::new();
        webhooks.expect_post().returning(|_, _| Err(crate::ports::SendError::Network("answered 503".into())));

        let result = runner(queue, MockMessages::new(), 5)
            .with_sandbox_statuses(Arc::new(webhooks))
            .run(&sandbox_status_job())
            .await;

        assert!(matches!(result, JobResult::Retry(e) if e.contains("503")));
    }

    #[tokio::test]
    async fn a_permanent_failure_is_dead_at_once() {
        let mut queue = MockJobQueue::new();
        queue.expect_bury().withf(|_, error| error.contains("no inbound message")).times(1).returning(|_, _| Ok(()));
        let mut messages = MockMessages::new();
        messages.expect_inbound().returning(|_| Ok(None));

        let result = runner(queue, messages, 5).run(&job(1)).await;

        assert!(matches!(result, JobResult::Dead(_)));
    }

    fn unprocessed() -> crate::ports::InboundRecord {
        crate::ports::InboundRecord {
            message: switchboard_domain::InboundMessage {
                wamid: Wamid::parse("wamid.A").unwrap(),
                from: switchboard_domain::WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
                profile_name: None,
                business_number_id: "1".into(),
                sent_at: datetime!(2026-11-22 09:59 UTC),
                content: switchboard_domain::InboundContent::Text { body: "hi".into() },
                context: None,
                errors: vec![],
            },
            conversation_id: Uuid::nil(),
            processed: false,
            throttled: false,
            open_task: None,
        }
    }

    fn delivery_job(id: i64) -> LeasedJob {
        LeasedJob { id, kind: JobKind::DeliverMessage { delivery_id: Uuid::nil() }, ..job(1) }
    }

    fn status_job() -> LeasedJob {
        LeasedJob {
            kind: JobKind::RecordStatus {
                wamid: Wamid::parse("wamid.OUT").unwrap(),
                status: String::from("delivered"),
                error: None,
                error_code: None,
                callback: None,
            },
            ..job(1)
        }
    }

    #[tokio::test]
    async fn a_reply_whose_delivery_was_leased_to_this_worker_is_delivered_at_once() {
        let mut queue = MockJobQueue::new();
        queue.expect_complete().withf(|job| job.id == 1).times(1).returning(|_| Ok(()));
        queue.expect_complete().withf(|job| job.id == 2).times(1).returning(|_| Ok(()));
        let mut ports = Ports::new(queue);
        ports.messages.expect_inbound().returning(|_| Ok(Some(unprocessed())));
        ports
            .classifier
            .expect_classify()
            .returning(|_, _| Ok(switchboard_domain::Classification::new(switchboard_domain::Intent::Unknown, 0.0)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(switchboard_domain::AgentReply::text("Hello")));
        ports
            .messages
            .expect_record_reply()
            .withf(|reply| reply.lease_delivery == Some(Duration::from_secs(30)))
            .times(1)
            .returning(|_| Ok(crate::ports::ReplyRecorded::Recorded(Some(delivery_job(2)))));
        ports
            .deliveries
            .expect_get()
            .times(1)
            .returning(|_| Ok(Some(crate::usecases::fixtures::delivery(switchboard_domain::DeliveryState::Sent))));
        let mut runner = ports.build(5);
        runner.process = runner.process.with_delivery_lease(Duration::from_secs(30));

        let result = runner.run(&job(1)).await;

        assert_eq!(result, JobResult::Done);
    }

    #[tokio::test]
    async fn a_delivery_job_whose_delivery_is_gone_is_dead() {
        let mut queue = MockJobQueue::new();
        queue.expect_bury().withf(|_, error| error.contains("no delivery")).times(1).returning(|_, _| Ok(()));
        let mut ports = Ports::new(queue);
        ports.deliveries.expect_get().returning(|_| Ok(None));

        let result = ports.build(5).run(&delivery_job(1)).await;

        assert!(matches!(result, JobResult::Dead(_)));
    }

    #[tokio::test]
    async fn a_delivery_job_that_cannot_read_the_store_is_retried() {
        let mut queue = MockJobQueue::new();
        queue.expect_retry().times(1).returning(|_, _, _| Ok(()));
        let mut ports = Ports::new(queue);
        ports.deliveries.expect_get().returning(|_| Err(store_down()));

        let result = ports.build(5).run(&delivery_job(1)).await;

        assert!(matches!(result, JobResult::Retry(e) if e.contains("disk I/O")));
    }

    #[tokio::test]
    async fn a_delivery_that_waits_for_proof_of_an_uncertain_send_is_deferred() {
        let mut queue = MockJobQueue::new();
        queue
            .expect_defer()
            .withf(|_, run_at| *run_at == datetime!(2026-11-22 10:00:20 UTC))
            .times(1)
            .returning(|_, _| Ok(()));
        let mut ports = Ports::new(queue);
        ports.deliveries.expect_get().returning(|_| {
            Ok(Some(crate::ports::Delivery {
                uncertain_since: Some(datetime!(2026-11-22 09:59:50 UTC)),
                ..crate::usecases::fixtures::delivery(switchboard_domain::DeliveryState::Pending)
            }))
        });

        let result = ports.build(5).run(&delivery_job(1)).await;

        assert_eq!(result, JobResult::Defer(datetime!(2026-11-22 10:00:20 UTC)));
    }

    #[tokio::test]
    async fn a_status_for_a_message_we_did_not_send_is_done() {
        let mut queue = MockJobQueue::new();
        queue.expect_complete().times(1).returning(|_| Ok(()));
        let mut ports = Ports::new(queue);
        ports.deliveries.expect_find_by_provider_id().returning(|_| Ok(None));

        assert_eq!(ports.build(5).run(&status_job()).await, JobResult::Done);
    }

    #[tokio::test]
    async fn a_status_job_is_retried_while_the_store_is_down_and_dead_when_its_data_is_corrupt() {
        let mut queue = MockJobQueue::new();
        queue.expect_retry().times(1).returning(|_, _, _| Ok(()));
        let mut ports = Ports::new(queue);
        ports.deliveries.expect_find_by_provider_id().returning(|_| Err(store_down()));
        let down = ports.build(5).run(&status_job()).await;

        let mut queue = MockJobQueue::new();
        queue.expect_bury().withf(|_, error| error.contains("corrupt")).times(1).returning(|_, _| Ok(()));
        let mut ports = Ports::new(queue);
        ports
            .deliveries
            .expect_find_by_provider_id()
            .returning(|_| Err(crate::ports::StoreError::Corrupt(String::from("bad route"))));
        let corrupt = ports.build(5).run(&status_job()).await;

        assert!(matches!(down, JobResult::Retry(_)));
        assert!(matches!(corrupt, JobResult::Dead(_)));
    }

    #[tokio::test]
    async fn a_sandbox_status_left_by_an_earlier_run_is_done_without_being_posted() {
        let mut queue = MockJobQueue::new();
        queue.expect_complete().times(1).returning(|_| Ok(()));

        let result = runner(queue, MockMessages::new(), 5).run(&sandbox_status_job()).await;

        assert_eq!(result, JobResult::Done);
    }

    #[tokio::test]
    async fn an_outcome_the_queue_cannot_record_leaves_the_job_to_its_lease() {
        let mut queue = MockJobQueue::new();
        queue.expect_complete().times(1).returning(|_| Err(store_down()));

        let result = runner(queue, MockMessages::new(), 5).run(&sandbox_status_job()).await;

        assert_eq!(result, JobResult::Done);
    }

    // ------------------------------------------------------------ the worker pool

    fn settings(alive: &Arc<std::sync::atomic::AtomicUsize>) -> WorkerSettings {
        WorkerSettings {
            count: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(1),
            alive: Arc::clone(alive),
        }
    }

    fn alive_now(alive: &Arc<std::sync::atomic::AtomicUsize>) -> usize {
        alive.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_worker_runs_the_jobs_it_claims_and_stops_when_asked() {
        let shutdown = Shutdown::default();
        let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut queue = MockJobQueue::new();
        queue.expect_work_count().return_const(7_u64);
        queue
            .expect_claim()
            .withf(|limit, lease| *limit == JOBS_PER_CLAIM && *lease == Duration::from_secs(60))
            .times(1)
            .returning(|_, _| Ok(vec![sandbox_status_job()]));
        // The job done, the queue is empty: the worker waits for work, and is stopped.
        queue.expect_claim().times(1).returning(|_, _| Ok(Vec::new()));
        let (stop, running) = (shutdown.stop.clone(), Arc::clone(&alive));
        queue
            .expect_wait_for_work()
            .withf(|seen, max| *seen == 7 && *max == Duration::from_millis(1))
            .times(1)
            .returning(move |_, _| {
                assert_eq!(alive_now(&running), 1);
                stop.cancel();
            });
        let queue = Arc::new(queue);
        let mut runner_queue = MockJobQueue::new();
        runner_queue.expect_complete().times(1).returning(|_| Ok(()));
        let runner = Arc::new(runner(runner_queue, MockMessages::new(), 5));

        let mut workers = spawn_workers(runner, queue, settings(&alive), shutdown);
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }

        assert_eq!(alive_now(&alive), 0);
    }

    #[tokio::test]
    async fn a_claim_that_fails_is_tried_again_after_the_poll_interval() {
        let shutdown = Shutdown::default();
        let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut queue = MockJobQueue::new();
        queue.expect_work_count().return_const(0_u64);
        queue.expect_claim().times(1).returning(|_, _| Err(store_down()));
        let stop = shutdown.stop.clone();
        queue.expect_claim().times(1).returning(move |_, _| {
            stop.cancel();
            Ok(Vec::new())
        });
        queue.expect_wait_for_work().returning(|_, _| ());

        let mut workers = spawn_workers(
            Arc::new(runner(MockJobQueue::new(), MockMessages::new(), 5)),
            Arc::new(queue),
            settings(&alive),
            shutdown,
        );
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }

        assert_eq!(alive_now(&alive), 0);
    }

    /// Status webhooks that never answer, so a job stays running until the pool is aborted.
    struct Unanswered(Arc<tokio::sync::Notify>);

    #[async_trait::async_trait]
    impl SandboxStatusWebhooks for Unanswered {
        async fn post(
            &self,
            _status: &crate::jobs::SandboxStatus,
            _trace: &TraceContext,
        ) -> Result<(), crate::ports::SendError> {
            self.0.notify_one();
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn aborting_the_pool_returns_the_leases_of_the_jobs_still_running() {
        let shutdown = Shutdown::default();
        let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut queue = MockJobQueue::new();
        queue.expect_work_count().return_const(0_u64);
        queue.expect_claim().times(1).returning(|_, _| Ok(vec![sandbox_status_job()]));
        queue.expect_release().withf(|job| job.id == 1).times(1).returning(|_| Err(store_down()));
        let mut runner_queue = MockJobQueue::new();
        runner_queue.expect_complete().never();
        let posting = Arc::new(tokio::sync::Notify::new());
        let runner = runner(runner_queue, MockMessages::new(), 5)
            .with_sandbox_statuses(Arc::new(Unanswered(Arc::clone(&posting))));
        let mut workers = spawn_workers(Arc::new(runner), Arc::new(queue), settings(&alive), shutdown.clone());
        posting.notified().await;

        shutdown.stop.cancel();
        shutdown.abort.cancel();
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }

        assert_eq!(alive_now(&alive), 0);
    }
}
