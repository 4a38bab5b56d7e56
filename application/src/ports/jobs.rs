//! The durable job queue, and the limits that pace senders and sends.

use super::*;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Leases up to `limit` due jobs for `lease`. A job whose lease expired is due
    /// again. Of the jobs sharing an ordering key, only the earliest is leased, and
    /// none while another of them is leased.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`] for a payload that
    /// does not parse (that job is buried, the others are returned on the next call).
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError>;

    /// The job succeeded; it is removed. A lost lease (the job was leased again
    /// elsewhere) is not an error: the other holder finishes it.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError>;

    /// The job succeeded; it is removed with a later commit, perhaps after this returns
    /// (on SQLite it rides in the next commit another write starts, or in its own a few
    /// milliseconds later, ADR 0037). Until then the job stays leased to the caller; should
    /// the removal be lost (a crash, a failed commit, logged), the lease expires and the
    /// job runs again. So only a job whose use case answers a second run as done may end
    /// this way, which every job of [`crate::jobs::JobKind`] does. Stores without a
    /// cheaper way complete it at once.
    async fn complete_soon(&self, job: &LeasedJob) {
        if let Err(e) = self.complete(job).await {
            // The lease will expire and the job run again; its use case is idempotent.
            tracing::error!(job_id = job.id, error = %e, "could not record the job's outcome");
        }
    }

    /// The attempt failed; run again at `run_at`.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError>;

    /// The job will not succeed: it stays, dead, with its last error, for operators.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError>;

    /// Puts the job back until `run_at` without counting the attempt (a rate limit or
    /// a hold: waiting is not failing).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError>;

    /// Gives the lease back without counting the attempt (shutdown).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError>;

    /// A count that moves each time this process commits work for the queue. Read it
    /// before [`JobQueue::claim`] and pass it to [`JobQueue::wait_for_work`].
    fn work_count(&self) -> u64;

    /// Waits until a job may be due: work was committed here since `seen` was read (then
    /// at once), the earliest queued job falls due, or `max` passed (jobs enqueued by
    /// other replicas are found by this poll).
    async fn wait_for_work(&self, seen: u64, max: Duration);
}
