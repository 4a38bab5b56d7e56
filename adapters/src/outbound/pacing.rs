//! The two rate limiters in front of the Graph API (GCRA, from `governor`):
//! per sending number (80 messages/s by default, evenly spaced so no one-second window
//! exceeds the rate) and per recipient (a short burst, then one message per interval,
//! below Meta's pair limit). A wait is answered as a duration; the caller defers its
//! job, it never sleeps or spins.
//!
//! Both limiters are keyed by values that arrive from outside (a recipient, a number id a
//! REST client names), so their maps would grow with every user ever paced. A key whose
//! limiter is back to its starting state holds nothing worth keeping:
//! [`GovernorPacing::forget_idle`] drops those, and the binary calls it on a timer.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchboard_application::ports::SendPacing;

#[derive(Debug, Clone)]
pub struct PacingSettings {
    pub per_number_rate: u32,
    pub per_number_overrides: HashMap<String, u32>,
    pub recipient_burst: u32,
    pub recipient_interval: Duration,
}

pub struct GovernorPacing {
    /// Numbers at the default rate, one limiter state per number id.
    numbers: DefaultKeyedRateLimiter<String>,
    /// Numbers with a configured rate: as many as the configuration names, never more.
    overridden: HashMap<String, DefaultDirectRateLimiter>,
    recipients: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Burst of one: evenly spaced sends, so no one-second window exceeds the rate.
fn number_quota(rate: u32) -> Quota {
    Quota::per_second(non_zero(rate)).allow_burst(NonZeroU32::MIN)
}

impl GovernorPacing {
    pub fn new(settings: PacingSettings) -> Self {
        let recipient_quota = Quota::with_period(settings.recipient_interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(non_zero(settings.recipient_burst));
        Self {
            numbers: RateLimiter::keyed(number_quota(settings.per_number_rate)),
            overridden: settings
                .per_number_overrides
                .iter()
                .map(|(number, rate)| (number.clone(), RateLimiter::direct(number_quota(*rate))))
                .collect(),
            recipients: RateLimiter::keyed(recipient_quota),
            clock: DefaultClock::default(),
        }
    }

    /// Drops every number and recipient whose limiter is back to its starting state
    /// (nothing of it would change the next answer), and gives the freed memory back.
    pub fn forget_idle(&self) {
        for limiter in [&self.numbers, &self.recipients] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Numbers and recipients remembered now (the maps' size).
    pub fn len(&self) -> usize {
        self.numbers.len() + self.recipients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_number(&self, number: &str) -> Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>> {
        match self.overridden.get(number) {
            Some(limiter) => limiter.check(),
            None => self.numbers.check_key(&number.to_owned()),
        }
    }
}

impl SendPacing for GovernorPacing {
    fn reserve(&self, from_number_id: &str, recipient: &str) -> Option<Duration> {
        let now = self.clock.now();
        // The number first: a slot wasted there costs 1/80 s; one wasted on the user
        // would cost a whole pacing interval.
        if let Err(not_until) = self.check_number(from_number_id) {
            metrics::counter!("switchboard_rate_limit_waits_total", "limiter" => "number").increment(1);
            return Some(not_until.wait_time_from(now).max(Duration::from_millis(1)));
        }
        if let Err(not_until) = self.recipients.check_key(&format!("{from_number_id}:{recipient}")) {
            metrics::counter!("switchboard_rate_limit_waits_total", "limiter" => "recipient").increment(1);
            return Some(not_until.wait_time_from(now).max(Duration::from_millis(1)));
        }
        None
    }
}

/// No limits (`SWITCHBOARD_RATE_LIMITS_ENABLED=false`, benchmarks against a fake).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl SendPacing for Unlimited {
    fn reserve(&self, _from_number_id: &str, _recipient: &str) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(rate: u32, burst: u32, interval_ms: u64) -> GovernorPacing {
        GovernorPacing::new(PacingSettings {
            per_number_rate: rate,
            per_number_overrides: HashMap::from([("fast".to_owned(), 1000)]),
            recipient_burst: burst,
            recipient_interval: Duration::from_millis(interval_ms),
        })
    }

    #[test]
    fn a_number_sends_at_its_rate_and_then_waits() {
        let p = pacing(10, 100, 1);
        assert_eq!(p.reserve("n", "u1"), None);
        let wait = p.reserve("n", "u2").expect("second send within 100 ms waits");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
    }

    #[test]
    fn a_number_with_an_override_uses_its_own_rate() {
        let p = pacing(1, 100, 1);
        assert_eq!(p.reserve("fast", "u1"), None);
        let wait = p.reserve("fast", "u2").unwrap_or_default();
        assert!(wait <= Duration::from_millis(1), "{wait:?}");
    }

    #[test]
    fn a_user_gets_a_short_burst_then_one_message_per_interval() {
        let p = pacing(1000, 2, 6000);
        let mut waits = Vec::new();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(2));
            waits.push(p.reserve("n", "same-user"));
        }
        assert_eq!(&waits[..2], &[None, None]);
        let wait = waits[2].expect("third message waits");
        assert!(wait > Duration::from_secs(5), "{wait:?}");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(p.reserve("n", "another-user"), None, "other users are not held back");
    }

    #[test]
    fn a_hundred_thousand_recipients_leave_the_map_no_bigger_than_one_sweeps_worth() {
        // Unlimited numbers (so every send reaches the recipient limiter), 1 ms pacing.
        let p = GovernorPacing::new(PacingSettings {
            per_number_rate: 1_000_000_000,
            per_number_overrides: HashMap::new(),
            recipient_burst: 3,
            recipient_interval: Duration::from_millis(1),
        });
        const RECIPIENTS: usize = 100_000;
        const PER_SWEEP: usize = 10_000;
        let mut largest = 0;
        for n in 0..RECIPIENTS {
            assert_eq!(p.reserve("n", &format!("+4477009{n:05}")), None);
            if (n + 1) % PER_SWEEP == 0 {
                largest = largest.max(p.len());
                // What the timer does, once these recipients have gone quiet.
                std::thread::sleep(Duration::from_millis(5));
                p.forget_idle();
            }
        }

        assert!(largest <= PER_SWEEP + 1, "at most one sweep's recipients (and the number) are kept: {largest}");
        assert!(p.is_empty(), "every idle recipient is forgotten: {} left", p.len());
    }

    #[test]
    fn a_recipient_still_being_paced_is_not_forgotten() {
        let p = pacing(1000, 1, 60_000);
        assert_eq!(p.reserve("n", "busy-user"), None);

        p.forget_idle();

        assert!(p.reserve("n", "busy-user").is_some(), "the user's pacing survives the sweep");
    }
}
