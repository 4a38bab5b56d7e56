use super::*;
use crate::ports::{MockA2aTasks, MockAgentGateway, MockClassifier, MockClock, MockDeliveries};
use crate::usecases::route::APOLOGY;
use switchboard_domain::{
    AgentName, AgentReply, AgentTask, Classification, EmailAddress, Intent, OutboundContent, PhoneNumber,
    RoutingPolicy, ScopedUserId,
};
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

struct Ports {
    tasks: MockA2aTasks,
    classifier: MockClassifier,
    agents: MockAgentGateway,
    deliveries: MockDeliveries,
}

impl Ports {
    fn new() -> Self {
        Self {
            tasks: MockA2aTasks::new(),
            classifier: MockClassifier::new(),
            agents: MockAgentGateway::new(),
            deliveries: MockDeliveries::new(),
        }
    }

    /// The task's cancel check before the outcome is stored finds `current` (still
    /// WORKING unless a test says otherwise), and the outcome is stored.
    fn running(mut self, current: StoredTask) -> Self {
        self.tasks.expect_get().returning(move |_| Ok(Some(current.clone())));
        self.tasks.expect_save().times(1).returning(|_| Ok(()));
        self
    }

    fn build(self) -> HandleA2a {
        let clock = || {
            let mut clock = MockClock::new();
            clock.expect_now().return_const(NOW);
            Arc::new(clock)
        };
        let policy =
            RoutingPolicy::new(AgentName::new("fallback"), 0.5).route(Intent::Help, AgentName::new("helpdesk"));
        let router = Router::new(Arc::new(self.classifier), Arc::new(self.agents), policy);
        let send = SendMessage::new(Arc::new(self.deliveries), clock());
        HandleA2a::new(Arc::new(self.tasks), Arc::new(router), Arc::new(send), clock(), String::from("100"))
    }
}

fn user_message(parts: Vec<Part>) -> Message {
    Message {
        message_id: String::from("m1"),
        context_id: None,
        task_id: None,
        role: Role::User,
        parts,
        metadata: None,
        extensions: Vec::new(),
        reference_task_ids: Vec::new(),
    }
}

/// Task `t1` of context `c1` in `state`, its history `messages`.
fn stored(state: TaskState, messages: Vec<Message>) -> StoredTask {
    StoredTask {
        task: Task {
            id: String::from("t1"),
            context_id: Some(String::from("c1")),
            status: TaskStatus { state, message: None, timestamp: None },
            artifacts: Vec::new(),
            history: messages,
            metadata: None,
        },
        agent: None,
        agent_task_id: None,
        trace_id: String::from("0af7651916cd43dd8448eb211c80319c"),
        created_at: 1,
    }
}

fn asking(text: &str) -> StoredTask {
    stored(TaskState::Working, vec![user_message(vec![Part::text(text)])])
}

fn reply_text(task: &StoredTask) -> String {
    task.task.status.message.as_ref().map(Message::text).unwrap_or_default()
}

fn store_down() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("database is locked"))
}

// ------------------------------------------------------------ accept

#[tokio::test]
async fn a_message_without_an_id_or_without_parts_is_refused_before_anything_is_stored() {
    let mut ports = Ports::new();
    ports.tasks.expect_save().never();
    let handler = ports.build();
    let trace = TraceContext::new_root();

    let no_id =
        handler.accept(Message { message_id: String::from(" "), ..user_message(vec![Part::text("hi")]) }, &trace);
    let no_parts = handler.accept(user_message(Vec::new()), &trace);

    for result in [no_id.await, no_parts.await] {
        let error = result.unwrap_err();
        assert!(matches!(error, A2aServerError::InvalidParams(_)), "{error}");
        assert_eq!((error.code(), error.reason()), (-32602, "INVALID_PARAMS"));
    }
}

