use super::*;
use crate::ports::{
    MockAgentGateway, MockChannelSettings, MockClassifier, MockClock, MockDeliveries, MockEmailGateway, MockJobQueue,
    MockMessages, MockSandboxStatusWebhooks, MockSendPacing, MockWhatsAppGateway,
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
            handling: Default::default(),
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
        handling: Default::default(),
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
async fn a_reply_whose_delivery_was_leased_to_this_worker_is_delivered_at_once_and_its_write_ended_the_job() {
    let mut queue = MockJobQueue::new();
    // The reply's write ended job 1 (ADR 0038): no write of its own completes it.
    queue.expect_complete().withf(|job| job.id == 1).never();
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
        .withf(|reply| reply.lease_delivery == Some(Duration::from_secs(30)) && reply.ends == Some(job(1).lease()))
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

/// Waits for every worker of the pool to end; a worker that panicked fails the test.
async fn every_worker_ended(mut workers: JoinSet<()>) {
    while let Some(worker) = workers.join_next().await {
        worker.unwrap();
    }
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
    queue.expect_wait_for_work().withf(|seen, max| *seen == 7 && *max == Duration::from_millis(1)).times(1).returning(
        move |_, _| {
            assert_eq!(alive_now(&running), 1);
            stop.cancel();
        },
    );
    let queue = Arc::new(queue);
    let mut runner_queue = MockJobQueue::new();
    runner_queue.expect_complete().times(1).returning(|_| Ok(()));
    let runner = Arc::new(runner(runner_queue, MockMessages::new(), 5));

    let workers = spawn_workers(runner, queue, settings(&alive), shutdown);
    every_worker_ended(workers).await;

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

    let workers = spawn_workers(
        Arc::new(runner(MockJobQueue::new(), MockMessages::new(), 5)),
        Arc::new(queue),
        settings(&alive),
        shutdown,
    );
    every_worker_ended(workers).await;

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
    // While the job runs, the worker waits for more work; it is told to stop meanwhile.
    let stop = shutdown.stop.clone();
    queue.expect_wait_for_work().times(1).returning(move |_, _| stop.cancel());
    queue.expect_release().withf(|job| job.id == 1).times(1).returning(|_| Err(store_down()));
    let mut runner_queue = MockJobQueue::new();
    runner_queue.expect_complete().never();
    let posting = Arc::new(tokio::sync::Notify::new());
    let runner =
        runner(runner_queue, MockMessages::new(), 5).with_sandbox_statuses(Arc::new(Unanswered(Arc::clone(&posting))));
    let workers = spawn_workers(Arc::new(runner), Arc::new(queue), settings(&alive), shutdown.clone());
    posting.notified().await;

    shutdown.abort.cancel();
    every_worker_ended(workers).await;

    assert_eq!(alive_now(&alive), 0);
}

/// Status webhooks whose first post never answers; every later one is taken at once.
struct FirstNeverAnswered(std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl SandboxStatusWebhooks for FirstNeverAnswered {
    async fn post(
        &self,
        _status: &crate::jobs::SandboxStatus,
        _trace: &TraceContext,
    ) -> Result<(), crate::ports::SendError> {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_job_that_never_ends_holds_only_its_own_slot_and_the_worker_claims_and_runs_later_jobs() {
    let shutdown = Shutdown::default();
    let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut queue = MockJobQueue::new();
    queue.expect_work_count().return_const(0_u64);
    queue
        .expect_claim()
        .withf(|limit, _| *limit == JOBS_PER_CLAIM)
        .times(1)
        .returning(|_, _| Ok(vec![sandbox_status_job()]));
    // More work is committed while the first job hangs.
    queue.expect_wait_for_work().times(1).returning(|_, _| ());
    queue
        .expect_claim()
        .withf(|limit, _| *limit == JOBS_PER_CLAIM - 1)
        .times(1)
        .returning(|_, _| Ok(vec![LeasedJob { id: 2, ..sandbox_status_job() }]));
    let stop = shutdown.stop.clone();
    queue.expect_claim().times(1).returning(move |_, _| {
        stop.cancel();
        Ok(Vec::new())
    });
    queue.expect_release().withf(|job| job.id == 1).times(1).returning(|_| Ok(()));
    let (done, second_done) = tokio::sync::oneshot::channel::<i64>();
    let done = std::sync::Mutex::new(Some(done));
    let mut runner_queue = MockJobQueue::new();
    runner_queue.expect_complete().times(1).returning(move |job| {
        if let Some(done) = done.lock().unwrap().take() {
            done.send(job.id).unwrap();
        }
        Ok(())
    });
    let runner = runner(runner_queue, MockMessages::new(), 5)
        .with_sandbox_statuses(Arc::new(FirstNeverAnswered(std::sync::atomic::AtomicBool::new(false))));
    let workers = spawn_workers(Arc::new(runner), Arc::new(queue), settings(&alive), shutdown.clone());

    let completed = tokio::time::timeout(Duration::from_secs(5), second_done).await;
    shutdown.abort.cancel();
    every_worker_ended(workers).await;

    assert_eq!(completed.expect("the second job ran while the first still hung").unwrap(), 2);
    assert_eq!(alive_now(&alive), 0);
}

/// A queue whose claim takes a lock that a running job may hold, as a PostgreSQL claim
/// waits for the row locks of a job suspended inside its transaction; no news of work
/// ever comes (the worker claims only as jobs end).
struct ClaimsWaitForLocks {
    jobs: MockJobQueue,
    locks: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait::async_trait]
impl JobQueue for ClaimsWaitForLocks {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let _locks = self.locks.lock().await;
        self.jobs.claim(limit, lease).await
    }
    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError> {
        self.jobs.complete(job).await
    }
    async fn retry(&self, job: &LeasedJob, run_at: time::OffsetDateTime, error: &str) -> Result<(), StoreError> {
        self.jobs.retry(job, run_at, error).await
    }
    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError> {
        self.jobs.bury(job, error).await
    }
    async fn defer(&self, job: &LeasedJob, run_at: time::OffsetDateTime) -> Result<(), StoreError> {
        self.jobs.defer(job, run_at).await
    }
    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError> {
        self.jobs.release(job).await
    }
    fn work_count(&self) -> u64 {
        0
    }
    async fn wait_for_work(&self, _seen: u64, _max: Duration) {
        std::future::pending().await
    }
}

/// Status webhooks whose first post holds the lock for a while (a job suspended inside
/// its transaction); every later one is taken at once.
struct FirstHoldsTheLock {
    locks: Arc<tokio::sync::Mutex<()>>,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl SandboxStatusWebhooks for FirstHoldsTheLock {
    async fn post(
        &self,
        _status: &crate::jobs::SandboxStatus,
        _trace: &TraceContext,
    ) -> Result<(), crate::ports::SendError> {
        if !self.first.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let _held = self.locks.lock().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_claim_that_waits_for_a_running_jobs_locks_does_not_stop_that_job_from_ending() {
    let shutdown = Shutdown::default();
    let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let locks = Arc::new(tokio::sync::Mutex::new(()));
    let mut jobs = MockJobQueue::new();
    jobs.expect_claim()
        .times(1)
        .returning(|_, _| Ok(vec![sandbox_status_job(), LeasedJob { id: 2, ..sandbox_status_job() }]));
    // One job ends at once and the worker claims for its slot, while the other still
    // holds the lock that claim needs.
    let stop = shutdown.stop.clone();
    jobs.expect_claim().times(1).returning(move |_, _| {
        stop.cancel();
        Ok(Vec::new())
    });
    let queue = ClaimsWaitForLocks { jobs, locks: Arc::clone(&locks) };
    let mut runner_queue = MockJobQueue::new();
    runner_queue.expect_complete().times(2).returning(|_| Ok(()));
    let runner = runner(runner_queue, MockMessages::new(), 5)
        .with_sandbox_statuses(Arc::new(FirstHoldsTheLock { locks, first: std::sync::atomic::AtomicBool::new(false) }));
    let workers = spawn_workers(Arc::new(runner), Arc::new(queue), settings(&alive), shutdown.clone());

    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        every_worker_ended(workers).await;
    })
    .await;

    assert!(ended.is_ok(), "the worker and its claim waited for each other");
    assert_eq!(alive_now(&alive), 0);
}
