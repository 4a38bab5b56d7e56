//! The one retry policy: exponential backoff with full jitter, capped, and a bounded
//! number of attempts. Call sites ask it what to do; they never carry their own loops.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry (before jitter).
    pub base: Duration,
    /// No delay exceeds this.
    pub max_delay: Duration,
    /// Attempts in all, the first included; after the last one the work is dead.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_millis(500), max_delay: Duration::from_secs(300), max_attempts: 8 }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The ceiling of the delay after `attempts` failed attempts (1 = the first failed).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max_delay)
    }

    /// Full jitter: a uniform delay between half the ceiling and the ceiling, so that a
    /// herd of failures does not come back at the same instant yet still backs off.
    pub fn decide(&self, attempts: u32) -> RetryDecision {
        if attempts >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let ceiling = self.ceiling(attempts);
        let half = ceiling / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let extra = if jitter_ms == 0 { 0 } else { rand::rng().random_range(0..=jitter_ms) };
        RetryDecision::RetryAfter(half + Duration::from_millis(extra))
    }
}

/// The waits after a pair-rate-limit error (131056): 1, 4, then 16 seconds.
pub const PAIR_RATE_BACKOFF: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(4), Duration::from_secs(16)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let policy = RetryPolicy { base: Duration::from_secs(1), max_delay: Duration::from_secs(10), max_attempts: 10 };
        assert_eq!(policy.ceiling(1), Duration::from_secs(1));
        assert_eq!(policy.ceiling(2), Duration::from_secs(2));
        assert_eq!(policy.ceiling(4), Duration::from_secs(8));
        assert_eq!(policy.ceiling(5), Duration::from_secs(10));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jittered_delay_stays_between_half_and_full_ceiling() {
        let policy = RetryPolicy { base: Duration::from_secs(1), max_delay: Duration::from_secs(60), max_attempts: 10 };
        for attempt in 1..8 {
            let RetryDecision::RetryAfter(delay) = policy.decide(attempt) else { panic!("gave up early") };
            assert!(delay >= policy.ceiling(attempt) / 2 && delay <= policy.ceiling(attempt));
        }
    }

    #[test]
    fn gives_up_after_the_last_attempt() {
        let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert!(matches!(policy.decide(2), RetryDecision::RetryAfter(_)));
        assert_eq!(policy.decide(3), RetryDecision::GiveUp);
    }
}
