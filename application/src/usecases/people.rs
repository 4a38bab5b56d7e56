//! People in the loop: what operators do with a conversation (take it over, answer,
//! hand it back to the bot, close it), and the announcement that one waits for them.

use std::sync::Arc;

use switchboard_domain::{
    ConsentRefusal, ContentError, Handler, OutboundContent, OutboundMessage, SendKind, ServiceWindow,
};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{AnnounceChannel, JobKind, NewJob, delivery_ordering_key};
use crate::ports::{
    AnnounceError, Clock, Consents, ConversationHandling, Deliveries, HandlingChange, HandoffNotice, NewOutbound,
    OperatorAlerts, People, Route, StoreError,
};
use crate::usecases::consent;
use crate::usecases::templates::{TemplateCatalogue, TemplateMismatch};

#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("no conversation {0}")]
    NotFound(Uuid),
    /// The conversation is not in a state that allows this (the message says why).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] ContentError),
    /// The contact opted out, and the answer would be a template (outside the window).
    #[error(transparent)]
    OptedOut(#[from] ConsentRefusal),
    /// A template sent with body parameters that do not fit it.
    #[error(transparent)]
    Template(#[from] TemplateMismatch),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The operators' actions on a conversation. Each is recorded in its history (who, when).
pub struct PeopleInTheLoop {
    people: Arc<dyn People>,
    deliveries: Arc<dyn Deliveries>,
    consents: Option<Arc<dyn Consents>>,
    templates: Option<Arc<TemplateCatalogue>>,
    clock: Arc<dyn Clock>,
}

impl PeopleInTheLoop {
    pub fn new(people: Arc<dyn People>, deliveries: Arc<dyn Deliveries>, clock: Arc<dyn Clock>) -> Self {
        Self { people, deliveries, consents: None, templates: None, clock }
    }

    /// An operator's template must fit the approved template of that name: one body
    /// parameter per placeholder.
    #[must_use]
    pub fn with_templates(mut self, templates: Arc<TemplateCatalogue>) -> Self {
        self.templates = Some(templates);
        self
    }

    /// An operator's answer that would be a template (one, or anything outside the
    /// 24-hour window) is refused when the contact opted out; inside the window it goes.
    #[must_use]
    pub fn with_consents(mut self, consents: Arc<dyn Consents>) -> Self {
        self.consents = Some(consents);
        self
    }

    async fn found(&self, conversation_id: Uuid) -> Result<ConversationHandling, PeopleError> {
        self.people.handling(conversation_id).await?.ok_or(PeopleError::NotFound(conversation_id))
    }

    /// People handle the conversation, `operator` in charge: from the bot, from a wait
    /// for a person, or from closed. Refused when another operator holds it.
    pub async fn take_over(&self, conversation_id: Uuid, operator: &str) -> Result<ConversationHandling, PeopleError> {
        let span = tracing::info_span!("take_over", %conversation_id);
        self.change(conversation_id, HandlingChange::TakeOver { operator: operator.to_owned() }).instrument(span).await
    }

    /// The bot answers again; `note` reaches the agent with the user's next message.
    pub async fn hand_back(
        &self,
        conversation_id: Uuid,
        operator: &str,
        note: Option<String>,
    ) -> Result<ConversationHandling, PeopleError> {
        let span = tracing::info_span!("hand_back", %conversation_id);
        let note = note.map(|n| n.trim().chars().take(1000).collect::<String>()).filter(|n| !n.is_empty());
        self.change(conversation_id, HandlingChange::HandBack { operator: operator.to_owned(), note })
            .instrument(span)
            .await
    }

    /// Nobody answers until the user writes again (then the bot does).
    pub async fn close(&self, conversation_id: Uuid, operator: &str) -> Result<ConversationHandling, PeopleError> {
        let span = tracing::info_span!("close", %conversation_id);
        self.change(conversation_id, HandlingChange::Close { operator: operator.to_owned() }).instrument(span).await
    }

    async fn change(&self, conversation_id: Uuid, change: HandlingChange) -> Result<ConversationHandling, PeopleError> {
        let before = self.found(conversation_id).await?;
        let from: &[Handler] = match change {
            HandlingChange::TakeOver { .. } => &[Handler::Bot, Handler::People, Handler::Closed],
            HandlingChange::HandBack { .. } => &[Handler::People, Handler::Closed],
            HandlingChange::Close { .. } => &[Handler::Bot, Handler::People],
        };
        if let HandlingChange::TakeOver { operator } = &change
            && let Some(holder) =
                before.operator.as_deref().filter(|h| *h != operator && before.handler == Handler::People)
        {
            return Err(PeopleError::Conflict(format!("{holder} handles this conversation already")));
        }
        if !from.contains(&before.handler) {
            return Err(PeopleError::Conflict(format!(
                "the conversation is handled by {}: it cannot be {}",
                before.handler,
                past_tense(&change)
            )));
        }
        if !self.people.change(conversation_id, &change, from, self.clock.now()).await? {
            return Err(PeopleError::Conflict(String::from("the conversation changed meanwhile; look again")));
        }
        tracing::info!(action = change.action(), "conversation handling changed");
        metrics::counter!("switchboard_handoff_actions_total", "action" => change.action()).increment(1);
        self.found(conversation_id).await
    }

    /// An operator's answer, through the same delivery path as an agent's (window and
    /// template, pacing, email fallback, statuses). People must handle the conversation;
    /// the first operator to answer a waiting conversation takes it over.
    pub async fn reply(
        &self,
        conversation_id: Uuid,
        operator: &str,
        content: OutboundContent,
        trace: TraceContext,
    ) -> Result<Uuid, PeopleError> {
        let span = tracing::info_span!("operator_reply", trace_id = %trace.trace_id, %conversation_id);
        async {
            content.validate()?;
            let mut handling = self.found(conversation_id).await?;
            if handling.handler != Handler::People {
                return Err(PeopleError::Conflict(format!(
                    "the conversation is handled by {}: take it over before answering",
                    handling.handler
                )));
            }
            if let Some(consents) = &self.consents {
                let outside = !ServiceWindow::new(handling.last_inbound_at).is_open(self.clock.now());
                let send = SendKind { proactive: false, template: content.is_template() || outside };
                if let Some(refused) = consent::refusal(consents.as_ref(), &handling.user, send).await? {
                    return Err(refused.into());
                }
            }
            if let Some(templates) = &self.templates {
                templates.check(&content).await?;
            }
            match handling.operator.as_deref() {
                Some(holder) if holder != operator => {
                    return Err(PeopleError::Conflict(format!("{holder} handles this conversation")));
                }
                Some(_) => {}
                None => handling = self.take_over(conversation_id, operator).await?,
            }
            let now = self.clock.now();
            // Read before the reply is stored: this reply ends a wait (docs/operations.md).
            let waited_since = handling.handoff_at.filter(|_| handling.waits_for_a_person());
            let delivery_id = Uuid::now_v7();
            let message = OutboundMessage {
                to: handling.user.clone(),
                from_number_id: handling.business_number_id.clone(),
                content,
                reply_to: None,
            };
            let job = NewJob {
                kind: JobKind::DeliverMessage { delivery_id },
                ordering_key: delivery_ordering_key(&message),
                order_at: now,
                run_at: now,
                trace,
            };
            self.deliveries
                .create(NewOutbound {
                    delivery_id,
                    message,
                    email: None,
                    route: Route::Whatsapp,
                    fallback_allowed: true,
                    trace,
                    job,
                    operator: Some(operator.to_owned()),
                })
                .await?;
            // The wait ends when the answer is accepted for delivery, as the waiting gauge
            // says; Meta's ticks tell when it reached the phone.
            if let Some(since) = waited_since {
                metrics::histogram!("switchboard_handoff_first_reply_seconds").record((now - since).as_seconds_f64());
            }
            tracing::info!(%delivery_id, "operator reply accepted for delivery");
            Ok(delivery_id)
        }
        .instrument(span)
        .await
    }
}

fn past_tense(change: &HandlingChange) -> &'static str {
    match change {
        HandlingChange::TakeOver { .. } => "taken over",
        HandlingChange::HandBack { .. } => "handed back",
        HandlingChange::Close { .. } => "closed",
    }
}

/// How an announcement job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnounceOutcome {
    Announced,
    /// Nobody waits any more (an operator answered, or the bot has it again).
    NoLongerWaiting,
}