#[tokio::test]
async fn a_new_message_opens_a_working_task_in_its_context_before_any_agent_is_asked() {
    let mut ports = Ports::new();
    ports.classifier.expect_classify().never();
    ports.agents.expect_ask().never();
    ports
        .tasks
        .expect_save()
        .withf(|t| t.task.status.state == TaskState::Working && t.task.history.len() == 1)
        .times(1)
        .returning(|_| Ok(()));
    let message = Message { context_id: Some(String::from("ctx-9")), ..user_message(vec![Part::text("hi")]) };
    let trace = TraceContext::new_root();

    let stored = ports.build().accept(message, &trace).await.unwrap();

    assert_eq!(stored.task.context_id.as_deref(), Some("ctx-9"));
    assert_eq!(stored.task.history[0].task_id.as_deref(), Some(stored.task.id.as_str()));
    assert_eq!(stored.task.status.timestamp.as_deref(), Some("2026-11-22T10:00:00Z"));
    assert_eq!(stored.created_at, NOW.unix_timestamp() * 1000);
    assert_eq!(stored.trace_id, trace.trace_id.to_string());
}

#[tokio::test]
async fn a_message_without_a_context_is_given_a_new_one() {
    let mut ports = Ports::new();
    ports.tasks.expect_save().returning(|_| Ok(()));

    let stored = ports.build().accept(user_message(vec![Part::text("hi")]), &TraceContext::new_root()).await.unwrap();

    let context = stored.task.context_id.clone().unwrap();
    assert!(!context.is_empty());
    assert_eq!(stored.task.history[0].context_id, Some(context));
}

#[tokio::test]
async fn a_message_for_an_unknown_task_is_refused_as_not_found() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(None));
    ports.tasks.expect_save().never();
    let message = Message { task_id: Some(String::from("nope")), ..user_message(vec![Part::text("hi")]) };

    let error = ports.build().accept(message, &TraceContext::new_root()).await.unwrap_err();

    assert!(matches!(&error, A2aServerError::TaskNotFound(id) if id == "nope"));
    assert_eq!((error.code(), error.reason()), (-32001, "TASK_NOT_FOUND"));
}

#[tokio::test]
async fn a_finished_task_takes_no_more_messages() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(stored(TaskState::Completed, Vec::new()))));
    ports.tasks.expect_save().never();
    let message = Message { task_id: Some(String::from("t1")), ..user_message(vec![Part::text("hi")]) };

    let error = ports.build().accept(message, &TraceContext::new_root()).await.unwrap_err();

    assert!(matches!(&error, A2aServerError::UnsupportedOperation(m) if m.contains("TASK_STATE_COMPLETED")), "{error}");
    assert_eq!((error.code(), error.reason()), (-32004, "UNSUPPORTED_OPERATION"));
}

#[tokio::test]
async fn the_next_message_of_a_task_waiting_for_input_joins_its_history() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(asking("Where is my order?"))));
    ports
        .tasks
        .expect_save()
        .withf(|t| t.task.id == "t1" && t.task.history.len() == 2 && t.task.status.state == TaskState::Working)
        .times(1)
        .returning(|_| Ok(()));
    let message = Message {
        task_id: Some(String::from("t1")),
        context_id: Some(String::from("elsewhere")),
        ..user_message(vec![Part::text("Order 1042")])
    };

    let stored = ports.build().accept(message, &TraceContext::new_root()).await.unwrap();

    assert_eq!(stored.task.history[1].context_id.as_deref(), Some("c1"));
}

// ------------------------------------------------------------ run: the route skill

