//! The SQLite side of [`JobQueue`]: claims and lease changes through the writer; the wait
//! for work reads the next due time in place.

use std::time::Duration;

use switchboard_application::jobs::{JobLease, LeasedJob};
use switchboard_application::ports::JobQueue;

use super::super::handoff::Standing;
use async_trait::async_trait;
use rusqlite::{OptionalExtension as _, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::records::{END_JOB, lease_until, leased_job, millis as ms, note_lost_lease};
use super::writer::failed;
use super::*;

/// Leases up to ?4 due jobs, each the head of its ordering key (?1 lease token, ?2 lease
/// until, ?3 now). Due queued jobs and expired leases are looked up apart: each walks
/// `jobs_due` in (run_at, id) order and stops at the limit. One `OR` over both made SQLite
/// collect and sort every due job on each claim, which grew with the backlog, inside the
/// single writer that webhooks wait on.
///
/// The limit is written `CAST(?4 AS INTEGER)`, not `?4`: SQLite (3.51, bundled) reads a
/// bare parameter in a LIMIT while it plans, and then compiles the statement again
/// whenever that parameter is bound, so each claim paid a full compilation of this
/// statement on the writer thread.
pub(super) const CLAIM: &str =
    "UPDATE jobs SET state = 'leased', lease_token = ?1, lease_until = ?2, attempts = attempts + 1, updated_at = ?3
     WHERE id IN (
         SELECT id FROM (
             SELECT * FROM (
                 SELECT j.id, j.run_at FROM jobs j
                 WHERE j.state = 'queued' AND j.run_at <= ?3 AND NOT EXISTS (
                     SELECT 1 FROM jobs o
                     WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                       AND ((o.state = 'leased' AND o.lease_until > ?3)
                            OR (o.state IN ('queued', 'leased')
                                AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id LIMIT CAST(?4 AS INTEGER))
             UNION ALL
             SELECT * FROM (
                 SELECT j.id, j.run_at FROM jobs j
                 WHERE j.state = 'leased' AND j.lease_until <= ?3 AND NOT EXISTS (
                     SELECT 1 FROM jobs o
                     WHERE o.ordering_key = j.ordering_key AND o.id <> j.id
                       AND ((o.state = 'leased' AND o.lease_until > ?3)
                            OR (o.state IN ('queued', 'leased')
                                AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))))
                 ORDER BY j.run_at, j.id LIMIT CAST(?4 AS INTEGER)))
         ORDER BY run_at, id
         LIMIT CAST(?4 AS INTEGER))
     RETURNING id, payload, trace_context, attempts";

/// Whether the claim's SQL would find anything at ?1: a due queued job (through
/// `jobs_due`) or an expired lease (through `jobs_lease_expiry`: every handed job is
/// leased, so a scan of the leased jobs grew with the backlog; migration 0020).
pub(super) const CLAIMABLE: &str = "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= ?1)
     OR EXISTS (SELECT 1 FROM jobs WHERE state = 'leased' AND lease_until <= ?1)";

/// Whether a handed job (?1) is still leased with our token (?2), and still the earliest
/// waiting job of its ordering key.
const STILL_OURS: &str = "SELECT j.lease_token = ?2,
        NOT EXISTS (SELECT 1 FROM jobs o
                    WHERE o.ordering_key = j.ordering_key AND o.id <> j.id AND o.state IN ('queued', 'leased')
                      AND (o.order_at < j.order_at OR (o.order_at = j.order_at AND o.id < j.id)))
 FROM jobs j WHERE j.id = ?1 AND j.state = 'leased'";

impl SqliteStore {
    /// Due jobs handed over after their ingest, each checked in place to be still ours
    /// and the next of its ordering key. One that is no longer the next (a late delivery
    /// of an earlier message came inside the reorder window) has its lease returned, so
    /// the claim runs them in order; one that is no longer ours is left to its holder. A
    /// job lost here (a failed read) is claimed again when its lease ends.
    async fn take_handed(&self, now: i64, limit: usize) -> Result<(Vec<LeasedJob>, bool), StoreError> {
        let readers = &self.engine.readers;
        let taken = self
            .handoff
            .take_checked(now, limit, |id, token| async move {
                let found: Option<(bool, bool)> = readers.read(|conn| {
                    conn.prepare_cached(STILL_OURS)
                        .and_then(|mut check| {
                            check.query_row(params![id, token], |row| Ok((row.get(0)?, row.get(1)?))).optional()
                        })
                        .map_err(failed)
                })?;
                Ok(Standing::of(found))
            })
            .await?;
        for job in &taken.give_back {
            self.release(job).await?;
        }
        Ok((taken.run, !taken.give_back.is_empty()))
    }

    /// Whether the claim's SQL would find anything at `now`: a due queued job or an
    /// expired lease (a point read in place, no write).
    fn claimable(&self, now: i64) -> Result<bool, StoreError> {
        self.engine.readers.read(|conn| {
            conn.prepare_cached(CLAIMABLE)
                .and_then(|mut find| find.query_row([now], |row| row.get::<_, bool>(0)))
                .map_err(failed)
        })
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<LeasedJob>, StoreError> {
        let now = self.now_ms();
        // Jobs this process ingested come from memory, without a write (ADR 0021); the
        // claim's SQL (a write) runs only for what memory cannot give: when a handed job
        // had to wait for an earlier one, or a queued job is due or a lease expired.
        let (mut jobs, released) = self.take_handed(now, limit).await?;
        if jobs.len() >= limit || (!released && !self.claimable(now)?) {
            return Ok(jobs);
        }
        let limit = limit - jobs.len();
        let lease_until = lease_until(now, lease);
        let token = Uuid::new_v4();
        let limit = i64::try_from(limit).unwrap_or(1);
        let rows = self
            .engine
            .group
            .write(move |conn| {
                let leased = conn
                    .prepare_cached(CLAIM)
                    .and_then(|mut claim| {
                        claim
                            .query_map(params![token.to_string(), lease_until, now, limit], |row| {
                                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, i64>(3)?))
                            })?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(failed)?;
                let mut jobs = Vec::with_capacity(leased.len());
                for (id, payload, trace, attempts) in leased {
                    match leased_job(id, &payload, &trace, attempts, token) {
                        Ok(job) => jobs.push(job),
                        Err(reason) => {
                            run(
                                conn,
                                "UPDATE jobs SET state = 'dead', last_error = ?2, lease_token = NULL, lease_until = NULL WHERE id = ?1",
                                params![id, reason],
                            )?;
                        }
                    }
                }
                Ok(jobs)
            })
            .await?;
        jobs.extend(rows);
        Ok(jobs)
    }

    async fn complete(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let lease = job.lease();
        self.engine.group.write(move |conn| end_job(conn, lease)).await?;
        // A finished job may unblock the next one of its ordering key.
        self.notify_workers();
        Ok(())
    }

    async fn retry(&self, job: &LeasedJob, run_at: OffsetDateTime, error: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (id, token, error) = (job.id, job.lease_token.to_string(), error.to_owned());
        self.engine.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', run_at = ?3, last_error = ?4, lease_token = NULL, lease_until = NULL,
                            updated_at = ?5
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, ms(run_at), error, now],
                )
            })
            .await?;
        Ok(())
    }

    async fn bury(&self, job: &LeasedJob, error: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (id, token, error) = (job.id, job.lease_token.to_string(), error.to_owned());
        self.engine.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'dead', last_error = ?3, lease_token = NULL, lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, error, now],
                )
            })
            .await?;
        self.notify_workers();
        Ok(())
    }

    async fn defer(&self, job: &LeasedJob, run_at: OffsetDateTime) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (id, token) = (job.id, job.lease_token.to_string());
        self.engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', run_at = ?3, attempts = MAX(attempts - 1, 0), lease_token = NULL,
                            lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, ms(run_at), now],
                )
            })
            .await?;
        Ok(())
    }

    async fn release(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let now = self.now_ms();
        let (id, token) = (job.id, job.lease_token.to_string());
        self.engine.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), lease_token = NULL, lease_until = NULL,
                            updated_at = ?3
                     WHERE id = ?1 AND lease_token = ?2",
                    params![id, token, now],
                )
            })
            .await?;
        Ok(())
    }

    fn work_count(&self) -> u64 {
        self.wake.count()
    }

    async fn wait_for_work(&self, seen: u64, max: Duration) {
        let now = self.now_ms();
        let due = self
            .engine
            .readers
            .read(|conn| {
                conn.prepare_cached("SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at > ?1")
                    .and_then(|mut next| next.query_row([now], |row| row.get::<_, Option<i64>>(0)))
                    .map_err(failed)
            })
            .unwrap_or(None);
        // A handed job is leased, not queued: its due time comes from memory.
        self.wake.wait(seen, self.handoff.sleep_for(due, now, max)).await;
    }
}

/// Ends the job under `lease` inside the caller's write (see [`END_JOB`]).
pub(super) fn end_job(conn: &Connection, lease: JobLease) -> Result<(), StoreError> {
    let ended = run(conn, &numbered(END_JOB), params![lease.id, lease.token.to_string()])?;
    note_lost_lease(u64::try_from(ended).unwrap_or(0), lease.id);
    Ok(())
}
