use std::sync::Arc;

use switchboard_domain::{DeliveryState, TransitionOutcome, Wamid};
use switchboard_domain::{SendAction, SendFailure};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{JobKind, NewJob, delivery_ordering_key};
use crate::ports::{Clock, Consents, Deliveries, Delivery, Route, StoreError};
use crate::usecases::consent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Advanced {
        from: DeliveryState,
        to: DeliveryState,
    },
    /// Late, duplicate or out of order: the delivery is already further along.
    Ignored,
    /// WhatsApp could not deliver it; another route took over.
    Rerouted {
        route: Route,
    },
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

/// One status webhook, as the job carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub wamid: Wamid,
    pub status: String,
    pub error: Option<String>,
    pub error_code: Option<i64>,
    pub callback: Option<String>,
}

/// Moves a delivery forward on a status webhook, never back; a failure WhatsApp reports
/// later goes through the same policy as one it reports at once.
pub struct RecordStatus {
    deliveries: Arc<dyn Deliveries>,
    consents: Option<Arc<dyn Consents>>,
    clock: Arc<dyn Clock>,
    template_configured: bool,
}

impl RecordStatus {
    pub fn new(deliveries: Arc<dyn Deliveries>, clock: Arc<dyn Clock>, template_configured: bool) -> Self {
        Self { deliveries, consents: None, clock, template_configured }
    }

    /// A failed status with Meta's 131050 opts the contact out of marketing.
    #[must_use]
    pub fn with_consents(mut self, consents: Arc<dyn Consents>) -> Self {
        self.consents = Some(consents);
        self
    }

    pub async fn execute(
        &self,
        report: &StatusReport,
        trace: TraceContext,
    ) -> Result<StatusOutcome, RecordStatusError> {
        let span = tracing::info_span!(
            "record_status",
            trace_id = %trace.trace_id,
            wamid = %report.wamid,
            status = %report.status,
            delivery_id = tracing::field::Empty,
            original_trace_id = tracing::field::Empty,
        );
        self.run(report, trace).instrument(span).await
    }

    /// Finds the delivery by wamid, or by the delivery id we sent as callback data when
    /// the send's answer was lost (then the wamid is recorded now).
    async fn find(&self, report: &StatusReport) -> Result<Option<Delivery>, RecordStatusError> {
        if let Some(found) = self.deliveries.find_by_provider_id(&report.wamid).await? {
            return Ok(Some(found));
        }
        let Some(id) = report.callback.as_deref().and_then(|c| Uuid::parse_str(c).ok()) else {
            return Ok(None);
        };
        let Some(delivery) = self.deliveries.get(id).await? else {
            return Ok(None);
        };
        if delivery.state == DeliveryState::Pending && delivery.provider_id.is_none() && delivery.route != Route::Email
        {
            tracing::warn!(delivery_id = %id, "a send whose answer was lost reached Meta; recording its wamid");
            let linked = self
                .deliveries
                .mark_sent(
                    id,
                    delivery.route,
                    Some(report.wamid.clone()),
                    "linked by status webhook",
                    self.clock.now(),
                    None,
                )
                .await?;
            if linked {
                return Ok(self.deliveries.get(id).await?);
            }
        }
        Ok(None)
    }

    async fn run(&self, report: &StatusReport, trace: TraceContext) -> Result<StatusOutcome, RecordStatusError> {
        let Ok(next) = report.status.parse::<DeliveryState>() else {
            tracing::info!("status not modelled; stored only");
            return Ok(StatusOutcome::Unmatched);
        };
        let Some(delivery) = self.find(report).await? else {
            tracing::debug!("no delivery of ours has this wamid");
            return Ok(StatusOutcome::Unmatched);
        };
        // The status belongs to the trace of the message it reports on: what follows
        // runs in a span of that trace, linked to the status webhook's own trace.
        let span = tracing::Span::current();
        span.record("delivery_id", tracing::field::display(delivery.id));
        span.record("original_trace_id", tracing::field::display(delivery.trace.trace_id));
        let in_delivery_trace = tracing::info_span!(
            "delivery_status",
            trace_id = %delivery.trace.trace_id,
            delivery_id = %delivery.id,
            wamid = %report.wamid,
            status = %report.status,
        );
        switchboard_shared::otel::link(&in_delivery_trace, &trace);
        let trace = switchboard_shared::otel::continue_trace(&in_delivery_trace, &delivery.trace);
        self.apply(report, next, delivery, trace).instrument(in_delivery_trace).await
    }