#[tokio::test]
async fn a_routed_message_completes_the_task_with_the_agents_reply_as_an_artifact() {
    let mut ports = Ports::new().running(asking("I need help"));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports
        .agents
        .expect_ask()
        .withf(|agent, request, _| {
            agent.as_str() == "helpdesk"
                && request.user_message == "I need help"
                && request.channel == Channel::A2a
                && request.user_id == "a2a:c1"
        })
        .times(1)
        .returning(|_, _, _| Ok(AgentReply::text("Here to help")));

    let done = ports.build().run(asking("I need help"), TraceContext::new_root()).await.unwrap();

    assert_eq!(done.task.status.state, TaskState::Completed);
    assert_eq!(reply_text(&done), "Here to help");
    assert_eq!(done.task.history.len(), 2);
    assert_eq!(done.task.artifacts.len(), 1);
    assert_eq!(done.task.data_parts().next(), Some(&json!({"agent": "helpdesk", "intent": "help"})));
    assert_eq!(done.agent, None);
}

#[tokio::test]
async fn the_user_named_in_the_metadata_is_the_one_the_agent_sees() {
    let mut ports = Ports::new().running(asking("hi"));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports
        .agents
        .expect_ask()
        .withf(|_, request, _| {
            request.user_id == "+447700900123"
                && request.user_name.as_deref() == Some("Amelia")
                && request.session_id == "c1"
        })
        .times(1)
        .returning(|_, _, _| Ok(AgentReply::text("Hello Amelia")));
    let mut metadata = serde_json::Map::new();
    metadata.insert(String::from("user_id"), json!("+447700900123"));
    metadata.insert(String::from("user_name"), json!("Amelia"));
    let task =
        stored(TaskState::Working, vec![Message { metadata: Some(metadata), ..user_message(vec![Part::text("hi")]) }]);

    let done = ports.build().run(task, TraceContext::new_root()).await.unwrap();

    assert_eq!(reply_text(&done), "Hello Amelia");
}

#[tokio::test]
async fn an_agents_question_leaves_the_task_waiting_for_input_with_the_agent_noted() {
    let mut ports = Ports::new().running(asking("Where is my order?"));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports.agents.expect_ask().returning(|_, _, _| {
        Ok(AgentReply {
            text: String::from("Which order number?"),
            task: Some(AgentTask { id: String::from("agent-task"), state: TaskState::InputRequired }),
            handoff: None,
            files: Vec::new(),
            choices: None,
            transfer: None,
        })
    });

    let waiting = ports.build().run(asking("Where is my order?"), TraceContext::new_root()).await.unwrap();

    assert_eq!(waiting.task.status.state, TaskState::InputRequired);
    assert_eq!(reply_text(&waiting), "Which order number?");
    assert_eq!(waiting.agent.as_deref(), Some("helpdesk"));
    assert_eq!(waiting.agent_task_id.as_deref(), Some("agent-task"));
    assert!(waiting.task.artifacts.is_empty());
}

#[tokio::test]
async fn the_next_turn_goes_back_to_the_agent_that_asked_without_classifying() {
    let task = StoredTask {
        agent: Some(String::from("helpdesk")),
        agent_task_id: Some(String::from("agent-task")),
        ..asking("Order 1042")
    };
    let mut ports = Ports::new().running(task.clone());
    ports.classifier.expect_classify().never();
    ports
        .agents
        .expect_ask()
        .withf(|agent, request, _| agent.as_str() == "helpdesk" && request.task_id.as_deref() == Some("agent-task"))
        .times(1)
        .returning(|_, _, _| Ok(AgentReply::text("It ships tomorrow")));

    let done = ports.build().run(task, TraceContext::new_root()).await.unwrap();

    assert_eq!(done.task.status.state, TaskState::Completed);
    assert_eq!((done.agent, done.agent_task_id), (None, None));
}

#[tokio::test]
async fn an_agent_task_that_failed_fails_the_a2a_task_with_an_apology() {
    let mut ports = Ports::new().running(asking("Refund me"));
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports.agents.expect_ask().returning(|_, _, _| {
        Ok(AgentReply {
            text: String::new(),
            task: Some(AgentTask { id: String::from("agent-task"), state: TaskState::Failed }),
            handoff: None,
            files: Vec::new(),
            choices: None,
            transfer: None,
        })
    });

    let failed = ports.build().run(asking("Refund me"), TraceContext::new_root()).await.unwrap();

    assert_eq!(failed.task.status.state, TaskState::Failed);
    assert_eq!(reply_text(&failed), APOLOGY);
    assert!(failed.task.artifacts.is_empty());
}

