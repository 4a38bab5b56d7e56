//! The inbound limit per sender (GCRA, from `governor`): a burst of turns, then so many
//! a minute. A turn is one hand-over to the classifier and an agent; a message over the
//! limit waits (its job is deferred) and goes with the sender's next turn (ADR 0018).
//!
//! One limiter state per sender who wrote recently: [`GovernorSenderLimit::forget_idle`]
//! drops every sender whose state is back to a fresh one (a full burst again), so the
//! map holds the senders of the last few minutes, not every sender ever seen. The binary
//! calls it on a timer.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_application::ports::SenderLimit;

pub struct GovernorSenderLimit {
    senders: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl GovernorSenderLimit {
    /// `burst` turns at once, then `per_minute` (both at least 1).
    pub fn new(burst: u32, per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            senders: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Drops every sender whose limiter is back to its starting state and gives the
    /// freed memory back.
    pub fn forget_idle(&self) {
        self.senders.retain_recent();
        self.senders.shrink_to_fit();
    }

    /// Senders remembered now (the map's size).
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}

impl SenderLimit for GovernorSenderLimit {
    fn admit(&self, sender: &str) -> Option<Duration> {
        let now = self.clock.now();
        match self.senders.check_key(&sender.to_owned()) {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(now).max(Duration::from_millis(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_gets_a_burst_of_turns_then_waits_for_the_next() {
        let limit = GovernorSenderLimit::new(3, 20);

        let turns: Vec<_> = (0..4).map(|_| limit.admit("+447700900123")).collect();

        assert_eq!(&turns[..3], &[None, None, None]);
        let wait = turns[3].expect("the fourth turn waits");
        assert!(wait > Duration::from_secs(2) && wait <= Duration::from_secs(3), "one turn per 3 s: {wait:?}");
    }

    #[test]
    fn one_sender_over_the_limit_does_not_hold_back_another() {
        let limit = GovernorSenderLimit::new(1, 1);
        assert_eq!(limit.admit("+447700900123"), None);
        assert!(limit.admit("+447700900123").is_some());

        assert_eq!(limit.admit("+447700900456"), None);
    }

    #[test]
    fn a_hundred_thousand_senders_leave_the_map_no_bigger_than_one_sweeps_worth() {
        // 60,000 a minute: a sender's state is fresh again 1 ms after its turn.
        let limit = GovernorSenderLimit::new(1, 60_000);
        const SENDERS: usize = 100_000;
        const PER_SWEEP: usize = 10_000;
        let mut largest = 0;
        for n in 0..SENDERS {
            assert_eq!(limit.admit(&format!("+4477009{n:05}")), None);
            if (n + 1) % PER_SWEEP == 0 {
                largest = largest.max(limit.len());
                // What the timer does, once these senders have gone quiet.
                std::thread::sleep(Duration::from_millis(5));
                limit.forget_idle();
            }
        }

        assert!(largest <= PER_SWEEP, "at most one sweep's senders are kept: {largest}");
        assert!(limit.is_empty(), "every idle sender is forgotten: {} left", limit.len());
    }

    #[test]
    fn a_sender_still_over_the_limit_is_not_forgotten() {
        let limit = GovernorSenderLimit::new(1, 1);
        assert_eq!(limit.admit("+447700900123"), None);

        limit.forget_idle();

        assert!(limit.admit("+447700900123").is_some(), "the sender's wait survives the sweep");
    }
}
