//! The hand-off after commit (ADR 0021): a message this process ingests is handed to
//! its workers in memory instead of being claimed back from the database.
//!
//! The ingest inserts the message's job already leased, to this process, until its due
//! time plus the workers' lease, when no other job of its ordering key waits; after the
//! commit the job goes on this list. A worker's claim takes due jobs from here first and
//! makes sure, with a point read, that each is still leased to us and still the earliest
//! job of its ordering key (a late delivery inside the reorder window may have arrived
//! since; then the job's lease is returned and the claim orders them as usual). The
//! database stays the truth: if the process dies, the leases expire and another claim
//! takes the jobs, as after any crash.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use switchboard_application::jobs::LeasedJob;
use switchboard_application::ports::StoreError;

/// What the database says of a handed job when its time comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Still leased to us and the earliest job of its ordering key: run it.
    Next,
    /// Still ours, but an earlier job of its key arrived since: give the lease back.
    Behind,
    /// No longer ours (its lease ended and another holder has it, or it is gone).
    Gone,
}

/// Due handed jobs sorted by what the database says of them.
#[derive(Debug, Default)]
pub(super) struct Taken {
    /// Run these now.
    pub run: Vec<LeasedJob>,
    /// Return these leases: the claim then runs them in their key's order.
    pub give_back: Vec<LeasedJob>,
}

/// A job handed over after its commit, with what the claim checks before running it.
#[derive(Debug, Clone)]
pub(super) struct Handed {
    pub job: LeasedJob,
    /// Unix milliseconds: when it is due (the reorder window's end).
    pub run_at: i64,
    /// Unix milliseconds: when its lease ends; past it, the claim may lease it again.
    pub lease_until: i64,
}

/// The jobs handed over and not taken yet, in the order they fall due. Off (no lease)
/// unless the store is told the workers' lease: then nothing is handed over and every
/// job is claimed.
///
/// Kept sorted by (due time, job id): a claim takes from the front and stops at the first
/// job not yet due, so its cost does not grow with the jobs waiting (a list scanned, sorted
/// and shifted on every claim cost time in proportion to them: up to one per conversation,
/// 5,000 in the bench; docs/performance.md).
#[derive(Debug, Default)]
pub(super) struct Handoff {
    lease: Option<Duration>,
    waiting: Mutex<BTreeMap<(i64, i64), Handed>>,
}

/// A handed job this close to its lease's end (or a quarter of the lease, when shorter)
/// is left to the claim, so that it never runs twice (once from here and once leased
/// again).
const LEASE_MARGIN_MS: i64 = 5_000;

impl Handoff {
    pub(super) fn with_lease(lease: Duration) -> Self {
        Self { lease: Some(lease), waiting: Mutex::new(BTreeMap::new()) }
    }

    /// The lease a handed job gets beyond its due time; `None` when hand-off is off.
    pub(super) fn lease(&self) -> Option<Duration> {
        self.lease
    }