#[tokio::test]
async fn a_task_canceled_while_its_agent_worked_stays_canceled() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(stored(TaskState::Canceled, Vec::new()))));
    ports.tasks.expect_save().never();
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports.agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("Too late")));

    let result = ports.build().run(asking("hi"), TraceContext::new_root()).await.unwrap();

    assert_eq!(result.task.status.state, TaskState::Canceled);
}

#[tokio::test]
async fn a_task_without_a_message_cannot_run() {
    let mut ports = Ports::new();
    ports.tasks.expect_save().never();

    let result = ports.build().run(stored(TaskState::Working, Vec::new()), TraceContext::new_root()).await;

    assert!(matches!(result, Err(A2aServerError::InvalidParams(_))));
}

#[tokio::test]
async fn agents_that_cannot_be_reached_are_an_internal_error_that_names_no_cause() {
    let mut ports = Ports::new();
    ports.tasks.expect_save().never();
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports.agents.expect_ask().times(2).returning(|agent, _, _| {
        Err(AgentError::Unavailable { agent: agent.clone(), message: String::from("connection refused") })
    });

    let error = ports.build().run(asking("hi"), TraceContext::new_root()).await.unwrap_err();

    assert!(matches!(error, A2aServerError::Agent(_)));
    assert_eq!((error.code(), error.reason()), (-32603, "INTERNAL"));
    assert_eq!(error.to_string(), "internal error");
}

// ------------------------------------------------------------ run: the deliver skill

/// Runs a task whose message carries `order` as its data part (asking for the skill
/// by name when `by_name`), with `deliveries` as the store.
async fn deliver(order: Value, by_name: bool, deliveries: MockDeliveries) -> StoredTask {
    let metadata = by_name.then(|| {
        let mut m = serde_json::Map::new();
        m.insert(String::from("skill"), json!("deliver"));
        m
    });
    let task = stored(TaskState::Working, vec![Message { metadata, ..user_message(vec![Part::data(order)]) }]);
    let mut ports = Ports { deliveries, ..Ports::new() }.running(task.clone());
    ports.classifier.expect_classify().never();
    ports.agents.expect_ask().never();
    ports.build().run(task, TraceContext::new_root()).await.unwrap()
}

#[tokio::test]
async fn the_deliver_skill_accepts_a_message_for_a_phone_number_from_the_default_number() {
    let mut deliveries = MockDeliveries::new();
    deliveries
        .expect_create()
        .withf(|o| {
            o.message.to.phone().map(PhoneNumber::digits) == Some("447700900123")
                && o.message.from_number_id == "100"
                && o.message.content == OutboundContent::text("Your order shipped")
                && o.route == crate::ports::Route::Whatsapp
                && o.fallback_allowed
        })
        .times(1)
        .returning(|_| Ok(()));

    let done = deliver(json!({"to": "+44 7700 900123", "text": "Your order shipped"}), false, deliveries).await;

    assert_eq!(done.task.status.state, TaskState::Completed);
    assert!(reply_text(&done).starts_with("Accepted for delivery as "));
    let id = done.task.data_parts().next().and_then(|d| d["delivery_id"].as_str()).unwrap().to_owned();
    assert!(reply_text(&done).contains(&id));
}

