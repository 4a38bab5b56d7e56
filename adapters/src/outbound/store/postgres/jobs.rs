//! The PostgreSQL side of [`JobQueue`]: claims under row and advisory locks (ADR 0007).

use std::time::Duration;

use switchboard_application::jobs::JobLease;
use switchboard_application::ports::JobQueue;

use super::super::handoff::Standing;
use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::records::{END_JOB, lease_until, leased_job, millis as ms, note_lost_lease, unavailable};
use super::*;

/// The first half of the two-part advisory lock keys that guard ordering keys during a
/// claim ("sbjq"); the second half is the key's hash. A hash collision only makes two
/// keys skip each other for the length of one claim.
pub(super) const ORDERING_KEY_LOCKS: i32 = 0x7362_6a71;

/// Whether a handed job ($1) is still leased with our token ($2), and still the earliest
/// waiting job of its ordering key.
const STILL_OURS: &str = "SELECT j.lease_token = $2,
        NOT EXISTS (SELECT 1 FROM jobs o
                    WHERE o.ordering_key = j.ordering_key AND o.id <> j.id AND o.state IN ('queued', 'leased')
                      AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))
 FROM jobs j WHERE j.id = $1 AND j.state = 'leased'";

impl PgStore {
    /// The claim's two statements (see [`JobQueue::claim`] below for what they judge).
    async fn claim_in_database(&self, now: i64, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let lease_until = lease_until(now, lease);
        let token = Uuid::new_v4();
        let mut tx = self.begin().await?;
        let picked: Vec<i64> = sqlx::query_scalar(
            "WITH heads AS (
                 SELECT j.id, j.ordering_key FROM jobs j
                 WHERE ((j.state = 'queued' AND j.run_at <= $1) OR (j.state = 'leased' AND j.lease_until <= $1))
                   AND NOT EXISTS (
                       SELECT 1 FROM jobs o
                       WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                         AND ((o.state = 'leased' AND o.lease_until > $1)
                              OR (o.state IN ('queued', 'leased')
                                  AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id
                 LIMIT $2
                 FOR UPDATE OF j SKIP LOCKED)
             SELECT id FROM heads WHERE pg_try_advisory_xact_lock($3, hashtext(ordering_key))",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(1))
        .bind(ORDERING_KEY_LOCKS)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        if picked.is_empty() {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "UPDATE jobs j SET state = 'leased', lease_token = $1, lease_until = $2, attempts = j.attempts + 1, updated_at = $3
             WHERE j.id = ANY($4)
               AND ((j.state = 'queued' AND j.run_at <= $3) OR (j.state = 'leased' AND j.lease_until <= $3))
               AND NOT EXISTS (
                   SELECT 1 FROM jobs o
                   WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                     AND ((o.state = 'leased' AND o.lease_until > $3)
                          OR (o.state IN ('queued', 'leased')
                              AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
             RETURNING j.id, j.payload, j.trace_context, j.attempts",
        )
        .bind(token.to_string())
        .bind(lease_until)
        .bind(now)
        .bind(&picked)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;

        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get("id");
            let payload: String = row.get("payload");
            let trace: String = row.get("trace_context");
            match leased_job(id, &payload, &trace, row.get("attempts"), token) {
                Ok(job) => jobs.push(job),
                Err(reason) => {
                    sqlx::query("UPDATE jobs SET state = 'dead', last_error = $2, lease_token = NULL, lease_until = NULL WHERE id = $1")
                        .bind(id)
                        .bind(reason)
                        .execute(&self.engine.pool)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(jobs)
    }

    /// Due jobs handed over after their ingest (ADR 0021), each checked with a read to be
    /// still ours and the next of its key; the ones behind an earlier job are given back.
    async fn take_handed(&self, now: i64, limit: usize) -> Result<(Vec<LeasedJob>, bool), StoreError> {
        let pool = &self.engine.pool;
        let taken = self
            .handoff
            .take_checked(now, limit, |id, token| async move {
                let found: Option<(bool, bool)> =
                    sqlx::query_as(STILL_OURS).bind(id).bind(token).fetch_optional(pool).await.map_err(unavailable)?;
                Ok(Standing::of(found))
            })
            .await?;
        for job in &taken.give_back {
            self.release(job).await?;
        }
        Ok((taken.run, !taken.give_back.is_empty()))
    }

    /// Whether the claim's SQL would find anything at `now` (a read, no transaction).
    async fn claimable(&self, now: i64) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= $1)
                 OR EXISTS (SELECT 1 FROM jobs WHERE state = 'leased' AND lease_until <= $1)",
        )
        .bind(now)
        .fetch_one(&self.engine.pool)
        .await
        .map_err(unavailable)
    }
}

#[async_trait]
impl JobQueue for PgStore {
    /// Two statements in one transaction. The first picks due jobs that head their
    /// ordering key, locking each row (`FOR UPDATE SKIP LOCKED`: replicas never wait on
    /// each other's picks) and each key (`pg_try_advisory_xact_lock`: one claimer per key
    /// at a time; a key held elsewhere is skipped). The second leases them, judging
    /// "heads its key" again from a snapshot taken after those locks were held, so it sees
    /// every claim another replica committed for these keys: a job that meanwhile stopped
    /// heading its key (an earlier one arrived and was leased) is left alone.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let now = self.now_ms();
        // Jobs this process ingested come from memory, with a read and no transaction (ADR
        // 0021); the claim's transaction runs only when something else may be claimable.
        let (mut handed, released) = self.take_handed(now, limit).await?;
        if handed.len() >= limit || (!released && !self.claimable(now).await?) {
            return Ok(handed);
        }
        let mut claimed = self.claim_in_database(now, limit - handed.len(), lease).await?;
        handed.append(&mut claimed);
        Ok(handed)
    }

    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError> {
        end_job(&self.engine.pool, job.lease()).await?;
        // A finished job may unblock the next one of its ordering key.
        self.notify_workers();
        Ok(())
    }

    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $3, last_error = $4, lease_token = NULL, lease_until = NULL, updated_at = $5
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(ms(run_at))
        .bind(error)
        .bind(self.now_ms())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = $3, lease_token = NULL, lease_until = NULL, updated_at = $4
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(error)
        .bind(self.now_ms())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        self.notify_workers();
        Ok(())
    }

    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $3, attempts = GREATEST(attempts - 1, 0), lease_token = NULL,
                    lease_until = NULL, updated_at = $4
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(ms(run_at))
        .bind(self.now_ms())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), lease_token = NULL, lease_until = NULL, updated_at = $3
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(job.lease_token.to_string())
        .bind(self.now_ms())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    fn work_count(&self) -> u64 {
        self.wake.count()
    }

    async fn wait_for_work(&self, seen: u64, max: Duration) {
        let now = self.now_ms();
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at > $1")
                .bind(now)
                .fetch_one(&self.engine.pool)
                .await
                .unwrap_or(None);
        // A handed job is leased, not queued: its due time comes from memory.
        self.wake.wait(seen, self.handoff.sleep_for(due, now, max)).await;
    }
}

/// Ends the job under `lease`, in the caller's transaction or on its own (see [`END_JOB`]).
pub(super) async fn end_job(on: impl sqlx::PgExecutor<'_>, lease: JobLease) -> Result<(), StoreError> {
    let ended = sqlx::query(END_JOB)
        .bind(lease.id)
        .bind(lease.token.to_string())
        .execute(on)
        .await
        .map_err(unavailable)?
        .rows_affected();
    note_lost_lease(ended, lease.id);
    Ok(())
}
