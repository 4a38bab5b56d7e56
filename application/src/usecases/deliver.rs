use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::SendAction;
use switchboard_domain::{
    DeliveryState, OutboundContent, OutboundMessage, ServiceWindow, TemplateComponent, TemplateParameter,
};
use switchboard_shared::retry::PAIR_RATE_BACKOFF;
use switchboard_shared::{RetryPolicy, TraceContext};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::ports::{
    AttemptOutcome, ChannelSettings, Clock, Deliveries, Delivery, EmailError, EmailGateway, OutboundEmail, Route,
    SendError, SendPacing, StoreError, WhatsAppGateway,
};
use crate::usecases::Attempt;

#[derive(Debug, Clone, PartialEq)]
pub enum DeliverOutcome {
    Sent {
        route: Route,
        provider_id: Option<String>,
    },
    /// Sent before (the job ran twice); not sent again.
    AlreadySent,
    /// Waiting for a rate limit, a hold or proof of an uncertain send: run again then,
    /// without counting an attempt.
    Deferred {
        until: OffsetDateTime,
    },
    /// No channel can deliver it; the delivery ended failed with the reason.
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
    /// A retriable WhatsApp failure; the job runs again later.
    #[error(transparent)]
    Send(SendError),
    /// A retriable email failure; the job runs again later.
    #[error(transparent)]
    Email(EmailError),
}

impl DeliverError {
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::Store(StoreError::Corrupt(_)) => false,
            Self::Store(StoreError::Unavailable(_)) | Self::Send(_) | Self::Email(_) => true,
        }
    }
}

/// The re-engagement template sent when the 24-hour window has closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateConfig {
    pub name: String,
    pub language: String,
    /// Pass the user's name as the first body parameter.
    pub name_param: bool,
}

/// What to do when the 24-hour window has closed: a template, or email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutsideWindow {
    Template,
    Email,
}

/// How deliveries choose their channel.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub reengagement_template: Option<TemplateConfig>,
    pub outside_window: OutsideWindow,
    /// After a send timed out, how long a status webhook has to prove it arrived.
    pub uncertain_grace: Duration,
    /// Waits while WhatsApp refuses every send (token expired, number blocked).
    pub hold: RetryPolicy,
}

/// Sends a planned message: WhatsApp inside the window, the re-engagement template or
/// email outside it, email when WhatsApp cannot deliver or email has priority; paced by
/// the rate limiters; every Graph failure handled as the shared policy says.
pub struct DeliverMessage {
    deliveries: Arc<dyn Deliveries>,
    whatsapp: Arc<dyn WhatsAppGateway>,
    email: Arc<dyn EmailGateway>,
    pacing: Arc<dyn SendPacing>,
    settings: Arc<dyn ChannelSettings>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
}

impl DeliverMessage {
    pub fn new(
        deliveries: Arc<dyn Deliveries>,
        whatsapp: Arc<dyn WhatsAppGateway>,
        email: Arc<dyn EmailGateway>,
        pacing: Arc<dyn SendPacing>,
        settings: Arc<dyn ChannelSettings>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self { deliveries, whatsapp, email, pacing, settings, clock, policy }
    }