#[tokio::test]
async fn the_deliver_skill_sends_to_a_scoped_id_by_email_from_the_number_asked() {
    let mut deliveries = MockDeliveries::new();
    deliveries
        .expect_create()
        .withf(|o| {
            o.message.to.scoped_id().map(ScopedUserId::as_str) == Some("US.1")
                && o.message.from_number_id == "200"
                && o.route == crate::ports::Route::Email
                && o.email.as_ref().map(EmailAddress::as_str) == Some("amelia@example.com")
                && !o.fallback_allowed
        })
        .times(1)
        .returning(|_| Ok(()));
    let order = json!({
        "to_user_id": "US.1", "text": "Your invoice", "channel": "email",
        "email": "amelia@example.com", "from_number_id": "200"
    });

    let done = deliver(order, true, deliveries).await;

    assert_eq!(done.task.status.state, TaskState::Completed);
}

#[tokio::test]
async fn the_deliver_skill_rejects_an_order_it_cannot_carry_out_saying_why() {
    let cases = [
        (json!({"text": "hi"}), "to: required (or to_user_id)"),
        (json!({"to": "12", "text": "hi"}), "phone number has 2 digits"),
        (json!({"to_user_id": "US 1", "text": "hi"}), "contains a control or space character"),
        (json!({"to": "447700900123"}), "text: required (or template, media, buttons, list or reaction)"),
        (
            json!({"to": "447700900123", "text": "hi", "channel": "pigeon"}),
            "unknown variant `pigeon`, expected one of `whatsapp`, `email`, `auto`",
        ),
        (json!({"to": "447700900123", "txt": "hi"}), "unknown field `txt`"),
        (
            json!({"to": "447700900123", "text": "hi", "buttons": [{"id": "a", "title": "A title far over twenty"}]}),
            "button title has 23 characters; the limit is 20",
        ),
        (json!({"to": "447700900123", "text": "hi", "email": "amelia"}), "not an email address"),
        (json!({"to": "447700900123", "text": "hi", "channel": "email"}), "channel email needs an email address"),
        (json!({"to": "447700900123", "text": " ", "channel": "whatsapp"}), "text body is empty"),
    ];

    for (order, why) in cases {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_create().never();

        let rejected = deliver(order.clone(), true, deliveries).await;

        assert_eq!(rejected.task.status.state, TaskState::Rejected, "{order}");
        let text = reply_text(&rejected);
        assert!(text.starts_with("Cannot deliver: ") && text.contains(why), "{order}: {text}");
    }
}

#[tokio::test]
async fn the_deliver_skill_fails_the_task_when_the_message_cannot_be_stored() {
    let mut deliveries = MockDeliveries::new();
    deliveries.expect_create().returning(|_| Err(store_down()));

    let failed = deliver(json!({"to": "447700900123", "text": "hi", "channel": "auto"}), false, deliveries).await;

    assert_eq!(failed.task.status.state, TaskState::Failed);
    assert_eq!(reply_text(&failed), "Cannot deliver right now; try again later.");
}

// ------------------------------------------------------------ get, list, cancel

#[tokio::test]
async fn a_task_is_read_with_as_much_of_its_history_as_asked() {
    let mut ports = Ports::new();
    let history = ["one", "two", "three"].map(|t| user_message(vec![Part::text(t)])).to_vec();
    ports.tasks.expect_get().returning(move |_| Ok(Some(stored(TaskState::Working, history.clone()))));
    let handler = ports.build();

    let last_two = handler.get("t1", Some(2)).await.unwrap();
    let all = handler.get("t1", None).await.unwrap();
    let more_than_there_is = handler.get("t1", Some(10)).await.unwrap();

    assert_eq!(last_two.history.iter().map(Message::text).collect::<Vec<_>>(), ["two", "three"]);
    assert_eq!(all.history.len(), 3);
    assert_eq!(more_than_there_is.history.len(), 3);
}

#[tokio::test]
async fn an_unknown_task_is_not_found_to_read_cancel_or_follow() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(None));
    let handler = ports.build();

    assert!(matches!(handler.get("t9", None).await, Err(A2aServerError::TaskNotFound(id)) if id == "t9"));
    assert!(matches!(handler.cancel("t9", &TraceContext::new_root()).await, Err(A2aServerError::TaskNotFound(_))));
    assert!(matches!(handler.current("t9").await, Err(A2aServerError::TaskNotFound(_))));
}

