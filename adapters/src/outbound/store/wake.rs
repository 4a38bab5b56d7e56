//! Waking idle workers of this process: a count that moves with every commit that
//! enqueued work, and a `Notify` for whoever waits. A worker reads the count before it
//! claims; if a commit lands between its (empty) claim and its wait, the count has moved
//! and it claims again at once instead of sleeping a whole poll interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct WorkSignal {
    count: AtomicU64,
    notify: Notify,
}

impl WorkSignal {
    /// Work was committed: wake every idle worker.
    pub fn signal(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Returns when work was signalled after `seen` was read (at once if it already was),
    /// or after `max`.
    pub async fn wait(&self, seen: u64, max: Duration) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the count is looked at: a signal from now on is not lost.
        notified.as_mut().enable();
        if self.count() != seen {
            return;
        }
        let _ = tokio::time::timeout(max, notified).await;
    }
}

/// How long an idle worker may sleep: until the earliest queued job falls due (`due_ms`,
/// in the future), but never longer than `max`. `now_ms` is truncated to the millisecond
/// and the timer rounds up, so the wake-up is never before the due time: no margin is
/// added (it would be on every lone message's path).
pub fn until_due(due_ms: Option<i64>, now_ms: i64, max: Duration) -> Duration {
    match due_ms {
        Some(due) if due > now_ms => Duration::from_millis(u64::try_from(due - now_ms).unwrap_or(0)).min(max),
        _ => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_between_the_claim_and_the_wait_is_not_lost() {
        let signal = WorkSignal::default();
        let seen = signal.count();
        signal.signal();

        let started = std::time::Instant::now();
        signal.wait(seen, Duration::from_secs(5)).await;

        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_a_signal() {
        let signal = std::sync::Arc::new(WorkSignal::default());
        let seen = signal.count();
        let waiter = tokio::spawn({
            let signal = signal.clone();
            async move { signal.wait(seen, Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;

        signal.signal();

        tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }

    #[test]
    fn an_idle_worker_sleeps_until_the_next_job_is_due_and_no_longer_than_the_poll() {
        let poll = Duration::from_millis(250);
        assert_eq!(until_due(Some(1_040), 1_000, poll), Duration::from_millis(40));
        assert_eq!(until_due(Some(9_000), 1_000, poll), poll);
        assert_eq!(until_due(Some(900), 1_000, poll), poll, "a due job the claim skipped is blocked: wait");
        assert_eq!(until_due(None, 1_000, poll), poll);
    }
}