    pub async fn execute(
        &self,
        delivery_id: Uuid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<DeliverOutcome, DeliverError> {
        let span =
            tracing::info_span!("deliver_message", trace_id = %trace.trace_id, %delivery_id, attempt = attempt.number);
        self.run(delivery_id, trace, attempt).instrument(span).await
    }

    async fn run(
        &self,
        delivery_id: Uuid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<DeliverOutcome, DeliverError> {
        let delivery = self.deliveries.get(delivery_id).await?.ok_or(DeliverError::NotFound(delivery_id))?;
        if delivery.state != DeliveryState::Pending {
            tracing::info!(state = %delivery.state, "already sent; not sending again");
            return Ok(DeliverOutcome::AlreadySent);
        }
        let now = self.clock.now();
        if let Some(since) = delivery.uncertain_since {
            let until = since + self.policy.uncertain_grace;
            if now < until {
                tracing::info!("an earlier send timed out; waiting for a status webhook before sending again");
                return Ok(DeliverOutcome::Deferred { until });
            }
        }
        match self.choose_route(&delivery, now).await? {
            Ok(Route::Email) => self.send_email(&delivery, &trace, attempt, now).await,
            Ok(route) => self.send_whatsapp(&delivery, route, &trace, attempt, now).await,
            Err(reason) => self.fail(&delivery, &reason, now).await,
        }
    }

    fn can_email(&self, delivery: &Delivery) -> bool {
        delivery.fallback_allowed && delivery.email.is_some()
    }

    /// The route to take now, or why there is none.
    async fn choose_route(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Result<Result<Route, String>, DeliverError> {
        if delivery.route != Route::Whatsapp {
            return Ok(Ok(delivery.route));
        }
        if self.can_email(delivery) && self.settings.email_priority().await? {
            tracing::info!("email has priority (channels.gmail.priority)");
            metrics::counter!("switchboard_fallbacks_total", "reason" => "email_priority").increment(1);
            return Ok(Ok(Route::Email));
        }
        let window = ServiceWindow::new(delivery.last_inbound_at);
        if delivery.message.content.is_template() || window.is_open(now) {
            return Ok(Ok(Route::Whatsapp));
        }
        let template =
            self.policy.outside_window == OutsideWindow::Template && self.policy.reengagement_template.is_some();
        Ok(if template {
            tracing::info!("outside the 24-hour window; sending the re-engagement template");
            Ok(Route::WhatsappTemplate)
        } else if self.can_email(delivery) {
            tracing::info!("outside the 24-hour window; falling back to email");
            metrics::counter!("switchboard_fallbacks_total", "reason" => "outside_window").increment(1);
            Ok(Route::Email)
        } else {
            Err(String::from("outside the 24-hour window, and no template or email address to fall back on"))
        })
    }

    fn template_message(&self, delivery: &Delivery) -> Option<OutboundMessage> {
        let template = self.policy.reengagement_template.as_ref()?;
        let components = if template.name_param {
            let name = delivery.profile_name.clone().unwrap_or_else(|| String::from("there"));
            vec![TemplateComponent {
                kind: String::from("body"),
                sub_type: None,
                index: None,
                parameters: vec![TemplateParameter::Text { text: name }],
            }]
        } else {
            Vec::new()
        };
        Some(OutboundMessage {
            content: OutboundContent::Template {
                name: template.name.clone(),
                language: template.language.clone(),
                components,
            },
            reply_to: None,
            ..delivery.message.clone()
        })
    }

    async fn send_whatsapp(
        &self,
        delivery: &Delivery,
        mut route: Route,
        trace: &TraceContext,
        attempt: Attempt,
        now: OffsetDateTime,
    ) -> Result<DeliverOutcome, DeliverError> {
        let to = delivery.message.to.key().masked();
        // At most two passes: the message, then the template if Meta says the window closed.
        loop {
            let message = match route {
                Route::WhatsappTemplate => match self.template_message(delivery) {
                    Some(m) => m,
                    None => {
                        return self
                            .fall_back_or_fail(
                                delivery,
                                "no_template",
                                "no re-engagement template configured",
                                trace,
                                attempt,
                                now,
                            )
                            .await;
                    }
                },
                _ => delivery.message.clone(),
            };
            if let Err(e) = message.content.validate() {
                return self.fail(delivery, &format!("not sent: {e}"), now).await;
            }
            if let Some(wait) = self.pacing.reserve(&message.from_number_id, &message.to.send_address()) {
                tracing::debug!(wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "rate limit: waiting");
                return Ok(DeliverOutcome::Deferred { until: now + wait });
            }
            self.deliveries.mark_in_flight(delivery.id, now).await?;
            let error = match self.whatsapp.send(&message, Some(delivery.id.to_string()), trace).await {
                Ok(receipt) => {
                    self.deliveries
                        .mark_sent(delivery.id, route, Some(receipt.provider_id.clone()), "accepted", now)
                        .await?;
                    metrics::counter!("whatsapp_messages_sent_total", "status" => "success").increment(1);
                    tracing::info!(%to, provider_id = %receipt.provider_id, route = route.as_str(), "accepted by WhatsApp");
                    return Ok(DeliverOutcome::Sent { route, provider_id: Some(receipt.provider_id.to_string()) });
                }
                Err(e) => e,
            };
            let reason = error.to_string();
            match error.action() {
                SendAction::RetryWithBackoff => {
                    if matches!(error, SendError::Timeout(_)) {
                        tracing::warn!(%to, %reason, "send timed out; it may have reached Meta");
                        self.deliveries.record_attempt(delivery.id, AttemptOutcome::Uncertain, &reason, now).await?;
                    }
                    if attempt.is_last {
                        return self
                            .fall_back_or_fail(
                                delivery,
                                "retries_exhausted",
                                &format!("retries exhausted: {reason}"),
                                trace,
                                attempt,
                                now,
                            )
                            .await;
                    }
                    if !matches!(error, SendError::Timeout(_)) {
                        tracing::warn!(%to, %reason, "send failed; will retry");
                        self.deliveries.record_failure(delivery.id, &reason, false, now).await?;
                    }
                    return Err(DeliverError::Send(error));
                }
                SendAction::PaceRecipient => {
                    let index = usize::try_from(delivery.paced).unwrap_or(usize::MAX).min(PAIR_RATE_BACKOFF.len() - 1);
                    let wait = PAIR_RATE_BACKOFF[index];
                    tracing::warn!(%to, wait_s = wait.as_secs(), "pair rate limit: pacing this user");
                    self.deliveries.record_attempt(delivery.id, AttemptOutcome::Paced, &reason, now).await?;
                    return Ok(DeliverOutcome::Deferred { until: now + wait });
                }
                SendAction::NeedsTemplate
                    if route == Route::Whatsapp && self.policy.reengagement_template.is_some() =>
                {
                    tracing::warn!(%to, "Meta says the window has closed; sending the re-engagement template");
                    self.deliveries.record_attempt(delivery.id, AttemptOutcome::Rerouted, &reason, now).await?;
                    route = Route::WhatsappTemplate;
                }
                SendAction::NeedsTemplate | SendAction::FallBack => {
                    return self.fall_back_or_fail(delivery, error.label(), &reason, trace, attempt, now).await;
                }
                SendAction::StopAndAlert => {
                    tracing::error!(%to, %reason, "WhatsApp refuses every send until an operator acts");
                    if self.can_email(delivery) {
                        return self.fall_back_or_fail(delivery, error.label(), &reason, trace, attempt, now).await;
                    }
                    self.deliveries.record_attempt(delivery.id, AttemptOutcome::Held, &reason, now).await?;
                    let wait = self.policy.hold.ceiling(delivery.held.saturating_add(1));
                    return Ok(DeliverOutcome::Deferred { until: now + wait });
                }
                SendAction::NeverRetry => return self.fail(delivery, &reason, now).await,
            }
        }
    }

    async fn fall_back_or_fail(
        &self,
        delivery: &Delivery,
        label: &'static str,
        reason: &str,
        trace: &TraceContext,
        attempt: Attempt,
        now: OffsetDateTime,
    ) -> Result<DeliverOutcome, DeliverError> {
        if !self.can_email(delivery) {
            let why = if delivery.fallback_allowed {
                "no email address to fall back on"
            } else {
                "no fallback for this message"
            };
            return self.fail(delivery, &format!("{reason}; {why}"), now).await;
        }
        tracing::warn!(%reason, "WhatsApp cannot deliver; falling back to email");
        metrics::counter!("switchboard_fallbacks_total", "reason" => label).increment(1);
        metrics::counter!("whatsapp_messages_sent_total", "status" => "rerouted").increment(1);
        self.deliveries.record_attempt(delivery.id, AttemptOutcome::Rerouted, reason, now).await?;
        self.send_email(delivery, trace, attempt, now).await
    }

    async fn send_email(
        &self,
        delivery: &Delivery,
        trace: &TraceContext,
        attempt: Attempt,
        now: OffsetDateTime,
    ) -> Result<DeliverOutcome, DeliverError> {
        let Some(address) = delivery.email.clone() else {
            return self.fail(delivery, "email requested but no email address is known", now).await;
        };
        let email = OutboundEmail {
            to: address.clone(),
            text: delivery.message.content.as_plain_text(),
            delivery_id: delivery.id,
        };
        match self.email.send(&email, trace).await {
            Ok(message_id) => {
                self.deliveries.mark_sent(delivery.id, Route::Email, None, &message_id, now).await?;
                metrics::counter!("switchboard_emails_sent_total").increment(1);
                tracing::info!(to = %address.masked(), "sent by email");
                Ok(DeliverOutcome::Sent { route: Route::Email, provider_id: None })
            }
            Err(EmailError::Transient(reason)) if !attempt.is_last => {
                self.deliveries.record_failure(delivery.id, &format!("email: {reason}"), false, now).await?;
                Err(DeliverError::Email(EmailError::Transient(reason)))
            }
            Err(e) => self.fail(delivery, &format!("email: {e}"), now).await,
        }
    }

    async fn fail(
        &self,
        delivery: &Delivery,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<DeliverOutcome, DeliverError> {
        metrics::counter!("whatsapp_messages_sent_total", "status" => "failed").increment(1);
        tracing::error!(to = %delivery.message.to.key().masked(), %reason, "delivery failed");
        self.deliveries.record_failure(delivery.id, reason, true, now).await?;
        Ok(DeliverOutcome::Failed { reason: reason.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockChannelSettings, MockClock, MockDeliveries, MockEmailGateway, MockSendPacing, MockWhatsAppGateway,
        SendReceipt,
    };
    use crate::usecases::fixtures::delivery;
    use switchboard_domain::SendFailure;
    use switchboard_domain::{EmailAddress, Wamid};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    struct Ports {
        deliveries: MockDeliveries,
        whatsapp: MockWhatsAppGateway,
        email: MockEmailGateway,
        pacing: MockSendPacing,
        settings: MockChannelSettings,
        template: Option<TemplateConfig>,
    }

    impl Ports {
        fn new(current: Delivery) -> Self {
            let mut deliveries = MockDeliveries::new();
            deliveries.expect_get().returning(move |_| Ok(Some(current.clone())));
            deliveries.expect_mark_in_flight().returning(|_, _| Ok(()));
            let mut pacing = MockSendPacing::new();
            pacing.expect_reserve().returning(|_, _| None);
            let mut settings = MockChannelSettings::new();
            settings.expect_email_priority().returning(|| Ok(false));
            Self {
                deliveries,
                whatsapp: MockWhatsAppGateway::new(),
                email: MockEmailGateway::new(),
                pacing,
                settings,
                template: None,
            }
        }

        fn build(self) -> DeliverMessage {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(NOW);
            let outside_window = if self.template.is_some() { OutsideWindow::Template } else { OutsideWindow::Email };
            DeliverMessage::new(
                Arc::new(self.deliveries),
                Arc::new(self.whatsapp),
                Arc::new(self.email),
                Arc::new(self.pacing),
                Arc::new(self.settings),
                Arc::new(clock),
                DeliveryPolicy {
                    reengagement_template: self.template,
                    outside_window,
                    uncertain_grace: Duration::from_secs(30),
                    hold: RetryPolicy {
                        base: Duration::from_secs(1),
                        max_delay: Duration::from_secs(60),
                        max_attempts: 8,
                    },
                },
            )
        }
    }

    /// A pending delivery inside the window, with an email address to fall back on.
    fn pending() -> Delivery {
        Delivery {
            last_inbound_at: Some(NOW - time::Duration::hours(1)),
            email: Some(EmailAddress::parse("amelia@example.com").unwrap()),
            fallback_allowed: true,
            ..delivery(DeliveryState::Pending)
        }
    }

    fn graph(code: i64) -> SendError {
        SendError::Graph { code, failure: SendFailure::from_code(code), message: "error".into() }
    }

    async fn run(ports: Ports, attempt: Attempt) -> Result<DeliverOutcome, DeliverError> {
        ports.build().execute(Uuid::nil(), TraceContext::new_root(), attempt).await
    }

    #[tokio::test]
    async fn a_pending_delivery_is_sent_and_marked_sent_with_metas_wamid() {
        let mut ports = Ports::new(pending());
        ports
            .whatsapp
            .expect_send()
            .withf(|_, cb, _| cb.as_deref() == Some(&Uuid::nil().to_string()[..]))
            .times(1)
            .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
        ports
            .deliveries
            .expect_mark_sent()
            .withf(|_, route, w, _, _| *route == Route::Whatsapp && w.as_ref().map(Wamid::as_str) == Some("wamid.OUT"))
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Whatsapp, .. }));
    }

    #[tokio::test]
    async fn a_send_is_noted_in_flight_before_it_leaves() {
        let mut seq = mockall::Sequence::new();
        let mut ports = Ports::new(pending());
        ports.deliveries = MockDeliveries::new();
        ports.deliveries.expect_get().returning(|_| Ok(Some(pending())));
        ports.deliveries.expect_mark_in_flight().times(1).in_sequence(&mut seq).returning(|_, _| Ok(()));
        ports
            .whatsapp
            .expect_send()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
        ports.deliveries.expect_mark_sent().times(1).in_sequence(&mut seq).returning(|_, _, _, _, _| Ok(true));

        run(ports, Attempt::first()).await.unwrap();
    }

    #[tokio::test]
    async fn a_delivery_already_sent_is_not_sent_again() {
        let mut ports = Ports::new(delivery(DeliveryState::Sent));
        ports.whatsapp.expect_send().never();

        assert_eq!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::AlreadySent);
    }

    #[tokio::test]
    async fn a_throttled_send_is_recorded_and_retried() {
        let mut ports = Ports::new(pending());
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(130429)));
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, _, is_final, _| !is_final)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        let result = run(ports, Attempt::first()).await;