#[tokio::test]
async fn the_store_failing_is_an_internal_error() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Err(store_down()));

    let error = ports.build().current("t1").await.unwrap_err();

    assert!(matches!(error, A2aServerError::Store(_)));
    assert_eq!((error.code(), error.reason()), (-32603, "INTERNAL"));
}

fn listed(id: &str, created_at: i64) -> StoredTask {
    StoredTask {
        task: Task { id: id.into(), ..stored(TaskState::Completed, Vec::new()).task },
        created_at,
        ..stored(TaskState::Completed, Vec::new())
    }
}

#[tokio::test]
async fn tasks_are_listed_in_pages_whose_token_continues_after_the_last_one() {
    let mut ports = Ports::new();
    ports
        .tasks
        .expect_list()
        .withf(|context, after, limit| context.as_deref() == Some("c1") && after.is_none() && *limit == 3)
        .times(1)
        .returning(|_, _, _| Ok(vec![listed("c", 30), listed("b", 20), listed("a", 10)]));
    ports
        .tasks
        .expect_list()
        .withf(|_, after, _| after == &Some((20, String::from("b"))))
        .times(1)
        .returning(|_, _, _| Ok(vec![listed("a", 10)]));
    let handler = ports.build();

    let (first, token) = handler.list(Some(String::from("c1")), 2, None).await.unwrap();
    let (second, last) = handler.list(Some(String::from("c1")), 2, Some(&token)).await.unwrap();

    assert_eq!(first.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
    assert_eq!(token, "20_b");
    assert_eq!(second.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(last, "");
}

#[tokio::test]
async fn a_page_holds_1_to_100_tasks_and_an_empty_token_starts_from_the_newest() {
    let mut ports = Ports::new();
    ports
        .tasks
        .expect_list()
        .withf(|_, after, limit| after.is_none() && *limit == 2)
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    ports.tasks.expect_list().withf(|_, _, limit| *limit == 101).times(1).returning(|_, _, _| Ok(vec![]));
    let handler = ports.build();

    let (empty, token) = handler.list(None, 0, Some("")).await.unwrap();
    handler.list(None, 1000, None).await.unwrap();

    assert!(empty.is_empty());
    assert_eq!(token, "");
}

#[tokio::test]
async fn a_page_token_this_server_did_not_give_is_refused() {
    let mut ports = Ports::new();
    ports.tasks.expect_list().never();
    let handler = ports.build();

    for token in ["garbage", "soon_t1"] {
        let result = handler.list(None, 10, Some(token)).await;

        assert!(matches!(result, Err(A2aServerError::InvalidParams(_))), "{token}");
    }
}

#[tokio::test]
async fn a_task_waiting_for_input_can_be_canceled() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(asking("hi"))));
    ports.tasks.expect_save().withf(|t| t.task.status.state == TaskState::Canceled).times(1).returning(|_| Ok(()));

    let canceled = ports.build().cancel("t1", &TraceContext::new_root()).await.unwrap();

    assert_eq!(canceled.status.state, TaskState::Canceled);
    assert_eq!(canceled.status.timestamp.as_deref(), Some("2026-11-22T10:00:00Z"));
}

#[tokio::test]
async fn canceling_a_task_an_agent_left_asking_cancels_the_agents_task_too() {
    let task = StoredTask {
        agent: Some(String::from("billing")),
        agent_task_id: Some(String::from("agent-task")),
        ..stored(TaskState::InputRequired, Vec::new())
    };
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(move |_| Ok(Some(task.clone())));
    ports.tasks.expect_save().times(1).returning(|_| Ok(()));
    ports
        .agents
        .expect_cancel()
        .withf(|agent, task_id, _| agent.as_str() == "billing" && task_id == "agent-task")
        .times(1)
        .returning(|agent, _, _| Err(AgentError::Unavailable { agent: agent.clone(), message: "down".into() }));

    let canceled = ports.build().cancel("t1", &TraceContext::new_root()).await.unwrap();

    assert_eq!(canceled.status.state, TaskState::Canceled, "ours is canceled even when the agent cannot hear it");
}

