//! The delivery state machine.
//!
//! pending -> sent -> delivered -> read, and failed from any state that is not final.
//! Meta gives no ordering guarantee for status webhooks (`read` may come before
//! `delivered`, which may never come), so a transition may skip states but never go
//! back: a late or duplicate status changes nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::message::{ChannelError, Wamid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Sent,
    Delivered,
    /// Read by the user (for voice notes: played).
    Read,
    Failed,
}

/// What applying a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    Advanced {
        from: DeliveryState,
        to: DeliveryState,
    },
    /// Same or earlier state, or the delivery already ended: nothing changes.
    Ignored,
}

impl DeliveryState {
    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
        }
    }

    /// Read and failed end a delivery.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Read | Self::Failed)
    }

    /// Applies `next` if it moves the delivery forward.
    pub fn advance(self, next: DeliveryState) -> TransitionOutcome {
        if self.is_final() {
            return TransitionOutcome::Ignored;
        }
        if next == Self::Failed || next.rank() > self.rank() {
            TransitionOutcome::Advanced { from: self, to: next }
        } else {
            TransitionOutcome::Ignored
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery state {0:?}")]
pub struct UnknownDeliveryState(pub String);

impl FromStr for DeliveryState {
    type Err = UnknownDeliveryState;
    /// Accepts Meta's status names; `played` (voice notes) counts as read.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "sent" => Ok(Self::Sent),
            "delivered" => Ok(Self::Delivered),
            "read" | "played" => Ok(Self::Read),
            "failed" => Ok(Self::Failed),
            other => Err(UnknownDeliveryState(other.to_owned())),
        }
    }
}

/// A status webhook for an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub wamid: Wamid,
    /// Meta's status name as sent (`sent`, `delivered`, `read`, `played`, `failed`, or
    /// one invented later), kept verbatim for storage and deduplication.
    pub status: String,
    #[serde(with = "time::serde::timestamp")]
    pub occurred_at: OffsetDateTime,
    /// Recipient as sent (digits or scoped id); never logged whole.
    pub recipient: Option<String>,
    pub errors: Vec<ChannelError>,
    /// `biz_opaque_callback_data`: Switchboard sends its delivery id here, so a status
    /// can find its delivery even when the send's answer was lost (timeout, crash).
    #[serde(default)]
    pub callback_data: Option<String>,
}

impl StatusUpdate {
    /// The state this status moves a delivery to, when it is one Switchboard knows.
    pub fn state(&self) -> Option<DeliveryState> {
        self.status.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryState::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn statuses_move_a_delivery_forward() {
        assert_eq!(Pending.advance(Sent), TransitionOutcome::Advanced { from: Pending, to: Sent });
        assert_eq!(Sent.advance(Read), TransitionOutcome::Advanced { from: Sent, to: Read });
    }

    #[test]
    fn late_or_duplicate_status_never_moves_a_delivery_back() {
        assert_eq!(Read.advance(Delivered), TransitionOutcome::Ignored);
        assert_eq!(Delivered.advance(Sent), TransitionOutcome::Ignored);
        assert_eq!(Delivered.advance(Delivered), TransitionOutcome::Ignored);
    }

    #[test]
    fn failure_ends_any_delivery_that_has_not_ended() {
        assert_eq!(Delivered.advance(Failed), TransitionOutcome::Advanced { from: Delivered, to: Failed });
        assert_eq!(Read.advance(Failed), TransitionOutcome::Ignored);
        assert_eq!(Failed.advance(Read), TransitionOutcome::Ignored);
    }

    #[test]
    fn played_counts_as_read() {
        assert_eq!("played".parse::<DeliveryState>(), Ok(Read));
        assert!("warming".parse::<DeliveryState>().is_err());
    }

    #[test]
    fn a_states_name_reads_back_as_the_same_state() {
        for state in [Pending, Sent, Delivered, Read, Failed] {
            assert_eq!(state.to_string().parse::<DeliveryState>(), Ok(state));
        }
        assert_eq!(Delivered.to_string(), "delivered");
    }

    #[test]
    fn an_unknown_state_name_is_refused_naming_it() {
        assert_eq!("warming".parse::<DeliveryState>().unwrap_err().to_string(), "unknown delivery state \"warming\"");
    }

    #[test]
    fn a_status_update_moves_to_the_state_it_names_or_to_none_when_unknown() {
        let update = |status: &str| StatusUpdate {
            wamid: Wamid::parse("wamid.out").unwrap(),
            status: status.into(),
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            recipient: None,
            errors: vec![],
            callback_data: None,
        };

        assert_eq!(update("played").state(), Some(Read));
        assert_eq!(update("deleted").state(), None);
    }

    fn any_state() -> impl Strategy<Value = DeliveryState> {
        prop_oneof![Just(Pending), Just(Sent), Just(Delivered), Just(Read), Just(Failed)]
    }

    proptest! {
        #[test]
        fn any_sequence_of_statuses_only_moves_forward(statuses in proptest::collection::vec(any_state(), 0..20)) {
            let mut state = Pending;
            for next in statuses {
                let before = state;
                if let TransitionOutcome::Advanced { to, .. } = state.advance(next) {
                    state = to;
                }
                prop_assert!(state.rank() >= before.rank());
                prop_assert!(!before.is_final() || state == before);
            }
        }

        #[test]
        fn any_sequence_of_status_names_from_any_state_never_panics_or_leaves_an_end(
            start in any_state(),
            names in proptest::collection::vec(
                prop_oneof![
                    Just(String::from("sent")), Just(String::from("delivered")), Just(String::from("read")),
                    Just(String::from("played")), Just(String::from("failed")), Just(String::from("pending")),
                    "\\PC{0,12}",
                ],
                0..40,
            ),
        ) {
            let mut state = start;
            let mut seen_read = state == Read;
            for name in names {
                let before = state;
                // Unknown names (a status Meta invents later) change nothing.
                let Ok(next) = name.parse::<DeliveryState>() else { continue };
                match before.advance(next) {
                    TransitionOutcome::Advanced { from, to } => {
                        prop_assert_eq!(from, before);
                        prop_assert_eq!(to, next);
                        prop_assert!(!before.is_final(), "an ended delivery never moves");
                        state = to;
                    }
                    TransitionOutcome::Ignored => {}
                }
                if before.is_final() {
                    prop_assert_eq!(state, before, "a terminal state is never left");
                }
                seen_read |= state == Read;
                if seen_read {
                    prop_assert_eq!(state, Read, "read never regresses to delivered (nor fails afterwards)");
                }
            }
        }

        #[test]
        fn the_same_status_twice_moves_a_delivery_at_most_once(start in any_state(), next in any_state()) {
            let after = match start.advance(next) {
                TransitionOutcome::Advanced { to, .. } => to,
                TransitionOutcome::Ignored => start,
            };
            prop_assert_eq!(after.advance(next), TransitionOutcome::Ignored);
        }
    }
}
