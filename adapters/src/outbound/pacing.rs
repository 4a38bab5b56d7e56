//! The two rate limiters in front of the Graph API (GCRA, from `governor`):
//! per sending number (80 messages/s by default, evenly spaced so no one-second window
//! exceeds the rate) and per recipient (a short burst, then one message per interval,
//! below Meta's pair limit). A wait is answered as a duration; the caller defers its
//! job, it never sleeps or spins.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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
    settings: PacingSettings,
    numbers: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    recipients: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl GovernorPacing {
    pub fn new(settings: PacingSettings) -> Self {
        let recipient_quota = Quota::with_period(settings.recipient_interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(non_zero(settings.recipient_burst));
        Self {
            numbers: Mutex::new(HashMap::new()),
            recipients: RateLimiter::keyed(recipient_quota),
            clock: DefaultClock::default(),
            settings,
        }
    }

    fn number_limiter(&self, number: &str) -> Arc<DefaultDirectRateLimiter> {
        let mut numbers = self.numbers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rate = self.settings.per_number_overrides.get(number).copied().unwrap_or(self.settings.per_number_rate);
        Arc::clone(numbers.entry(number.to_owned()).or_insert_with(|| {
            // Burst of one: evenly spaced sends, so no one-second window exceeds the rate.
            Arc::new(RateLimiter::direct(Quota::per_second(non_zero(rate)).allow_burst(NonZeroU32::MIN)))
        }))
    }
}

impl SendPacing for GovernorPacing {
    fn reserve(&self, from_number_id: &str, recipient: &str) -> Option<Duration> {
        let now = self.clock.now();
        // The number first: a slot wasted there costs 1/80 s; one wasted on the user
        // would cost a whole pacing interval.
        if let Err(not_until) = self.number_limiter(from_number_id).check() {
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
}