#[tokio::test]
async fn a_finished_task_cannot_be_canceled() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(stored(TaskState::Completed, Vec::new()))));
    ports.tasks.expect_save().never();

    let error = ports.build().cancel("t1", &TraceContext::new_root()).await.unwrap_err();

    assert_eq!((error.code(), error.reason()), (-32002, "TASK_NOT_CANCELABLE"));
    assert_eq!(error.to_string(), "task t1 is already TASK_STATE_COMPLETED and cannot be canceled");
}

#[tokio::test]
async fn a_task_accepted_for_later_is_stored_with_the_job_that_runs_it() {
    let mut ports = Ports::new();
    ports.tasks.expect_save().never();
    ports
        .tasks
        .expect_save_with_jobs()
        .withf(|task, jobs| {
            task.task.status.state == TaskState::Working
                && jobs.len() == 1
                && jobs[0].kind == crate::jobs::JobKind::RunA2aTask { task_id: task.task.id.clone() }
                && jobs[0].ordering_key == format!("a2a_task:{}", task.task.id)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let handler = ports.build();
    let mut changes = handler.changes();

    let accepted =
        handler.accept_for_later(user_message(vec![Part::text("hi")]), &TraceContext::new_root()).await.unwrap();

    assert_eq!(changes.recv().await.unwrap(), accepted.task.id, "followers are told");
}

#[tokio::test]
async fn a_queued_task_no_longer_working_is_left_as_it_is() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(stored(TaskState::Canceled, Vec::new()))));
    ports.tasks.expect_save().never();
    ports.classifier.expect_classify().never();

    let result = ports.build().run_queued("t1", TraceContext::new_root(), Attempt::first()).await;

    assert!(result.is_ok());
}

fn unreachable_agents(ports: &mut Ports) {
    ports.classifier.expect_classify().returning(|_, _| Ok(Classification::new(Intent::Help, 0.9)));
    ports.agents.expect_ask().returning(|agent, _, _| {
        Err(AgentError::Unavailable { agent: agent.clone(), message: String::from("connection refused") })
    });
}

#[tokio::test]
async fn a_queued_task_whose_agents_cannot_answer_is_retried_by_its_job() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(asking("hi"))));
    ports.tasks.expect_save().never();
    unreachable_agents(&mut ports);

    let result = ports
        .build()
        .run_queued("t1", TraceContext::new_root(), Attempt { number: 1, is_last: false, lease: None })
        .await;

    assert!(matches!(result, Err(A2aServerError::Agent(_))));
}

#[tokio::test]
async fn on_its_last_attempt_a_queued_task_ends_failed_with_a_reason_instead_of_working_forever() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(asking("hi"))));
    ports
        .tasks
        .expect_save()
        .withf(|t| t.task.status.state == TaskState::Failed && reply_text(t).contains("no agent could answer"))
        .times(1)
        .returning(|_| Ok(()));
    unreachable_agents(&mut ports);

    let result = ports
        .build()
        .run_queued("t1", TraceContext::new_root(), Attempt { number: 5, is_last: true, lease: None })
        .await;

    assert!(result.is_ok());
}

fn hook(task_id: &str) -> PushConfig {
    PushConfig {
        id: String::from("hook-1"),
        task_id: task_id.to_owned(),
        url: String::from("https://hooks.example.com/a2a"),
        token: Some(String::from("tok")),
        authentication: None,
    }
}

#[tokio::test]
async fn without_push_configured_registering_a_config_is_not_supported() {
    let error = Ports::new().build().set_push_config(hook("t1")).await.unwrap_err();

    assert_eq!((error.code(), error.reason()), (-32003, "PUSH_NOTIFICATION_NOT_SUPPORTED"));
}

