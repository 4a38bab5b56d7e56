use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_domain::{
    AgentFile, AgentName, Channel, ChoiceOption, Choices, Classification, FallbackPolicy, HandoffKeywords,
    HandoffReason, InboundContent, InboundMessage, Intent, OutboundContent, OutboundMessage, RoutingPolicy, Wamid,
    WorkflowRequest, compose,
};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{JobKind, LeasedJob, NewJob};
use crate::ports::MediaStoreError;
use crate::ports::{
    AgentError, AgentGateway, Classifier, Clock, Consents, FollowUp, HandoffStart, InboundRecord, Messages, NewReply,
    OpenTask, People, ReplyRecorded, SenderLimit, StoreError, WhatsAppGateway,
};
use crate::usecases::Attempt;
use crate::usecases::consent::ConsentRules;
use crate::usecases::media::{MediaIntake, MediaNotYet, ReplyMedia};
use crate::usecases::route::Router;

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessOutcome {
    Replied {
        intent: Intent,
        agent: AgentName,
        delivery_id: Uuid,
        /// The delivery job, leased to the caller to run at once, when it was.
        delivery_job: Option<Box<LeasedJob>>,
        /// The reply's write also ended the job this ran under (`Attempt::lease`).
        ended_job: bool,
    },
    /// The job ran before (a retry after a crash); its reply already stands.
    AlreadyProcessed,
    /// The sender is over the sender limit: the message is held (stored, marked, not
    /// handed to any agent) and its job is due again at `until`, when the sender has a
    /// turn; that turn takes every message that waited with it.
    Throttled { until: time::OffsetDateTime },
    /// People handle the conversation: the message is theirs (no classifier or agent was
    /// asked); `held` messages were marked for them.
    ForPeople { held: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessInboundError {
    #[error("no inbound message {0} is stored")]
    NotFound(Wamid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    MediaNotYet(#[from] MediaNotYet),
    #[error(transparent)]
    MediaStore(#[from] MediaStoreError),
}

impl ProcessInboundError {
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::NotFound(_) => false,
            Self::Store(StoreError::Unavailable(_)) => true,
            Self::Store(StoreError::Corrupt(_)) => false,
            Self::Agent(e) => e.is_retriable(),
            Self::MediaNotYet(_) | Self::MediaStore(_) => true,
        }
    }
}

/// Classifies an inbound message, asks the agent its intent routes to, and plans the
/// reply (stored with its delivery job in one transaction).
/// What happens to messages that arrive while an agent works on the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DoubleTexting {
    /// Each is handled in its own turn, in order.
    #[default]
    Sequential,
    /// Those waiting are handed over together in the next turn, with one reply.
    Coalesce,
}

/// When people are called, and how the user is told.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffRules {
    /// The words with which a user asks for a person.
    pub keywords: HandoffKeywords,
    /// People are called after this many answers in a row by the default agent.
    pub fallback: FallbackPolicy,
    /// What the user is told when they asked for a person.
    pub acknowledgement: String,
    /// The jobs that announce a handoff to operators, for a conversation.
    pub announce: Vec<crate::jobs::AnnounceChannel>,
}

impl Default for HandoffRules {
    fn default() -> Self {
        Self {
            keywords: HandoffKeywords::default(),
            fallback: FallbackPolicy { after: 3 },
            acknowledgement: String::from(DEFAULT_HANDOFF_ACKNOWLEDGEMENT),
            announce: Vec::new(),
        }
    }
}

pub const DEFAULT_HANDOFF_ACKNOWLEDGEMENT: &str =
    "I'm passing this conversation to a person on our team. They will answer you here.";

/// The name under which Switchboard itself answers (a handoff's acknowledgement).
pub const SWITCHBOARD_AGENT: &str = "switchboard";

pub struct ProcessInbound {
    delivery_lease: Option<std::time::Duration>,
    handoff: HandoffRules,
    people: Option<Arc<dyn People>>,
    consent: Option<(Arc<dyn Consents>, ConsentRules)>,
    media: Option<(MediaIntake, ReplyMedia)>,
    double_texting: DoubleTexting,
    sender_limit: Option<Arc<dyn SenderLimit>>,
    messages: Arc<dyn Messages>,
    router: Router,
    whatsapp: Arc<dyn WhatsAppGateway>,
    clock: Arc<dyn Clock>,
}

impl ProcessInbound {
    pub fn new(
        messages: Arc<dyn Messages>,
        classifier: Arc<dyn Classifier>,
        agents: Arc<dyn AgentGateway>,
        whatsapp: Arc<dyn WhatsAppGateway>,
        clock: Arc<dyn Clock>,
        policy: RoutingPolicy,
    ) -> Self {
        Self {
            delivery_lease: None,
            handoff: HandoffRules::default(),
            people: None,
            consent: None,
            media: None,
            double_texting: DoubleTexting::Sequential,
            sender_limit: None,
            messages,
            router: Router::new(classifier, agents, policy),
            whatsapp,
            clock,
        }
    }

    /// The delivery job of each reply is leased to the worker that planned it, for this
    /// long, and run by it at once (when no other of its conversation's deliveries waits).
    #[must_use]
    pub fn with_delivery_lease(mut self, lease: std::time::Duration) -> Self {
        self.delivery_lease = Some(lease);
        self
    }

    /// People can be called into conversations (and messages of conversations they
    /// handle are kept for them): by these rules.
    #[must_use]
    pub fn with_people(mut self, people: Arc<dyn People>, rules: HandoffRules) -> Self {
        self.people = Some(people);
        self.handoff = rules;
        self
    }

    /// A message that is a stop or start word changes the user's consent (docs/operators.md,
    /// Consent) and is answered with its confirmation, by no agent.
    #[must_use]
    pub fn with_consent(mut self, consents: Arc<dyn Consents>, rules: ConsentRules) -> Self {
        self.consent = Some((consents, rules));
        self
    }

    /// Users' files are fetched, checked and stored for the agents, and agents' files are
    /// stored until they are sent.
    #[must_use]
    pub fn with_media(mut self, intake: MediaIntake, reply: ReplyMedia) -> Self {
        self.media = Some((intake, reply));
        self
    }

    /// Routes that change as agents' cards do (card-driven routing).
    #[must_use]
    pub fn with_routes(mut self, routes: Arc<dyn crate::ports::Routes>) -> Self {
        self.router = self.router.with_routes(routes);
        self
    }

    /// Messages that waited are coalesced into one turn instead of one each.
    #[must_use]
    pub fn with_double_texting(mut self, mode: DoubleTexting) -> Self {
        self.double_texting = mode;
        self
    }

    /// Each sender's turns are limited: messages over the limit wait, and are handed
    /// over together once the sender has a turn again (ADR 0018).
    #[must_use]
    pub fn with_sender_limit(mut self, limit: Arc<dyn SenderLimit>) -> Self {
        self.sender_limit = Some(limit);
        self
    }

    pub async fn execute(
        &self,
        wamid: &Wamid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<ProcessOutcome, ProcessInboundError> {
        let span = tracing::info_span!("process_inbound", trace_id = %trace.trace_id, wamid = %wamid, attempt = attempt.number);
        self.run(wamid, trace, attempt).instrument(span).await
    }

    async fn run(
        &self,
        wamid: &Wamid,
        trace: TraceContext,
        attempt: Attempt,
    ) -> Result<ProcessOutcome, ProcessInboundError> {
        let record = self.messages.inbound(wamid).await?.ok_or_else(|| ProcessInboundError::NotFound(wamid.clone()))?;
        if record.processed {
            tracing::info!("already processed; nothing to do");
            return Ok(ProcessOutcome::AlreadyProcessed);
        }
        let message = &record.message;

        if !record.handling.handler.bot_answers() {
            // Consent holds whoever answers; the operators see the word and answer it.
            self.consent_word(&record).await?;
            return self.keep_for_people(record.conversation_id).await;
        }

        // Only a first attempt takes a turn: a retry after a failure is our doing, not the
        // sender's (a deferred job's attempt is not counted, so it comes back as a first).
        if attempt.number == 1
            && let Some(limit) = &self.sender_limit
            && let Some(wait) = limit.admit(&message.from.key().as_storage_key())
        {
            let now = self.clock.now();
            let held = self.messages.mark_throttled(record.conversation_id, now).await?;
            metrics::counter!("switchboard_inbound_throttled_total").increment(held);
            let until = now + wait;
            tracing::info!(
                held,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "the sender is over the sender limit; holding the message until the sender has a turn"
            );
            return Ok(ProcessOutcome::Throttled { until });
        }

        // The read receipt (with its typing indicator) goes out beside the turn instead of
        // before it: the agent starts at once, and the receipt has still left before the
        // reply is recorded, so the user never sees the answer before the blue ticks.
        let receipt = async {
            if attempt.number == 1
                && let Err(e) = self.whatsapp.mark_read(&message.business_number_id, wamid, &trace).await
            {
                tracing::warn!(error = %e, "could not mark the message read; going on");
            }
        };
        let ((), taken) = futures_util::future::join(receipt, self.take_turn(wamid, &record, attempt, &trace)).await;
        let (turn, also_answers) = taken?;
        let (classification, agent, text, open_task) =
            (turn.classification.clone(), turn.agent.clone(), turn.text.clone(), turn.open_task.clone());

        let delivery_id = Uuid::now_v7();
        let now = self.clock.now();
        let mut contents = self.compose(delivery_id, text, &turn).await?.into_iter();
        let first = contents.next().unwrap_or_else(|| OutboundContent::text(""));
        let reply_to = also_answers.last().unwrap_or(wamid).clone();
        let follow_ups: Vec<FollowUp> = contents
            .enumerate()
            .map(|(n, content)| {
                let delivery_id = Uuid::now_v7();
                // Each goes after the one before it: same ordering key, later order.
                let order_at = now + time::Duration::milliseconds(i64::try_from(n).unwrap_or(0) + 1);
                FollowUp {
                    delivery_id,
                    message: OutboundMessage {
                        to: message.from.clone(),
                        from_number_id: message.business_number_id.clone(),
                        content,
                        reply_to: None,
                    },
                    job: NewJob {
                        kind: JobKind::DeliverMessage { delivery_id },
                        ordering_key: format!("deliver:{}", message.conversation_key()),
                        order_at,
                        run_at: now,
                        trace,
                    },
                }
            })
            .collect();
        let outcome = self
            .messages
            .record_reply(NewReply {
                inbound: wamid.clone(),
                also_answers: also_answers.clone(),
                conversation_id: record.conversation_id,
                intent: classification.intent.clone(),
                confidence: classification.confidence,
                agent: agent.clone(),
                delivery_id,
                message: OutboundMessage {
                    to: message.from.clone(),
                    from_number_id: message.business_number_id.clone(),
                    content: first,
                    // Quote the latest message answered.
                    reply_to: Some(reply_to),
                },
                follow_ups,
                trace,
                job: NewJob {
                    kind: JobKind::DeliverMessage { delivery_id },
                    ordering_key: format!("deliver:{}", message.conversation_key()),
                    order_at: now,
                    run_at: now,
                    trace,
                },
                open_task,
                task: turn.task.clone(),
                lease_delivery: self.delivery_lease,
                ends: attempt.lease,
                handoff: turn.handoff.clone().map(|reason| HandoffStart {
                    reason,
                    notify: crate::jobs::announce_jobs(&self.handoff.announce, record.conversation_id, trace, now),
                }),
                fallback_streak: turn.fallback_streak,
            })
            .await?;
        Ok(match outcome {
            ReplyRecorded::Recorded(delivery_job) => {
                // The one line of the turn: what the message was taken for, who answered.
                tracing::info!(
                    %delivery_id,
                    intent = %classification.intent,
                    confidence = classification.confidence,
                    agent = %agent,
                    "reply planned"
                );
                ProcessOutcome::Replied {
                    intent: classification.intent,
                    agent,
                    delivery_id,
                    delivery_job: delivery_job.map(Box::new),
                    ended_job: attempt.lease.is_some(),
                }
            }
            ReplyRecorded::AlreadyProcessed => ProcessOutcome::AlreadyProcessed,
            ReplyRecorded::TakenOver => {
                tracing::info!("people took the conversation over meanwhile; the bot's answer is dropped");
                return self.keep_for_people(record.conversation_id).await;
            }
        })
        .inspect(|_| {
            if let Some(reason) = &turn.handoff {
                tracing::info!(reason = reason.kind(), "the conversation goes to people");
                metrics::counter!("switchboard_handoffs_total", "reason" => reason.kind()).increment(1);
            }
        })
    }

    /// The message is left for the people who handle its conversation.
    async fn keep_for_people(&self, conversation_id: Uuid) -> Result<ProcessOutcome, ProcessInboundError> {
        let held = match &self.people {
            Some(people) => people.hold_for_people(conversation_id, self.clock.now()).await?,
            None => 0,
        };
        tracing::info!(held, "people handle this conversation; the message is kept for them");
        Ok(ProcessOutcome::ForPeople { held })
    }

    /// The request for the agents (with any attachments, and the messages that waited
    /// with this one), and the turn taken on it; answers the turn and the other messages
    /// it answers.
    async fn take_turn(
        &self,
        wamid: &Wamid,
        record: &InboundRecord,
        attempt: Attempt,
        trace: &TraceContext,
    ) -> Result<(Turn, Vec<Wamid>), ProcessInboundError> {
        let message = &record.message;
        let mut request = workflow_request(record, trace);
        if let Some((intake, _)) = &self.media {
            request.attachments = intake.attach(message, attempt, self.clock.now(), trace).await?;
        }
        let mut also_answers = Vec::new();
        if record.throttled {
            // Messages that arrived while this one was held were held back with it.
            let held = self.messages.mark_throttled(record.conversation_id, self.clock.now()).await?;
            metrics::counter!("switchboard_inbound_throttled_total").increment(held);
            request.metadata.insert(String::from("sender_throttled"), serde_json::Value::Bool(true));
        }
        // A held message's turn always takes the messages that waited with it: handing
        // them over one by one would spend the turns the limit is there to save.
        if self.double_texting == DoubleTexting::Coalesce || record.throttled {
            // Messages that arrived while the agent worked on the last turn go together.
            let unanswered = self.messages.unanswered(record.conversation_id).await?;
            let later: Vec<&InboundMessage> = unanswered.iter().filter(|m| m.wamid != *wamid).collect();
            if !later.is_empty() {
                let mut texts = vec![request.user_message.clone()];
                texts.extend(later.iter().map(|m| m.content.as_agent_text()));
                request.user_message = texts.join("\n");
                also_answers = later.iter().map(|m| m.wamid.clone()).collect();
                request.metadata.insert(
                    String::from("coalesced_wamids"),
                    serde_json::Value::from(also_answers.iter().map(Wamid::as_str).collect::<Vec<_>>()),
                );
                tracing::info!(coalesced = also_answers.len(), "handing over the messages that waited, together");
            }
        }
        if let Some(note) = &record.handling.handback_note {
            request.metadata.insert(String::from("handback_note"), serde_json::Value::from(note.as_str()));
        }
        let turn = self.turn(&mut request, record, attempt, trace).await?;
        Ok((turn, also_answers))
    }

    /// The bot's turn: the user asked for a person (acknowledged without any agent), or
    /// the routed agent answers, perhaps asking for a person itself; the fallback policy
    /// calls people after the default agent answered too often in a row.
    async fn turn(
        &self,
        request: &mut WorkflowRequest,
        record: &InboundRecord,
        attempt: Attempt,
        trace: &TraceContext,
    ) -> Result<Turn, ProcessInboundError> {
        if let Some(confirmation) = self.consent_word(record).await? {
            return Ok(Turn {
                classification: Classification::new(Intent::Other(String::from("consent")), 1.0),
                agent: AgentName::new(SWITCHBOARD_AGENT),
                text: confirmation,
                files: Vec::new(),
                choices: None,
                open_task: None,
                task: None,
                handoff: None,
                fallback_streak: 0,
            });
        }
        if self.people.is_some() && self.handoff.keywords.asks_for_a_person(&request.user_message) {
            tracing::info!("the user asks for a person");
            return Ok(Turn {
                classification: Classification::new(Intent::Handoff, 1.0),
                agent: AgentName::new(SWITCHBOARD_AGENT),
                text: self.handoff.acknowledgement.clone(),
                files: Vec::new(),
                choices: None,
                open_task: None,
                task: None,
                handoff: Some(HandoffReason::UserAsked),
                fallback_streak: 0,
            });
        }
        let routed = self.router.route(request, record.open_task.as_ref(), attempt.is_last, trace).await?;
        let mut fallback_streak = 0;
        let handoff = if self.people.is_none() {
            None
        } else if let Some(asked) = &routed.reply.handoff {
            Some(HandoffReason::AgentAsked { agent: routed.agent.to_string(), reason: asked.reason.clone() })
        } else if routed.classification.intent == Intent::Handoff {
            Some(HandoffReason::UserAsked)
        } else {
            let (streak, call) = self.handoff.fallback.next(record.handling.fallback_streak, routed.fell_back);
            fallback_streak = streak;
            call.then_some(HandoffReason::RepeatedFallback { count: self.handoff.fallback.after })
        };
        // The task stays open only while the bot answers.
        let open_task = if handoff.is_some() { None } else { routed.open_task };
        // A classifier that heard a request for a person: the user is told what happens.
        let text = if routed.classification.intent == Intent::Handoff && routed.reply.handoff.is_none() {
            self.handoff.acknowledgement.clone()
        } else {
            routed.text
        };
        Ok(Turn {
            classification: routed.classification,
            agent: routed.agent,
            text,
            files: routed.reply.files,
            choices: routed.reply.choices,
            open_task,
            task: routed.reply.task,
            handoff,
            fallback_streak,
        })
    }
}

impl ProcessInbound {
    /// The turn's answer as WhatsApp messages: its text, with its files stored and its
    /// choices as buttons or a list (domain's `compose`).
    async fn compose(
        &self,
        delivery_id: Uuid,
        text: String,
        turn: &Turn,
    ) -> Result<Vec<OutboundContent>, ProcessInboundError> {
        if turn.files.is_empty() && turn.choices.is_none() {
            return Ok(vec![OutboundContent::text(text)]);
        }
        let files = match &self.media {
            Some((_, reply)) => reply.store(delivery_id, &turn.files).await?.files,
            None => {
                if !turn.files.is_empty() {
                    tracing::warn!(files = turn.files.len(), "no media store: the agent's files are left out");
                }
                Vec::new()
            }
        };
        let composed = compose(&text, files, turn.choices.as_ref());
        if let Some(limit) = &composed.choices_as_text {
            tracing::warn!(%limit, "the agent's choices fit no button or list message; they go as numbered text");
        }
        Ok(composed.messages)
    }

    /// When the message is a stop or start word: the user's consent changes, and the
    /// confirmation to answer comes back.
    async fn consent_word(&self, record: &InboundRecord) -> Result<Option<String>, ProcessInboundError> {
        let Some((consents, rules)) = &self.consent else {
            return Ok(None);
        };
        let message = &record.message;
        let text = message.content.as_agent_text();
        Ok(rules.apply_word(consents.as_ref(), &message.from, &text, message.sent_at).await?)
    }
}

/// What one turn of the bot gave.
struct Turn {
    classification: Classification,
    agent: AgentName,
    text: String,
    files: Vec<AgentFile>,
    choices: Option<Choices>,
    open_task: Option<OpenTask>,
    /// The task the agent answered with, as it reported it.
    task: Option<switchboard_domain::AgentTask>,
    handoff: Option<HandoffReason>,
    fallback_streak: u32,
}

fn workflow_request(record: &InboundRecord, trace: &TraceContext) -> WorkflowRequest {
    let message = &record.message;
    let mut metadata = BTreeMap::new();
    metadata.insert("wamid".to_owned(), serde_json::Value::from(message.wamid.as_str()));
    metadata.insert("content_kind".to_owned(), serde_json::Value::from(message.content.kind_name()));
    metadata.insert("business_number_id".to_owned(), serde_json::Value::from(message.business_number_id.as_str()));
    metadata.insert("sent_at".to_owned(), serde_json::Value::from(message.sent_at.unix_timestamp()));
    if let Some(reply_to) = message.context.as_ref().and_then(|c| c.message_id.as_deref()) {
        metadata.insert("reply_to".to_owned(), serde_json::Value::from(reply_to));
    }
    WorkflowRequest {
        user_message: message.content.as_agent_text(),
        content: message.content.clone(),
        user_id: message.from.key().as_storage_key(),
        session_id: record.conversation_id.to_string(),
        channel: Channel::Whatsapp,
        user_name: message.profile_name.clone(),
        metadata,
        trace_id: trace.trace_id.to_string(),
        task_id: None,
        attachments: Vec::new(),
        choice: match &message.content {
            InboundContent::InteractiveReply { id, title, description, .. } => Some(ChoiceOption {
                id: id.clone(),
                title: title.clone(),
                description: description.clone(),
                section: None,
            }),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests;