    async fn apply(
        &self,
        report: &StatusReport,
        next: DeliveryState,
        delivery: Delivery,
        trace: TraceContext,
    ) -> Result<StatusOutcome, RecordStatusError> {
        if next == DeliveryState::Failed
            && let Some(code) = report.error_code
            && SendFailure::from_code(code) == SendFailure::OptedOut
            && let Some(consents) = &self.consents
        {
            consent::opted_out_of_marketing(consents.as_ref(), &delivery.message.to, self.clock.now()).await?;
        }
        if next == DeliveryState::Failed
            && !delivery.state.is_final()
            && let Some(route) = self.reroute_target(&delivery, report.error_code)
        {
            let now = self.clock.now();
            let reason = report.error.clone().unwrap_or_else(|| String::from("failed"));
            let job = NewJob {
                kind: JobKind::DeliverMessage { delivery_id: delivery.id },
                ordering_key: delivery_ordering_key(&delivery.message),
                order_at: now,
                run_at: now,
                trace,
            };
            if self.deliveries.reroute(delivery.id, delivery.state, route, &reason, job, now).await? {
                let label = report.error_code.map_or("failed", |c| SendFailure::from_code(c).label());
                metrics::counter!("switchboard_fallbacks_total", "reason" => label).increment(1);
                tracing::warn!(delivery_id = %delivery.id, %reason, route = route.as_str(), "WhatsApp could not deliver; another route takes over");
                return Ok(StatusOutcome::Rerouted { route });
            }
            return Ok(StatusOutcome::Ignored);
        }
        match delivery.state.advance(next) {
            TransitionOutcome::Advanced { from, to } => {
                let moved =
                    self.deliveries.transition(delivery.id, from, to, report.error.clone(), self.clock.now()).await?;
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

    /// Where a delivery WhatsApp reports failed goes next, by the shared policy.
    fn reroute_target(&self, delivery: &Delivery, code: Option<i64>) -> Option<Route> {
        let action = SendFailure::from_code(code?).action();
        let can_email = delivery.fallback_allowed && delivery.email.is_some();
        match action {
            SendAction::NeedsTemplate if delivery.route == Route::Whatsapp && self.template_configured => {
                Some(Route::WhatsappTemplate)
            }
            SendAction::NeedsTemplate
            | SendAction::FallBack
            | SendAction::StopAndAlert
            | SendAction::RetryWithBackoff
                if can_email =>
            {
                Some(Route::Email)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockConsents, MockDeliveries};
    use crate::usecases::fixtures::delivery;
    use switchboard_domain::EmailAddress;
    use time::macros::datetime;

    fn build(deliveries: MockDeliveries, template: bool) -> RecordStatus {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
        RecordStatus::new(Arc::new(deliveries), Arc::new(clock), template)
    }

    fn report(status: &str, code: Option<i64>) -> StatusReport {
        StatusReport {
            wamid: Wamid::parse("wamid.OUT").unwrap(),
            status: status.into(),
            error: code.map(|c| format!("{c}: error")),
            error_code: code,
            callback: None,
        }
    }

    async fn run(deliveries: MockDeliveries, report: StatusReport) -> StatusOutcome {
        build(deliveries, false).execute(&report, TraceContext::new_root()).await.unwrap()
    }

    #[tokio::test]
    async fn read_after_sent_moves_the_delivery_to_read() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(Some(delivery(DeliveryState::Sent))));
        deliveries
            .expect_transition()
            .withf(|_, from, to, _, _| *from == DeliveryState::Sent && *to == DeliveryState::Read)
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(deliveries, report("read", None)).await;

        assert_eq!(outcome, StatusOutcome::Advanced { from: DeliveryState::Sent, to: DeliveryState::Read });
    }

    #[tokio::test]
    async fn delivered_after_read_changes_nothing() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(Some(delivery(DeliveryState::Read))));
        deliveries.expect_transition().never();

        assert_eq!(run(deliveries, report("delivered", None)).await, StatusOutcome::Ignored);
    }

    #[tokio::test]
    async fn a_status_for_a_message_we_did_not_send_is_unmatched() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(None));