#[tokio::test]
async fn reading_a_config_the_task_does_not_have_or_of_an_unknown_task_is_task_not_found() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|id| Ok((id == "t1").then(|| asking("hi"))));
    let mut configs = crate::ports::MockPushConfigs::new();
    configs.expect_push_config().returning(|_, _| Ok(None));
    let handler = ports.build().with_push(Arc::new(configs), Arc::new(crate::ports::MockPushNotifier::new()));

    let missing_config = handler.push_config("t1", "hook-1").await.unwrap_err();
    let missing_task = handler.push_config("t2", "hook-1").await.unwrap_err();

    assert_eq!((missing_config.code(), missing_config.reason()), (-32001, "TASK_NOT_FOUND"));
    assert!(missing_config.to_string().contains("push notification config hook-1"), "{missing_config}");
    assert!(matches!(missing_task, A2aServerError::TaskNotFound(id) if id == "t2"));
}

#[tokio::test]
async fn deleting_a_config_of_an_unknown_task_is_task_not_found_and_deletes_nothing() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(None));
    let mut configs = crate::ports::MockPushConfigs::new();
    configs.expect_delete_push_config().never();

    let error = ports
        .build()
        .with_push(Arc::new(configs), Arc::new(crate::ports::MockPushNotifier::new()))
        .delete_push_config("t2", "hook-1")
        .await
        .unwrap_err();

    assert!(matches!(error, A2aServerError::TaskNotFound(id) if id == "t2"));
}

#[tokio::test]
async fn a_config_whose_url_the_notifier_refuses_is_not_stored() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(asking("hi"))));
    let mut configs = crate::ports::MockPushConfigs::new();
    configs.expect_put_push_config().never();
    let mut notifier = crate::ports::MockPushNotifier::new();
    notifier.expect_check().returning(|_| Err(String::from("127.0.0.1 is an internal address")));

    let error =
        ports.build().with_push(Arc::new(configs), Arc::new(notifier)).set_push_config(hook("t1")).await.unwrap_err();

    assert!(matches!(error, A2aServerError::InvalidParams(m) if m.contains("internal address")));
}

#[tokio::test]
async fn each_change_of_a_task_with_push_configs_is_stored_with_a_post_for_each_config() {
    let mut ports = Ports::new();
    ports.tasks.expect_get().returning(|_| Ok(Some(stored(TaskState::InputRequired, Vec::new()))));
    ports.tasks.expect_save().never();
    ports
        .tasks
        .expect_save_with_jobs()
        .withf(|task, jobs| {
            task.task.status.state == TaskState::Canceled
                && matches!(jobs, [NewJob { kind: crate::jobs::JobKind::PushTaskUpdate { config_id, event, .. }, .. }]
                    if config_id == "hook-1" && event.contains("TASK_STATE_CANCELED"))
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let mut configs = crate::ports::MockPushConfigs::new();
    configs.expect_push_configs().returning(|task| Ok(vec![hook(task)]));

    let canceled = ports
        .build()
        .with_push(Arc::new(configs), Arc::new(crate::ports::MockPushNotifier::new()))
        .cancel("t1", &TraceContext::new_root())
        .await;

    assert!(canceled.is_ok());
}

#[tokio::test]
async fn a_post_for_a_config_deleted_meanwhile_is_dropped() {
    let mut configs = crate::ports::MockPushConfigs::new();
    configs.expect_push_config().returning(|_, _| Ok(None));
    let mut notifier = crate::ports::MockPushNotifier::new();
    notifier.expect_post().never();

    let result = Ports::new()
        .build()
        .with_push(Arc::new(configs), Arc::new(notifier))
        .push_update("t1", "hook-1", "{}", &TraceContext::new_root())
        .await;

    assert!(result.is_ok());
}
