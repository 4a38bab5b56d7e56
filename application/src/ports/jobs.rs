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
