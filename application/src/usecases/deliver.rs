use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::{
    DeliveryState, OutboundContent, OutboundMessage, ServiceWindow, TemplateComponent, TemplateParameter,
};
use switchboard_domain::{SendAction, SendFailure, SendKind};
use switchboard_shared::retry::PAIR_RATE_BACKOFF;
use switchboard_shared::{RetryPolicy, TraceContext};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::ports::{
    AttemptOutcome, ChannelSettings, Clock, Consents, Deliveries, Delivery, EmailAttachment, EmailError, EmailGateway,
    OutboundEmail, Route, SendError, SendPacing, StoreError, WhatsAppGateway,
};
use crate::usecases::media::UploadMedia;
use crate::usecases::{Attempt, consent};

#[derive(Debug, Clone, PartialEq)]
pub enum DeliverOutcome {
    Sent {
        route: Route,
        provider_id: Option<String>,
        /// The sent mark also ended the job this ran under (`Attempt::lease`).
        ended_job: bool,
    },
    /// Sent before (the job ran twice); not sent again.
    AlreadySent,
    /// Waiting for a rate limit, a hold or proof of an uncertain send: run again then,
    /// without counting an attempt.
    Deferred { until: OffsetDateTime },
    /// No channel can deliver it; the delivery ended failed with the reason.
    Failed { reason: String },
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
    consents: Option<Arc<dyn Consents>>,
    media: Option<UploadMedia>,
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
        Self { deliveries, whatsapp, email, pacing, settings, consents: None, media: None, clock, policy }
    }

    /// Files in the media store are uploaded to WhatsApp as their message leaves, and
    /// attached to the email when it goes by email.
    #[must_use]
    pub fn with_media(mut self, media: UploadMedia) -> Self {
        self.media = Some(media);
        self
    }

    /// No template goes to a contact who opted out (of business-initiated messages or of
    /// marketing): the delivery ends failed with the reason, without an email fallback
    /// (the user said no to messages they did not ask for). Meta's 131050 opts the
    /// contact out of marketing.
    #[must_use]
    pub fn with_consents(mut self, consents: Arc<dyn Consents>) -> Self {
        self.consents = Some(consents);
        self
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
        // Marked in flight when the reply was recorded, for the lease this attempt runs
        // under (ADR 0034): the mark is ours, nothing left yet. Any other mark is a send
        // that may have reached Meta (a timeout, or a crash before its answer was stored).
        let premarked = delivery.uncertain_since.is_some()
            && delivery.in_flight_by.is_some()
            && delivery.in_flight_by == attempt.lease.map(|lease| lease.token);
        if let Some(since) = delivery.uncertain_since
            && !premarked
        {
            let until = since + self.policy.uncertain_grace;
            if now < until {
                tracing::info!("an earlier send timed out; waiting for a status webhook before sending again");
                return Ok(DeliverOutcome::Deferred { until });
            }
        }
        match self.choose_route(&delivery, now).await? {
            Ok(Route::Email) => self.send_email(&delivery, &trace, attempt, now).await,
            Ok(route) => self.send_whatsapp(&delivery, route, &trace, attempt, premarked, now).await,
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
                parameters: vec![TemplateParameter::text(name)],
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

    /// Sends on WhatsApp; `premarked`: the delivery is marked in flight already, by the
    /// write that recorded its reply for this attempt's lease.
    async fn send_whatsapp(
        &self,
        delivery: &Delivery,
        mut route: Route,
        trace: &TraceContext,
        attempt: Attempt,
        mut premarked: bool,
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
            if message.content.is_template()
                && let Some(consents) = &self.consents
                && let Some(refused) =
                    consent::refusal(consents.as_ref(), &message.to, SendKind { proactive: false, template: true })
                        .await?
            {
                return self.fail(delivery, &format!("not sent: {refused}"), now).await;
            }
            if let Some(wait) = self.pacing.reserve(&message.from_number_id, &message.to.send_address()) {
                tracing::debug!(wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "rate limit: waiting");
                if premarked {
                    // Nothing leaves now: the next attempt must not take it for a lost send.
                    self.deliveries.clear_in_flight(delivery.id).await?;
                }
                return Ok(DeliverOutcome::Deferred { until: now + wait });
            }
            if !premarked {
                self.deliveries.mark_in_flight(delivery.id, now).await?;
            }
            // A second pass (the template after Meta said the window closed) marks again:
            // the outcome of the first cleared the note.
            premarked = false;
            let sent = match &self.media {
                Some(media) => match media.resolve(&message, trace).await {
                    Ok(resolved) => self.whatsapp.send(&resolved, Some(delivery.id.to_string()), trace).await,
                    Err(e) => Err(e),
                },
                None => self.whatsapp.send(&message, Some(delivery.id.to_string()), trace).await,
            };
            let error = match sent {
                Ok(receipt) => {
                    self.deliveries
                        .mark_sent(
                            delivery.id,
                            route,
                            Some(receipt.provider_id.clone()),
                            "accepted",
                            now,
                            attempt.lease,
                        )
                        .await?;
                    metrics::counter!("whatsapp_messages_sent_total", "status" => "success").increment(1);
                    tracing::info!(%to, provider_id = %receipt.provider_id, route = route.as_str(), "accepted by WhatsApp");
                    return Ok(DeliverOutcome::Sent {
                        route,
                        provider_id: Some(receipt.provider_id.to_string()),
                        ended_job: attempt.lease.is_some(),
                    });
                }
                Err(e) => e,
            };
            let reason = error.to_string();
            if let (SendError::Graph { failure: SendFailure::OptedOut, .. }, Some(consents)) = (&error, &self.consents)
            {
                consent::opted_out_of_marketing(consents.as_ref(), &delivery.message.to, now).await?;
            }
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
            attachments: match &self.media {
                Some(media) => media
                    .attachments(&delivery.message.content)
                    .await
                    .map_err(|e| DeliverError::Store(StoreError::Unavailable(anyhow::anyhow!(e.to_string()))))?
                    .into_iter()
                    .map(|(stored, bytes)| EmailAttachment {
                        filename: stored.filename.unwrap_or_else(|| stored.key.as_str().replace('/', "-")),
                        mime_type: stored.mime_type,
                        bytes,
                    })
                    .collect(),
                None => Vec::new(),
            },
        };
        match self.email.send(&email, trace).await {
            Ok(message_id) => {
                self.deliveries.mark_sent(delivery.id, Route::Email, None, &message_id, now, attempt.lease).await?;
                metrics::counter!("switchboard_emails_sent_total").increment(1);
                tracing::info!(to = %address.masked(), "sent by email");
                Ok(DeliverOutcome::Sent { route: Route::Email, provider_id: None, ended_job: attempt.lease.is_some() })
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
mod tests;
