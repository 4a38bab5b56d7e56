use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_domain::{
    AgentName, Channel, InboundMessage, Intent, OutboundContent, OutboundMessage, RoutingPolicy, Wamid, WorkflowRequest,
};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{JobKind, LeasedJob, NewJob};
use crate::ports::{
    AgentError, AgentGateway, Classifier, Clock, InboundRecord, Messages, NewReply, ReplyRecorded, SenderLimit,
    StoreError, WhatsAppGateway,
};
use crate::usecases::Attempt;
use crate::usecases::route::Router;

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessOutcome {
    Replied {
        intent: Intent,
        agent: AgentName,
        delivery_id: Uuid,
        /// The delivery job, leased to the caller to run at once, when it was.
        delivery_job: Option<Box<LeasedJob>>,
    },
    /// The job ran before (a retry after a crash); its reply already stands.
    AlreadyProcessed,
    /// The sender is over the sender limit: the message is held (stored, marked, not
    /// handed to any agent) and its job is due again at `until`, when the sender has a
    /// turn; that turn takes every message that waited with it.
    Throttled { until: time::OffsetDateTime },
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessInboundError {
    #[error("no inbound message {0} is stored")]
    NotFound(Wamid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl ProcessInboundError {
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::NotFound(_) => false,
            Self::Store(StoreError::Unavailable(_)) => true,
            Self::Store(StoreError::Corrupt(_)) => false,
            Self::Agent(e) => e.is_retriable(),
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

pub struct ProcessInbound {
    delivery_lease: Option<std::time::Duration>,
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

        if attempt.number == 1
            && let Err(e) = self.whatsapp.mark_read(&message.business_number_id, wamid, &trace).await
        {
            tracing::warn!(error = %e, "could not mark the message read; going on");
        }

        let mut request = workflow_request(&record, &trace);
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
        let routed = self.router.route(&mut request, record.open_task.as_ref(), attempt.is_last, &trace).await?;
        let (classification, agent, text, open_task) =
            (routed.classification, routed.agent, routed.text, routed.open_task);

        let delivery_id = Uuid::now_v7();
        let now = self.clock.now();
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
                    content: OutboundContent::Text { body: text, preview_url: false },
                    // Quote the latest message answered.
                    reply_to: Some(also_answers.last().unwrap_or(wamid).clone()),
                },
                trace,
                job: NewJob {
                    kind: JobKind::DeliverMessage { delivery_id },
                    ordering_key: format!("deliver:{}", message.conversation_key()),
                    order_at: now,
                    run_at: now,
                    trace,
                },
                open_task,
                lease_delivery: self.delivery_lease,
            })
            .await?;
        Ok(match outcome {
            ReplyRecorded::Recorded(delivery_job) => {
                tracing::info!(%delivery_id, "reply planned");
                ProcessOutcome::Replied {
                    intent: classification.intent,
                    agent,
                    delivery_id,
                    delivery_job: delivery_job.map(Box::new),
                }
            }
            ReplyRecorded::AlreadyProcessed => ProcessOutcome::AlreadyProcessed,
        })
    }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::OpenTask;
    use crate::ports::{
        ClassifierError, MockAgentGateway, MockClassifier, MockClock, MockMessages, MockSenderLimit,
        MockWhatsAppGateway, SendError,
    };
    use switchboard_domain::Classification;
    use switchboard_domain::a2a::TaskState;
    use switchboard_domain::{AgentReply, AgentTask, InboundContent, InboundMessage, WhatsAppUser};
    use time::macros::datetime;

    fn policy() -> RoutingPolicy {
        RoutingPolicy::new(AgentName::new("fallback"), 0.5).route(Intent::Greeting, AgentName::new("greeter"))
    }

    fn record(processed: bool) -> InboundRecord {
        InboundRecord {
            message: InboundMessage {
                wamid: Wamid::parse("wamid.A").unwrap(),
                from: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
                profile_name: Some("Amelia".into()),
                business_number_id: "109876543210987".into(),
                sent_at: datetime!(2026-11-22 09:59 UTC),
                content: InboundContent::Text { body: "hello".into() },
                context: None,
                errors: vec![],
            },
            conversation_id: Uuid::nil(),
            processed,
            throttled: false,
            open_task: None,
        }
    }

    struct Ports {
        messages: MockMessages,
        classifier: MockClassifier,
        agents: MockAgentGateway,
        whatsapp: MockWhatsAppGateway,
    }

    impl Ports {
        fn new() -> Self {
            let mut whatsapp = MockWhatsAppGateway::new();
            whatsapp.expect_mark_read().returning(|_, _, _| Ok(()));
            Self {
                messages: MockMessages::new(),
                classifier: MockClassifier::new(),
                agents: MockAgentGateway::new(),
                whatsapp,
            }
        }

        fn build(self) -> ProcessInbound {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
            ProcessInbound::new(
                Arc::new(self.messages),
                Arc::new(self.classifier),
                Arc::new(self.agents),
                Arc::new(self.whatsapp),
                Arc::new(clock),
                policy(),
            )
        }
    }

    fn wamid() -> Wamid {
        Wamid::parse("wamid.A").unwrap()
    }

    #[tokio::test]
    async fn a_greeting_is_answered_by_the_greeter_quoting_the_users_message() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports
            .agents
            .expect_ask()
            .withf(|agent, req, _| {
                agent.as_str() == "greeter" && req.user_message == "hello" && req.user_name.as_deref() == Some("Amelia")
            })
            .returning(|_, _, _| Ok(AgentReply::text("Hi Amelia!")));
        ports
            .messages
            .expect_record_reply()
            .withf(|reply| {
                reply.message.reply_to.as_ref().map(Wamid::as_str) == Some("wamid.A")
                    && reply.message.content == OutboundContent::Text { body: "Hi Amelia!".into(), preview_url: false }
                    && reply.job.ordering_key == "deliver:109876543210987:+447700900123"
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let outcome = ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();

        assert!(matches!(outcome, ProcessOutcome::Replied { agent, .. } if agent.as_str() == "greeter"));
    }

    #[tokio::test]
    async fn an_agents_question_keeps_its_task_open_for_the_users_next_message() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| {
            Ok(AgentReply {
                text: "Which order number?".into(),
                task: Some(AgentTask { id: "task-1".into(), state: TaskState::InputRequired }),
            })
        });
        ports
            .messages
            .expect_record_reply()
            .withf(|r| r.open_task == Some(OpenTask { agent: AgentName::new("greeter"), task_id: "task-1".into() }))
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
    }

    #[tokio::test]
    async fn the_answer_to_an_open_task_goes_back_to_it_without_classification() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| {
            Ok(Some(InboundRecord {
                open_task: Some(OpenTask { agent: AgentName::new("billing"), task_id: "task-1".into() }),
                ..record(false)
            }))
        });
        ports.classifier.expect_classify().never();
        ports
            .agents
            .expect_ask()
            .withf(|agent, req, _| agent.as_str() == "billing" && req.task_id.as_deref() == Some("task-1"))
            .returning(|_, _, _| {
                Ok(AgentReply {
                    text: "Refunded.".into(),
                    task: Some(AgentTask { id: "task-1".into(), state: TaskState::Completed }),
                })
            });
        ports
            .messages
            .expect_record_reply()
            .withf(|r| r.open_task.is_none())
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_task_gives_the_user_a_polite_answer() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| {
            Ok(AgentReply {
                text: "stack trace".into(),
                task: Some(AgentTask { id: "t".into(), state: TaskState::Failed }),
            })
        });
        ports
            .messages
            .expect_record_reply()
            .withf(|r| matches!(&r.message.content, OutboundContent::Text { body, .. } if body.starts_with("Sorry")))
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
    }

    #[tokio::test]
    async fn messages_that_waited_are_handed_over_together_when_coalescing() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.messages.expect_unanswered().returning(|_| {
            let later = |id: &str, body: &str| InboundMessage {
                wamid: Wamid::parse(id).unwrap(),
                content: InboundContent::Text { body: body.into() },
                ..record(false).message
            };
            Ok(vec![record(false).message, later("wamid.B", "are you there?"), later("wamid.C", "hello??")])
        });
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports
            .agents
            .expect_ask()
            .withf(|_, req, _| req.user_message == "hello\nare you there?\nhello??")
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("Yes, here!")));
        ports
            .messages
            .expect_record_reply()
            .withf(|r| {
                r.also_answers.iter().map(Wamid::as_str).collect::<Vec<_>>() == ["wamid.B", "wamid.C"]
                    && r.message.reply_to.as_ref().map(Wamid::as_str) == Some("wamid.C")
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let process = ports.build().with_double_texting(DoubleTexting::Coalesce);
        process.execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
    }

    fn over_the_limit_for(wait: std::time::Duration) -> Arc<MockSenderLimit> {
        let mut limit = MockSenderLimit::new();
        limit.expect_admit().withf(|sender| sender == "+447700900123").returning(move |_| Some(wait));
        Arc::new(limit)
    }

    fn under_the_limit() -> Arc<MockSenderLimit> {
        let mut limit = MockSenderLimit::new();
        limit.expect_admit().returning(|_| None);
        Arc::new(limit)
    }

    #[tokio::test]
    async fn a_message_over_the_sender_limit_is_held_without_any_agent_call_until_the_sender_has_a_turn() {
        let mut ports = Ports::new();
        ports.whatsapp = MockWhatsAppGateway::new();
        ports.whatsapp.expect_mark_read().never();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports
            .messages
            .expect_mark_throttled()
            .withf(|conversation, at| conversation.is_nil() && *at == datetime!(2026-11-22 10:00 UTC))
            .times(1)
            .returning(|_, _| Ok(3));
        ports.classifier.expect_classify().never();
        ports.agents.expect_ask().never();
        ports.messages.expect_record_reply().never();
        let process = ports.build().with_sender_limit(over_the_limit_for(std::time::Duration::from_secs(3)));

        let outcome = process.execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();

        assert_eq!(outcome, ProcessOutcome::Throttled { until: datetime!(2026-11-22 10:00:03 UTC) });
    }

    #[tokio::test]
    async fn a_held_message_takes_every_message_that_waited_with_it_in_one_turn_even_in_sequential_mode() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(InboundRecord { throttled: true, ..record(false) })));
        ports.messages.expect_mark_throttled().times(1).returning(|_, _| Ok(1));
        ports.messages.expect_unanswered().returning(|_| {
            let later = |id: &str, body: &str| InboundMessage {
                wamid: Wamid::parse(id).unwrap(),
                content: InboundContent::Text { body: body.into() },
                ..record(false).message
            };
            Ok(vec![record(false).message, later("wamid.B", "hello?"), later("wamid.C", "HELLO??")])
        });
        ports.classifier.expect_classify().times(1).returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports
            .agents
            .expect_ask()
            .withf(|_, req, _| {
                req.user_message == "hello\nhello?\nHELLO??"
                    && req.metadata.get("sender_throttled") == Some(&serde_json::Value::Bool(true))
            })
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("Hi!")));
        ports
            .messages
            .expect_record_reply()
            .withf(|r| r.also_answers.iter().map(Wamid::as_str).collect::<Vec<_>>() == ["wamid.B", "wamid.C"])
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));
        let process = ports.build().with_sender_limit(under_the_limit());

        let outcome = process.execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();

        assert!(matches!(outcome, ProcessOutcome::Replied { .. }));
    }

    #[tokio::test]
    async fn a_retry_after_a_failure_takes_no_turn_of_the_sender() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Hi")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::Recorded(None)));
        let mut limit = MockSenderLimit::new();
        limit.expect_admit().never();
        let process = ports.build().with_sender_limit(Arc::new(limit));

        let outcome =
            process.execute(&wamid(), TraceContext::new_root(), Attempt { number: 2, is_last: false }).await.unwrap();

        assert!(matches!(outcome, ProcessOutcome::Replied { .. }));
    }

    #[tokio::test]
    async fn a_message_already_processed_is_not_answered_twice() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(true))));
        ports.classifier.expect_classify().never();
        ports.messages.expect_record_reply().never();

        let outcome = ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();

        assert_eq!(outcome, ProcessOutcome::AlreadyProcessed);
    }

    #[tokio::test]
    async fn a_classifier_failure_routes_to_the_default_agent() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Err(ClassifierError::Unavailable("down".into())));
        ports
            .agents
            .expect_ask()
            .withf(|agent, _, _| agent.as_str() == "fallback")
            .returning(|_, _, _| Ok(AgentReply::text("Sorry?")));
        ports.messages.expect_record_reply().returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let outcome = ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();

        assert!(matches!(outcome, ProcessOutcome::Replied { agent, .. } if agent.as_str() == "fallback"));
    }

    #[tokio::test]
    async fn a_failure_to_mark_read_never_blocks_the_reply() {
        let mut ports = Ports::new();
        ports.whatsapp = MockWhatsAppGateway::new();
        ports.whatsapp.expect_mark_read().returning(|_, _, _| Err(SendError::Timeout("timeout".into())));
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Hi")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let result = ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await;

        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_agent_is_retried_and_on_the_last_attempt_the_default_agent_answers() {
        let unavailable =
            || AgentError::Unavailable { agent: AgentName::new("greeter"), message: "connection refused".into() };
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().withf(|a, _, _| a.as_str() == "greeter").returning(move |_, _, _| Err(unavailable()));
        ports
            .agents
            .expect_ask()
            .withf(|a, _, _| a.as_str() == "fallback")
            .returning(|_, _, _| Ok(AgentReply::text("Sorry")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::Recorded(None)));
        let process = ports.build();

        let early = process.execute(&wamid(), TraceContext::new_root(), Attempt { number: 2, is_last: false }).await;
        let last = process.execute(&wamid(), TraceContext::new_root(), Attempt { number: 8, is_last: true }).await;

        assert!(matches!(early, Err(ref e) if e.is_retriable()));
        assert!(matches!(last, Ok(ProcessOutcome::Replied { agent, .. }) if agent.as_str() == "fallback"));
    }

    #[tokio::test]
    async fn a_missing_message_is_a_permanent_error() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(None));

        let result = ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await;

        assert!(matches!(result, Err(ref e) if !e.is_retriable()));
    }
}