/// Tells operators that a conversation waits for a person (a job per channel).
pub struct AnnounceHandoff {
    people: Arc<dyn People>,
    alerts: Arc<dyn OperatorAlerts>,
    console_url: Option<String>,
}

impl AnnounceHandoff {
    /// `console_url`: the console's public address, for a link in the announcement.
    pub fn new(people: Arc<dyn People>, alerts: Arc<dyn OperatorAlerts>, console_url: Option<String>) -> Self {
        Self { people, alerts, console_url: console_url.map(|u| u.trim_end_matches('/').to_owned()) }
    }

    pub async fn execute(
        &self,
        conversation_id: Uuid,
        channel: AnnounceChannel,
        trace: TraceContext,
    ) -> Result<AnnounceOutcome, AnnounceFailure> {
        let span = tracing::info_span!("announce_handoff", trace_id = %trace.trace_id, %conversation_id, channel = channel.as_str());
        async {
            let Some(handling) = self.people.handling(conversation_id).await? else {
                return Err(AnnounceFailure::Gone(conversation_id));
            };
            let (Some(since), Some(reason)) = (handling.handoff_at, handling.reason.as_ref()) else {
                return Ok(AnnounceOutcome::NoLongerWaiting);
            };
            if !handling.waits_for_a_person() {
                tracing::info!("nobody waits any more; not announced");
                return Ok(AnnounceOutcome::NoLongerWaiting);
            }
            let notice = HandoffNotice {
                conversation_id,
                user: handling.user.key().masked(),
                profile_name: handling.profile_name.clone(),
                reason: reason.kind().to_owned(),
                description: reason.describe(),
                waiting_since: since,
                console_url: self.console_url.as_ref().map(|u| format!("{u}/console/conversations/{conversation_id}")),
                trace_id: trace.trace_id.to_string(),
            };
            self.alerts.announce(channel, &notice, &trace).await?;
            tracing::info!("operators told");
            Ok(AnnounceOutcome::Announced)
        }
        .instrument(span)
        .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnnounceFailure {
    #[error("no conversation {0}")]
    Gone(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Alert(#[from] AnnounceError),
}

impl AnnounceFailure {
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Store(StoreError::Unavailable(_)) | Self::Alert(AnnounceError::Transient(_)))
    }
}

#[cfg(test)]
mod tests;