        assert_eq!(run(deliveries, report("sent", None)).await, StatusOutcome::Unmatched);
    }

    #[tokio::test]
    async fn a_later_undeliverable_status_hands_the_delivery_to_email() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| {
            Ok(Some(Delivery {
                email: Some(EmailAddress::parse("a@example.com").unwrap()),
                ..delivery(DeliveryState::Sent)
            }))
        });
        deliveries
            .expect_reroute()
            .withf(|_, from, route, reason, _, _| {
                *from == DeliveryState::Sent && *route == Route::Email && reason.contains("131026")
            })
            .times(1)
            .returning(|_, _, _, _, _, _| Ok(true));

        assert_eq!(
            run(deliveries, report("failed", Some(131026))).await,
            StatusOutcome::Rerouted { route: Route::Email }
        );
    }

    #[tokio::test]
    async fn a_later_window_failure_sends_the_template_when_one_is_configured() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(Some(delivery(DeliveryState::Sent))));
        deliveries
            .expect_reroute()
            .withf(|_, _, route, _, _, _| *route == Route::WhatsappTemplate)
            .times(1)
            .returning(|_, _, _, _, _, _| Ok(true));

        let outcome =
            build(deliveries, true).execute(&report("failed", Some(131047)), TraceContext::new_root()).await.unwrap();

        assert_eq!(outcome, StatusOutcome::Rerouted { route: Route::WhatsappTemplate });
    }

    #[tokio::test]
    async fn a_failure_with_nowhere_to_go_ends_the_delivery_failed() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(Some(delivery(DeliveryState::Delivered))));
        deliveries
            .expect_transition()
            .withf(|_, _, to, reason, _| *to == DeliveryState::Failed && reason.as_deref() == Some("131026: error"))
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        assert!(matches!(run(deliveries, report("failed", Some(131026))).await, StatusOutcome::Advanced { .. }));
    }

    #[tokio::test]
    async fn a_status_carrying_our_delivery_id_links_a_send_whose_answer_was_lost() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(None));
        let mut calls = 0;
        deliveries.expect_get().returning(move |_| {
            calls += 1;
            Ok(Some(if calls == 1 { delivery(DeliveryState::Pending) } else { delivery(DeliveryState::Sent) }))
        });
        deliveries
            .expect_mark_sent()
            .withf(|_, _, w, detail, _, ends| {
                w.as_ref().map(Wamid::as_str) == Some("wamid.OUT") && detail.contains("linked") && ends.is_none()
            })
            .times(1)
            .returning(|_, _, _, _, _, _| Ok(true));
        deliveries.expect_transition().times(1).returning(|_, _, _, _, _| Ok(true));
        let mut status = report("delivered", None);
        status.callback = Some(Uuid::nil().to_string());

        let outcome = run(deliveries, status).await;

        assert_eq!(outcome, StatusOutcome::Advanced { from: DeliveryState::Sent, to: DeliveryState::Delivered });
    }

    #[tokio::test]
    async fn a_failed_status_with_131050_opts_the_contact_out_of_marketing() {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_find_by_provider_id().returning(|_| Ok(Some(delivery(DeliveryState::Sent))));
        deliveries.expect_transition().returning(|_, _, _, _, _| Ok(true));
        let mut consents = MockConsents::new();
        consents
            .expect_change_consent()
            .withf(|_, change| {
                matches!(
                    change,
                    switchboard_domain::ConsentChange::OptOut {
                        scope: switchboard_domain::ConsentScope::Marketing,
                        source: switchboard_domain::ConsentSource::Meta131050,
                        ..
                    }
                )
            })
            .times(1)
            .returning(|_, _| Ok(true));

        let outcome = build(deliveries, false)
            .with_consents(Arc::new(consents))
            .execute(&report("failed", Some(131050)), TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(outcome, StatusOutcome::Advanced { from: DeliveryState::Sent, to: DeliveryState::Failed });
    }
}
