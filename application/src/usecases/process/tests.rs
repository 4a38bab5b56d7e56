use super::*;
use crate::ports::{
    ClassifierError, MockAgentGateway, MockClassifier, MockClock, MockMessages, MockSenderLimit, MockWhatsAppGateway,
    SendError,
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
        handling: Default::default(),
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
        let whatsapp = Arc::new(self.whatsapp);
        Self::build_sending_with(self.messages, self.classifier, self.agents, whatsapp)
    }

    /// The use case with `whatsapp` instead of the mock.
    fn build_with(self, whatsapp: Arc<dyn WhatsAppGateway>) -> ProcessInbound {
        Self::build_sending_with(self.messages, self.classifier, self.agents, whatsapp)
    }

    fn build_sending_with(
        messages: MockMessages,
        classifier: MockClassifier,
        agents: MockAgentGateway,
        whatsapp: Arc<dyn WhatsAppGateway>,
    ) -> ProcessInbound {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
        ProcessInbound::new(
            Arc::new(messages),
            Arc::new(classifier),
            Arc::new(agents),
            whatsapp,
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
            handoff: None,
            files: Vec::new(),
            choices: None,
            transfer: None,
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
                handoff: None,
                files: Vec::new(),
                choices: None,
                transfer: None,
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
            handoff: None,
            files: Vec::new(),
            choices: None,
            transfer: None,
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

    let outcome = process
        .execute(&wamid(), TraceContext::new_root(), Attempt { number: 2, is_last: false, lease: None })
        .await
        .unwrap();

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

/// A WhatsApp gateway whose read receipt is answered only once `answer` is notified, and
/// which notes when it was.
struct SlowReceipts {
    answer: Arc<tokio::sync::Notify>,
    answered: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl WhatsAppGateway for SlowReceipts {
    async fn send(
        &self,
        _: &OutboundMessage,
        _: Option<String>,
        _: &TraceContext,
    ) -> Result<crate::ports::SendReceipt, SendError> {
        unreachable!("the use case plans the reply; it does not send it")
    }

    async fn mark_read(&self, _: &str, _: &Wamid, _: &TraceContext) -> Result<(), SendError> {
        self.answer.notified().await;
        self.answered.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_agent_is_asked_while_the_read_receipt_is_on_its_way_and_the_reply_waits_for_the_receipt() {
    let answer = Arc::new(tokio::sync::Notify::new());
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ports = Ports::new();
    ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
    // Graph answers the receipt only once the agent has been asked.
    let agent_asked = Arc::clone(&answer);
    ports.agents.expect_ask().returning(move |_, _, _| {
        agent_asked.notify_one();
        Ok(AgentReply::text("Hi"))
    });
    let receipt_left = Arc::clone(&answered);
    ports
        .messages
        .expect_record_reply()
        .withf(move |_| receipt_left.load(std::sync::atomic::Ordering::SeqCst))
        .times(1)
        .returning(|_| Ok(ReplyRecorded::Recorded(None)));
    let process = ports.build_with(Arc::new(SlowReceipts { answer, answered }));

    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        process.execute(&wamid(), TraceContext::new_root(), Attempt::first()),
    )
    .await
    .expect("the agent was not asked until the read receipt was answered");

    assert!(matches!(outcome.unwrap(), ProcessOutcome::Replied { .. }));
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

    let early =
        process.execute(&wamid(), TraceContext::new_root(), Attempt { number: 2, is_last: false, lease: None }).await;
    let last =
        process.execute(&wamid(), TraceContext::new_root(), Attempt { number: 8, is_last: true, lease: None }).await;

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

mod people_in_the_loop {
    use super::*;
    use crate::ports::{Handling, MockPeople};
    use switchboard_domain::{AgentHandoff, Handler};

    fn rules() -> HandoffRules {
        HandoffRules { announce: vec![crate::jobs::AnnounceChannel::Email], ..HandoffRules::default() }
    }

    fn with_people(ports: Ports, people: MockPeople) -> ProcessInbound {
        ports.build().with_people(Arc::new(people), rules())
    }

    fn text_record(body: &str, handling: Handling) -> InboundRecord {
        let mut r = record(false);
        r.message.content = InboundContent::Text { body: body.into() };
        r.handling = handling;
        r
    }

    #[tokio::test]
    async fn a_message_in_a_conversation_people_handle_reaches_no_classifier_or_agent_and_is_kept_for_them() {
        let mut ports = Ports::new();
        ports.whatsapp = MockWhatsAppGateway::new();
        ports.messages.expect_inbound().returning(|_| {
            Ok(Some(text_record("hello?", Handling { handler: Handler::People, ..Handling::default() })))
        });
        ports.classifier.expect_classify().never();
        ports.agents.expect_ask().never();
        ports.messages.expect_record_reply().never();
        let mut people = MockPeople::new();
        people.expect_hold_for_people().times(1).returning(|_, _| Ok(1));

        let outcome = with_people(ports, people).execute(&wamid(), TraceContext::new_root(), Attempt::first()).await;

        assert_eq!(outcome.unwrap(), ProcessOutcome::ForPeople { held: 1 });
    }

    #[tokio::test]
    async fn a_user_who_asks_for_a_person_is_told_so_and_the_conversation_goes_to_people_with_its_announcement() {
        let mut ports = Ports::new();
        ports
            .messages
            .expect_inbound()
            .returning(|_| Ok(Some(text_record("can I talk to a person?", Handling::default()))));
        ports.classifier.expect_classify().never();
        ports.agents.expect_ask().never();
        ports
            .messages
            .expect_record_reply()
            .withf(|r| {
                let handoff = r.handoff.as_ref().unwrap();
                handoff.reason == HandoffReason::UserAsked
                    && handoff.notify.len() == 1
                    && r.agent.as_str() == SWITCHBOARD_AGENT
                    && r.intent == Intent::Handoff
                    && matches!(&r.message.content, OutboundContent::Text { body, .. } if body == DEFAULT_HANDOFF_ACKNOWLEDGEMENT)
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let outcome =
            with_people(ports, MockPeople::new()).execute(&wamid(), TraceContext::new_root(), Attempt::first()).await;

        assert!(matches!(outcome.unwrap(), ProcessOutcome::Replied { .. }));
    }

    #[tokio::test]
    async fn an_agent_that_asks_for_a_person_hands_the_conversation_over_with_its_answer_and_reason() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(text_record("hello", Handling::default()))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| {
            Ok(AgentReply {
                handoff: Some(AgentHandoff { reason: Some("refund over the limit".into()) }),
                ..AgentReply::text("A colleague will take over.")
            })
        });
        ports
            .messages
            .expect_record_reply()
            .withf(|r| {
                r.handoff.as_ref().map(|h| &h.reason)
                    == Some(&HandoffReason::AgentAsked {
                        agent: "greeter".into(),
                        reason: Some("refund over the limit".into()),
                    })
                    && matches!(&r.message.content, OutboundContent::Text { body, .. } if body == "A colleague will take over.")
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        with_people(ports, MockPeople::new())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_third_answer_in_a_row_by_the_default_agent_calls_people() {
        let mut ports = Ports::new();
        ports
            .messages
            .expect_inbound()
            .returning(|_| Ok(Some(text_record("blorp", Handling { fallback_streak: 2, ..Handling::default() }))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Unknown, 0.1)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Sorry?")));
        ports
            .messages
            .expect_record_reply()
            .withf(|r| {
                r.handoff.as_ref().map(|h| &h.reason) == Some(&HandoffReason::RepeatedFallback { count: 3 })
                    && r.fallback_streak == 0
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        with_people(ports, MockPeople::new())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_default_answer_counts_toward_the_streak_and_a_routed_one_starts_it_again() {
        for (intent, streak) in [(Intent::Unknown, 2), (Intent::Greeting, 0)] {
            let mut ports = Ports::new();
            ports
                .messages
                .expect_inbound()
                .returning(|_| Ok(Some(text_record("hm", Handling { fallback_streak: 1, ..Handling::default() }))));
            let classified = Classification::new(intent.clone(), 0.9);
            ports.classifier.expect_classify().returning(move |_, _| Ok(classified.clone()));
            ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("ok")));
            ports
                .messages
                .expect_record_reply()
                .withf(move |r| r.handoff.is_none() && r.fallback_streak == streak)
                .times(1)
                .returning(|_| Ok(ReplyRecorded::Recorded(None)));

            with_people(ports, MockPeople::new())
                .execute(&wamid(), TraceContext::new_root(), Attempt::first())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn an_operators_hand_back_note_reaches_the_agent_on_the_next_turn() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| {
            Ok(Some(text_record(
                "thanks",
                Handling { handback_note: Some("refund issued".into()), ..Handling::default() },
            )))
        });
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports
            .agents
            .expect_ask()
            .withf(|_, req, _| req.metadata.get("handback_note") == Some(&serde_json::Value::from("refund issued")))
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("You're welcome")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::Recorded(None)));

        with_people(ports, MockPeople::new())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_take_over_while_the_bot_worked_drops_the_bots_answer_and_keeps_the_message_for_people() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(text_record("hello", Handling::default()))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Greeting, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Hi")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::TakenOver));
        let mut people = MockPeople::new();
        people.expect_hold_for_people().times(1).returning(|_, _| Ok(1));

        let outcome = with_people(ports, people).execute(&wamid(), TraceContext::new_root(), Attempt::first()).await;

        assert_eq!(outcome.unwrap(), ProcessOutcome::ForPeople { held: 1 });
    }

    #[tokio::test]
    async fn without_people_in_the_loop_a_request_for_a_person_is_just_a_message() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(|_| Ok(Some(text_record("human", Handling::default()))));
        ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
        ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Here is what I can do")));
        ports
            .messages
            .expect_record_reply()
            .withf(|r| r.handoff.is_none())
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));

        ports.build().execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
    }
}

#[tokio::test]
async fn a_classifier_that_hears_a_request_for_a_person_sends_the_conversation_to_people_with_the_acknowledgement() {
    use crate::ports::MockPeople;
    let mut ports = Ports::new();
    ports.messages.expect_inbound().returning(|_| Ok(Some(record(false))));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Handoff, 0.9)));
    ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Sorry?")));
    ports
        .messages
        .expect_record_reply()
        .withf(|r| {
            r.handoff.as_ref().map(|h| &h.reason) == Some(&HandoffReason::UserAsked)
                && matches!(&r.message.content, OutboundContent::Text { body, .. } if body == DEFAULT_HANDOFF_ACKNOWLEDGEMENT)
        })
        .times(1)
        .returning(|_| Ok(ReplyRecorded::Recorded(None)));

    let process = ports.build().with_people(Arc::new(MockPeople::new()), HandoffRules::default());
    process.execute(&wamid(), TraceContext::new_root(), Attempt::first()).await.unwrap();
}

mod consent {
    use super::*;
    use crate::ports::{ContactRef, MockConsents};
    use crate::usecases::{ConsentRules, DEFAULT_START_CONFIRMATION, DEFAULT_STOP_CONFIRMATION};
    use switchboard_domain::{ConsentChange, ConsentScope, ConsentSource};

    fn saying(body: &'static str) -> impl Fn(&Wamid) -> Result<Option<InboundRecord>, StoreError> {
        move |_| {
            let mut r = record(false);
            r.message.content = InboundContent::Text { body: body.into() };
            Ok(Some(r))
        }
    }

    fn answers_with(ports: &mut Ports, text: &'static str) {
        ports.classifier.expect_classify().never();
        ports.agents.expect_ask().never();
        ports
            .messages
            .expect_record_reply()
            .withf(move |r| {
                r.agent.as_str() == SWITCHBOARD_AGENT
                    && r.handoff.is_none()
                    && matches!(&r.message.content, OutboundContent::Text { body, .. } if body == text)
            })
            .times(1)
            .returning(|_| Ok(ReplyRecorded::Recorded(None)));
    }

    #[tokio::test]
    async fn stop_opts_the_user_out_when_they_wrote_it_and_answers_one_confirmation_without_any_agent() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(saying("STOP"));
        answers_with(&mut ports, DEFAULT_STOP_CONFIRMATION);
        let mut consents = MockConsents::new();
        consents
            .expect_change_consent()
            .withf(|contact, change| {
                *contact == ContactRef::User(WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap())
                    && *change
                        == ConsentChange::OptOut {
                            scope: ConsentScope::BusinessInitiated,
                            source: ConsentSource::UserKeyword,
                            at: datetime!(2026-11-22 09:59 UTC),
                        }
            })
            .times(1)
            .returning(|_, _| Ok(true));

        let outcome = ports
            .build()
            .with_consent(Arc::new(consents), ConsentRules::default())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await;

        assert!(matches!(outcome.unwrap(), ProcessOutcome::Replied { .. }));
    }

    #[tokio::test]
    async fn start_opts_the_user_in_again_and_confirms() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(saying("Start"));
        answers_with(&mut ports, DEFAULT_START_CONFIRMATION);
        let mut consents = MockConsents::new();
        consents
            .expect_change_consent()
            .withf(|_, change| matches!(change, ConsentChange::OptIn { source: ConsentSource::UserKeyword, .. }))
            .times(1)
            .returning(|_, _| Ok(true));

        let outcome = ports
            .build()
            .with_consent(Arc::new(consents), ConsentRules::default())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await;

        assert!(matches!(outcome.unwrap(), ProcessOutcome::Replied { .. }));
    }

    #[tokio::test]
    async fn a_sentence_with_stop_in_it_goes_to_the_agents_as_usual() {
        let mut ports = Ports::new();
        ports.messages.expect_inbound().returning(saying("please stop the delivery"));
        ports.classifier.expect_classify().times(1).returning(|_, _| Ok(Classification::new(Intent::Unknown, 0.9)));
        ports.agents.expect_ask().times(1).returning(|_, _, _| Ok(AgentReply::text("Sure.")));
        ports.messages.expect_record_reply().times(1).returning(|_| Ok(ReplyRecorded::Recorded(None)));

        let outcome = ports
            .build()
            .with_consent(Arc::new(MockConsents::new()), ConsentRules::default())
            .execute(&wamid(), TraceContext::new_root(), Attempt::first())
            .await;

        assert!(matches!(outcome.unwrap(), ProcessOutcome::Replied { .. }));
    }
}
