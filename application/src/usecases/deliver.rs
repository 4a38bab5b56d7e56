use std::sync::Arc;

use switchboard_domain::DeliveryState;
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::ports::{Clock, Deliveries, SendError, StoreError, WhatsAppGateway};
use crate::usecases::Attempt;

#[derive(Debug, Clone, PartialEq)]
pub enum DeliverOutcome {
    Sent {
        provider_id: String,
    },
    /// Sent before (the job ran twice); not sent again.
    AlreadySent,
    /// Meta refused it for good, or the retries ran out; the delivery ended failed.
    Failed {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("no delivery {0} is stored")]
    NotFound(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A retriable send failure; the job runs again later.
    #[error(transparent)]
    Send(SendError),
}

impl DeliverError {
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::Store(StoreError::Corrupt(_)) => false,
            Self::Store(StoreError::Unavailable(_)) => true,
            Self::Send(e) => e.is_retriable(),
        }
    }
}

/// Sends a planned reply through the WhatsApp gateway and records the outcome.
pub struct DeliverMessage {
    deliveries: Arc<dyn Deliveries>,
    whatsapp: Arc<dyn WhatsAppGateway>,
    clock: Arc<dyn Clock>,
}

impl DeliverMessage {
    pub fn new(
        deliveries: Arc<dyn Deliveries>,
        whatsapp: Arc<dyn WhatsAppGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            deliveries,
            whatsapp,
            clock,
        }
    }

    pub async fn execute(
        &self,
        delivery_id: Uuid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<DeliverOutcome, DeliverError> {
        let span = tracing::info_span!("deliver_message", trace_id = %trace.trace_id, %delivery_id, attempt = attempt.number);
        self.run(delivery_id, trace, attempt).instrument(span).await
    }

    async fn run(
        &self,
        delivery_id: Uuid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<DeliverOutcome, DeliverError> {
        let delivery = self
            .deliveries
            .get(delivery_id)
            .await?
            .ok_or(DeliverError::NotFound(delivery_id))?;
        if delivery.state != DeliveryState::Pending {
            tracing::info!(state = %delivery.state, "already sent; not sending again");
            return Ok(DeliverOutcome::AlreadySent);
        }
        let to = delivery.message.to.key().masked();
        match self.whatsapp.send(&delivery.message, &trace).await {
            Ok(receipt) => {
                self.deliveries
                    .mark_sent(delivery_id, &receipt.provider_id, self.clock.now())
                    .await?;
                tracing::info!(%to, provider_id = %receipt.provider_id, "reply accepted by WhatsApp");
                Ok(DeliverOutcome::Sent {
                    provider_id: receipt.provider_id.to_string(),
                })
            }
            Err(e) if e.is_retriable() && !attempt.is_last => {
                tracing::warn!(%to, error = %e, "send failed; will retry");
                self.deliveries
                    .record_failure(delivery_id, &e.to_string(), false, self.clock.now())
                    .await?;
                Err(DeliverError::Send(e))
            }
            Err(e) => {
                let reason = if e.is_retriable() {
                    format!("retries exhausted: {e}")
                } else {
                    e.to_string()
                };
                tracing::error!(%to, %reason, "delivery failed");
                self.deliveries
                    .record_failure(delivery_id, &reason, true, self.clock.now())
                    .await?;
                Ok(DeliverOutcome::Failed { reason })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockDeliveries, MockWhatsAppGateway, SendReceipt};
    use switchboard_domain::Wamid;
    use time::macros::datetime;

    use crate::usecases::fixtures::delivery;

    fn build(deliveries: MockDeliveries, whatsapp: MockWhatsAppGateway) -> DeliverMessage {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(datetime!(2026-11-22 10:00 UTC));
        DeliverMessage::new(Arc::new(deliveries), Arc::new(whatsapp), Arc::new(clock))
    }

    #[tokio::test]
    async fn a_pending_delivery_is_sent_and_marked_sent_with_metas_wamid() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_get()
            .returning(|_| Ok(Some(delivery(DeliveryState::Pending))));
        deliveries
            .expect_mark_sent()
            .withf(|_, w, _| w.as_str() == "wamid.OUT")
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut whatsapp = MockWhatsAppGateway::new();
        whatsapp.expect_send().times(1).returning(|_, _| {
            Ok(SendReceipt {
                provider_id: Wamid::parse("wamid.OUT").unwrap(),
            })
        });

        let outcome = build(deliveries, whatsapp)
            .execute(Uuid::nil(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();

        assert_eq!(
            outcome,
            DeliverOutcome::Sent {
                provider_id: "wamid.OUT".into()
            }
        );
    }

    #[tokio::test]
    async fn a_delivery_already_sent_is_not_sent_again() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_get()
            .returning(|_| Ok(Some(delivery(DeliveryState::Sent))));
        let mut whatsapp = MockWhatsAppGateway::new();
        whatsapp.expect_send().never();

        let outcome = build(deliveries, whatsapp)
            .execute(Uuid::nil(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();

        assert_eq!(outcome, DeliverOutcome::AlreadySent);
    }

    #[tokio::test]
    async fn a_transient_failure_is_recorded_and_retried() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_get()
            .returning(|_| Ok(Some(delivery(DeliveryState::Pending))));
        deliveries
            .expect_record_failure()
            .withf(|_, _, is_final, _| !is_final)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let mut whatsapp = MockWhatsAppGateway::new();
        whatsapp.expect_send().returning(|_, _| {
            Err(SendError::Transient {
                code: Some(130429),
                message: "rate".into(),
            })
        });

        let result = build(deliveries, whatsapp)
            .execute(Uuid::nil(), TraceContext::new_root(), Attempt::first())
            .await;

        assert!(matches!(result, Err(ref e) if e.is_retriable()));
    }

    #[tokio::test]
    async fn a_rejection_ends_the_delivery_failed_with_the_reason() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_get()
            .returning(|_| Ok(Some(delivery(DeliveryState::Pending))));
        deliveries
            .expect_record_failure()
            .withf(|_, reason, is_final, _| *is_final && reason.contains("131026"))
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let mut whatsapp = MockWhatsAppGateway::new();
        whatsapp.expect_send().returning(|_, _| {
            Err(SendError::Rejected {
                code: 131026,
                message: "undeliverable".into(),
            })
        });

        let outcome = build(deliveries, whatsapp)
            .execute(Uuid::nil(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();

        assert!(matches!(outcome, DeliverOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn the_last_transient_failure_ends_the_delivery_failed() {
        let mut deliveries = MockDeliveries::new();
        deliveries
            .expect_get()
            .returning(|_| Ok(Some(delivery(DeliveryState::Pending))));
        deliveries
            .expect_record_failure()
            .withf(|_, reason, is_final, _| *is_final && reason.starts_with("retries exhausted"))
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let mut whatsapp = MockWhatsAppGateway::new();
        whatsapp.expect_send().returning(|_, _| {
            Err(SendError::Transient {
                code: None,
                message: "timeout".into(),
            })
        });

        let outcome = build(deliveries, whatsapp)
            .execute(
                Uuid::nil(),
                TraceContext::new_root(),
                Attempt {
                    number: 8,
                    is_last: true,
                },
            )
            .await
            .unwrap();

        assert!(matches!(outcome, DeliverOutcome::Failed { .. }));
    }
}