        assert!(matches!(result, Err(ref e) if e.is_retriable()));
    }

    #[tokio::test]
    async fn undeliverable_falls_back_to_email_saying_what_the_message_said() {
        let mut ports = Ports::new(pending());
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131026)));
        ports
            .deliveries
            .expect_record_attempt()
            .withf(|_, o, _, _| *o == AttemptOutcome::Rerouted)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        ports
            .email
            .expect_send()
            .withf(|e, _| e.text == "Hi" && e.to.as_str() == "amelia@example.com")
            .times(1)
            .returning(|_, _| Ok("<m1@x>".into()));
        ports
            .deliveries
            .expect_mark_sent()
            .withf(|_, route, _, _, _| *route == Route::Email)
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert_eq!(outcome, DeliverOutcome::Sent { route: Route::Email, provider_id: None });
    }

    #[tokio::test]
    async fn undeliverable_without_an_email_address_fails_with_the_reason() {
        let mut ports = Ports::new(Delivery { email: None, ..pending() });
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131026)));
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, reason, is_final, _| {
                *is_final && reason.contains("131026") && reason.contains("no email address")
            })
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn the_pair_rate_limit_paces_the_user_for_1_then_4_then_16_seconds() {
        for (paced, wait) in [(0, 1), (1, 4), (2, 16), (5, 16)] {
            let mut ports = Ports::new(Delivery { paced, ..pending() });
            ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131056)));
            ports
                .deliveries
                .expect_record_attempt()
                .withf(|_, o, _, _| *o == AttemptOutcome::Paced)
                .returning(|_, _, _, _| Ok(()));

            let outcome = run(ports, Attempt::first()).await.unwrap();

            assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(wait) }, "after {paced}");
        }
    }

    #[tokio::test]
    async fn an_expired_token_holds_the_delivery_without_spending_attempts() {
        let mut ports = Ports::new(Delivery { email: None, held: 2, ..pending() });
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(190)));
        ports
            .deliveries
            .expect_record_attempt()
            .withf(|_, o, _, _| *o == AttemptOutcome::Held)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        let outcome = run(ports, Attempt { number: 8, is_last: true }).await.unwrap();

        assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(4) });
    }

    #[tokio::test]
    async fn a_rate_limit_wait_defers_the_job_without_sending() {
        let mut ports = Ports::new(pending());
        ports.pacing = MockSendPacing::new();
        ports.pacing.expect_reserve().returning(|_, _| Some(Duration::from_millis(250)));
        ports.whatsapp.expect_send().never();

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_millis(250) });
    }

    #[tokio::test]
    async fn outside_the_window_the_reengagement_template_goes_with_the_users_name() {
        let mut ports = Ports::new(Delivery {
            last_inbound_at: Some(NOW - time::Duration::hours(25)),
            profile_name: Some("Amelia".into()),
            ..pending()
        });
        ports.template =
            Some(TemplateConfig { name: "hello_again".into(), language: "en_US".into(), name_param: true });
        ports
            .whatsapp
            .expect_send()
            .withf(|m, _, _| {
                matches!(&m.content, OutboundContent::Template { name, components, .. }
                    if name == "hello_again" && components[0].parameters == vec![TemplateParameter::Text { text: "Amelia".into() }])
            })
            .times(1)
            .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.T").unwrap() }));
        ports
            .deliveries
            .expect_mark_sent()
            .withf(|_, r, _, _, _| *r == Route::WhatsappTemplate)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::WhatsappTemplate, .. }));
    }

    #[tokio::test]
    async fn outside_the_window_without_a_template_the_reply_goes_by_email() {
        let mut ports = Ports::new(Delivery { last_inbound_at: Some(NOW - time::Duration::hours(30)), ..pending() });
        ports.whatsapp.expect_send().never();
        ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
        ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
    }

    #[tokio::test]
    async fn email_priority_sends_by_email_first() {
        let mut ports = Ports::new(pending());
        ports.settings = MockChannelSettings::new();
        ports.settings.expect_email_priority().returning(|| Ok(true));
        ports.whatsapp.expect_send().never();
        ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
        ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _| Ok(true));

        assert!(matches!(
            run(ports, Attempt::first()).await.unwrap(),
            DeliverOutcome::Sent { route: Route::Email, .. }
        ));
    }

    #[tokio::test]
    async fn a_timed_out_send_waits_for_proof_before_sending_again() {
        let mut ports = Ports::new(Delivery { uncertain_since: Some(NOW - time::Duration::seconds(10)), ..pending() });
        ports.whatsapp.expect_send().never();

        let outcome = run(ports, Attempt { number: 2, is_last: false }).await.unwrap();

        assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(20) });
    }

    #[tokio::test]
    async fn a_send_that_times_out_is_recorded_as_uncertain() {
        let mut ports = Ports::new(pending());
        ports.whatsapp.expect_send().returning(|_, _, _| Err(SendError::Timeout("10 s".into())));
        ports
            .deliveries
            .expect_record_attempt()
            .withf(|_, o, _, _| *o == AttemptOutcome::Uncertain)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        assert!(run(ports, Attempt::first()).await.is_err());
    }

    #[tokio::test]
    async fn retries_exhausted_fall_back_to_email() {
        let mut ports = Ports::new(pending());
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131000)));
        ports.deliveries.expect_record_attempt().returning(|_, _, _, _| Ok(()));
        ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
        ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt { number: 8, is_last: true }).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
    }

    #[tokio::test]
    async fn a_parameter_error_is_never_retried() {
        let mut ports = Ports::new(pending());
        ports.whatsapp.expect_send().times(1).returning(|_, _, _| Err(graph(100)));
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, _, is_final, _| *is_final)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
    }

    fn reengagement() -> Option<TemplateConfig> {
        Some(TemplateConfig { name: String::from("reengage"), language: String::from("en"), name_param: true })
    }

    #[tokio::test]
    async fn outside_the_window_with_no_template_or_email_the_delivery_fails_saying_so() {
        let mut ports = Ports::new(Delivery { last_inbound_at: None, email: None, ..pending() });
        ports.whatsapp.expect_send().never();
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, reason, last, _| reason.contains("outside the 24-hour window") && *last)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.contains("no template or email")));
    }

    #[tokio::test]
    async fn when_meta_says_the_window_closed_the_reengagement_template_goes_instead() {
        let mut ports = Ports::new(Delivery { profile_name: Some(String::from("Amelia")), ..pending() });
        ports.template = reengagement();
        ports
            .whatsapp
            .expect_send()
            .withf(|message, _, _| !message.content.is_template())
            .times(1)
            .returning(|_, _, _| Err(graph(131047)));
        ports
            .deliveries
            .expect_record_attempt()
            .withf(|_, outcome, _, _| *outcome == AttemptOutcome::Rerouted)
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        ports
            .whatsapp
            .expect_send()
            .withf(|message, _, _| message.content.as_plain_text() == "[template reengage] Amelia")
            .times(1)
            .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.T").unwrap() }));
        ports
            .deliveries
            .expect_mark_sent()
            .withf(|_, route, _, _, _| *route == Route::WhatsappTemplate)
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::WhatsappTemplate, .. }));
    }

    #[tokio::test]
    async fn a_delivery_routed_to_the_template_without_one_configured_falls_back_to_email() {
        let mut ports = Ports::new(Delivery { route: Route::WhatsappTemplate, ..pending() });
        ports.whatsapp.expect_send().never();
        ports.deliveries.expect_record_attempt().times(1).returning(|_, _, _, _| Ok(()));
        ports.email.expect_send().times(1).returning(|_, _| Ok(String::from("<1@mail>")));
        ports
            .deliveries
            .expect_mark_sent()
            .withf(|_, route, _, _, _| *route == Route::Email)
            .times(1)
            .returning(|_, _, _, _, _| Ok(true));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
    }

    #[tokio::test]
    async fn a_transient_email_failure_is_retried_until_the_last_attempt_fails_it() {
        let email_route = || Delivery { route: Route::Email, ..pending() };
        let mut ports = Ports::new(email_route());
        ports.email.expect_send().returning(|_, _| Err(EmailError::Transient(String::from("421 try later"))));
        ports.deliveries.expect_record_failure().withf(|_, _, last, _| !*last).times(1).returning(|_, _, _, _| Ok(()));

        let retried = run(ports, Attempt::first()).await;

        let mut ports = Ports::new(email_route());
        ports.email.expect_send().returning(|_, _| Err(EmailError::Transient(String::from("421 try later"))));
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, reason, last, _| *last && reason.contains("421"))
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        let failed = run(ports, Attempt { number: 8, is_last: true }).await.unwrap();

        assert!(matches!(retried, Err(e) if e.is_retriable()));
        assert!(matches!(failed, DeliverOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn an_email_route_without_an_address_fails_the_delivery() {
        let mut ports = Ports::new(Delivery { route: Route::Email, email: None, ..pending() });
        ports.email.expect_send().never();
        ports.deliveries.expect_record_failure().times(1).returning(|_, _, _, _| Ok(()));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.contains("no email address")));
    }

    #[tokio::test]
    async fn a_message_that_breaks_a_limit_is_failed_without_being_sent() {
        let mut over = pending();
        over.message.content = OutboundContent::text("x".repeat(5000));
        let mut ports = Ports::new(over);
        ports.whatsapp.expect_send().never();
        ports.deliveries.expect_record_failure().times(1).returning(|_, _, _, _| Ok(()));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.starts_with("not sent: text body")));
    }

    #[tokio::test]
    async fn a_delivery_whose_stored_data_is_corrupt_is_not_retried() {
        let mut ports = Ports::new(pending());
        ports.deliveries = MockDeliveries::new();
        ports.deliveries.expect_get().returning(|_| Err(StoreError::Corrupt(String::from("bad route"))));

        let result = run(ports, Attempt::first()).await;

        assert!(matches!(result, Err(e) if !e.is_retriable()));
    }
}
