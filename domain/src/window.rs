//! The customer-service window: free-form replies are allowed only within 24 hours of
//! the user's last inbound message (Meta's timestamp). Outside it a template or another
//! channel is needed.

use time::{Duration, OffsetDateTime};

pub const WINDOW: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceWindow {
    last_inbound_at: Option<OffsetDateTime>,
}

impl ServiceWindow {
    pub fn new(last_inbound_at: Option<OffsetDateTime>) -> Self {
        Self { last_inbound_at }
    }

    /// A later inbound message reopens the window; an older one (out of order) does not
    /// move it back.
    pub fn record_inbound(self, at: OffsetDateTime) -> Self {
        match self.last_inbound_at {
            Some(prev) if prev >= at => self,
            _ => Self { last_inbound_at: Some(at) },
        }
    }

    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.last_inbound_at.is_some_and(|at| now < at + WINDOW)
    }

    pub fn closes_at(&self) -> Option<OffsetDateTime> {
        self.last_inbound_at.map(|at| at + WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn window_is_open_for_24_hours_after_the_last_inbound_message() {
        let at = datetime!(2026-11-01 10:00 UTC);
        let window = ServiceWindow::new(Some(at));
        assert!(window.is_open(at + Duration::hours(23) + Duration::minutes(59)));
        assert!(!window.is_open(at + Duration::hours(24)));
    }

    #[test]
    fn no_inbound_message_means_no_window() {
        assert!(!ServiceWindow::new(None).is_open(datetime!(2026-11-01 10:00 UTC)));
    }

    #[test]
    fn a_later_message_reopens_the_window_for_24_hours_from_it() {
        let window = ServiceWindow::new(None).record_inbound(datetime!(2026-11-01 10:00 UTC));

        let reopened = window.record_inbound(datetime!(2026-11-03 08:00 UTC));

        assert_eq!(window.closes_at(), Some(datetime!(2026-11-02 10:00 UTC)));
        assert_eq!(reopened.closes_at(), Some(datetime!(2026-11-04 08:00 UTC)));
        assert!(reopened.is_open(datetime!(2026-11-03 20:00 UTC)));
    }

    #[test]
    fn an_older_message_arriving_late_does_not_shorten_the_window() {
        let window =
            ServiceWindow::new(Some(datetime!(2026-11-01 10:00 UTC))).record_inbound(datetime!(2026-11-01 09:00 UTC));
        assert_eq!(window.closes_at(), Some(datetime!(2026-11-02 10:00 UTC)));
    }
}
