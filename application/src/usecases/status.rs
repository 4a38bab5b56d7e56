use std::sync::Arc;

use switchboard_domain::{DeliveryState, TransitionOutcome, Wamid};
use switchboard_shared::TraceContext;
use tracing::Instrument;

use crate::ports::{Clock, Deliveries, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Advanced {
        from: DeliveryState,
        to: DeliveryState,
    },
    /// Late, duplicate or out of order: the delivery is already further along.
    Ignored,
    /// No delivery of ours has this wamid (sent by another system, or unknown status).
    Unmatched,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordStatusError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RecordStatusError {
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Store(StoreError::Unavailable(_)))
    }
}

/// Moves a delivery forward on a status webhook; never back.
pub struct RecordStatus {
    deliveries: Arc<dyn Deliveries>,
    clock: Arc<dyn Clock>,
}

impl RecordStatus {
    pub fn new(deliveries: Arc<dyn Deliveries>, clock: Arc<dyn Clock>) -> Self {
        Self { deliveries, clock }
    }

    pub async fn execute(
        &self,
        wamid: &Wamid,
        status: &str,
        error: Option<String>,
        trace: TraceContext,
    ) -> Result<StatusOutcome, RecordStatusError> {
        let span = tracing::info_span!("record_status", trace_id = %trace.trace_id, wamid = %wamid, status);
        async {
            let Ok(next) = status.parse::<DeliveryState>() else {
                tracing::info!("status not modelled; stored only");
                return Ok(StatusOutcome::Unmatched);
            };
            let Some(delivery) = self.deliveries.find_by_provider_id(wamid).await? else {
                tracing::debug!("no delivery of ours has this wamid");
                return Ok(StatusOutcome::Unmatched);
            };
            match delivery.state.advance(next) {
                TransitionOutcome::Advanced { from, to } => {
                    let moved = self.deliveries.transition(delivery.id, from, to, error, self.clock.now()).await?;
                    if moved {
                        tracing::info!(delivery_id = %delivery.id, %from, %to, "delivery moved forward");
                        Ok(StatusOutcome::Advanced { from, to })
                    } else {
                        Ok(StatusOutcome::Ignored)
                    }
                }
                TransitionOutcome::Ignored => {
                    tracing::info!(state = %delivery.state, "status is late or a duplicate; ignored");
                    Ok(StatusOutcome::Ignored)
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockDeliveries};
    use time::macros::datetime;

    use crate::usecases::fixtures::delivery;

    fn build(deliveries: MockDeliveries) -> RecordStatus {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(datetime!(2026-11-22 10:00 UTC));
        RecordStatus::new(Arc::new(deliveries), Arc::new(clock))
    }

    fn wamid() -> Wamid {
        Wamid::parse("wamid.OUT").unwrap()
    }

    #[tokio::test]
    async fn read_after_sent_moves_the_delivery_to_read() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_find_by_provider_id()
            .returning(|_| Ok(Some(delivery(DeliveryState::Sent))));
        deliveries
            .expect_transition()
            .withf(|_, from, to, _, _| *from == DeliveryState::Sent && *to == DeliveryState::Read)
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = build(deliveries)
            .execute(&wamid(), "read", None, TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(
            outcome,
            StatusOutcome::Advanced {
                from: DeliveryState::Sent,
                to: DeliveryState::Read
            }
        );
    }

    #[tokio::test]
    async fn delivered_after_read_changes_nothing() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_find_by_provider_id()
            .returning(|_| Ok(Some(delivery(DeliveryState::Read))));
        deliveries.expect_transition().never();

        let outcome = build(deliveries)
            .execute(&wamid(), "delivered", None, TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(outcome, StatusOutcome::Ignored);
    }

    #[tokio::test]
    async fn a_status_for_a_message_we_did_not_send_is_unmatched() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_find_by_provider_id()
            .returning(|_| Ok(None));

        let outcome = build(deliveries)
            .execute(&wamid(), "sent", None, TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(outcome, StatusOutcome::Unmatched);
    }
}