    pub(super) fn push(&self, jobs: Vec<Handed>) {
        if jobs.is_empty() {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.extend(jobs.into_iter().map(|h| ((h.run_at, h.job.id), h)));
    }

    /// Up to `limit` jobs due at `now`, earliest first; a due job whose lease is about to
    /// end is dropped here (the claim takes it from the database).
    pub(super) fn take_due(&self, now: i64, limit: usize) -> Vec<Handed> {
        let quarter = self.lease.map_or(0, |l| i64::try_from(l.as_millis() / 4).unwrap_or(LEASE_MARGIN_MS));
        let margin = LEASE_MARGIN_MS.min(quarter);
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut due = Vec::new();
        while due.len() < limit {
            let Some(first) = waiting.first_entry() else { break };
            if first.get().run_at > now {
                break;
            }
            let handed = first.remove();
            if handed.lease_until - margin > now {
                due.push(handed);
            }
        }
        due
    }

    /// When the earliest waiting job is due, if any waits.
    pub(super) fn next_due(&self) -> Option<i64> {
        let waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.first_key_value().map(|((run_at, _), _)| *run_at)
    }

    /// Up to `limit` jobs due at `now`, each checked with `check` (a point read of the
    /// job's id and lease token). A job lost here (a failed read) is claimed again when
    /// its lease ends.
    pub(super) async fn take_checked<F, Fut>(&self, now: i64, limit: usize, check: F) -> Result<Taken, StoreError>
    where
        F: Fn(i64, String) -> Fut,
        Fut: Future<Output = Result<Standing, StoreError>>,
    {
        let mut taken = Taken::default();
        for handed in self.take_due(now, limit) {
            match check(handed.job.id, handed.job.lease_token.to_string()).await? {
                Standing::Next => taken.run.push(handed.job),
                Standing::Behind => taken.give_back.push(handed.job),
                Standing::Gone => tracing::debug!(job_id = handed.job.id, "a handed job is no longer ours"),
            }
        }
        Ok(taken)
    }

    /// How long an idle worker may sleep, given the earliest queued job's due time: not
    /// at all when a handed job is due, else until the earlier of the two (at most `max`).
    pub(super) fn sleep_for(&self, queued_due: Option<i64>, now: i64, max: Duration) -> Duration {
        let handed = self.next_due();
        if handed.is_some_and(|at| at <= now) {
            return Duration::ZERO;
        }
        let due = match (queued_due, handed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        super::wake::until_due(due, now, max)
    }
}

impl Standing {
    /// From a point read of (lease token matches, heads its key), `None` when the job is
    /// not leased any more.
    pub(super) fn of(found: Option<(bool, bool)>) -> Self {
        match found {
            Some((true, true)) => Self::Next,
            Some((true, false)) => Self::Behind,
            _ => Self::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_application::jobs::JobKind;
    use switchboard_domain::Wamid;
    use switchboard_shared::TraceContext;
    use uuid::Uuid;

    use super::*;

    fn handed(id: i64, run_at: i64, lease_until: i64) -> Handed {
        Handed {
            job: LeasedJob {
                id,
                kind: JobKind::ProcessInbound { wamid: Wamid::parse("wamid.A").unwrap() },
                trace: TraceContext::new_root(),
                attempts: 1,
                lease_token: Uuid::new_v4(),
            },
            run_at,
            lease_until,
        }
    }

    fn ids(jobs: &[Handed]) -> Vec<i64> {
        jobs.iter().map(|h| h.job.id).collect()
    }

    #[test]
    fn only_due_jobs_are_taken_earliest_first_and_at_most_the_limit() {
        let handoff = Handoff::with_lease(Duration::from_secs(60));
        handoff.push(vec![handed(3, 300, 60_300), handed(1, 100, 60_100), handed(2, 200, 60_200)]);

        assert!(handoff.take_due(50, 10).is_empty());
        assert_eq!(ids(&handoff.take_due(250, 1)), [1]);
        assert_eq!(ids(&handoff.take_due(250, 10)), [2]);
        assert_eq!(handoff.next_due(), Some(300));
    }

    #[test]
    fn a_job_near_the_end_of_its_lease_is_left_to_the_claim() {
        let handoff = Handoff::with_lease(Duration::from_secs(60));
        handoff.push(vec![handed(1, 100, 10_000)]);

        assert!(handoff.take_due(9_000, 10).is_empty());
        assert_eq!(handoff.next_due(), None);
    }

    #[test]
    fn an_idle_worker_does_not_sleep_while_a_handed_job_is_due_and_else_until_the_earliest_job() {
        let poll = Duration::from_millis(250);
        let handoff = Handoff::with_lease(Duration::from_secs(60));
        assert_eq!(handoff.sleep_for(None, 1_000, poll), poll);
        handoff.push(vec![handed(1, 1_100, 61_100)]);

        assert_eq!(handoff.sleep_for(None, 1_000, poll), Duration::from_millis(100));
        assert_eq!(handoff.sleep_for(Some(1_050), 1_000, poll), Duration::from_millis(50));
        assert_eq!(handoff.sleep_for(Some(1_050), 1_100, poll), Duration::ZERO);
    }

    #[tokio::test]
    async fn due_handed_jobs_are_run_given_back_or_dropped_as_the_database_says() {
        let handoff = Handoff::with_lease(Duration::from_secs(60));
        handoff.push(vec![handed(1, 100, 60_100), handed(2, 100, 60_100), handed(3, 100, 60_100)]);

        let taken = handoff
            .take_checked(200, 10, |id, _token| async move {
                Ok(match id {
                    1 => Standing::of(Some((true, true))),
                    2 => Standing::of(Some((true, false))),
                    _ => Standing::of(None),
                })
            })
            .await
            .unwrap();

        assert_eq!(taken.run.iter().map(|j| j.id).collect::<Vec<_>>(), [1]);
        assert_eq!(taken.give_back.iter().map(|j| j.id).collect::<Vec<_>>(), [2]);
        assert_eq!(handoff.next_due(), None, "every due job left the list");
    }

    #[test]
    fn without_a_lease_the_hand_off_is_off() {
        assert_eq!(Handoff::default().lease(), None);
    }
}
